//! Replay protection for axons: per-caller nonce rules.
//!
//! Callers at SDK version 7.2.0 or later send `time.time_ns()` nonces: those must fall inside a
//! window around now and may not repeat. Unlike the Python axon this does not also demand strict
//! ordering, so concurrent requests that arrive out of order are not refused, while replays
//! still are. Older clients (6.x, 7.0–7.1, or no version header) send `monotonic_ns()`, which
//! means nothing across hosts: they get the strictly-increasing rule only.

use crate::error::ProtocolError;
use std::collections::{BTreeSet, HashMap};

/// First SDK version whose dendrite sends wall-clock nonces (7.2.0).
pub const WALL_CLOCK_NONCE_VERSION: i64 = 7_002_000;
/// The Python axon's base allowance for nonce age, on top of the request timeout.
pub const ALLOWED_DELTA_NS: i64 = 4_000_000_000;

/// Limits of a [`NonceTracker`].
#[derive(Debug, Clone)]
pub struct NonceConfig {
    /// Largest request timeout (seconds) that widens the window; the header is caller-chosen.
    pub max_timeout_secs: f64,
    /// How far in the future a nonce may be (clock skew).
    pub max_future_ns: i64,
    /// Callers remembered before the least recently seen are forgotten.
    pub max_callers: usize,
}

impl Default for NonceConfig {
    fn default() -> Self {
        NonceConfig {
            max_timeout_secs: 120.0,
            max_future_ns: 30_000_000_000,
            max_callers: 100_000,
        }
    }
}

#[derive(Debug, Default)]
struct CallerNonces {
    last: i64,
    recent: BTreeSet<i64>,
    touched: u64,
}

/// Nonces seen per `"{hotkey}:{uuid}"`.
#[derive(Debug, Default)]
pub struct NonceTracker {
    config: NonceConfig,
    callers: HashMap<String, CallerNonces>,
    clock: u64,
}

impl NonceTracker {
    /// A tracker with the given limits.
    pub fn new(config: NonceConfig) -> Self {
        NonceTracker {
            config,
            callers: HashMap::new(),
            clock: 0,
        }
    }

    /// Checks `nonce` for caller `key` and records it. Call only after the signature verified,
    /// so unauthenticated traffic cannot poison the state.
    pub fn check_and_record(
        &mut self,
        key: &str,
        nonce: i64,
        version: Option<i64>,
        timeout_secs: Option<f64>,
        now_ns: i64,
    ) -> Result<(), ProtocolError> {
        let max_timeout = self.config.max_timeout_secs;
        let horizon_ns = ALLOWED_DELTA_NS + (max_timeout * 1e9) as i64;
        let wall_clock = version.is_some_and(|v| v >= WALL_CLOCK_NONCE_VERSION);
        let entry = self.callers.get(key);
        if wall_clock {
            let timeout = timeout_secs.unwrap_or(12.0).clamp(0.0, max_timeout);
            let oldest = now_ns - ALLOWED_DELTA_NS - (timeout * 1e9) as i64;
            if nonce <= oldest {
                return Err(ProtocolError::BadNonce(format!(
                    "Nonce is too old: acceptable delta is {:.2} seconds",
                    (now_ns - oldest) as f64 / 1e9
                )));
            }
            if nonce > now_ns + self.config.max_future_ns {
                return Err(ProtocolError::BadNonce(
                    "Nonce is too far in the future".into(),
                ));
            }
            if entry.is_some_and(|e| e.recent.contains(&nonce)) {
                return Err(ProtocolError::BadNonce("Nonce was already used".into()));
            }
        } else if entry.is_some_and(|e| nonce <= e.last) {
            return Err(ProtocolError::BadNonce(
                "Nonce is too old, a newer one was last processed".into(),
            ));
        }

        self.clock += 1;
        let clock = self.clock;
        if !self.callers.contains_key(key) && self.callers.len() >= self.config.max_callers {
            self.forget_oldest_caller();
        }
        let e = self.callers.entry(key.to_string()).or_default();
        e.touched = clock;
        e.last = e.last.max(nonce);
        if wall_clock {
            e.recent.insert(nonce);
            // Nonces older than any acceptable window can never pass the age check again.
            let keep_from = now_ns - horizon_ns;
            e.recent = e.recent.split_off(&keep_from);
        }
        Ok(())
    }

    /// Number of callers remembered.
    pub fn callers(&self) -> usize {
        self.callers.len()
    }

    fn forget_oldest_caller(&mut self) {
        if let Some(key) = self
            .callers
            .iter()
            .min_by_key(|(_, e)| e.touched)
            .map(|(k, _)| k.clone())
        {
            self.callers.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000_000_000;
    const V10: Option<i64> = Some(10_005_000);

    #[test]
    fn wall_clock_window_and_replay() {
        let mut t = NonceTracker::default();
        assert!(
            t.check_and_record("k", NOW - 1_000, V10, Some(12.0), NOW)
                .is_ok()
        );
        // replay
        assert!(
            t.check_and_record("k", NOW - 1_000, V10, Some(12.0), NOW)
                .is_err()
        );
        // out of order but fresh: accepted
        assert!(
            t.check_and_record("k", NOW - 2_000, V10, Some(12.0), NOW)
                .is_ok()
        );
        // stale: older than 4 s + timeout
        let stale = NOW - 17_000_000_000;
        let err = t
            .check_and_record("k2", stale, V10, Some(12.0), NOW)
            .unwrap_err();
        assert!(err.to_string().contains("16.00 seconds"), "{err}");
        // a huge caller timeout does not widen the window beyond the cap
        let old = NOW - 200_000_000_000;
        assert!(t.check_and_record("k3", old, V10, Some(1e9), NOW).is_err());
        // far future
        assert!(
            t.check_and_record("k4", NOW + 60_000_000_000, V10, None, NOW)
                .is_err()
        );
    }

    #[test]
    fn legacy_clients_are_monotonic_only() {
        let mut t = NonceTracker::default();
        // monotonic_ns values are small and unrelated to wall time
        assert!(t.check_and_record("k", 5_000, Some(693), None, NOW).is_ok());
        assert!(
            t.check_and_record("k", 5_000, Some(693), None, NOW)
                .is_err()
        );
        assert!(t.check_and_record("k", 4_000, None, None, NOW).is_err());
        assert!(t.check_and_record("k", 6_000, None, None, NOW).is_ok());
    }

    #[test]
    fn caller_table_is_bounded() {
        let mut t = NonceTracker::new(NonceConfig {
            max_callers: 3,
            ..Default::default()
        });
        for i in 0..10 {
            t.check_and_record(&format!("k{i}"), NOW, V10, None, NOW)
                .expect("fresh");
        }
        assert_eq!(t.callers(), 3);
    }
}

//! Replay protection for axons: per-caller nonce rules.
//!
//! Callers at SDK version 7.2.0 or later send `time.time_ns()` nonces: those must fall inside a
//! window around now and may not repeat. Unlike the Python axon this does not also demand strict
//! ordering, so concurrent requests that arrive out of order are not refused, while replays
//! still are. Older clients (6.x, 7.0–7.1, or no version header) send `monotonic_ns()`, which
//! means nothing across hosts: they get the strictly-increasing rule only.

use crate::error::ProtocolError;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// First SDK version whose dendrite sends wall-clock nonces (7.2.0).
pub const WALL_CLOCK_NONCE_VERSION: i64 = 7_002_000;
/// The Python axon's base allowance for nonce age, on top of the request timeout.
pub const ALLOWED_DELTA_NS: i64 = 4_000_000_000;
/// Timeout assumed when a wall-clock caller sends none (or one that is not a positive finite
/// number): the SDK's default.
pub const DEFAULT_TIMEOUT_SECS: f64 = 12.0;

/// Limits of a [`NonceTracker`].
#[derive(Debug, Clone)]
pub struct NonceConfig {
    /// Largest request timeout (seconds) that widens the window; the header is caller-chosen.
    pub max_timeout_secs: f64,
    /// How far in the future a nonce may be (clock skew).
    pub max_future_ns: i64,
    /// Callers (`hotkey:uuid`) remembered; beyond this the least recently seen is forgotten.
    pub max_callers: usize,
    /// Recent nonces remembered per caller (for out-of-order arrivals). Beyond this the oldest
    /// is forgotten and the caller's floor rises to it, so it cannot be replayed.
    pub max_recent_per_caller: usize,
}

impl Default for NonceConfig {
    fn default() -> Self {
        NonceConfig {
            max_timeout_secs: 120.0,
            max_future_ns: 30_000_000_000,
            max_callers: 16_384,
            max_recent_per_caller: 256,
        }
    }
}

#[derive(Debug, Default)]
struct CallerNonces {
    /// Highest nonce accepted (the legacy rule's reference).
    last: i64,
    /// Wall-clock nonces accepted inside the window.
    recent: BTreeSet<i64>,
    /// Nonces at or below this are refused: they may have been evicted from `recent`.
    floor: i64,
    /// Position in the tracker's eviction order.
    touched: u64,
}

/// Nonces seen per `"{hotkey}:{uuid}"`, with hard limits: at most `max_callers` callers, each
/// with at most `max_recent_per_caller` nonces, so memory stays bounded whatever callers send.
/// Every operation is O(log n).
#[derive(Debug, Default)]
pub struct NonceTracker {
    config: NonceConfig,
    callers: HashMap<String, CallerNonces>,
    /// `touched` → caller: the least recently seen caller is the first entry.
    order: BTreeMap<u64, String>,
    clock: u64,
}

impl NonceTracker {
    /// A tracker with the given limits.
    pub fn new(config: NonceConfig) -> Self {
        NonceTracker {
            config,
            callers: HashMap::new(),
            order: BTreeMap::new(),
            clock: 0,
        }
    }

    /// Checks `nonce` for caller `key` and records it. Call only after the signature verified
    /// and the blacklist accepted the caller, so unauthenticated or unwelcome traffic cannot
    /// fill the table.
    pub fn check_and_record(
        &mut self,
        key: &str,
        nonce: i64,
        version: Option<i64>,
        timeout_secs: Option<f64>,
        now_ns: i64,
    ) -> Result<(), ProtocolError> {
        let max_timeout = sane_timeout(self.config.max_timeout_secs, 0.0);
        let horizon_ns = ALLOWED_DELTA_NS.saturating_add(secs_to_ns(max_timeout));
        let wall_clock = version.is_some_and(|v| v >= WALL_CLOCK_NONCE_VERSION);
        let entry = self.callers.get(key);
        if wall_clock {
            // A caller-chosen timeout that is NaN, infinite or negative means the default.
            let timeout = timeout_secs
                .filter(|t| t.is_finite() && *t >= 0.0)
                .unwrap_or(DEFAULT_TIMEOUT_SECS)
                .min(max_timeout);
            let oldest = now_ns
                .saturating_sub(ALLOWED_DELTA_NS)
                .saturating_sub(secs_to_ns(timeout));
            if nonce <= oldest {
                return Err(ProtocolError::BadNonce(format!(
                    "Nonce is too old: acceptable delta is {:.2} seconds",
                    (now_ns.saturating_sub(oldest)) as f64 / 1e9
                )));
            }
            if nonce > now_ns.saturating_add(self.config.max_future_ns) {
                return Err(ProtocolError::BadNonce(
                    "Nonce is too far in the future".into(),
                ));
            }
            if let Some(e) = entry {
                if nonce <= e.floor {
                    return Err(ProtocolError::BadNonce(
                        "Nonce is too old for this caller".into(),
                    ));
                }
                if e.recent.contains(&nonce) {
                    return Err(ProtocolError::BadNonce("Nonce was already used".into()));
                }
            }
        } else if entry.is_some_and(|e| nonce <= e.last) {
            return Err(ProtocolError::BadNonce(
                "Nonce is too old, a newer one was last processed".into(),
            ));
        }

        self.clock += 1;
        let clock = self.clock;
        if !self.callers.contains_key(key) {
            while self.callers.len() >= self.config.max_callers.max(1) {
                let Some((_, oldest)) = self.order.pop_first() else {
                    break;
                };
                self.callers.remove(&oldest);
            }
        }
        let max_recent = self.config.max_recent_per_caller.max(1);
        let e = self
            .callers
            .entry(key.to_string())
            .or_insert_with(|| CallerNonces {
                last: i64::MIN,
                floor: i64::MIN,
                ..Default::default()
            });
        if e.touched != 0 {
            self.order.remove(&e.touched);
        }
        e.touched = clock;
        self.order.insert(clock, key.to_string());
        e.last = e.last.max(nonce);
        if wall_clock {
            e.recent.insert(nonce);
            // Nonces older than any acceptable window can never pass the age check again.
            let keep_from = now_ns.saturating_sub(horizon_ns);
            if e.recent.first().is_some_and(|n| *n < keep_from) {
                e.recent = e.recent.split_off(&keep_from);
            }
            while e.recent.len() > max_recent {
                if let Some(evicted) = e.recent.pop_first() {
                    e.floor = e.floor.max(evicted);
                }
            }
        }
        Ok(())
    }

    /// Number of callers remembered.
    pub fn callers(&self) -> usize {
        self.callers.len()
    }

    /// Number of nonces remembered, over all callers.
    pub fn nonces(&self) -> usize {
        self.callers.values().map(|e| e.recent.len()).sum()
    }
}

/// `secs` when it is a finite non-negative number, else `fallback`.
fn sane_timeout(secs: f64, fallback: f64) -> f64 {
    if secs.is_finite() && secs >= 0.0 {
        secs
    } else {
        fallback
    }
}

/// Whole nanoseconds in `secs` (finite, non-negative), saturating.
fn secs_to_ns(secs: f64) -> i64 {
    // `as` saturates for floats; the caller passes only finite, bounded values.
    (secs * 1e9) as i64
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

    #[test]
    fn each_callers_recent_set_is_bounded_and_evicted_nonces_stay_refused() {
        let mut t = NonceTracker::new(NonceConfig {
            max_recent_per_caller: 8,
            ..Default::default()
        });
        for i in 0..100 {
            t.check_and_record("k", NOW - 1_000_000 + i, V10, Some(12.0), NOW)
                .expect("fresh");
        }
        assert!(t.nonces() <= 8, "{} nonces remembered", t.nonces());
        // The evicted nonces are below the caller's floor: a replay is refused.
        assert!(
            t.check_and_record("k", NOW - 1_000_000, V10, Some(12.0), NOW)
                .is_err()
        );
        // A fresh nonce above the floor is still accepted.
        assert!(t.check_and_record("k", NOW, V10, Some(12.0), NOW).is_ok());
    }

    #[test]
    fn odd_timeouts_do_not_panic_or_widen_the_window() {
        let mut t = NonceTracker::default();
        let old = NOW - 200_000_000_000;
        for timeout in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -5.0, 1e300] {
            assert!(
                t.check_and_record("k", old, V10, Some(timeout), NOW)
                    .is_err()
            );
        }
    }

    #[test]
    fn eviction_of_callers_is_least_recently_seen_first_and_fast() {
        let mut t = NonceTracker::new(NonceConfig {
            max_callers: 20_000,
            ..Default::default()
        });
        t.check_and_record("keep", NOW - 10, V10, None, NOW)
            .expect("fresh");
        let started = std::time::Instant::now();
        for i in 0..60_000_i64 {
            t.check_and_record(&format!("k{i}"), NOW - i, V10, None, NOW)
                .expect("fresh");
            if i % 1_000 == 0 {
                // Touching `keep` keeps it out of the eviction order's front.
                t.check_and_record("keep", NOW - 10 + i + 1, V10, None, NOW + i)
                    .expect("fresh");
            }
        }
        assert_eq!(t.callers(), 20_000);
        // A replay of `keep`'s nonce is still refused: it was never evicted.
        assert!(
            t.check_and_record("keep", NOW - 10, V10, None, NOW)
                .is_err()
        );
        // 40,000 evictions from a table of 20,000 with an O(n) scan each take ~800M steps; with
        // an ordered index they take well under a second even in a debug build.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}

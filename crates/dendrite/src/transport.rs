//! Which wire protocol to speak to a miner: the v10 Synapse protocol or `btauth/1` `POST /tts`
//! (SDK 11), chosen per miner.
//!
//! [`TransportMode::Auto`] (the validator's default) remembers per hotkey what a miner served
//! ([`TransportCache`]): an unknown miner is asked on `/tts` first; an answer that says the route
//! does not exist (404, 405, 501) marks it Synapse-only for [`DETECT_TTL`] and the same prompt
//! goes to its Synapse route at once, so detection costs at most one extra request per miner per
//! hour. Any btauth answer (200, and also 401/403: the miner parsed our `btauth/1` headers) marks
//! it btauth. Timeouts, refused connections and 5xx are the miner's failure on the transport that
//! was tried, never a reason to switch.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// How long a detection result is trusted before the miner is asked on `/tts` again.
pub const DETECT_TTL: Duration = Duration::from_secs(3600);
/// Hotkeys remembered at most (a subnet has at most 256 uids; room for churn).
pub const DETECT_CAPACITY: usize = 4096;

/// The wire protocol a reply came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// The SDK ≤ 10 Synapse protocol (JSON list of floats).
    Synapse,
    /// SDK 11 `btauth/1` `POST /tts` (binary audio).
    Btauth,
}

impl Transport {
    /// `synapse` or `btauth`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Synapse => "synapse",
            Transport::Btauth => "btauth",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `--neuron.transport`: a fixed transport, or per-miner detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransportMode {
    /// `btauth/1` where the miner serves it, Synapse otherwise (cached per hotkey).
    #[default]
    Auto,
    /// Always `POST /tts`.
    Btauth,
    /// Always the Synapse route.
    Synapse,
}

/// A `--neuron.transport` / `--transport` value that is not `auto`, `btauth` or `synapse`.
#[derive(Debug, thiserror::Error)]
#[error("unknown transport {0:?}: expected auto, btauth or synapse")]
pub struct TransportParseError(String);

impl FromStr for TransportMode {
    type Err = TransportParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(TransportMode::Auto),
            "btauth" | "btauth/1" => Ok(TransportMode::Btauth),
            "synapse" => Ok(TransportMode::Synapse),
            _ => Err(TransportParseError(s.to_string())),
        }
    }
}

impl fmt::Display for TransportMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportMode::Auto => "auto",
            TransportMode::Btauth => "btauth",
            TransportMode::Synapse => "synapse",
        })
    }
}

/// Whether an answer on `/tts` says the miner has no such route (so it speaks Synapse only).
pub fn means_no_btauth(status: u16) -> bool {
    matches!(status, 404 | 405 | 501)
}

/// What auto-detection knows of each hotkey, bounded and expiring.
#[derive(Debug)]
pub struct TransportCache {
    ttl: Duration,
    capacity: usize,
    entries: HashMap<String, (Transport, Instant)>,
}

impl Default for TransportCache {
    fn default() -> Self {
        TransportCache::new(DETECT_TTL, DETECT_CAPACITY)
    }
}

impl TransportCache {
    /// A cache trusting answers for `ttl`, remembering at most `capacity` hotkeys.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        TransportCache {
            ttl,
            capacity: capacity.max(1),
            entries: HashMap::new(),
        }
    }

    /// The transport to try first for `hotkey` at `now`: the remembered one while fresh,
    /// otherwise btauth (the probe).
    pub fn first_try(&self, hotkey: &str, now: Instant) -> Transport {
        self.known(hotkey, now).unwrap_or(Transport::Btauth)
    }

    /// The remembered transport, while fresh.
    pub fn known(&self, hotkey: &str, now: Instant) -> Option<Transport> {
        self.entries
            .get(hotkey)
            .filter(|(_, at)| now.saturating_duration_since(*at) < self.ttl)
            .map(|(t, _)| *t)
    }

    /// Learns from a `/tts` answer with `status` (`None`: no HTTP answer, e.g. a timeout or a
    /// refused connection). Returns the transport to retry the same request on, if any: Synapse
    /// after a "no such route" answer.
    pub fn learn_btauth_answer(
        &mut self,
        hotkey: &str,
        status: Option<u16>,
        now: Instant,
    ) -> Option<Transport> {
        match status {
            Some(s) if means_no_btauth(s) => {
                self.insert(hotkey, Transport::Synapse, now);
                Some(Transport::Synapse)
            }
            // The miner's failure on the route it has: no verdict on the transport.
            None | Some(408 | 500..=599) => None,
            // 200, or a btauth refusal (400/401/403/413…): it speaks btauth.
            Some(_) => {
                self.insert(hotkey, Transport::Btauth, now);
                None
            }
        }
    }

    /// Hotkeys remembered (fresh or not).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Nothing remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn insert(&mut self, hotkey: &str, transport: Transport, now: Instant) {
        if !self.entries.contains_key(hotkey) && self.entries.len() >= self.capacity {
            // Full: drop expired entries, then the oldest. O(n) over a small map, at most once
            // per new hotkey.
            let ttl = self.ttl;
            self.entries
                .retain(|_, (_, at)| now.saturating_duration_since(*at) < ttl);
            if self.entries.len() >= self.capacity
                && let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(hotkey.to_string(), (transport, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse() {
        assert_eq!(
            "auto".parse::<TransportMode>().unwrap(),
            TransportMode::Auto
        );
        assert_eq!(
            "BTAUTH".parse::<TransportMode>().unwrap(),
            TransportMode::Btauth
        );
        assert_eq!(
            "synapse".parse::<TransportMode>().unwrap(),
            TransportMode::Synapse
        );
        assert!("grpc".parse::<TransportMode>().is_err());
        assert_eq!(TransportMode::default(), TransportMode::Auto);
    }

    #[test]
    fn unknown_miners_are_probed_on_tts_first() {
        let cache = TransportCache::default();
        assert_eq!(cache.first_try("a", Instant::now()), Transport::Btauth);
    }

    #[test]
    fn a_missing_route_means_synapse_for_an_hour() {
        let mut cache = TransportCache::default();
        let t0 = Instant::now();
        for status in [404, 405, 501] {
            let key = format!("k{status}");
            assert_eq!(
                cache.learn_btauth_answer(&key, Some(status), t0),
                Some(Transport::Synapse)
            );
            assert_eq!(cache.first_try(&key, t0), Transport::Synapse);
            assert_eq!(
                cache.first_try(&key, t0 + DETECT_TTL - Duration::from_secs(1)),
                Transport::Synapse
            );
            // After an hour it is probed again: at most one extra request per hour.
            assert_eq!(cache.first_try(&key, t0 + DETECT_TTL), Transport::Btauth);
        }
    }

    #[test]
    fn btauth_answers_mark_btauth_and_failures_mark_nothing() {
        let mut cache = TransportCache::default();
        let t0 = Instant::now();
        for status in [200, 401, 403, 400] {
            let key = format!("k{status}");
            assert_eq!(cache.learn_btauth_answer(&key, Some(status), t0), None);
            assert_eq!(cache.known(&key, t0), Some(Transport::Btauth));
        }
        for status in [None, Some(408), Some(500), Some(503), Some(504)] {
            assert_eq!(cache.learn_btauth_answer("down", status, t0), None);
            assert_eq!(cache.known("down", t0), None, "{status:?}");
        }
        // A btauth miner that times out stays btauth.
        assert_eq!(cache.learn_btauth_answer("k200", Some(503), t0), None);
        assert_eq!(cache.known("k200", t0), Some(Transport::Btauth));
        // A miner that drops /tts is moved to Synapse by the 404 it then answers.
        assert_eq!(
            cache.learn_btauth_answer("k200", Some(404), t0),
            Some(Transport::Synapse)
        );
        assert_eq!(cache.known("k200", t0), Some(Transport::Synapse));
    }

    #[test]
    fn the_cache_is_bounded() {
        let mut cache = TransportCache::new(DETECT_TTL, 3);
        let t0 = Instant::now();
        for i in 0..10u64 {
            cache.learn_btauth_answer(&format!("k{i}"), Some(404), t0 + Duration::from_secs(i));
            assert!(cache.len() <= 3);
        }
        // The oldest went first.
        let now = t0 + Duration::from_secs(10);
        assert_eq!(cache.known("k0", now), None);
        assert_eq!(cache.known("k9", now), Some(Transport::Synapse));
        // Re-learning a present key never evicts.
        cache.learn_btauth_answer("k9", Some(200), now);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.known("k8", now), Some(Transport::Synapse));
    }
}

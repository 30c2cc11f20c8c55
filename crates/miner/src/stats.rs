//! The miner's Prometheus metrics. The synthesis pool records the per-engine ones
//! (`miner_synthesis_seconds`, `miner_synthesis_realtime_factor`, `miner_queue_depth`,
//! `miner_synthesis_rejected_total`); this module records requests per front end and status and
//! describes every metric once. They reach Prometheus through whatever recorder the process
//! installed (`--metrics.port`); without one they cost nothing.

use std::sync::Once;
use std::time::Instant;

/// Requests answered, by front end (`path`: `synapse`, `btauth`, `openai`, `music` or
/// `music-btauth`) and HTTP status (`cancelled` when the caller or the axon's timeout dropped
/// the request first).
pub const REQUESTS_TOTAL: &str = "miner_requests_total";
/// Seconds from accepting a request to answering it, by front end (queueing included).
pub const REQUEST_SECONDS: &str = "miner_request_duration_seconds";

/// Registers the descriptions (`# HELP` lines). Idempotent; call it after the recorder is
/// installed.
pub fn describe_metrics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        metrics::describe_counter!(
            REQUESTS_TOTAL,
            "Speech and music requests answered, by front end (path) and HTTP status."
        );
        metrics::describe_histogram!(
            REQUEST_SECONDS,
            metrics::Unit::Seconds,
            "Time from accepting a speech request to answering it, queueing included."
        );
        metrics::describe_histogram!(
            "miner_synthesis_seconds",
            metrics::Unit::Seconds,
            "Time a synthesis worker spent on one prompt."
        );
        metrics::describe_histogram!(
            "miner_synthesis_realtime_factor",
            "Synthesis time divided by the duration of the audio produced (lower is faster)."
        );
        metrics::describe_gauge!(
            "miner_queue_depth",
            "Prompts waiting for a synthesis worker."
        );
        metrics::describe_counter!(
            "miner_synthesis_rejected_total",
            "Prompts refused because the synthesis queue was full (answered 503)."
        );
    });
}

/// Counts one request when finished, or as `cancelled` when dropped unfinished (the future was
/// dropped: the caller went away or a timeout fired).
pub(crate) struct RequestMetric {
    path: &'static str,
    started: Instant,
    done: bool,
}

impl RequestMetric {
    pub(crate) fn start(path: &'static str) -> Self {
        Self {
            path,
            started: Instant::now(),
            done: false,
        }
    }

    pub(crate) fn finish(mut self, status: u16) {
        self.done = true;
        self.record(status.to_string());
    }

    fn record(&self, status: String) {
        metrics::counter!(REQUESTS_TOTAL, "path" => self.path, "status" => status).increment(1);
        metrics::histogram!(REQUEST_SECONDS, "path" => self.path)
            .record(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for RequestMetric {
    fn drop(&mut self) {
        if !self.done {
            self.record("cancelled".to_owned());
        }
    }
}

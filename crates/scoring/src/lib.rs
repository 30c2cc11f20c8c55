//! The validator's scoring of text-to-speech responses, usable without a chain.
//!
//! A response (samples + declared sample rate) for the validator's own prompt goes through:
//! 1. [`checks`]: pure validation (finite, in range, allowed rate, plausible length, not silent)
//!    → clean float audio or a typed [`Rejection`];
//! 2. [`resample`]: one fixed windowed-sinc resampler to 16 kHz, so every validator feeds the
//!    models the same samples;
//! 3. the models, loaded once and resident: Whisper tiny.en or base ([`AsrModel`]) in candle
//!    ([`whisper`], WER against the prompt), DNSMOS P.835 and Silero VAD on ONNX Runtime
//!    ([`onnx`]);
//! 4. [`formula`]: one multiplicative reward in [0, 1] from intelligibility, naturalness,
//!    activity and pacing;
//! 5. [`fingerprint`]: a robust fingerprint and an exact hash to catch replayed and duplicated
//!    clips across prompts and hotkeys.
//!
//! [`Scorer`] runs all of it on a dedicated thread behind a bounded queue, never on the async
//! runtime. See `docs/scoring.md` for the formula and its reasons.

pub mod checks;
pub mod fingerprint;
pub mod formula;
pub mod onnx;
pub mod resample;
mod scorer;
pub mod text;
pub mod whisper;

pub use checks::{CheckedAudio, Rejection, check_response};
pub use fingerprint::{Fingerprint, ReplayIndex, ReplayMatch, exact_hash};
pub use formula::{Factors, Measurements, Naturalness};
pub use onnx::Dnsmos;
pub use scorer::{
    Overloaded, Samples, ScoreBreakdown, ScoreReceiver, Scorer, ScorerConfig, ScoringModels,
    Timings, WhisperDevice,
};
pub use whisper::{AsrModel, Transcript, UnknownAsrModel};

/// Errors of model loading and inference. A bad response is not an error: it is a
/// [`Rejection`], wrapped in [`ScoringError::Rejected`] by the worker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScoringError {
    /// The response failed the checks; its reward is 0.
    #[error("response rejected: {0}")]
    Rejected(#[from] Rejection),
    /// A model file is missing or corrupt.
    #[error(transparent)]
    Model(#[from] audiosubnet_models::ModelError),
    /// Reading a file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Whisper failed to load or run.
    #[error("whisper: {0}")]
    Whisper(String),
    /// An ONNX model (DNSMOS, VAD) failed to load or run.
    #[error("{model}: {message}")]
    Onnx {
        /// Which model.
        model: &'static str,
        /// What went wrong.
        message: String,
    },
    /// Distill-MOS failed to load or run.
    #[error("Distill-MOS: {0}")]
    DistillMos(#[from] audiosubnet_distillmos::Error),
    /// The worker thread is gone (the scorer was dropped, or its models could not be restored
    /// after a panic).
    #[error("the scoring worker stopped")]
    WorkerGone,
    /// Scoring this clip panicked; the worker caught it and carries on (with reloaded models
    /// when it can reload them).
    #[error("scoring panicked: {0}")]
    Panicked(String),
}

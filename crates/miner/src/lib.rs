//! The miner: a [`SynthesisPool`] of resident speech engines behind an axon that answers
//! `TextToSpeech`. This crate owns the request policy (who may ask, what a bad prompt gets) and
//! the glue from synapse to engine; the chain side (registration, serving the axon on chain,
//! metagraph-based blacklists) plugs in through [`AxonHooks`]. The same pool can also answer
//! OpenAI-style `POST /v1/audio/speech` requests ([`openai`]).

mod chain_policy;
pub mod openai;
mod stats;

pub use chain_policy::{ChainPolicy, metagraph_sync_task};
pub use openai::{ApiKey, OpenAiConfig, openai_router, serve_openai, spawn_openai};
pub use stats::{REQUEST_SECONDS, REQUESTS_TOTAL, describe_metrics};

use audiosubnet_axon::{Axon, AxonConfig, AxonHooks, Caller, ForwardError};
use audiosubnet_protocol::TextToSpeech;
use audiosubnet_tts::{Speech, SynthesisPool, TtsError};
use audiosubnet_wallet::Keypair;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

/// Who may query a miner that runs without a chain (`--offline`).
#[derive(Debug, Default, Clone)]
pub struct OfflinePolicy {
    /// When set, only these SS58 hotkeys are served (`--blacklist.allowed_hotkeys`); otherwise
    /// every correctly signed request is.
    pub allowed_hotkeys: Option<HashSet<String>>,
}

impl AxonHooks for OfflinePolicy {
    fn blacklist(&self, _synapse: &str, caller: &Caller) -> Result<(), String> {
        match &self.allowed_hotkeys {
            Some(allowed) if !allowed.contains(&caller.hotkey_ss58) => Err(format!(
                "hotkey {} is not in --blacklist.allowed_hotkeys",
                caller.hotkey_ss58
            )),
            _ => Ok(()),
        }
    }
}

/// Builds the axon for `hotkey` that answers `TextToSpeech` from `pool`.
pub fn build_axon(
    hotkey: Keypair,
    config: AxonConfig,
    pool: Arc<SynthesisPool>,
    hooks: Arc<dyn AxonHooks>,
) -> Axon {
    Axon::builder(hotkey, config)
        .hooks(hooks)
        .attach(move |caller: Caller, request: TextToSpeech| {
            synthesize(pool.clone(), caller, request)
        })
        .build()
}

/// Answers one `TextToSpeech`: queue the prompt (503 at once when the queue is full), wait for
/// a worker, and fill `speech_output`, `sample_rate` and `model_name`.
pub async fn synthesize(
    pool: Arc<SynthesisPool>,
    caller: Caller,
    mut request: TextToSpeech,
) -> Result<TextToSpeech, ForwardError> {
    let metric = stats::RequestMetric::start("synapse");
    let started = Instant::now();
    let text = request.text_input.clone().unwrap_or_default();
    let result = run_synthesis(&pool, text).await;
    metric.finish(match &result {
        Ok(_) => 200,
        Err(e) => e.status(),
    });
    let speech = result.map_err(|e| match e {
        SynthesisError::BadRequest(m) => ForwardError::BadRequest(m),
        SynthesisError::Overloaded(m) => ForwardError::Overloaded(m),
        SynthesisError::Internal(m) => ForwardError::Internal(m),
    })?;
    tracing::debug!(
        caller = %caller.hotkey_ss58,
        seconds = speech.duration_secs(),
        took_ms = started.elapsed().as_millis() as u64,
        "synthesized"
    );
    request.sample_rate = Some(speech.sample_rate);
    request.speech_output = Some(speech.samples);
    request.model_name = Some(pool.engine_name().to_string());
    Ok(request)
}

/// Why a prompt got no audio; shared by the synapse and OpenAI front ends.
#[derive(Debug)]
pub(crate) enum SynthesisError {
    /// Blank or over-long prompt: 400.
    BadRequest(String),
    /// The queue is full or no worker is alive: 503.
    Overloaded(String),
    /// The engine failed: 500 (the message is logged, not sent to callers).
    Internal(String),
}

impl SynthesisError {
    pub(crate) fn status(&self) -> u16 {
        match self {
            SynthesisError::BadRequest(_) => 400,
            SynthesisError::Overloaded(_) => 503,
            SynthesisError::Internal(_) => 500,
        }
    }
}

/// Queues `text` (refused at once when the queue is full) and waits for its audio.
pub(crate) async fn run_synthesis(
    pool: &SynthesisPool,
    text: String,
) -> Result<Speech, SynthesisError> {
    if text.trim().is_empty() {
        return Err(SynthesisError::BadRequest("text_input is empty".into()));
    }
    let pending = pool
        .try_submit(text)
        .map_err(|e| SynthesisError::Overloaded(e.to_string()))?;
    match pending.await {
        Ok(Ok(speech)) => Ok(speech),
        Ok(Err(e @ (TtsError::EmptyText | TtsError::TextTooLong { .. }))) => {
            Err(SynthesisError::BadRequest(e.to_string()))
        }
        Ok(Err(e)) => Err(SynthesisError::Internal(e.to_string())),
        Err(_) => Err(SynthesisError::Internal("synthesis worker stopped".into())),
    }
}

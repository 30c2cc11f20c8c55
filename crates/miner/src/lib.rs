//! The miner: a [`SynthesisPool`] of resident speech engines behind an axon that answers
//! `TextToSpeech`. This crate owns the request policy (who may ask, what a bad prompt gets) and
//! the glue from synapse to engine; the chain side (registration, serving the axon on chain,
//! metagraph-based blacklists) plugs in through [`AxonHooks`].

mod chain_policy;

pub use chain_policy::{ChainPolicy, metagraph_sync_task};

use audiosubnet_axon::{Axon, AxonConfig, AxonHooks, Caller, ForwardError};
use audiosubnet_protocol::TextToSpeech;
use audiosubnet_tts::{SynthesisPool, TtsError};
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
    let text = request.text_input.clone().unwrap_or_default();
    if text.trim().is_empty() {
        return Err(ForwardError::BadRequest("text_input is empty".into()));
    }
    let started = Instant::now();
    let pending = pool
        .try_submit(text)
        .map_err(|e| ForwardError::Overloaded(e.to_string()))?;
    let speech = match pending.await {
        Ok(Ok(speech)) => speech,
        Ok(Err(e @ (TtsError::EmptyText | TtsError::TextTooLong { .. }))) => {
            return Err(ForwardError::BadRequest(e.to_string()));
        }
        Ok(Err(e)) => return Err(ForwardError::Internal(e.to_string())),
        Err(_) => return Err(ForwardError::Internal("synthesis worker stopped".into())),
    };
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

//! The miner: a [`SynthesisPool`] of resident speech engines behind an axon that answers
//! `TextToSpeech`. This crate owns the request policy (who may ask, what a bad prompt gets) and
//! the glue from synapse to engine; the chain side (registration, serving the axon on chain,
//! metagraph-based blacklists) plugs in through [`AxonHooks`]. The same pool can also answer
//! OpenAI-style `POST /v1/audio/speech` requests ([`openai`]). The axon speaks both transports
//! ([`Transports`]): the SDK ≤ 10 Synapse (`POST /TextToSpeech`, audio as JSON floats) and the
//! SDK 11 `btauth/1` `POST /tts` (audio as WAV or raw s16le). A miner may also make music
//! ([`music`]): `POST /MusicGeneration` and `POST /music` from a
//! [`audiosubnet_music::MusicPool`], on the same axon, hooks and limits.

mod chain_policy;
pub mod music;
pub mod openai;
mod stats;

pub use chain_policy::{ChainPolicy, metagraph_sync_task};
pub use music::{MusicService, generate_music};
pub use openai::{ApiKey, OpenAiConfig, openai_router, serve_openai, spawn_openai};
pub use stats::{REQUEST_SECONDS, REQUESTS_TOTAL, describe_metrics};

use audiosubnet_axon::{
    AudioEncoding, Axon, AxonConfig, AxonHooks, Caller, ForwardError, TtsAudio, TtsRequest,
};
use audiosubnet_protocol::tts_http::pcm16le;
use audiosubnet_protocol::{MusicGeneration, TextToSpeech};
use audiosubnet_tts::{Speech, SynthesisPool, TtsError};
use audiosubnet_wallet::Keypair;
use std::collections::HashSet;
use std::str::FromStr;
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

/// Which wire protocols the axon serves (`--axon.transports`); both by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transports {
    /// The SDK ≤ 10 Synapse routes (`/TextToSpeech`, the `/Synapse` ping).
    pub synapse: bool,
    /// The SDK 11 `btauth/1` route (`POST /tts`).
    pub btauth: bool,
}

impl Default for Transports {
    fn default() -> Self {
        Transports {
            synapse: true,
            btauth: true,
        }
    }
}

impl FromStr for Transports {
    type Err = String;

    /// A comma-separated list of `synapse` and `btauth`, at least one.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut t = Transports {
            synapse: false,
            btauth: false,
        };
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "synapse" => t.synapse = true,
                "btauth" => t.btauth = true,
                other => return Err(format!("unknown transport `{other}` (synapse, btauth)")),
            }
        }
        if !t.synapse && !t.btauth {
            return Err("name at least one transport: synapse, btauth".into());
        }
        Ok(t)
    }
}

/// Builds the axon for `hotkey` that answers `TextToSpeech` (Synapse) and `POST /tts`
/// (`btauth/1`) from `pool`.
pub fn build_axon(
    hotkey: Keypair,
    config: AxonConfig,
    pool: Arc<SynthesisPool>,
    hooks: Arc<dyn AxonHooks>,
) -> Axon {
    build_axon_with(hotkey, config, pool, hooks, Transports::default())
}

/// [`build_axon`] serving only the given transports. Both share the port, the hooks, the
/// priority gate and the limits.
pub fn build_axon_with(
    hotkey: Keypair,
    config: AxonConfig,
    pool: Arc<SynthesisPool>,
    hooks: Arc<dyn AxonHooks>,
    transports: Transports,
) -> Axon {
    let services = Services {
        speech: Some(pool),
        music: None,
    };
    build_axon_for(hotkey, config, services, hooks, transports)
}

/// What an axon answers: speech, music, or both, from resident pools.
#[derive(Debug, Clone, Default)]
pub struct Services {
    /// `TextToSpeech` (Synapse) and `POST /tts` (`btauth/1`).
    pub speech: Option<Arc<SynthesisPool>>,
    /// `MusicGeneration` (Synapse) and `POST /music` (`btauth/1`).
    pub music: Option<Arc<MusicService>>,
}

/// The axon for `hotkey` answering the `services` it is given on the given transports, all on
/// one port with the same hooks, priority gate and limits. A service it is not given is 404.
pub fn build_axon_for(
    hotkey: Keypair,
    config: AxonConfig,
    services: Services,
    hooks: Arc<dyn AxonHooks>,
    transports: Transports,
) -> Axon {
    let mut builder = Axon::builder(hotkey, config)
        .hooks(hooks)
        .synapse(transports.synapse);
    if let Some(pool) = services.speech {
        if transports.synapse {
            let pool = pool.clone();
            builder = builder.attach(move |caller: Caller, request: TextToSpeech| {
                synthesize(pool.clone(), caller, request)
            });
        }
        if transports.btauth {
            builder = builder.attach_tts(move |caller, request, encoding| {
                synthesize_audio(pool.clone(), caller, request, encoding)
            });
        }
    }
    if let Some(music) = services.music {
        if transports.synapse {
            let music = music.clone();
            builder = builder.attach(move |caller: Caller, request: MusicGeneration| {
                generate_music(music.clone(), caller, request)
            });
        }
        if transports.btauth {
            builder = builder.attach_music(move |caller, request, encoding| {
                music::generate_music_audio(music.clone(), caller, request, encoding)
            });
        }
    }
    builder.build()
}

/// Answers one `POST /tts`: the same queue and engines as [`synthesize`], the audio resampled
/// to the caller's preferred rate when it named one, encoded as 16-bit PCM (WAV through the
/// tts crate's writer, or raw s16le). `voice` is ignored: each engine runs one voice.
pub async fn synthesize_audio(
    pool: Arc<SynthesisPool>,
    caller: Caller,
    request: TtsRequest,
    encoding: AudioEncoding,
) -> Result<TtsAudio, ForwardError> {
    let metric = stats::RequestMetric::start("btauth");
    let started = Instant::now();
    let result = run_synthesis(&pool, request.text).await;
    metric.finish(match &result {
        Ok(_) => 200,
        Err(e) => e.status(),
    });
    let mut speech = result.map_err(|e| match e {
        SynthesisError::BadRequest(m) => ForwardError::BadRequest(m),
        SynthesisError::Overloaded(m) => ForwardError::Overloaded(m),
        SynthesisError::Internal(m) => ForwardError::Internal(m),
    })?;
    if let Some(rate) = request.sample_rate
        && rate != speech.sample_rate
    {
        speech.samples = openai::resample(&speech.samples, speech.sample_rate, rate);
        speech.sample_rate = rate;
    }
    tracing::debug!(
        caller = %caller.hotkey_ss58,
        seconds = speech.duration_secs(),
        took_ms = started.elapsed().as_millis() as u64,
        "synthesized (btauth)"
    );
    let body = match encoding {
        AudioEncoding::Wav => speech
            .to_wav_bytes()
            .map_err(|e| ForwardError::Internal(e.to_string()))?,
        AudioEncoding::S16le => pcm16le(&speech.samples),
    };
    Ok(TtsAudio {
        body: body.into(),
        sample_rate: speech.sample_rate,
        model: pool.engine_name().to_string(),
    })
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
    run_synthesis_voice(pool, text, None).await
}

/// [`run_synthesis`] in `voice` (already resolved with [`audiosubnet_tts::request_voice`]).
pub(crate) async fn run_synthesis_voice(
    pool: &SynthesisPool,
    text: String,
    voice: Option<String>,
) -> Result<Speech, SynthesisError> {
    if text.trim().is_empty() {
        return Err(SynthesisError::BadRequest("text_input is empty".into()));
    }
    let pending = pool
        .try_submit_voice(text, voice)
        .map_err(|e| SynthesisError::Overloaded(e.to_string()))?;
    match pending.await {
        Ok(Ok(speech)) => Ok(speech),
        Ok(Err(
            e
            @ (TtsError::EmptyText | TtsError::TextTooLong { .. } | TtsError::UnknownVoice { .. }),
        )) => Err(SynthesisError::BadRequest(e.to_string())),
        Ok(Err(e)) => Err(SynthesisError::Internal(e.to_string())),
        Err(_) => Err(SynthesisError::Internal("synthesis worker stopped".into())),
    }
}

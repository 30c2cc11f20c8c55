//! `audiosubnet tts --model NAME --text "…" --out file.wav`: one synthesis, for trying engines.
//! `audiosubnet tts --model NAME --serve PORT`: the miner's OpenAI-compatible
//! `POST /v1/audio/speech` endpoint on its own, without a wallet or chain.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::args::HubModelArgs;
use anyhow::{Context as _, Result};
use audiosubnet_tts::{Device, EngineOptions, PoolConfig, SynthesisPool, load_engine};

/// Synthesise one text to a 16-bit PCM WAV file, or serve an OpenAI-compatible speech endpoint.
#[derive(Debug, clap::Args)]
pub(crate) struct TtsArgs {
    /// Engine: kokoro (with --model.voice, --model.speed), piper (alias en_US-joe-medium),
    /// festival, flite, espeak, microsoft/speecht5_tts, facebook/mms-tts-eng, suno/bark,
    /// suno/bark-small, vits (with --model.path).
    #[arg(long, default_value = "piper")]
    model: String,
    #[command(flatten)]
    hub_model: HubModelArgs,
    /// The text to speak.
    #[arg(long, required_unless_present = "serve")]
    text: Option<String>,
    /// Output WAV file.
    #[arg(long, required_unless_present = "serve")]
    out: Option<PathBuf>,
    /// Instead of one synthesis, serve OpenAI-compatible `POST /v1/audio/speech` on this port
    /// until Ctrl-C (no authentication: keep it on a private interface).
    #[arg(long, value_name = "PORT", conflicts_with_all = ["text", "out"])]
    serve: Option<u16>,
    /// Address `--serve` binds.
    #[arg(long, default_value = "127.0.0.1")]
    ip: IpAddr,
    /// Synthesis worker threads for `--serve`, each with a resident engine.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Prompts that may wait for a worker under `--serve`; beyond this the answer is 503.
    #[arg(long, default_value_t = 8)]
    queue: usize,
    /// Serve Prometheus metrics on this port (127.0.0.1 only) under `--serve`.
    #[arg(long = "metrics.port", requires = "serve")]
    metrics_port: Option<u16>,
    /// Device for neural engines: cpu or cuda.
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Longest accepted text, in characters.
    #[arg(long, default_value_t = audiosubnet_tts::text::DEFAULT_MAX_CHARS)]
    max_chars: usize,
}

/// Runs `audiosubnet tts …`.
pub(crate) fn run(args: TtsArgs) -> Result<()> {
    let opts = args.hub_model.apply(EngineOptions {
        device: args.device,
        max_chars: args.max_chars,
        ..EngineOptions::default()
    });
    let (Some(text), Some(out)) = (args.text.as_deref(), args.out.as_ref()) else {
        return serve(&args, &opts);
    };
    let loading = Instant::now();
    let mut engine =
        load_engine(&args.model, &opts).with_context(|| format!("loading model {}", args.model))?;
    let load_secs = loading.elapsed().as_secs_f64();
    let started = Instant::now();
    let speech = engine.synthesize(text).context("synthesis failed")?;
    let synth_secs = started.elapsed().as_secs_f64();
    speech
        .write_wav(out)
        .with_context(|| format!("writing {}", out.display()))?;
    let audio = speech.duration_secs();
    tracing::debug!(
        model = engine.name(),
        out = %out.display(),
        audio_secs = audio,
        sample_rate = speech.sample_rate,
        load_secs,
        synth_secs,
        rtf = if audio > 0.0 { synth_secs / audio } else { 0.0 },
        "wrote speech"
    );
    eprintln!(
        "{}: {:.2} s of audio at {} Hz in {:.2} s (RTF {:.3}; load {:.2} s) -> {}",
        engine.name(),
        audio,
        speech.sample_rate,
        synth_secs,
        if audio > 0.0 { synth_secs / audio } else { 0.0 },
        load_secs,
        out.display()
    );
    Ok(())
}

/// `--serve PORT`: the OpenAI-compatible endpoint on a synthesis pool, until Ctrl-C or SIGTERM.
fn serve(args: &TtsArgs, opts: &EngineOptions) -> Result<()> {
    let port = args.serve.context("--serve PORT, or --text and --out")?;
    if let Some(port) = args.metrics_port {
        audiosubnet_telemetry::serve_metrics(SocketAddr::from(([127, 0, 0, 1], port)))?;
        audiosubnet_miner::describe_metrics();
    }
    let config = PoolConfig {
        workers: args.workers,
        queue_capacity: args.queue,
        ..PoolConfig::default()
    };
    let pool = SynthesisPool::start(&args.model, opts, config)
        .with_context(|| format!("starting model {}", args.model))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        // No validators share this pool: the endpoint may use all of it.
        let openai = audiosubnet_miner::OpenAiConfig {
            max_in_flight: Some(pool.workers() + pool.capacity()),
            reserved_queue: Some(0),
            api_key: std::env::var("AUDIOSUBNET_OPENAI_API_KEY")
                .ok()
                .as_deref()
                .and_then(audiosubnet_miner::ApiKey::new),
            ..Default::default()
        };
        let bind = SocketAddr::new(args.ip, port);
        let task = audiosubnet_miner::spawn_openai(
            bind,
            Arc::new(pool),
            openai,
            audiosubnet_telemetry::shutdown_signal(),
        )
        .await?;
        task.await.context("the OpenAI endpoint task")?;
        tracing::info!("stopped");
        Ok(())
    })
}

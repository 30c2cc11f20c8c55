//! `audiosubnet miner`: serve `TextToSpeech` from resident speech engines, and with `--task
//! music` (or `speech,music`) `MusicGeneration` from resident music engines, on one axon.

use crate::args::{HubModelArgs, LoggingArgs, SeedArgs, SubtensorArgs, WalletArgs};
use crate::models_cmd::{OnDemandArgs, ensure_installed};
use crate::music_engines::load_music_engines;
use anyhow::{Context as _, Result, bail};
use audiosubnet_axon::{AxonConfig, AxonHooks, ConnectionLimits};
use audiosubnet_miner::{
    ApiKey, ChainPolicy, MusicService, OfflinePolicy, OpenAiConfig, Services, Transports,
    build_axon_for, metagraph_sync_task, spawn_openai,
};
use audiosubnet_music::{MusicOptions, MusicPool};
use audiosubnet_musicgen::MusicGenOptions;
use audiosubnet_tts::{Device, EngineOptions, PoolConfig, SynthesisPool};
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Run a miner: answer validators' `TextToSpeech` requests with synthesized speech.
#[derive(Debug, clap::Args)]
pub(crate) struct MinerArgs {
    #[command(flatten)]
    wallet: WalletArgs,
    #[command(flatten)]
    logging: LoggingArgs,
    #[command(flatten)]
    subtensor: SubtensorArgs,
    #[command(flatten)]
    seed: SeedArgs,
    /// The subnet to mine on.
    #[arg(long, default_value_t = 1)]
    netuid: u16,
    /// What this miner answers: speech (TextToSpeech), music (MusicGeneration), or both
    /// (`speech,music`), all on the one axon.
    #[arg(long, default_value = "speech")]
    task: Tasks,
    /// Speech engine: kokoro (Kokoro-82M; --model.voice, --model.speed), piper (alias
    /// en_US-joe-medium), festival, flite, espeak, and the seed's
    /// Hugging Face models (from the Hugging Face cache, downloaded when missing, or
    /// --model.path): microsoft/speecht5_tts, facebook/mms-tts-eng, suno/bark, suno/bark-small;
    /// vits runs any VitsModel checkpoint in --model.path. `silence` is a deliberately useless engine for demos.
    /// With `--task music` alone it names the music engine instead (see --music.model).
    #[arg(long, default_value = "piper")]
    model: String,
    /// Music engine for `--task music`: soundfont (alias fluidsynth; General MIDI through a
    /// SoundFont, CPU), or MusicGen: facebook/musicgen-small, facebook/musicgen-medium,
    /// facebook/musicgen-large (also musicgen-small etc.; the checkpoint from
    /// --music.model.path or the Hugging Face cache, on --device). Default: --model when the
    /// task is music alone, else soundfont. `--music_model` (the original miner's spelling) is
    /// an alias.
    #[arg(long = "music.model", alias = "music_model")]
    music_model: Option<String>,
    /// MusicGen's checkpoint directory (config.json, tokenizer.json, model.safetensors);
    /// default: the Hugging Face cache.
    #[arg(long = "music.model.path")]
    music_model_path: Option<PathBuf>,
    /// MusicGen's Hugging Face revision in the cache (branch, tag or commit); default: main.
    #[arg(long = "music.model.revision")]
    music_model_revision: Option<String>,
    /// The music engine's SoundFont (.sf2); default: the fluid-soundfont-gm package's
    /// FluidR3_GM.sf2.
    #[arg(long = "music.soundfont")]
    music_soundfont: Option<PathBuf>,
    /// Longest clip served, in seconds; longer requests get 400 saying so.
    #[arg(long = "music.max_seconds", default_value_t = 30.0, value_parser = parse_secs)]
    music_max_seconds: f64,
    /// Music worker threads, each with a resident engine.
    #[arg(long = "music.workers", default_value_t = 1)]
    music_workers: usize,
    /// Music requests that may wait for a worker; beyond this the miner answers 503 at once.
    #[arg(long = "music.queue", default_value_t = 4)]
    music_queue: usize,
    #[command(flatten)]
    hub_model: HubModelArgs,
    #[command(flatten)]
    models: OnDemandArgs,
    /// Where neural engines run: cpu or cuda.
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Port the axon listens on.
    #[arg(long = "axon.port", default_value_t = 8091, env = "BT_AXON_PORT")]
    axon_port: u16,
    /// Address the axon binds.
    #[arg(long = "axon.ip", default_value = "0.0.0.0")]
    axon_ip: IpAddr,
    /// IP published on chain and reported to callers (defaults to --axon.ip).
    #[arg(long = "axon.external_ip")]
    axon_external_ip: Option<IpAddr>,
    /// Port published on chain and reported to callers (defaults to --axon.port).
    #[arg(long = "axon.external_port")]
    axon_external_port: Option<u16>,
    /// Requests that may run at once in the axon (more wait in a priority queue).
    #[arg(long = "axon.max_workers", default_value_t = 8)]
    axon_max_workers: usize,
    /// Open connections the axon (and the OpenAI endpoint, each) accepts; more are closed at
    /// once. Lowered to fit the process's open-file limit.
    #[arg(long = "axon.max_connections", default_value_t = 2048)]
    axon_max_connections: usize,
    /// Open connections one IP address may hold, so one host cannot take every slot.
    #[arg(long = "axon.max_connections_per_ip", default_value_t = 256)]
    axon_max_connections_per_ip: usize,
    /// Seconds a client has to send a complete request head; idle keep-alive connections are
    /// closed after it too.
    #[arg(long = "axon.header_timeout", default_value_t = 10.0, value_parser = parse_secs)]
    axon_header_timeout: f64,
    /// Seconds a request body may take to arrive.
    #[arg(long = "axon.body_timeout", default_value_t = 30.0, value_parser = parse_secs)]
    axon_body_timeout: f64,
    /// Seconds a stopping miner (SIGTERM, Ctrl-C) gives the requests it has accepted to finish;
    /// meanwhile new requests get 503. Keep it under the service manager's stop timeout.
    #[arg(long = "axon.drain_timeout", default_value_t = 30.0, value_parser = parse_secs)]
    axon_drain_timeout: f64,
    /// Requests served on one connection before it is closed.
    #[arg(long = "axon.max_requests_per_connection", default_value_t = 1000)]
    axon_max_requests_per_connection: usize,
    /// Largest request body in bytes (413 above, refused before it is read).
    #[arg(long = "axon.max_body_bytes", default_value_t = 4 * 1024 * 1024)]
    axon_max_body_bytes: usize,
    /// Wire protocols served on the axon port: `synapse` (SDK <= 10, POST /TextToSpeech) and
    /// `btauth` (SDK 11 signed requests, POST /tts with binary audio).
    #[arg(long = "axon.transports", default_value = "synapse,btauth")]
    axon_transports: Transports,
    /// Synthesis worker threads, each with a resident engine.
    #[arg(long = "miner.workers", default_value_t = 1)]
    workers: usize,
    /// Prompts that may wait for a synthesis worker; beyond this the miner answers 503 at once
    /// instead of letting the caller time out.
    #[arg(long = "miner.queue", default_value_t = 8)]
    queue: usize,
    /// Longest prompt accepted, in characters, both as typed and as spoken (after numbers,
    /// symbols and other scripts are spelled out: "½" is 8 spoken characters).
    #[arg(long = "miner.max_chars", default_value_t = 1000)]
    max_chars: usize,
    /// ONNX Runtime threads per Piper worker (0: one per core). With several workers, or on a
    /// busy host, cores / workers is usually fastest.
    #[arg(long = "miner.intra_threads", default_value_t = 0)]
    intra_threads: usize,
    /// Serve without a chain: any correctly signed request is served (see
    /// --blacklist.allowed_hotkeys).
    #[arg(long)]
    offline: bool,
    /// Only these hotkeys (comma-separated SS58) may query this miner (offline mode).
    #[arg(long = "blacklist.allowed_hotkeys", value_delimiter = ',')]
    allowed_hotkeys: Vec<String>,
    /// Refuse callers with less stake than this, in TAO (on chain).
    #[arg(long = "blacklist.min_stake", default_value_t = 0.0)]
    min_stake: f64,
    /// Also serve registered hotkeys without a validator permit (on chain).
    #[arg(long = "blacklist.allow_non_validators")]
    allow_non_validators: bool,
    /// Seconds between metagraph re-syncs (on chain).
    #[arg(long = "neuron.sync_interval", default_value_t = 120)]
    sync_interval: u64,
    /// Serve Prometheus metrics on this port (127.0.0.1 only). Off by default.
    #[arg(long = "metrics.port")]
    metrics_port: Option<u16>,
    /// Also answer OpenAI-compatible `POST /v1/audio/speech` on this port, from the same
    /// synthesis pool (validators keep a reserved share). Unauthenticated unless
    /// --openai.api_key is set: keep it on a private interface. Off by default.
    #[arg(long = "openai.port")]
    openai_port: Option<u16>,
    /// Address the OpenAI-compatible endpoint binds.
    #[arg(long = "openai.ip", default_value = "127.0.0.1")]
    openai_ip: IpAddr,
    /// Bearer key the OpenAI endpoint requires (`Authorization: Bearer <key>`). Prefer the
    /// environment variable: command lines are visible to other users.
    #[arg(
        long = "openai.api_key",
        env = "AUDIOSUBNET_OPENAI_API_KEY",
        hide_env_values = true,
        value_parser = parse_api_key
    )]
    openai_api_key: Option<ApiKey>,
    /// OpenAI requests queued or running at once (default: half the pool's workers plus queue).
    #[arg(long = "openai.max_in_flight")]
    openai_max_in_flight: Option<usize>,
}

/// A non-blank key (its `Debug` is redacted, so printing the arguments does not show it).
fn parse_api_key(s: &str) -> Result<ApiKey, String> {
    ApiKey::new(s).ok_or_else(|| "the API key is blank".to_string())
}

/// A positive, finite number of seconds (at most a day).
fn parse_secs(s: &str) -> Result<f64, String> {
    let secs: f64 = s.trim().parse().map_err(|e| format!("{e}"))?;
    if secs.is_finite() && secs > 0.0 && secs <= 86_400.0 {
        Ok(secs)
    } else {
        Err(format!(
            "{s} is not a number of seconds between 0 and 86400"
        ))
    }
}

/// The services a miner answers (`--task`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tasks {
    pub(crate) speech: bool,
    pub(crate) music: bool,
}

impl FromStr for Tasks {
    type Err = String;

    /// A comma-separated list of `speech` and `music`, at least one.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut tasks = Tasks {
            speech: false,
            music: false,
        };
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "speech" | "tts" => tasks.speech = true,
                "music" | "ttm" => tasks.music = true,
                other => return Err(format!("unknown task `{other}` (speech, music)")),
            }
        }
        if !tasks.speech && !tasks.music {
            return Err("name at least one task: speech, music".into());
        }
        Ok(tasks)
    }
}

impl MinerArgs {
    /// The music engine's name: `--music.model`, else `--model` when music is the only task.
    fn music_model(&self) -> &str {
        match (&self.music_model, self.task.speech) {
            (Some(name), _) => name,
            (None, false) => &self.model,
            (None, true) => audiosubnet_music::DEFAULT_ENGINE,
        }
    }

    /// The connection limits for the axon and the OpenAI endpoint, lowered to what `nofile`
    /// open files allow (each server gets half, less a reserve for engines and logs).
    fn connection_limits(&self, nofile: Option<u64>) -> ConnectionLimits {
        let mut max_connections = self.axon_max_connections.max(1);
        if let Some(nofile) = nofile {
            let servers = if self.openai_port.is_some() { 2 } else { 1 };
            let fit = (nofile.saturating_sub(256) / servers).max(16);
            let fit = usize::try_from(fit).unwrap_or(usize::MAX);
            if fit < max_connections {
                tracing::warn!(
                    requested = max_connections,
                    allowed = fit,
                    nofile,
                    "--axon.max_connections lowered to fit the open-file limit (raise `ulimit -n`)"
                );
                max_connections = fit;
            }
        }
        ConnectionLimits {
            max_connections,
            max_connections_per_ip: self.axon_max_connections_per_ip.max(1),
            header_timeout: Duration::from_secs_f64(self.axon_header_timeout),
            body_timeout: Duration::from_secs_f64(self.axon_body_timeout),
            max_requests_per_connection: self.axon_max_requests_per_connection.max(1),
            shutdown_grace: Duration::from_secs_f64(self.axon_drain_timeout),
            ..ConnectionLimits::default()
        }
    }
}

/// Raises the soft open-file limit to the hard one (every connection is a descriptor) and
/// returns the limit now in force.
fn raise_nofile_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_some() && limit.current != limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => tracing::debug!(nofile = ?limit.maximum, "raised the open-file limit"),
            Err(e) => tracing::warn!("could not raise the open-file limit: {e}"),
        }
    }
    getrlimit(Resource::Nofile).current
}

pub(crate) fn run(args: MinerArgs) -> Result<()> {
    let _guard = args.logging.init()?;
    args.seed.log_ignored();
    let hotkey = args
        .wallet
        .wallet()
        .load_hotkey(args.wallet.password())
        .with_context(|| format!("loading hotkey of wallet {:?}", args.wallet.name()))?;
    if let Some(port) = args.metrics_port {
        audiosubnet_telemetry::serve_metrics(SocketAddr::from(([127, 0, 0, 1], port)))?;
        audiosubnet_miner::describe_metrics();
    }
    let engine = args.hub_model.apply(EngineOptions {
        device: args.device,
        max_chars: args.max_chars,
        intra_threads: args.intra_threads,
        ..Default::default()
    });
    let pool_config = PoolConfig {
        workers: args.workers,
        queue_capacity: args.queue,
        ..Default::default()
    };
    let speech = if args.task.speech {
        ensure_installed(
            &audiosubnet_tts::store_models(&args.model, args.device),
            &args.models,
        )?;
        tracing::info!(model = %args.model, workers = args.workers, "loading speech engine");
        let pool = SynthesisPool::start(&args.model, &engine, pool_config)
            .with_context(|| format!("starting model {}", args.model))?;
        Some(Arc::new(pool))
    } else {
        None
    };
    let music = if args.task.music {
        let name = args.music_model().to_owned();
        let options = MusicOptions {
            soundfont: args.music_soundfont.clone(),
        };
        let musicgen = MusicGenOptions {
            path: args.music_model_path.clone(),
            revision: args.music_model_revision.clone(),
            cuda: args.device == Device::Cuda,
        };
        tracing::info!(model = %name, workers = args.music_workers, "loading music engine");
        let pool = load_music_engines(&name, &options, &musicgen, args.music_workers)
            .and_then(|engines| MusicPool::from_engines(args.music_queue, engines))
            .with_context(|| format!("starting music model {name}"))?;
        Some(Arc::new(MusicService {
            pool,
            max_seconds: args.music_max_seconds,
        }))
    } else {
        None
    };
    let served_model = match (&speech, &music) {
        (Some(s), Some(m)) => format!("{} + {}", s.engine_name(), m.pool.engine_name()),
        (Some(s), None) => s.engine_name().to_owned(),
        (None, Some(m)) => m.pool.engine_name().to_owned(),
        (None, None) => String::new(),
    };
    let external_ip = args.axon_external_ip.unwrap_or(args.axon_ip);
    let external_port = args.axon_external_port.unwrap_or(args.axon_port);
    let limits = args.connection_limits(raise_nofile_limit());
    let drain = limits.shutdown_grace;
    let axon_config = AxonConfig {
        max_body_bytes: args.axon_max_body_bytes,
        max_concurrency: args.axon_max_workers,
        max_queue: args.axon_max_workers * 8,
        max_request_timeout: Duration::from_secs(120),
        external_ip: Some(external_ip.to_string()),
        external_port: Some(external_port),
        connections: limits.clone(),
        ..Default::default()
    };
    let openai_config = OpenAiConfig {
        api_key: args.openai_api_key.clone(),
        max_in_flight: args.openai_max_in_flight,
        connections: limits,
        ..Default::default()
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let openai = match (args.openai_port, &speech) {
            (Some(port), Some(pool)) => Some(
                spawn_openai(
                    SocketAddr::new(args.openai_ip, port),
                    pool.clone(),
                    openai_config,
                    audiosubnet_telemetry::shutdown_signal(),
                )
                .await?,
            ),
            (Some(_), None) => bail!("--openai.port serves speech: add `speech` to --task"),
            (None, _) => None,
        };
        let hotkey_ss58 = hotkey.ss58();
        let (hooks, sync): (Arc<dyn AxonHooks>, Option<_>) = if args.offline {
            let allowed: HashSet<String> = args
                .allowed_hotkeys
                .iter()
                .map(|s| s.trim().to_string())
                .collect();
            let policy = OfflinePolicy {
                allowed_hotkeys: (!allowed.is_empty()).then_some(allowed),
            };
            (Arc::new(policy), None)
        } else {
            let (policy, client) = join_chain(&args, &hotkey, external_ip, external_port).await?;
            let task = metagraph_sync_task(
                client,
                args.netuid,
                policy.clone(),
                Duration::from_secs(args.sync_interval.max(1)),
                audiosubnet_telemetry::shutdown_signal(),
            );
            (policy, Some(tokio::spawn(task)))
        };
        let services = Services { speech, music };
        let axon = build_axon_for(hotkey, axon_config, services, hooks, args.axon_transports);
        let bind = SocketAddr::new(args.axon_ip, args.axon_port);
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding the axon to {bind}"))?;
        let mode = if args.offline { "offline" } else { "on chain" };
        tracing::info!(
            netuid = args.netuid, %bind, hotkey = %hotkey_ss58, model = %served_model,
            "miner serving {mode}: validators reach {hotkey_ss58}@{external_ip}:{external_port}"
        );
        axon.serve(listener, audiosubnet_telemetry::shutdown_signal())
            .await?;
        if let Some(task) = sync {
            task.abort();
        }
        if let Some(task) = openai {
            // It saw the same signal and drains under the same grace.
            let _ = tokio::time::timeout(drain + Duration::from_secs(1), task).await;
        }
        tracing::info!("miner stopped");
        Ok(())
    })
}

/// Connects and joins the subnet ([`ChainPolicy::join`]: registration check, `serve_axon`, the
/// metagraph for the blacklist).
async fn join_chain(
    args: &MinerArgs,
    hotkey: &audiosubnet_wallet::Keypair,
    external_ip: IpAddr,
    external_port: u16,
) -> Result<(Arc<ChainPolicy>, Arc<audiosubnet_chain::Subtensor>)> {
    if external_ip.is_unspecified() {
        bail!(
            "set --axon.external_ip to the address validators should reach (the chain needs a concrete IP)"
        );
    }
    let client = Arc::new(args.subtensor.connect().await?);
    let policy = ChainPolicy::join(
        client.as_ref(),
        hotkey,
        args.netuid,
        SocketAddr::new(external_ip, external_port),
        (args.min_stake.max(0.0) * 1e9) as u64,
        !args.allow_non_validators,
    )
    .await
    .with_context(|| {
        format!(
            "joining subnet {} as --wallet.name {} --wallet.hotkey {}",
            args.netuid,
            args.wallet.name(),
            args.wallet.hotkey_name()
        )
    })?;
    Ok((Arc::new(policy), client))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        miner: MinerArgs,
    }

    fn parse(extra: &[&str]) -> Result<MinerArgs, clap::Error> {
        let argv = std::iter::once("miner").chain(extra.iter().copied());
        Cli::try_parse_from(argv).map(|c| c.miner)
    }

    #[test]
    fn transports_default_to_both() {
        assert_eq!(
            parse(&[]).expect("defaults").axon_transports,
            Transports::default()
        );
        let only = parse(&["--axon.transports", "btauth"]).expect("btauth only");
        assert!(only.axon_transports.btauth && !only.axon_transports.synapse);
        assert!(parse(&["--axon.transports", "http"]).is_err());
    }

    #[test]
    fn connection_flags_have_safe_defaults_and_fit_the_file_limit() {
        let args = parse(&[]).expect("defaults parse");
        let limits = args.connection_limits(None);
        assert_eq!(limits.max_connections, 2048);
        assert_eq!(limits.max_connections_per_ip, 256);
        assert_eq!(limits.header_timeout, Duration::from_secs(10));
        assert_eq!(limits.body_timeout, Duration::from_secs(30));
        assert!(args.openai_api_key.is_none());
        // A 1024-file limit leaves room for the engine and logs.
        assert_eq!(args.connection_limits(Some(1024)).max_connections, 768);

        let args = parse(&[
            "--axon.max_connections",
            "100",
            "--axon.max_connections_per_ip",
            "4",
            "--axon.header_timeout",
            "2.5",
            "--axon.body_timeout",
            "5",
            "--axon.max_requests_per_connection",
            "7",
            "--openai.port",
            "9000",
            "--openai.api_key",
            "sk-test-123",
        ])
        .expect("flags parse");
        let limits = args.connection_limits(Some(1 << 20));
        assert_eq!(limits.max_connections, 100);
        assert_eq!(limits.max_connections_per_ip, 4);
        assert_eq!(limits.header_timeout, Duration::from_millis(2500));
        assert_eq!(limits.max_requests_per_connection, 7);
        assert!(!format!("{:?}", args.openai_api_key).contains("sk-test"));
    }

    #[test]
    fn tasks_pick_the_engines() {
        let speech = parse(&[]).expect("defaults");
        assert!(speech.task.speech && !speech.task.music);
        let music = parse(&["--task", "music", "--model", "fluidsynth"]).expect("music");
        assert!(!music.task.speech && music.task.music);
        assert_eq!(music.music_model(), "fluidsynth");
        let both = parse(&["--task", "speech,music", "--model", "kokoro"]).expect("both");
        assert_eq!(both.model, "kokoro");
        assert_eq!(both.music_model(), audiosubnet_music::DEFAULT_ENGINE);
        let named =
            parse(&["--task", "music,speech", "--music.model", "soundfont"]).expect("named");
        assert_eq!(named.music_model(), "soundfont");
        let musicgen = parse(&[
            "--task",
            "music",
            "--music.model",
            "facebook/musicgen-small",
            "--music.model.path",
            "/ckpt",
            "--music.model.revision",
            "main",
            "--device",
            "cuda",
        ])
        .expect("musicgen");
        assert_eq!(musicgen.music_model(), "facebook/musicgen-small");
        assert_eq!(
            musicgen.music_model_path.as_deref(),
            Some(std::path::Path::new("/ckpt"))
        );
        assert_eq!(musicgen.music_model_revision.as_deref(), Some("main"));
        assert_eq!(musicgen.device, Device::Cuda);
        for bad in ["", "video", "speech,video"] {
            assert!(parse(&["--task", bad]).is_err(), "{bad:?} accepted");
        }
        assert!(parse(&["--music.max_seconds", "0"]).is_err());
    }

    #[test]
    fn timeouts_must_be_positive_finite_seconds() {
        for bad in ["0", "-1", "nan", "inf", "1e20", "soon"] {
            assert!(
                parse(&["--axon.header_timeout", bad]).is_err(),
                "{bad} accepted"
            );
        }
        assert!(parse(&["--openai.api_key", "  "]).is_err());
    }
}

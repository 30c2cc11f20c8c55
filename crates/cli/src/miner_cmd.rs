//! `audiosubnet miner`: serve `TextToSpeech` from resident speech engines.

use crate::LoggingArgs;
use crate::chain_cmd::SubtensorArgs;
use crate::tts_cmd::HubModelArgs;
use crate::wallet_cmd::WalletArgs;
use anyhow::{Context as _, Result, bail};
use audiosubnet_axon::{AxonConfig, AxonHooks};
use audiosubnet_chain::ServeOutcome;
use audiosubnet_miner::{
    ChainPolicy, OfflinePolicy, OpenAiConfig, build_axon, metagraph_sync_task, serve_openai,
};
use audiosubnet_tts::{Device, EngineOptions, PoolConfig, SynthesisPool};
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
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
    /// The subnet to mine on.
    #[arg(long, default_value_t = 1)]
    netuid: u16,
    /// Speech engine: piper (alias en_US-joe-medium), festival, flite, espeak, and the seed's
    /// Hugging Face models (from the Hugging Face cache, downloaded when missing, or
    /// --model.path): microsoft/speecht5_tts, facebook/mms-tts-eng, suno/bark, suno/bark-small;
    /// vits runs any VitsModel checkpoint in --model.path. `silence` is a deliberately useless engine for demos.
    #[arg(long, default_value = "piper")]
    model: String,
    #[command(flatten)]
    hub_model: HubModelArgs,
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
    /// Synthesis worker threads, each with a resident engine.
    #[arg(long = "miner.workers", default_value_t = 1)]
    workers: usize,
    /// Prompts that may wait for a synthesis worker; beyond this the miner answers 503 at once
    /// instead of letting the caller time out.
    #[arg(long = "miner.queue", default_value_t = 8)]
    queue: usize,
    /// Longest prompt accepted, in characters.
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
    /// synthesis pool. Unauthenticated: keep it on a private interface. Off by default.
    #[arg(long = "openai.port")]
    openai_port: Option<u16>,
    /// Address the OpenAI-compatible endpoint binds.
    #[arg(long = "openai.ip", default_value = "127.0.0.1")]
    openai_ip: IpAddr,
}

pub(crate) fn run(args: MinerArgs) -> Result<()> {
    let _guard = args.logging.init()?;
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
    tracing::info!(model = %args.model, workers = args.workers, "loading speech engine");
    let pool = SynthesisPool::start(&args.model, &engine, pool_config)
        .with_context(|| format!("starting model {}", args.model))?;
    let external_ip = args.axon_external_ip.unwrap_or(args.axon_ip);
    let external_port = args.axon_external_port.unwrap_or(args.axon_port);
    let axon_config = AxonConfig {
        max_concurrency: args.axon_max_workers,
        max_queue: args.axon_max_workers * 8,
        max_request_timeout: Duration::from_secs(120),
        external_ip: Some(external_ip.to_string()),
        external_port: Some(external_port),
        ..Default::default()
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let pool = Arc::new(pool);
    runtime.block_on(async move {
        let openai = match args.openai_port {
            Some(port) => {
                Some(spawn_openai(SocketAddr::new(args.openai_ip, port), pool.clone()).await?)
            }
            None => None,
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
        let axon = build_axon(hotkey, axon_config, pool, hooks);
        let bind = SocketAddr::new(args.axon_ip, args.axon_port);
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding the axon to {bind}"))?;
        let mode = if args.offline { "offline" } else { "on chain" };
        tracing::info!(
            netuid = args.netuid, %bind, hotkey = %hotkey_ss58, model = %args.model,
            "miner serving {mode}: validators reach {hotkey_ss58}@{external_ip}:{external_port}"
        );
        axon.serve(listener, audiosubnet_telemetry::shutdown_signal())
            .await?;
        if let Some(task) = sync {
            task.abort();
        }
        if let Some(task) = openai {
            // It saw the same signal; give its in-flight requests a moment to finish.
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        tracing::info!("miner stopped");
        Ok(())
    })
}

/// Binds the OpenAI-compatible endpoint (failing early when the port is taken) and serves it
/// until the shutdown signal.
pub(crate) async fn spawn_openai(
    bind: SocketAddr,
    pool: Arc<SynthesisPool>,
) -> Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding the OpenAI endpoint to {bind}"))?;
    if !bind.ip().is_loopback() {
        tracing::warn!(%bind, "the OpenAI endpoint has no authentication and is not on loopback");
    }
    tracing::info!(
        engine = pool.engine_name(),
        "OpenAI-compatible speech on http://{bind}/v1/audio/speech"
    );
    Ok(tokio::spawn(async move {
        let serve = serve_openai(
            listener,
            pool,
            OpenAiConfig::default(),
            audiosubnet_telemetry::shutdown_signal(),
        );
        if let Err(e) = serve.await {
            tracing::error!("OpenAI endpoint stopped: {e}");
        }
    }))
}

/// Checks registration, publishes the axon on chain, and reads the metagraph for the blacklist.
async fn join_chain(
    args: &MinerArgs,
    hotkey: &audiosubnet_wallet::Keypair,
    external_ip: IpAddr,
    external_port: u16,
) -> Result<(Arc<ChainPolicy>, Arc<audiosubnet_chain::Subtensor>)> {
    let client = Arc::new(args.subtensor.connect().await?);
    let netuid = args.netuid;
    if client
        .uid_of(netuid, hotkey.account_id().0)
        .await?
        .is_none()
    {
        bail!(
            "hotkey {} is not registered on subnet {netuid}: run `audiosubnet register --netuid {netuid} \
             --wallet.name {} --wallet.hotkey {}` first",
            hotkey.ss58(),
            args.wallet.name(),
            args.wallet.hotkey_name()
        );
    }
    if external_ip.is_unspecified() {
        bail!(
            "set --axon.external_ip to the address validators should reach (the chain needs a concrete IP)"
        );
    }
    let version = u32::try_from(audiosubnet_protocol::PROTOCOL_VERSION).unwrap_or(0);
    match client
        .serve_axon(hotkey, netuid, external_ip, external_port, version)
        .await?
    {
        ServeOutcome::AlreadyCurrent => tracing::info!("axon already published on chain"),
        ServeOutcome::Served => {
            tracing::info!(%external_ip, external_port, "axon published on chain")
        }
    }
    let metagraph = client.metagraph(netuid).await?;
    let min_stake_rao = (args.min_stake.max(0.0) * 1e9) as u64;
    let policy = Arc::new(ChainPolicy::new(
        metagraph,
        min_stake_rao,
        !args.allow_non_validators,
    ));
    Ok((policy, client))
}

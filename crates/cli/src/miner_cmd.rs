//! `audiosubnet miner`: serve `TextToSpeech` from resident speech engines.

use crate::LoggingArgs;
use crate::wallet_cmd::WalletArgs;
use anyhow::{Context as _, Result, bail};
use audiosubnet_axon::{AxonConfig, AxonHooks};
use audiosubnet_miner::{OfflinePolicy, build_axon};
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
    /// The subnet to mine on.
    #[arg(long, default_value_t = 1)]
    netuid: u16,
    /// Speech engine: piper (alias en_US-joe-medium), festival, flite, espeak. The seed's
    /// microsoft/speecht5_tts, facebook/mms-tts-eng and suno/bark are recognised but not yet
    /// available in this build.
    #[arg(long, default_value = "piper")]
    model: String,
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
    /// Serve without a chain: any correctly signed request is served (see
    /// --blacklist.allowed_hotkeys).
    #[arg(long)]
    offline: bool,
    /// Only these hotkeys (comma-separated SS58) may query this miner.
    #[arg(long = "blacklist.allowed_hotkeys", value_delimiter = ',')]
    allowed_hotkeys: Vec<String>,
    /// Serve Prometheus metrics on this port (127.0.0.1 only). Off by default.
    #[arg(long = "metrics.port")]
    metrics_port: Option<u16>,
}

pub(crate) fn run(args: MinerArgs) -> Result<()> {
    let _guard = args.logging.init()?;
    if !args.offline {
        bail!(
            "on-chain mining needs the chain client, which this build does not wire in yet; \
             run with --offline (validators address you as HOTKEY@IP:PORT)"
        );
    }
    let hotkey = args
        .wallet
        .wallet()
        .load_hotkey(None)
        .with_context(|| format!("loading hotkey of wallet {:?}", args.wallet.name()))?;
    if let Some(port) = args.metrics_port {
        audiosubnet_telemetry::serve_metrics(SocketAddr::from(([127, 0, 0, 1], port)))?;
    }
    let engine = EngineOptions {
        device: args.device,
        max_chars: args.max_chars,
        ..Default::default()
    };
    let pool_config = PoolConfig {
        workers: args.workers,
        queue_capacity: args.queue,
        ..Default::default()
    };
    tracing::info!(model = %args.model, workers = args.workers, "loading speech engine");
    let pool = SynthesisPool::start(&args.model, &engine, pool_config)
        .with_context(|| format!("starting model {}", args.model))?;
    let allowed: HashSet<String> = args
        .allowed_hotkeys
        .iter()
        .map(|s| s.trim().to_string())
        .collect();
    let hooks: Arc<dyn AxonHooks> = Arc::new(OfflinePolicy {
        allowed_hotkeys: (!allowed.is_empty()).then_some(allowed),
    });
    let axon_config = AxonConfig {
        max_concurrency: args.axon_max_workers,
        max_queue: args.axon_max_workers * 8,
        max_request_timeout: Duration::from_secs(120),
        external_ip: Some(args.axon_external_ip.unwrap_or(args.axon_ip).to_string()),
        external_port: Some(args.axon_external_port.unwrap_or(args.axon_port)),
        ..Default::default()
    };
    let hotkey_ss58 = hotkey.ss58();
    let axon = build_axon(hotkey, axon_config, Arc::new(pool), hooks);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let bind = SocketAddr::new(args.axon_ip, args.axon_port);
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding the axon to {bind}"))?;
        tracing::info!(
            netuid = args.netuid, %bind, hotkey = %hotkey_ss58, model = %args.model,
            "miner serving offline: validators target {hotkey_ss58}@{bind}"
        );
        axon.serve(listener, audiosubnet_telemetry::shutdown_signal())
            .await?;
        tracing::info!("miner stopped");
        Ok(())
    })
}

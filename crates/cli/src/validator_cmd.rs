//! `audiosubnet validator`: send prompts to miners, score the speech, keep EMAs, set weights.

use crate::args::{LoggingArgs, SeedArgs, SubtensorArgs, WalletArgs, parse_device};
use crate::models_cmd::{OnDemandArgs, ensure_installed};
use anyhow::{Context as _, Result, bail};
use audiosubnet_dendrite::{AxonTarget, Dendrite, TransportMode};
use audiosubnet_scoring::WhisperDevice;
use audiosubnet_scoring::{AsrModel, Naturalness, Scorer, ScorerConfig};
use audiosubnet_validator::dashboard::Dashboard;
use audiosubnet_validator::judge::{Judge, ScoringJudge};
use audiosubnet_validator::music_clap::{ClapScorer, ClapSetup, LARGER_CLAP_MUSIC};
use audiosubnet_validator::music_judge::MusicJudge;
use audiosubnet_validator::music_prompts::GeneratedMusicPrompts;
use audiosubnet_validator::network::{ChainConfig, ChainNetwork, FixedMiners, Network};
use audiosubnet_validator::paths::default_state_path;
use audiosubnet_validator::prompts::{GeneratedPrompts, HubDataset, PromptList, PromptSource};
use audiosubnet_validator::round::{RoundConfig, Target};
use audiosubnet_validator::service::{LoopConfig, TaskSetup, Tasks, run_task_rounds};
use audiosubnet_validator::state::{FingerprintRecord, ScoreState};
use audiosubnet_validator::tasks::{Task, TaskMix};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Run a validator: query miners with prompts, score their speech, and set weights on chain.
#[derive(Debug, clap::Args)]
pub(crate) struct ValidatorArgs {
    #[command(flatten)]
    wallet: WalletArgs,
    #[command(flatten)]
    logging: LoggingArgs,
    #[command(flatten)]
    subtensor: SubtensorArgs,
    #[command(flatten)]
    seed: SeedArgs,
    #[command(flatten)]
    models: OnDemandArgs,
    /// The subnet to validate.
    #[arg(long, default_value_t = 1)]
    netuid: u16,
    /// EMA weight of the past: `ema = alpha·ema + (1 − alpha)·reward`.
    #[arg(long, default_value_t = 0.9)]
    alpha: f64,
    /// Rewards below this count as failed responses.
    #[arg(long, default_value_t = 0.68)]
    threshold: f64,
    /// Hugging Face access key: take prompts from the dataset below instead of the generator.
    #[arg(long = "hub_key", env = "AUDIOSUBNET_HUB_KEY", hide_env_values = true)]
    hub_key: Option<String>,
    /// Dataset the prompts come from with --hub_key (the original's).
    #[arg(
        long = "hub.dataset",
        default_value = "etechgrid/Prompts_for_Voice_cloning_and_TTS"
    )]
    hub_dataset: String,
    /// Dataset config.
    #[arg(long = "hub.config", default_value = "default")]
    hub_config: String,
    /// Dataset split.
    #[arg(long = "hub.split", default_value = "train")]
    hub_split: String,
    /// Dataset column with the text.
    #[arg(long = "hub.column", default_value = "text")]
    hub_column: String,
    /// Base URL of the datasets server (for mirrors and tests).
    #[arg(long = "hub.server", default_value = audiosubnet_validator::prompts::DATASETS_SERVER)]
    hub_server: String,
    /// Prompts from a file (txt: one per line; csv with a `text` column; jsonl with `text`).
    #[arg(long = "prompts.file")]
    prompts_file: Option<PathBuf>,
    /// Tasks to validate and their shares of the rounds and of the weight: `speech`,
    /// `speech,music` (even), `speech:3,music:1`. A miner's weight is the share-weighted sum of
    /// its per-task EMAs (docs/scoring.md).
    #[arg(long = "tasks", default_value = "speech")]
    tasks: TaskMix,
    /// Music prompts from a file (as --prompts.file); default: generated prompts stating tempo,
    /// key and instruments.
    #[arg(long = "prompts.music_file")]
    music_prompts_file: Option<PathBuf>,
    /// Seconds of music asked for in music rounds.
    #[arg(long = "music.duration", default_value_t = 10.0)]
    music_duration: f64,
    /// Seconds a miner has to answer a music request.
    #[arg(long = "neuron.music_timeout", default_value_t = 60.0)]
    music_timeout: f64,
    /// CLAP checkpoint for the music judge's text–audio term: a Hugging Face repo (from the hub
    /// cache, downloaded when missing) or `none`. When it cannot be loaded the validator says so
    /// and judges music on tempo, key and length alone. Every validator of a subnet should run
    /// the same one.
    #[arg(long = "music.clap", default_value = LARGER_CLAP_MUSIC)]
    music_clap: String,
    /// A CLAP checkpoint directory (config.json, preprocessor_config.json, tokenizer.json,
    /// model.safetensors) instead of the hub cache; failing to load it is an error.
    #[arg(long = "music.clap.path")]
    music_clap_path: Option<PathBuf>,
    /// Revision (branch, tag or commit) of --music.clap in the hub cache.
    #[arg(long = "music.clap.revision")]
    music_clap_revision: Option<String>,
    /// No chain: query exactly the miners of --axons and set no weights.
    #[arg(long)]
    offline: bool,
    /// Miners to query offline, comma-separated `HOTKEY@IP:PORT`.
    #[arg(long, value_delimiter = ',', requires = "offline")]
    axons: Vec<String>,
    /// Stop after this many rounds (forever by default).
    #[arg(long)]
    rounds: Option<u64>,
    /// After each round, write every miner's hotkey, uid, EMA, last reward and breakdown here.
    #[arg(long = "scores.out")]
    scores_out: Option<PathBuf>,
    /// Write an HTML report (leaderboard, EMA chart, latest audio per miner) here after each round.
    #[arg(long = "report.dir")]
    report_dir: Option<PathBuf>,
    /// Where the scores are kept across restarts (default: under the wallet directory).
    #[arg(long = "state.path")]
    state_path: Option<PathBuf>,
    /// Move the state file aside (to `<file>.<unix time>.bak`) and start with fresh scores; the
    /// way out when the file is corrupt.
    #[arg(long = "state.reset")]
    state_reset: bool,
    /// Seconds a miner has to answer.
    #[arg(long = "neuron.timeout", default_value_t = 30.0)]
    timeout: f64,
    /// Wire protocol to miners: `btauth` (SDK 11 `POST /tts`, binary audio), `synapse` (SDK ≤ 10),
    /// or `auto`: btauth where the miner serves it, Synapse otherwise (detected per hotkey,
    /// re-checked hourly).
    #[arg(long = "neuron.transport", default_value = "auto")]
    transport: TransportMode,
    /// Miners queried per round.
    #[arg(long = "neuron.sample_size", default_value_t = 16)]
    sample_size: usize,
    /// Seconds between rounds.
    #[arg(long = "neuron.round_interval", default_value_t = 12.0)]
    round_interval: f64,
    /// Seconds between metagraph re-syncs.
    #[arg(long = "neuron.sync_interval", default_value_t = 120)]
    sync_interval: u64,
    /// Validators with a permit and more stake than this (TAO) are not queried.
    #[arg(long = "neuron.vpermit_tao_limit", default_value_t = 4096.0)]
    vpermit_tao_limit: f64,
    /// `version_key` sent with weights; default: this release's, 1000·major + 10·minor +
    /// patch as the original's (the chain's WeightsVersionKey is the floor).
    #[arg(long = "neuron.version_key", default_value_t = crate::version::VERSION_KEY)]
    version_key: u64,
    /// Also query axons the metagraph lists at private, loopback or link-local addresses (a
    /// local chain needs it; on finney or test a miner could use them to point validators at
    /// internal services).
    #[arg(long = "neuron.allow_private_ips")]
    allow_private_ips: bool,
    /// Where Whisper runs: cpu, cuda or cuda:N (cuda needs a build with the `cuda` feature).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// The judge's Whisper: `tiny.en` or `base` (multilingual, forced to English). Every
    /// validator of a subnet should run the same one: transcripts, and so rewards, differ.
    #[arg(long = "scoring.asr", default_value = "tiny.en")]
    asr: AsrModel,
    /// The judge's naturalness model: `dnsmos` (DNSMOS P.835 OVRL) or `distill-mos`
    /// (Distill-MOS v7); each has its own bounds in the formula (docs/scoring.md).
    #[arg(long = "scoring.mos", default_value = "distill-mos")]
    mos: Naturalness,
    /// Serve Prometheus metrics on this port (127.0.0.1 only). Off by default.
    #[arg(long = "metrics.port")]
    metrics_port: Option<u16>,
    /// Serve the live dashboard (leaderboard, factors, incentive, EMA chart, latest clip per
    /// miner, last weights; updated after every round) on this port. Off by default.
    #[arg(long = "dashboard.port")]
    dashboard_port: Option<u16>,
    /// Address of the dashboard. It has no login: keep it on loopback and reach it through an
    /// SSH tunnel or an authenticating reverse proxy.
    #[arg(long = "dashboard.ip", default_value = "127.0.0.1")]
    dashboard_ip: IpAddr,
}

pub(crate) fn run(args: ValidatorArgs) -> Result<()> {
    let _guard = args.logging.init()?;
    args.seed.log_ignored();
    if !(0.0..=1.0).contains(&args.alpha) {
        bail!("--alpha must be in [0, 1], got {}", args.alpha);
    }
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        bail!("--neuron.timeout must be a positive number of seconds");
    }
    if !(args.music_timeout.is_finite() && args.music_timeout > 0.0) {
        bail!("--neuron.music_timeout must be a positive number of seconds");
    }
    if !(args.music_duration.is_finite() && (1.0..=30.0).contains(&args.music_duration)) {
        bail!("--music.duration must be between 1 and 30 seconds");
    }
    let offline_targets = parse_axons(&args.axons)?;
    if args.offline && offline_targets.is_empty() {
        bail!("--offline needs --axons HOTKEY@IP:PORT,…");
    }
    let hotkey = Arc::new(
        args.wallet
            .wallet()
            .load_hotkey(args.wallet.password())
            .with_context(|| format!("loading hotkey of wallet {:?}", args.wallet.name()))?,
    );
    if let Some(port) = args.metrics_port {
        audiosubnet_telemetry::serve_metrics(SocketAddr::from(([127, 0, 0, 1], port)))?;
    }
    let state_path = args
        .state_path
        .clone()
        .unwrap_or_else(|| default_state_path(&args.wallet.wallet(), args.netuid));
    // Fail on a corrupt state file now, before loading models for a minute; never start
    // from zero silently.
    let (state, moved) = ScoreState::load_or_reset(&state_path, args.state_reset)?;
    if let Some(aside) = moved {
        tracing::warn!(
            "--state.reset: moved {} to {}; starting with fresh scores",
            state_path.display(),
            aside.display()
        );
    }

    let (speech_history, music_history): (Vec<FingerprintRecord>, Vec<FingerprintRecord>) = state
        .fingerprints
        .into_iter()
        .partition(|f| f.task == Task::Speech);
    let speech_judge: Option<Arc<dyn Judge>> = if args.tasks.runs(Task::Speech) {
        let scorer_config = ScorerConfig {
            whisper_device: parse_device(&args.device)?,
            asr: args.asr,
            naturalness: args.mos,
            queue_capacity: args.sample_size.max(1) * 2,
            ..ScorerConfig::default()
        };
        ensure_installed(&scorer_config.required_models(), &args.models)?;
        tracing::info!(
            "loading the scoring models (Whisper {}, {}, Silero VAD)",
            args.asr,
            args.mos.as_str()
        );
        let scorer = Arc::new(Scorer::start(&scorer_config).context("loading the scoring models")?);
        Some(Arc::new(ScoringJudge::new(scorer, speech_history)))
    } else {
        None
    };
    let music_judge: Option<Arc<dyn Judge>> = if args.tasks.runs(Task::Music) {
        let judge = MusicJudge::new(args.music_duration, music_history);
        let judge = match start_clap(&args)? {
            Some(clap) => judge.with_clap(Arc::new(clap)),
            None => judge,
        };
        Some(Arc::new(judge))
    } else {
        None
    };

    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let mut prompts = prompt_source(&args).await?;
        let mut music_prompts: Box<dyn PromptSource> = match &args.music_prompts_file {
            Some(path) => {
                let list = PromptList::from_file(path)?;
                tracing::info!(prompts = list.len(), file = %path.display(), "music prompts from file");
                Box::new(list)
            }
            None => Box::new(GeneratedMusicPrompts),
        };
        let mut network: Box<dyn Network> = if args.offline {
            Box::new(FixedMiners(offline_targets))
        } else {
            let client = Arc::new(args.subtensor.connect().await?);
            audiosubnet_chain::ensure_registered(
                client.as_ref(),
                args.netuid,
                hotkey.account_id().0,
            )
            .await
            .with_context(|| {
                format!(
                    "validating on subnet {} as --wallet.name {} --wallet.hotkey {}",
                    args.netuid,
                    args.wallet.name(),
                    args.wallet.hotkey_name()
                )
            })?;
            Box::new(ChainNetwork::new(
                client,
                hotkey.clone(),
                ChainConfig {
                    netuid: args.netuid,
                    sync_interval: Duration::from_secs(args.sync_interval.max(1)),
                    vpermit_rao_limit: (args.vpermit_tao_limit.max(0.0) * 1e9) as u64,
                    version_key: args.version_key,
                    allow_private_ips: args.allow_private_ips,
                },
            ))
        };
        let dashboard = match args.dashboard_port {
            Some(port) => {
                let dashboard = Dashboard::new();
                let addr = dashboard
                    .serve(SocketAddr::new(args.dashboard_ip, port))
                    .await?;
                if !addr.ip().is_loopback() {
                    tracing::warn!(%addr, "the dashboard has no login and listens beyond loopback");
                }
                tracing::info!("dashboard on http://{addr}/");
                Some(dashboard)
            }
            None => None,
        };
        let config = LoopConfig {
            round: RoundConfig {
                timeout: Duration::from_secs_f64(args.timeout),
                alpha: args.alpha,
                threshold: args.threshold,
                transport: args.transport,
            },
            chunk_size: args.sample_size.max(1),
            rounds: args.rounds,
            interval: Duration::from_secs_f64(args.round_interval.max(0.0)),
            state_path,
            scores_out: args.scores_out.clone(),
            report_dir: args.report_dir.clone(),
            dashboard,
        };
        let dendrite = Dendrite::new(hotkey.as_ref().clone());
        tracing::info!(
            hotkey = %hotkey.ss58(),
            mode = if args.offline { "offline" } else { "on chain" },
            netuid = args.netuid,
            transport = %args.transport,
            tasks = %args.tasks,
            version_key = args.version_key,
            "validator running"
        );
        let tasks = Tasks {
            mix: args.tasks.clone(),
            speech: speech_judge.map(|judge| TaskSetup {
                judge,
                prompts: prompts.as_mut(),
            }),
            music: music_judge.map(|judge| TaskSetup {
                judge,
                prompts: music_prompts.as_mut(),
            }),
            music_seconds: args.music_duration,
            music_timeout: Duration::from_secs_f64(args.music_timeout),
        };
        let state = run_task_rounds(
            &config,
            &dendrite,
            tasks,
            network.as_mut(),
            audiosubnet_telemetry::shutdown_signal(),
        )
        .await?;
        tracing::info!(rounds = state.rounds, "validator stopped");
        Ok(())
    })
}

/// The music judge's CLAP worker: `None` (said at start) when `--music.clap none` or when the
/// hub checkpoint cannot be had; an error when `--music.clap.path` was given and fails.
fn start_clap(args: &ValidatorArgs) -> Result<Option<ClapScorer>> {
    if args.music_clap.eq_ignore_ascii_case("none") && args.music_clap_path.is_none() {
        tracing::info!(
            "music is judged on tempo, key and length behind honesty checks; CLAP is off \
             (--music.clap none)"
        );
        return Ok(None);
    }
    let setup = ClapSetup {
        repo: args.music_clap.clone(),
        revision: args.music_clap_revision.clone(),
        path: args.music_clap_path.clone(),
        cuda: match parse_device(&args.device)? {
            WhisperDevice::Cpu => None,
            WhisperDevice::Cuda(i) => Some(i),
        },
    };
    tracing::info!(model = %setup.repo, "loading CLAP for the music judge");
    match ClapScorer::start(&setup, args.sample_size.max(1) * 2) {
        Ok(clap) => {
            tracing::info!(
                "music is judged on tempo, key and length, scaled by CLAP's text-audio term \
                 ({})",
                clap.description
            );
            Ok(Some(clap))
        }
        Err(e) if setup.path.is_some() => Err(e).context("loading --music.clap.path"),
        Err(e) => {
            tracing::warn!(
                "no CLAP ({e}); music is judged on tempo, key and length alone. Every validator \
                 of the subnet should judge the same way: get the checkpoint into the Hugging \
                 Face cache, or run with --music.clap none"
            );
            Ok(None)
        }
    }
}

fn parse_axons(specs: &[String]) -> Result<Vec<Target>> {
    specs
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            Ok(Target {
                uid: None,
                axon: s.trim().parse::<AxonTarget>()?,
            })
        })
        .collect()
}

async fn prompt_source(args: &ValidatorArgs) -> Result<Box<dyn PromptSource>> {
    if let Some(path) = &args.prompts_file {
        let list = PromptList::from_file(path)?;
        tracing::info!(prompts = list.len(), file = %path.display(), "prompts from file");
        return Ok(Box::new(list));
    }
    if let Some(key) = &args.hub_key {
        let dataset = HubDataset {
            dataset: args.hub_dataset.clone(),
            config: args.hub_config.clone(),
            split: args.hub_split.clone(),
            column: args.hub_column.clone(),
            rows: 100,
            server: args.hub_server.clone(),
        };
        match dataset.fetch(Some(key)).await {
            Ok(list) => {
                tracing::info!(prompts = list.len(), dataset = %args.hub_dataset, "prompts from the hub");
                return Ok(Box::new(list));
            }
            Err(e) => tracing::warn!("{e}; using generated prompts"),
        }
    }
    Ok(Box::new(GeneratedPrompts))
}

//! `audiosubnet metagraph` and `audiosubnet register`.

use anyhow::{Context, Result, bail};
use audiosubnet_chain::Metagraph;
use audiosubnet_wallet::{AccountId, Keypair};

use crate::args::{SubtensorArgs, WalletArgs};

/// `audiosubnet metagraph --netuid N`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct MetagraphArgs {
    /// The subnet.
    #[arg(long)]
    pub(crate) netuid: u16,
    #[command(flatten)]
    pub(crate) subtensor: SubtensorArgs,
    /// Also print a leaderboard joining these validator scores (`validator --scores.out`) with
    /// the chain's incentive.
    #[arg(long)]
    pub(crate) scores: Option<std::path::PathBuf>,
}

/// Prints the subnet's neurons as a table.
pub(crate) fn run_metagraph(args: MetagraphArgs) -> Result<()> {
    runtime()?.block_on(metagraph(&args))
}

async fn metagraph(args: &MetagraphArgs) -> Result<()> {
    let st = args.subtensor.connect().await?;
    if !st.subnet_exists(args.netuid).await? {
        bail!("subnet {} does not exist on {}", args.netuid, st.endpoint());
    }
    let mg = st.metagraph(args.netuid).await?;
    let hp = st.hyperparameters(args.netuid).await?;
    println!(
        "subnet {} at block {}: {} neurons, tempo {}, weights rate limit {}, min weights {}, commit-reveal {}",
        mg.netuid,
        mg.block,
        mg.neurons.len(),
        hp.tempo,
        hp.weights_rate_limit,
        hp.min_allowed_weights,
        if hp.commit_reveal_enabled {
            "on"
        } else {
            "off"
        }
    );
    print!("{}", format_metagraph(&mg));
    if let Some(path) = &args.scores {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let scores: Vec<MinerScoreLine> = serde_json::from_slice(&data)
            .with_context(|| format!("{} is not a validator scores file", path.display()))?;
        print!("\n{}", format_leaderboard(&mg, &scores));
    }
    Ok(())
}

/// One miner of the validator's `--scores.out` file (the fields the leaderboard shows).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct MinerScoreLine {
    hotkey: String,
    ema: f64,
    mean_wer: Option<f64>,
    mean_dnsmos: Option<f64>,
    model_name: Option<String>,
    responses: u64,
    failures: u64,
}

/// Miners by EMA, with what the chain made of the validator's weights.
pub(crate) fn format_leaderboard(mg: &Metagraph, scores: &[MinerScoreLine]) -> String {
    let mut rows: Vec<&MinerScoreLine> = scores.iter().collect();
    rows.sort_by(|a, b| b.ema.total_cmp(&a.ema));
    let mut out = format!(
        "{:>4} {:<16} {:<10} {:>7} {:>9} {:>11} {:>9} {:>10}\n",
        "UID", "HOTKEY", "ENGINE", "EMA", "MEAN WER", "MEAN DNSMOS", "FAILURES", "INCENTIVE"
    );
    let fmt = |v: Option<f64>, d: usize| v.map_or("-".to_string(), |v| format!("{v:.d$}"));
    for r in rows {
        let neuron = r
            .hotkey
            .parse::<AccountId>()
            .ok()
            .and_then(|a| mg.neurons.iter().find(|n| n.hotkey == a.0));
        let engine: String = r
            .model_name
            .as_deref()
            .unwrap_or("-")
            .chars()
            .take(10)
            .collect();
        out.push_str(&format!(
            "{:>4} {:<16} {:<10} {:>7.4} {:>9} {:>11} {:>9} {:>10}\n",
            neuron.map_or("-".into(), |n| n.uid.to_string()),
            r.hotkey.chars().take(16).collect::<String>(),
            engine,
            r.ema,
            fmt(r.mean_wer, 3),
            fmt(r.mean_dnsmos, 2),
            format!("{}/{}", r.failures, r.responses),
            fmt(neuron.map(|n| n.incentive), 5),
        ));
    }
    out
}

/// The metagraph as a fixed-width table.
pub(crate) fn format_metagraph(mg: &Metagraph) -> String {
    let mut out = format!(
        "{:>4} {:<48} {:<48} {:>14} {:>2} {:>8} {:>8} {:>8} {:>8} {:>12} {:>8} {:<22}\n",
        "UID",
        "HOTKEY",
        "COLDKEY",
        "STAKE(α)",
        "VP",
        "TRUST",
        "CONSENS",
        "INCENT",
        "DIVIDS",
        "EMISSION(ρ)",
        "UPDATED",
        "AXON"
    );
    for n in &mg.neurons {
        let axon = match n.axon.ip_addr() {
            Some(ip) => format!("{ip}:{}", n.axon.port),
            None => "-".into(),
        };
        out.push_str(&format!(
            "{:>4} {:<48} {:<48} {:>14.4} {:>2} {:>8.5} {:>8.5} {:>8.5} {:>8.5} {:>12} {:>8} {:<22}\n",
            n.uid,
            AccountId(n.hotkey).to_ss58(),
            AccountId(n.coldkey).to_ss58(),
            n.stake_rao as f64 / 1e9,
            if n.validator_permit { "*" } else { "" },
            n.trust,
            n.consensus,
            n.incentive,
            n.dividends,
            n.emission_rao,
            n.last_update,
            axon,
        ));
    }
    out
}

/// `audiosubnet register --netuid N`: `burned_register` of the wallet's hotkey, paid by its coldkey.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RegisterArgs {
    /// The subnet.
    #[arg(long)]
    pub(crate) netuid: u16,
    #[command(flatten)]
    pub(crate) subtensor: SubtensorArgs,
    #[command(flatten)]
    pub(crate) wallet: WalletArgs,
}

/// Registers the wallet's hotkey unless it already has a uid; prints the uid.
pub(crate) fn run_register(args: RegisterArgs) -> Result<()> {
    let wallet = args.wallet.wallet();
    let hotkey = wallet
        .hotkey_account()
        .with_context(|| format!("reading the hotkey of wallet {}", args.wallet.name()))?;
    let coldkey = wallet
        .load_coldkey(args.wallet.password())
        .with_context(|| format!("unlocking the coldkey of wallet {}", args.wallet.name()))?;
    runtime()?.block_on(register(&args, &coldkey, hotkey))
}

/// The chain client is async; these commands are short, so a runtime per command is fine.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn register(args: &RegisterArgs, coldkey: &Keypair, hotkey: AccountId) -> Result<()> {
    let st = args.subtensor.connect().await?;
    if !st.subnet_exists(args.netuid).await? {
        bail!("subnet {} does not exist on {}", args.netuid, st.endpoint());
    }
    if let Some(uid) = st.uid_of(args.netuid, hotkey.0).await? {
        println!(
            "hotkey {} is already registered on subnet {} as uid {uid}",
            hotkey.to_ss58(),
            args.netuid
        );
        return Ok(());
    }
    let balance = st.balance(coldkey.account_id().0).await?;
    println!(
        "registering hotkey {} on subnet {} (coldkey {}, balance {:.4} τ)",
        hotkey.to_ss58(),
        args.netuid,
        coldkey.account_id().to_ss58(),
        balance as f64 / 1e9
    );
    st.burned_register(coldkey, args.netuid, hotkey.0)
        .await
        .context("burned_register")?;
    let uid = st
        .uid_of(args.netuid, hotkey.0)
        .await?
        .context("burned_register was included but the hotkey has no uid")?;
    println!("registered: uid {uid}");
    Ok(())
}

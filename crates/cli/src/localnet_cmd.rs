//! `audiosubnet localnet up|down|status`: the local subtensor chain (chopsticks + real runtime).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use audiosubnet_localnet::{LocalnetConfig, LocalnetState};
use serde_json::json;

/// `audiosubnet localnet ...`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct LocalnetArgs {
    #[command(subcommand)]
    pub(crate) action: LocalnetAction,
    /// Print one JSON object instead of text, for scripts (its shape is in
    /// docs/development.md, "JSON output").
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

/// What to do with the local chain.
#[derive(Debug, Clone, clap::Subcommand)]
pub(crate) enum LocalnetAction {
    /// Start the chain (or reuse the running one) and bootstrap a subnet with a validator and miners.
    Up(UpArgs),
    /// Stop the chain and its block ticker.
    Down,
    /// Show the recorded chain and whether it runs.
    Status,
}

/// Flags of `localnet up`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct UpArgs {
    /// Number of miners to register.
    #[arg(long, default_value_t = 3)]
    pub(crate) miners: u16,
    /// RPC port on 127.0.0.1.
    #[arg(long, default_value_t = 9944)]
    pub(crate) port: u16,
    /// Raw chain spec to use as genesis instead of shared/chain/subtensor-spec218.json (the
    /// spec-300 runtime override with the real epoch still applies).
    #[arg(long = "chain-spec")]
    pub(crate) chain_spec: Option<PathBuf>,
    /// Seconds between blocks of the ticker (0 = no ticker; blocks only on transactions).
    #[arg(long = "block-interval", default_value_t = 2.0)]
    pub(crate) block_interval: f64,
    /// Subnet tempo in blocks.
    #[arg(long, default_value_t = 10)]
    pub(crate) tempo: u16,
}

/// Runs the subcommand.
pub(crate) fn run(args: LocalnetArgs) -> Result<()> {
    crate::runtime()?.block_on(execute(&args))
}

async fn execute(args: &LocalnetArgs) -> Result<()> {
    let mut cfg = LocalnetConfig::default();
    match &args.action {
        LocalnetAction::Up(up) => {
            cfg.miners = up.miners;
            cfg.port = up.port;
            cfg.genesis = up.chain_spec.clone();
            cfg.tempo = up.tempo;
            cfg.block_interval = Duration::try_from_secs_f64(up.block_interval.max(0.0))
                .map_err(|e| anyhow::anyhow!("--block-interval: {e}"))?;
            let (state, reused) = audiosubnet_localnet::up(&cfg).await?;
            if args.json {
                println!("{:#}", state_json(&state, true, !reused));
                return Ok(());
            }
            if reused {
                println!(
                    "local chain already running (pid {}); bootstrap checked",
                    state.chopsticks_pid
                );
                if state.port != up.port {
                    println!("note: it runs on port {}, not {}", state.port, up.port);
                }
            } else {
                println!("local chain started (pid {})", state.chopsticks_pid);
            }
            print_state(&state, true);
        }
        LocalnetAction::Down => {
            let stopped = audiosubnet_localnet::down(&cfg)?;
            if args.json {
                println!("{}", json!({ "stopped": stopped }));
            } else if stopped {
                println!("local chain stopped");
            } else {
                println!("no local chain was running");
            }
        }
        LocalnetAction::Status => match audiosubnet_localnet::status(&cfg)? {
            Some((state, running)) if args.json => {
                println!("{:#}", state_json(&state, running, false));
            }
            Some((state, running)) => print_state(&state, running),
            None if args.json => println!("null"),
            None => println!("no local chain recorded (run `audiosubnet localnet up`)"),
        },
    }
    Ok(())
}

/// `localnet up|status --json`: the recorded chain. `started` is whether this command started it
/// (false for `status` and for a chain `up` found running). Scripts read this shape
/// (docs/development.md, "JSON output"): add keys, never rename or drop one.
pub(crate) fn state_json(s: &LocalnetState, running: bool, started: bool) -> serde_json::Value {
    json!({
        "running": running,
        "started": started,
        "endpoint": s.endpoint,
        "port": s.port,
        "netuid": s.netuid,
        "chopsticks_pid": s.chopsticks_pid,
        "ticker_pid": s.ticker_pid,
        "log_file": s.log_file.display().to_string(),
        "wallets_dir": s.wallets_dir.display().to_string(),
        "hotkey": "default",
        "validator_wallet": s.validator_wallet,
        "miner_wallets": s.miner_wallets,
    })
}

fn print_state(s: &LocalnetState, running: bool) {
    println!(
        "endpoint:     {} ({})",
        s.endpoint,
        if running { "running" } else { "NOT running" }
    );
    println!(
        "chopsticks:   pid {}   log {}",
        s.chopsticks_pid,
        s.log_file.display()
    );
    match s.ticker_pid {
        Some(p) => println!("block ticker: pid {p}"),
        None => println!("block ticker: off"),
    }
    if let Some(netuid) = s.netuid {
        println!("netuid:       {netuid}");
    }
    println!("wallets:      --wallet.path {}", s.wallets_dir.display());
    println!(
        "validator:    --wallet.name {} --wallet.hotkey default",
        s.validator_wallet
    );
    for m in &s.miner_wallets {
        println!("miner:        --wallet.name {m} --wallet.hotkey default");
    }
    if let Some(netuid) = s.netuid {
        println!(
            "flags:        --subtensor.chain_endpoint {} --netuid {netuid}",
            s.endpoint
        );
    }
}

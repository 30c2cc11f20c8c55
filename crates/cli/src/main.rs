//! The `audiosubnet` binary: argument parsing and glue. Each subcommand lives in its own module
//! and calls into the library crates.

mod args;
mod chain_cmd;
mod localnet_cmd;
mod miner_cmd;
mod models_cmd;
mod music_cmd;
mod music_engines;
mod query_cmd;
mod score_cmd;
mod tts_cmd;
mod validator_cmd;
mod version;
mod wallet_cmd;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use std::process::ExitCode;

/// A Bittensor subnet for audio generation: miners turn text into speech (and music),
/// validators judge it and set weights on chain.
#[derive(Debug, Parser)]
#[command(name = "audiosubnet", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a miner.
    Miner(Box<miner_cmd::MinerArgs>),
    /// Create, regenerate or inspect wallets (btcli-compatible files).
    Wallet(wallet_cmd::WalletCli),
    /// Synthesize one text to a WAV file, or serve the OpenAI-compatible speech endpoint (--serve).
    Tts(tts_cmd::TtsArgs),
    /// Make one clip of music from a text prompt to a WAV file.
    Music(music_cmd::MusicArgs),
    /// Fetch and list the models the engines and the validator use.
    Models(models_cmd::ModelsArgs),
    /// Show a subnet's neurons (uids, keys, stake, trust, incentive, dividends, axons).
    Metagraph(chain_cmd::MetagraphArgs),
    /// Register the wallet's hotkey on a subnet (burned_register, paid by the coldkey).
    Register(chain_cmd::RegisterArgs),
    /// Run a local subtensor chain (chopsticks + the real runtime) with a bootstrapped subnet.
    Localnet(localnet_cmd::LocalnetArgs),
    /// Run a validator: prompts to miners, speech scored, EMAs kept, weights set on chain.
    Validator(Box<validator_cmd::ValidatorArgs>),
    /// Score one WAV file against a prompt as the validator would, and print the breakdown.
    Score(score_cmd::ScoreArgs),
    /// Ask one miner to speak a text (btauth/1 or Synapse) and print what came back.
    Query(query_cmd::QueryArgs),
}

/// Runs a command that has no logging flags of its own with info-level logs on stderr.
fn with_default_logging(run: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    let _guard = audiosubnet_telemetry::init_logging(&Default::default())?;
    run()
}

/// A small async runtime for the short chain commands (`metagraph`, `register`, `localnet`),
/// whose clients are async; one per command is fine.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn main() -> ExitCode {
    // `--version` adds the commit, features and version_key to `-V`'s plain version. clap takes
    // a `&'static str` here; the one leaked string lives as long as the process anyway.
    let long_version: &'static str = Box::leak(version::long_version().into_boxed_str());
    let matches = Cli::command().long_version(long_version).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        Command::Miner(args) => miner_cmd::run(*args),
        Command::Wallet(args) => wallet_cmd::run(args),
        Command::Tts(args) => with_default_logging(|| tts_cmd::run(args)),
        Command::Music(args) => with_default_logging(|| music_cmd::run(args)),
        Command::Models(args) => with_default_logging(|| models_cmd::run(args)),
        Command::Metagraph(args) => with_default_logging(|| chain_cmd::run_metagraph(args)),
        Command::Register(args) => with_default_logging(|| chain_cmd::run_register(args)),
        Command::Localnet(args) => with_default_logging(|| localnet_cmd::run(args)),
        Command::Validator(args) => validator_cmd::run(*args),
        Command::Score(args) => with_default_logging(|| score_cmd::run(args)),
        Command::Query(args) => with_default_logging(|| query_cmd::run(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

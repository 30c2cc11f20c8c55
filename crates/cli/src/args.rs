//! Argument groups several subcommands share: `--wallet.*`, `--subtensor.*`, `--logging.*`, the
//! Hugging Face model locations, and the scoring device. Subcommand modules import these from
//! here and never from one another, so each `*_cmd` module can change on its own.

use std::fmt;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use audiosubnet_chain::{Subtensor, resolve_endpoint};
use audiosubnet_scoring::WhisperDevice;
use audiosubnet_tts::EngineOptions;
use audiosubnet_wallet::Wallet;

/// Environment variable for the keyfile password (keeps it off the command line).
pub(crate) const PASSWORD_ENV: &str = "AUDIOSUBNET_WALLET_PASSWORD";

/// Which wallet to use: the btcli `--wallet.*` flags, reused by the miner, validator and chain
/// commands.
#[derive(Clone, clap::Args)]
pub(crate) struct WalletArgs {
    /// Wallet (coldkey) name: a directory under --wallet.path.
    #[arg(
        id = "wallet.name",
        long = "wallet.name",
        env = "BT_WALLET_NAME",
        default_value = "default"
    )]
    name: String,
    /// Hotkey name: a file in the wallet's hotkeys/ directory.
    #[arg(
        id = "wallet.hotkey",
        long = "wallet.hotkey",
        env = "BT_WALLET_HOTKEY",
        default_value = "default"
    )]
    hotkey: String,
    /// Root directory of all wallets (a leading ~ is the home directory).
    #[arg(
        id = "wallet.path",
        long = "wallet.path",
        env = "BT_WALLET_PATH",
        default_value = "~/.bittensor/wallets"
    )]
    path: String,
    /// Password of encrypted keyfiles, and of a new coldkey. Prefer the environment variable:
    /// command lines are visible to other users. Encrypted keyfiles also read btcli's
    /// BT_PW_{PATH} variables.
    #[arg(
        id = "wallet.password",
        long = "wallet.password",
        env = PASSWORD_ENV,
        hide_env_values = true
    )]
    password: Option<String>,
}

impl WalletArgs {
    /// The selected wallet.
    pub(crate) fn wallet(&self) -> Wallet {
        Wallet::new(&self.name, &self.hotkey, &self.path)
    }

    /// The wallet (coldkey) name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The hotkey name.
    pub(crate) fn hotkey_name(&self) -> &str {
        &self.hotkey
    }

    /// The password from `--wallet.password` or the environment, if any.
    pub(crate) fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }
}

impl fmt::Debug for WalletArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalletArgs")
            .field("name", &self.name)
            .field("hotkey", &self.hotkey)
            .field("path", &self.path)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Which chain to talk to (the SDK's `--subtensor.*` flags).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct SubtensorArgs {
    /// Network: finney, test, local, or a ws:// / wss:// URL.
    #[arg(
        id = "subtensor.network",
        long = "subtensor.network",
        default_value = "finney",
        env = "AUDIOSUBNET_SUBTENSOR_NETWORK"
    )]
    pub(crate) network: String,
    /// Explicit websocket endpoint (e.g. ws://127.0.0.1:9944); overrides --subtensor.network.
    #[arg(
        id = "subtensor.chain_endpoint",
        long = "subtensor.chain_endpoint",
        env = "AUDIOSUBNET_SUBTENSOR_CHAIN_ENDPOINT"
    )]
    pub(crate) chain_endpoint: Option<String>,
}

impl SubtensorArgs {
    /// The websocket URL these flags select.
    pub(crate) fn endpoint(&self) -> Result<String> {
        Ok(resolve_endpoint(
            Some(&self.network),
            self.chain_endpoint.as_deref(),
        )?)
    }

    /// Connects (with retries).
    pub(crate) async fn connect(&self) -> Result<Subtensor> {
        let ep = self.endpoint()?;
        Subtensor::connect(&ep)
            .await
            .with_context(|| format!("connecting to {ep}"))
    }
}

/// The seed's logging flags.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct LoggingArgs {
    /// Debug-level logs.
    #[arg(long = "logging.debug")]
    debug: bool,
    /// Trace-level logs.
    #[arg(long = "logging.trace")]
    trace: bool,
    /// Also write logs to files in this directory.
    #[arg(long = "logging.logging_dir")]
    logging_dir: Option<PathBuf>,
    /// Log one JSON object per line.
    #[arg(long = "logging.json")]
    json: bool,
}

impl LoggingArgs {
    /// Starts logging as these flags say; keep the guard alive for the life of the command.
    pub(crate) fn init(&self) -> Result<audiosubnet_telemetry::LoggingGuard> {
        Ok(audiosubnet_telemetry::init_logging(
            &audiosubnet_telemetry::LoggingConfig {
                debug: self.debug,
                trace: self.trace,
                logging_dir: self.logging_dir.clone(),
                json: self.json,
            },
        )?)
    }
}

/// Flags of the original miner and validator that have no job here, accepted so that an
/// operator's existing command lines keep working (every other flag of the seed's tables is a
/// real flag of `miner` or `validator`).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct SeedArgs {
    /// Ignored: accepted for the original's command lines, where it added a free-form value
    /// (default "my_custom_value") to the config that nothing read.
    #[arg(long, value_name = "VALUE")]
    custom: Option<String>,
}

impl SeedArgs {
    /// Says at debug level which accepted flags are ignored; call it after logging started.
    pub(crate) fn log_ignored(&self) {
        if let Some(value) = &self.custom {
            tracing::debug!(value = %value, "--custom is accepted for compatibility and ignored");
        }
    }
}

/// Where the Hugging Face engines (SpeechT5, MMS-TTS, Bark) find their checkpoints and voice, and
/// Kokoro's voice and speed; shared by `tts` and `miner`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct HubModelArgs {
    /// Checkpoint directory for Hugging Face models (config.json, vocab.json, weights); by
    /// default they are looked up in the Hugging Face cache.
    #[arg(long = "model.path")]
    pub(crate) model_path: Option<PathBuf>,
    /// Hugging Face revision to load (branch, tag or commit; pin a commit in production);
    /// default: main.
    #[arg(long = "model.revision")]
    pub(crate) model_revision: Option<String>,
    /// SpeechT5's vocoder directory; default: microsoft/speecht5_hifigan in the Hugging Face cache.
    #[arg(long = "model.vocoder_path")]
    pub(crate) vocoder_path: Option<PathBuf>,
    /// The voice: for SpeechT5 a 512-value x-vector file (.npy or raw f32; default: the zero
    /// vector), for Bark a preset .npz or a name such as v2/en_speaker_6.
    #[arg(long = "model.speaker")]
    pub(crate) speaker_path: Option<PathBuf>,
    /// Kokoro's voice: af_heart (default) or another US (af_*, am_*) or UK (bf_*, bm_*) English
    /// voice (`audiosubnet models list` shows them), or an OpenAI voice name such as alloy.
    #[arg(long = "model.voice")]
    pub(crate) voice: Option<String>,
    /// Kokoro's speaking rate, 0.5 to 2.0 (1.0 normal).
    #[arg(long = "model.speed", default_value_t = 1.0, value_parser = parse_speed)]
    pub(crate) speed: f32,
}

/// `--model.speed`: a number within Kokoro's bounds.
fn parse_speed(s: &str) -> Result<f32, String> {
    let speed: f32 = s.parse().map_err(|e| format!("{e}"))?;
    let range = audiosubnet_tts::KOKORO_SPEED_RANGE;
    if range.contains(&speed) {
        Ok(speed)
    } else {
        Err(format!(
            "{speed} is outside {}..={}",
            range.start(),
            range.end()
        ))
    }
}

impl HubModelArgs {
    /// `opts` with these locations filled in.
    pub(crate) fn apply(&self, opts: EngineOptions) -> EngineOptions {
        EngineOptions {
            model_path: self.model_path.clone(),
            model_revision: self.model_revision.clone(),
            vocoder_path: self.vocoder_path.clone(),
            speaker_path: self.speaker_path.clone(),
            voice: self.voice.clone(),
            speed: self.speed,
            ..opts
        }
    }
}

/// The scoring device of `--device`: cpu, cuda (or gpu) for the first GPU, or cuda:N.
pub(crate) fn parse_device(s: &str) -> Result<WhisperDevice> {
    match s.to_ascii_lowercase().as_str() {
        "cpu" => Ok(WhisperDevice::Cpu),
        "cuda" | "gpu" => Ok(WhisperDevice::Cuda(0)),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) => Ok(WhisperDevice::Cuda(i)),
            _ => bail!("unknown device `{s}`; use cpu, cuda or cuda:N"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse() {
        assert_eq!(parse_device("cpu").unwrap(), WhisperDevice::Cpu);
        assert_eq!(parse_device("CUDA").unwrap(), WhisperDevice::Cuda(0));
        assert_eq!(parse_device("cuda:2").unwrap(), WhisperDevice::Cuda(2));
        assert!(parse_device("tpu").is_err());
        assert!(parse_device("cuda:x").is_err());
    }
}

//! `audiosubnet score --text "…" file.wav`: scores one WAV file as the validator would score a
//! response for that prompt, and prints the breakdown as JSON.

use std::path::PathBuf;

use crate::args::parse_device;
use anyhow::{Context as _, Result};
use audiosubnet_scoring::{
    AsrModel, Naturalness, Samples, ScorerConfig, ScoringError, ScoringModels,
};

/// Score a WAV file against a prompt (Whisper WER, DNSMOS, VAD, pacing → reward).
#[derive(Debug, clap::Args)]
pub(crate) struct ScoreArgs {
    /// The prompt the audio should say.
    #[arg(long)]
    text: String,
    /// WAV file (any bit depth, integer or float; several channels are averaged to mono).
    file: PathBuf,
    /// Declare this sample rate instead of the file's (to see what a wrong rate scores).
    #[arg(long)]
    sample_rate: Option<u32>,
    /// Where Whisper runs: cpu, cuda or cuda:N (cuda needs a build with the `cuda` feature).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// The judge's Whisper: `tiny.en` or `base` (multilingual, forced to English), as the
    /// validator's `--scoring.asr`.
    #[arg(long = "scoring.asr", default_value = "tiny.en")]
    asr: AsrModel,
    /// The judge's naturalness model: `dnsmos` (DNSMOS P.835 OVRL) or `distill-mos`
    /// (Distill-MOS v7); each has its own bounds in the formula (docs/scoring.md).
    #[arg(long = "scoring.mos", default_value = "distill-mos")]
    mos: Naturalness,
    /// Print one line of JSON instead of pretty JSON.
    #[arg(long)]
    compact: bool,
}

/// Runs `audiosubnet score`.
pub(crate) fn run(args: ScoreArgs) -> Result<()> {
    // Any bit depth, integer or float; channels averaged (the one rule of audiosubnet_audio).
    let wav = audiosubnet_audio::read_wav(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let rate = args.sample_rate.unwrap_or(wav.sample_rate);
    let cfg = ScorerConfig {
        whisper_device: parse_device(&args.device)?,
        asr: args.asr,
        naturalness: args.mos,
        ..ScorerConfig::default()
    };
    let mut models = ScoringModels::load(&cfg).context("loading the scoring models")?;
    let value = match models.score(&args.text, &Samples::F32(wav.samples), rate) {
        Ok(breakdown) => serde_json::to_value(&breakdown)?,
        // A rejected response is a result (reward 0), not a failure of the command.
        Err(ScoringError::Rejected(rejection)) => serde_json::json!({
            "reward": 0.0,
            "rejected": rejection,
            "message": rejection.to_string(),
        }),
        Err(e) => return Err(e).context("scoring"),
    };
    let out = if args.compact {
        serde_json::to_string(&value)?
    } else {
        serde_json::to_string_pretty(&value)?
    };
    println!("{out}");
    Ok(())
}

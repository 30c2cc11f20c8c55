//! `audiosubnet score --text "…" file.wav`: scores one WAV file as the validator would score a
//! response for that prompt, and prints the breakdown as JSON.

use std::path::PathBuf;

use crate::args::parse_device;
use anyhow::{Context as _, Result};
use audiosubnet_scoring::{Samples, ScorerConfig, ScoringError, ScoringModels};

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
    /// Print one line of JSON instead of pretty JSON.
    #[arg(long)]
    compact: bool,
}

/// Mono f32 samples and the sample rate of a WAV file.
fn read_wav(path: &std::path::Path) -> Result<(Vec<f32>, u32)> {
    let mut reader =
        hound::WavReader::open(path).with_context(|| format!("reading {}", path.display()))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .with_context(|| format!("decoding {}", path.display()))?,
        hound::SampleFormat::Int => {
            let scale = 2f64.powi(i32::from(spec.bits_per_sample.clamp(1, 32)) - 1);
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| (f64::from(v) / scale) as f32))
                .collect::<Result<_, _>>()
                .with_context(|| format!("decoding {}", path.display()))?
        }
    };
    let mono = interleaved
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / frame.len() as f32)
        .collect();
    Ok((mono, spec.sample_rate))
}

/// Runs `audiosubnet score`.
pub(crate) fn run(args: ScoreArgs) -> Result<()> {
    let (samples, file_rate) = read_wav(&args.file)?;
    let rate = args.sample_rate.unwrap_or(file_rate);
    let cfg = ScorerConfig {
        whisper_device: parse_device(&args.device)?,
        ..ScorerConfig::default()
    };
    let mut models = ScoringModels::load(&cfg).context("loading the scoring models")?;
    let value = match models.score(&args.text, &Samples::F32(samples), rate) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_int_and_float_wavs_as_mono() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 22_050,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for (l, r) in [(16_384i16, 0i16), (-32_768, -32_768)] {
            w.write_sample(l).unwrap();
            w.write_sample(r).unwrap();
        }
        w.finalize().unwrap();
        let (s, rate) = read_wav(&path).unwrap();
        assert_eq!(rate, 22_050);
        assert_eq!(s, vec![0.25, -1.0]);

        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        w.write_sample(0.5f32).unwrap();
        w.finalize().unwrap();
        assert_eq!(read_wav(&path).unwrap(), (vec![0.5], 16_000));
        assert!(read_wav(&dir.path().join("missing.wav")).is_err());
    }
}

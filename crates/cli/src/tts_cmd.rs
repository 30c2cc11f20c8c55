//! `audiosubnet tts --model NAME --text "…" --out file.wav`: one synthesis, for trying engines.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, Result};
use audiosubnet_tts::{Device, EngineOptions, load_engine};

/// Synthesise one text to a 16-bit PCM WAV file.
#[derive(Debug, clap::Args)]
pub(crate) struct TtsArgs {
    /// Engine: piper (alias en_US-joe-medium), festival, flite, espeak.
    #[arg(long, default_value = "piper")]
    model: String,
    /// The text to speak.
    #[arg(long)]
    text: String,
    /// Output WAV file.
    #[arg(long)]
    out: PathBuf,
    /// Device for neural engines: cpu or cuda.
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Longest accepted text, in characters.
    #[arg(long, default_value_t = audiosubnet_tts::text::DEFAULT_MAX_CHARS)]
    max_chars: usize,
}

/// Runs `audiosubnet tts …`.
pub(crate) fn run(args: TtsArgs) -> Result<()> {
    let opts = EngineOptions {
        device: args.device,
        max_chars: args.max_chars,
        ..EngineOptions::default()
    };
    let loading = Instant::now();
    let mut engine =
        load_engine(&args.model, &opts).with_context(|| format!("loading model {}", args.model))?;
    let load_secs = loading.elapsed().as_secs_f64();
    let started = Instant::now();
    let speech = engine.synthesize(&args.text).context("synthesis failed")?;
    let synth_secs = started.elapsed().as_secs_f64();
    speech
        .write_wav(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let audio = speech.duration_secs();
    tracing::debug!(
        model = engine.name(),
        out = %args.out.display(),
        audio_secs = audio,
        sample_rate = speech.sample_rate,
        load_secs,
        synth_secs,
        rtf = if audio > 0.0 { synth_secs / audio } else { 0.0 },
        "wrote speech"
    );
    eprintln!(
        "{}: {:.2} s of audio at {} Hz in {:.2} s (RTF {:.3}; load {:.2} s) -> {}",
        engine.name(),
        audio,
        speech.sample_rate,
        synth_secs,
        if audio > 0.0 { synth_secs / audio } else { 0.0 },
        load_secs,
        args.out.display()
    );
    Ok(())
}

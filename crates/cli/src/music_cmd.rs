//! `audiosubnet music --model NAME --text "…" --duration 10 --out song.wav`: one clip of music,
//! for trying engines and prompts the way a miner would play them.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use audiosubnet_music::{MusicOptions, load_engine};

/// Make one clip of music from a text prompt and write it as a 16-bit PCM WAV file.
#[derive(Debug, clap::Args)]
pub(crate) struct MusicArgs {
    /// Engine: soundfont (alias fluidsynth; General MIDI through a SoundFont, on the CPU).
    #[arg(long, default_value = audiosubnet_music::DEFAULT_ENGINE)]
    model: String,
    /// The SoundFont (.sf2) the soundfont engine plays; default: the fluid-soundfont-gm
    /// package's FluidR3_GM.sf2.
    #[arg(long = "model.path")]
    model_path: Option<PathBuf>,
    /// The prompt: style, mood, instruments, and optionally tempo ("90 bpm"), key ("in A
    /// minor") and meter ("3/4").
    #[arg(long)]
    text: String,
    /// Seconds of music.
    #[arg(long, default_value_t = 10.0, value_parser = parse_duration)]
    duration: f32,
    /// Output WAV file.
    #[arg(long)]
    out: PathBuf,
    /// Sampling seed: the same prompt, duration and seed give the same clip.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write the notes played as a Standard MIDI File.
    #[arg(long, value_name = "FILE")]
    midi: Option<PathBuf>,
}

/// A positive, finite length of at most ten minutes.
fn parse_duration(s: &str) -> Result<f32, String> {
    let secs: f32 = s.trim().parse().map_err(|e| format!("{e}"))?;
    if secs.is_finite() && secs > 0.0 && secs <= 600.0 {
        Ok(secs)
    } else {
        Err(format!("{s} is not a number of seconds between 0 and 600"))
    }
}

/// Runs `audiosubnet music …`.
pub(crate) fn run(args: MusicArgs) -> Result<()> {
    if args.text.trim().is_empty() {
        bail!("--text is empty: say what music to make");
    }
    let options = MusicOptions {
        soundfont: args.model_path.clone(),
    };
    eprintln!("loading {} …", args.model);
    let loading = Instant::now();
    let mut engine = load_engine(&args.model, &options)
        .with_context(|| format!("loading music model {}", args.model))?;
    let load_secs = loading.elapsed().as_secs_f64();
    eprintln!("making {:.1} s of music …", args.duration);
    let started = Instant::now();
    let clip = engine
        .generate(&args.text, args.duration, args.seed)
        .context("music generation failed")?;
    let took = started.elapsed().as_secs_f64();
    let wav = audiosubnet_audio::encode_wav16(&clip.samples, clip.sample_rate)
        .context("encoding the WAV")?;
    std::fs::write(&args.out, wav).with_context(|| format!("writing {}", args.out.display()))?;
    if let Some(path) = &args.midi {
        std::fs::write(path, clip.score.to_smf())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let audio = clip.samples.len() as f64 / f64::from(clip.sample_rate.max(1));
    eprintln!(
        "{}: {:.2} s of audio at {} Hz in {:.2} s (RTF {:.3}; load {:.2} s) -> {}\n  {}",
        engine.name(),
        audio,
        clip.sample_rate,
        took,
        if audio > 0.0 { took / audio } else { 0.0 },
        load_secs,
        args.out.display(),
        clip.arrangement.describe(),
    );
    Ok(())
}

//! `audiosubnet music --model NAME --text "…" --duration 10 --out song.wav`: one clip of music,
//! for trying engines and prompts the way a miner would play them.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use audiosubnet_music::{ClassicMusicEngine, DEFAULT_SOUNDFONT, MusicEngine, MusicOptions};
use audiosubnet_musicgen::{MusicGenEngine, MusicGenOptions, is_musicgen_name};
use audiosubnet_tts::Device;

use crate::music_engines::{is_classic_name, load_music_engines};

/// Make one clip of music from a text prompt and write it as a 16-bit PCM WAV file.
#[derive(Debug, clap::Args)]
pub(crate) struct MusicArgs {
    /// Engine: soundfont (alias fluidsynth; General MIDI through a SoundFont, on the CPU), or
    /// MusicGen: facebook/musicgen-small, facebook/musicgen-medium, facebook/musicgen-large
    /// (also musicgen-small etc.; the checkpoint from --model.path or the Hugging Face cache).
    #[arg(long, default_value = audiosubnet_music::DEFAULT_ENGINE)]
    model: String,
    /// For soundfont, the SoundFont (.sf2) it plays (default: the fluid-soundfont-gm package's
    /// FluidR3_GM.sf2); for MusicGen, the checkpoint directory (config.json, tokenizer.json,
    /// model.safetensors).
    #[arg(long = "model.path")]
    model_path: Option<PathBuf>,
    /// MusicGen: the Hugging Face revision to look up in the cache (branch, tag or commit);
    /// default: main.
    #[arg(long = "model.revision")]
    model_revision: Option<String>,
    /// Where MusicGen runs: cpu or cuda.
    #[arg(long, default_value = "cpu")]
    device: Device,
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
    /// Also write the notes played as a Standard MIDI File (soundfont engine only).
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

/// What one run made.
struct Made {
    engine: String,
    samples: Vec<f32>,
    sample_rate: u32,
    load_secs: f64,
    took: f64,
    describe: Option<String>,
}

/// Runs `audiosubnet music …`.
pub(crate) fn run(args: MusicArgs) -> Result<()> {
    if args.text.trim().is_empty() {
        bail!("--text is empty: say what music to make");
    }
    let made = if is_classic_name(&args.model) {
        classic(&args)?
    } else {
        if args.midi.is_some() {
            bail!(
                "--midi writes the notes the soundfont engine plays; {} makes audio only",
                args.model
            );
        }
        by_name(&args)?
    };
    let wav = audiosubnet_audio::encode_wav16(&made.samples, made.sample_rate)
        .context("encoding the WAV")?;
    std::fs::write(&args.out, wav).with_context(|| format!("writing {}", args.out.display()))?;
    let audio = made.samples.len() as f64 / f64::from(made.sample_rate.max(1));
    eprintln!(
        "{}: {:.2} s of audio at {} Hz in {:.2} s (RTF {:.3}; load {:.2} s) -> {}",
        made.engine,
        audio,
        made.sample_rate,
        made.took,
        if audio > 0.0 { made.took / audio } else { 0.0 },
        made.load_secs,
        args.out.display(),
    );
    if let Some(describe) = made.describe {
        eprintln!("  {describe}");
    }
    Ok(())
}

/// The classic engine, called directly: its clip has the arrangement and the score (`--midi`).
fn classic(args: &MusicArgs) -> Result<Made> {
    eprintln!("loading {} …", args.model);
    let loading = Instant::now();
    let path = args
        .model_path
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOUNDFONT));
    let engine = ClassicMusicEngine::load(&path)
        .with_context(|| format!("loading music model {}", args.model))?;
    let load_secs = loading.elapsed().as_secs_f64();
    eprintln!("making {:.1} s of music …", args.duration);
    let started = Instant::now();
    let clip = engine
        .generate(&args.text, args.duration, args.seed)
        .context("music generation failed")?;
    let took = started.elapsed().as_secs_f64();
    if let Some(path) = &args.midi {
        std::fs::write(path, clip.score.to_smf())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(Made {
        engine: MusicEngine::name(&engine).to_owned(),
        describe: Some(clip.arrangement.describe()),
        samples: clip.samples,
        sample_rate: clip.sample_rate,
        load_secs,
        took,
    })
}

/// Any other engine through the `MusicEngine` trait; MusicGen reports each second generated.
fn by_name(args: &MusicArgs) -> Result<Made> {
    eprintln!("loading {} …", args.model);
    let loading = Instant::now();
    let mut engine: Box<dyn MusicEngine> = if is_musicgen_name(&args.model) {
        let options = MusicGenOptions {
            path: args.model_path.clone(),
            revision: args.model_revision.clone(),
            cuda: args.device == Device::Cuda,
        };
        let total = args.duration;
        let mut reported = 0u32;
        let engine = MusicGenEngine::load(&args.model, &options)
            .with_context(|| format!("loading music model {}", args.model))?
            .with_progress(Box::new(move |done: f32| {
                let whole = done.floor() as u32;
                if whole > reported {
                    reported = whole;
                    eprintln!("  {whole} s of {total:.1} s generated");
                }
            }));
        Box::new(engine)
    } else {
        let options = MusicOptions {
            soundfont: args.model_path.clone(),
        };
        load_music_engines(&args.model, &options, &MusicGenOptions::default(), 1)
            .with_context(|| format!("loading music model {}", args.model))?
            .pop()
            .context("no engine loaded")?
    };
    let load_secs = loading.elapsed().as_secs_f64();
    eprintln!("making {:.1} s of music …", args.duration);
    let started = Instant::now();
    let audio = engine
        .generate(&args.text, args.duration, args.seed)
        .context("music generation failed")?;
    let took = started.elapsed().as_secs_f64();
    Ok(Made {
        engine: engine.name().to_owned(),
        samples: audio.samples,
        sample_rate: audio.sample_rate,
        load_secs,
        took,
        describe: None,
    })
}

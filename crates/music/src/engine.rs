//! Music engines by name: the [`MusicEngine`] trait the miner's pool and `audiosubnet music`
//! run, and [`load_engine`], which maps a `--model` name to a loaded engine.

use std::path::PathBuf;

use crate::{ClassicMusicEngine, DEFAULT_SOUNDFONT, MusicAudio, MusicClip, MusicError};

/// The engine a miner runs when none is named.
pub const DEFAULT_ENGINE: &str = "soundfont";

/// The names [`load_engine`] accepts, canonical first, with what each is.
pub const ENGINES: &[(&str, &str)] = &[
    (
        "soundfont",
        "General MIDI through a SoundFont on the CPU (aliases: fluidsynth, classic)",
    ),
    (
        "loop",
        "a cheat for demos and tests: one fixed two-second bar tiled for every prompt; never mine with it",
    ),
];

/// A loaded, resident music engine. Generation is blocking CPU work: run it on a worker thread
/// ([`crate::MusicPool`]), never on an async runtime.
pub trait MusicEngine: Send {
    /// The name replies report as `model_name`.
    fn name(&self) -> &str;
    /// Samples per second of the clips it makes.
    fn sample_rate(&self) -> u32;
    /// `seconds` of mono audio for `prompt`; the same prompt, length and seed give the same
    /// samples.
    fn generate(&mut self, prompt: &str, seconds: f32, seed: u64)
    -> Result<MusicAudio, MusicError>;
}

/// Where engines find their files.
#[derive(Debug, Clone, Default)]
pub struct MusicOptions {
    /// The SoundFont of `soundfont`; default [`DEFAULT_SOUNDFONT`].
    pub soundfont: Option<PathBuf>,
}

impl MusicEngine for ClassicMusicEngine {
    fn name(&self) -> &str {
        DEFAULT_ENGINE
    }

    fn sample_rate(&self) -> u32 {
        crate::SAMPLE_RATE
    }

    fn generate(
        &mut self,
        prompt: &str,
        seconds: f32,
        seed: u64,
    ) -> Result<MusicAudio, MusicError> {
        ClassicMusicEngine::generate(self, prompt, seconds, seed).map(MusicAudio::from)
    }
}

/// `count` engines `name` for a worker pool, sharing what they can: the SoundFont engines share
/// one resident SoundFont (148 MB for FluidR3_GM) instead of loading it per worker.
pub fn load_engines(
    name: &str,
    options: &MusicOptions,
    count: usize,
) -> Result<Vec<Box<dyn MusicEngine>>, MusicError> {
    let first = load_named(name, options)?;
    Ok((0..count.max(1)).map(|_| first.boxed()).collect())
}

/// Loads the engine `name` (see [`ENGINES`]).
pub fn load_engine(name: &str, options: &MusicOptions) -> Result<Box<dyn MusicEngine>, MusicError> {
    Ok(load_named(name, options)?.boxed())
}

/// An engine loaded once, cloned per worker.
#[derive(Clone)]
enum Loaded {
    Classic(ClassicMusicEngine),
    Loop(Box<FixedLoopEngine>),
}

impl Loaded {
    fn boxed(&self) -> Box<dyn MusicEngine> {
        match self {
            Loaded::Classic(e) => Box::new(e.clone()),
            Loaded::Loop(e) => e.clone(),
        }
    }
}

fn load_named(name: &str, options: &MusicOptions) -> Result<Loaded, MusicError> {
    let soundfont = || {
        let path = options
            .soundfont
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SOUNDFONT));
        ClassicMusicEngine::load(&path)
    };
    match name {
        "soundfont" | "fluidsynth" | "classic" => soundfont().map(Loaded::Classic),
        "loop" => FixedLoopEngine::new(&soundfont()?).map(|e| Loaded::Loop(Box::new(e))),
        other if other.contains("musicgen") => Err(MusicError::Model {
            engine: other.to_owned(),
            message: "MusicGen checkpoints load through audiosubnet-musicgen's MusicGenEngine \
                      (the audiosubnet binary's --music.model does), not this crate"
                .into(),
        }),
        other => Err(MusicError::UnknownEngine {
            name: other.to_owned(),
            known: ENGINES
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// A deliberately dishonest engine: the same two-second bar, tiled to whatever length is asked,
/// for every prompt. It exists to show (in `scripts/demo` and the validator's tests) what such a
/// miner earns; never use it to mine.
#[derive(Debug, Clone)]
pub(crate) struct FixedLoopEngine {
    bar: MusicClip,
}

/// Seconds of the bar [`FixedLoopEngine`] repeats.
const LOOP_SECONDS: f32 = 2.0;

impl FixedLoopEngine {
    /// Renders the bar once with `engine`.
    pub(crate) fn new(engine: &ClassicMusicEngine) -> Result<Self, MusicError> {
        let bar = engine.generate("a techno track in A minor at 128 BPM", LOOP_SECONDS, 0)?;
        Ok(FixedLoopEngine { bar })
    }
}

impl MusicEngine for FixedLoopEngine {
    fn name(&self) -> &str {
        "loop"
    }

    fn sample_rate(&self) -> u32 {
        self.bar.sample_rate
    }

    fn generate(
        &mut self,
        _prompt: &str,
        seconds: f32,
        _seed: u64,
    ) -> Result<MusicAudio, MusicError> {
        if !seconds.is_finite() || seconds <= 0.0 || seconds > crate::MAX_DURATION_S {
            return Err(MusicError::Duration(seconds));
        }
        let n = (seconds * self.bar.sample_rate as f32).round() as usize;
        Ok(MusicAudio {
            samples: self.bar.samples.iter().copied().cycle().take(n).collect(),
            sample_rate: self.bar.sample_rate,
        })
    }
}

//! Music engines by name: the [`MusicEngine`] trait the miner's pool and `audiosubnet music`
//! run, and [`load_engine`], which maps a `--model` name to a loaded engine.

use std::path::PathBuf;

use crate::{ClassicMusicEngine, DEFAULT_SOUNDFONT, MusicClip, MusicError};

/// The engine a miner runs when none is named.
pub const DEFAULT_ENGINE: &str = "soundfont";

/// The names [`load_engine`] accepts, canonical first, with what each is.
pub const ENGINES: &[(&str, &str)] = &[(
    "soundfont",
    "General MIDI through a SoundFont on the CPU (aliases: fluidsynth, classic)",
)];

/// A loaded, resident music engine. Generation is blocking CPU work: run it on a worker thread
/// ([`crate::MusicPool`]), never on an async runtime.
pub trait MusicEngine: Send {
    /// The name replies report as `model_name`.
    fn name(&self) -> &str;
    /// Samples per second of the clips it makes.
    fn sample_rate(&self) -> u32;
    /// `seconds` of mono audio for `prompt`; the same prompt, length and seed give the same
    /// samples.
    fn generate(&mut self, prompt: &str, seconds: f32, seed: u64) -> Result<MusicClip, MusicError>;
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

    fn generate(&mut self, prompt: &str, seconds: f32, seed: u64) -> Result<MusicClip, MusicError> {
        ClassicMusicEngine::generate(self, prompt, seconds, seed)
    }
}

/// `count` engines `name` for a worker pool, sharing what they can: the SoundFont engines share
/// one resident SoundFont (148 MB for FluidR3_GM) instead of loading it per worker.
pub fn load_engines(
    name: &str,
    options: &MusicOptions,
    count: usize,
) -> Result<Vec<Box<dyn MusicEngine>>, MusicError> {
    let first = load_classic(name, options)?;
    Ok((0..count.max(1))
        .map(|_| Box::new(first.clone()) as Box<dyn MusicEngine>)
        .collect())
}

/// Loads the engine `name` (see [`ENGINES`]).
pub fn load_engine(name: &str, options: &MusicOptions) -> Result<Box<dyn MusicEngine>, MusicError> {
    Ok(Box::new(load_classic(name, options)?))
}

fn load_classic(name: &str, options: &MusicOptions) -> Result<ClassicMusicEngine, MusicError> {
    match name {
        "soundfont" | "fluidsynth" | "classic" => {
            let path = options
                .soundfont
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_SOUNDFONT));
            ClassicMusicEngine::load(&path)
        }
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

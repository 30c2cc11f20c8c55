//! The classic CPU text-to-music engine: honest and modest, the music counterpart of espeak-ng.
//!
//! A prompt becomes an [`Arrangement`] (module `arrange`, reading it with module `prompt`):
//! tempo, key and mode, metre, instruments, and the style and mood words' defaults for what the
//! prompt leaves out, the rest decided by the seed. [`compose`] (module `compose`, with the
//! scales and chords of module `theory`) writes it as a [`Score`] of General MIDI note events
//! (module `score`, which also writes Standard MIDI Files). [`SoundFontSynth`] (module `synth`)
//! renders the score through a SoundFont with rustysynth. [`ClassicMusicEngine`] ties them
//! together: the same prompt, duration and seed always give the same samples.
//!
//! # Example
//!
//! ```no_run
//! use audiosubnet_music::{ClassicMusicEngine, DEFAULT_SOUNDFONT};
//!
//! let engine = ClassicMusicEngine::load(DEFAULT_SOUNDFONT)?;
//! let clip = engine.generate("lo-fi hip hop with mellow piano, 80 bpm, in A minor", 10.0, 42)?;
//! assert_eq!(clip.sample_rate, 32_000);
//! assert_eq!(clip.samples.len(), 320_000);
//! println!("{}", clip.arrangement.describe());
//! # Ok::<(), audiosubnet_music::MusicError>(())
//! ```

mod arrange;
mod compose;
mod engine;
mod pool;
mod prompt;
mod rng;
mod score;
mod synth;
mod theory;

use std::path::{Path, PathBuf};

pub use arrange::{Arrangement, BassLine, Comping, DrumPattern, Instrument, Style, arrange};
pub use compose::compose;
pub use engine::{DEFAULT_ENGINE, ENGINES, MusicEngine, MusicOptions, load_engine, load_engines};
pub use pool::{MusicJob, MusicPool, MusicPoolConfig, QueueFull};
pub use prompt::{PromptFacts, read_prompt};
pub use score::{
    BASS_CHANNEL, DRUM_CHANNEL, HARMONY_CHANNEL, MELODY_CHANNEL, Note, PAD_CHANNEL, Part, Score,
};
pub use synth::{DEFAULT_SOUNDFONT, SAMPLE_RATE, SOUNDFONT_PACKAGE, SoundFontSynth, TARGET_PEAK};
pub use theory::{Key, Mode};

/// The longest clip [`ClassicMusicEngine::generate`] makes, in seconds.
pub const MAX_DURATION_S: f32 = 120.0;

/// What can go wrong making music.
#[derive(Debug, thiserror::Error)]
pub enum MusicError {
    /// The SoundFont could not be read.
    #[error("SoundFont {path}: {message}")]
    SoundFont {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The requested duration is not a finite number of seconds in (0, [`MAX_DURATION_S`]].
    #[error("duration {0} s is not in (0, {MAX_DURATION_S}] s")]
    Duration(f32),
    /// The synthesizer does not support the sample rate (16–192 kHz).
    #[error("sample rate {0} Hz is not supported (16000-192000)")]
    SampleRate(u32),
    /// The synthesizer refused its settings.
    #[error("synthesizer: {0}")]
    Synth(String),
    /// No engine has this name.
    #[error("unknown music model `{name}` (known: {known})")]
    UnknownEngine {
        /// The name asked for.
        name: String,
        /// The names there are.
        known: String,
    },
    /// A worker thread could not start or stopped.
    #[error("music worker: {0}")]
    Worker(String),
    /// A model engine (e.g. MusicGen) could not load its checkpoint or run.
    #[error("music model {engine}: {message}")]
    Model {
        /// The engine's name.
        engine: String,
        /// What went wrong, and what to do about it.
        message: String,
    },
}

/// What every [`MusicEngine`] makes: mono audio and its rate.
#[derive(Debug, Clone, PartialEq)]
pub struct MusicAudio {
    /// Mono samples in [-1, 1].
    pub samples: Vec<f32>,
    /// Samples per second.
    pub sample_rate: u32,
}

impl MusicAudio {
    /// Seconds of audio.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate.max(1))
    }
}

impl From<MusicClip> for MusicAudio {
    fn from(clip: MusicClip) -> Self {
        MusicAudio {
            samples: clip.samples,
            sample_rate: clip.sample_rate,
        }
    }
}

/// A clip of the classic engine ([`ClassicMusicEngine::generate`]): the audio, and the
/// arrangement and score it was rendered from.
#[derive(Debug, Clone)]
pub struct MusicClip {
    /// Mono samples in [-1, 1], peak at -1 dBFS.
    pub samples: Vec<f32>,
    /// Always [`SAMPLE_RATE`].
    pub sample_rate: u32,
    /// What the prompt was read as.
    pub arrangement: Arrangement,
    /// The notes that were rendered ([`Score::to_smf`] writes them as a MIDI file).
    pub score: Score,
}

/// The engine: a resident SoundFont and the prompt → arrangement → score → audio pipeline.
/// Cheap to clone and safe to share across threads (the SoundFont is behind an `Arc`).
#[derive(Debug, Clone)]
pub struct ClassicMusicEngine {
    synth: SoundFontSynth,
}

impl ClassicMusicEngine {
    /// An engine rendering through `synth`.
    pub fn new(synth: SoundFontSynth) -> Self {
        Self { synth }
    }

    /// Loads the SoundFont at `path` ([`DEFAULT_SOUNDFONT`] on Debian with
    /// [`SOUNDFONT_PACKAGE`] installed).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, MusicError> {
        SoundFontSynth::load(path).map(Self::new)
    }

    /// The synthesizer it renders with.
    pub fn synth(&self) -> &SoundFontSynth {
        &self.synth
    }

    /// Makes `duration_s` seconds of music for `prompt` at [`SAMPLE_RATE`], deterministically
    /// for a given prompt, duration and seed. Rejects durations that are not finite or not in
    /// (0, [`MAX_DURATION_S`]].
    pub fn generate(
        &self,
        prompt: &str,
        duration_s: f32,
        seed: u64,
    ) -> Result<MusicClip, MusicError> {
        if !duration_s.is_finite() || duration_s <= 0.0 || duration_s > MAX_DURATION_S {
            return Err(MusicError::Duration(duration_s));
        }
        let arrangement = arrange(prompt, seed);
        let score = compose(&arrangement, duration_s);
        let samples = self.synth.render(&score, SAMPLE_RATE)?;
        Ok(MusicClip {
            samples,
            sample_rate: SAMPLE_RATE,
            arrangement,
            score,
        })
    }
}

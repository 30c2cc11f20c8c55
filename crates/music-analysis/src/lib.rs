//! Measurements of a music clip (mono `f32` samples in [-1, 1] at any sample rate) that a prompt
//! can be checked against without learned models: the tempo, the key and mode, and the level.
//!
//! * [`estimate_tempo`] (module `tempo`): spectral-flux onset envelope, autocorrelation over
//!   40–240 BPM weighted by a log-normal prior around 120 BPM, refined over several beat
//!   multiples to sub-frame precision.
//! * [`estimate_key`] (module `key`): chroma from a long-window STFT folded to pitch classes
//!   (55 Hz–2 kHz), corrected for instruments' 3rd and 5th partials, correlated with the
//!   Krumhansl–Schmuckler profiles of all 24 keys.
//! * [`peak`], [`rms_dbfs`], [`clipped_fraction`] (module `level`).
//! * [`measure_honesty`] and [`detect_cheat`] (module `honesty`): whether a clip is music at
//!   all rather than a cheap stand-in: tilt-removed spectral flatness (white or pink noise),
//!   pitch-class entropy and chroma change (a static tone or drone), repetition at the best
//!   lag of 0.5–8 s (one segment looped), the silent fraction and the percussive share.
//! * module `drums`: whether the clip has drums, from how noise-like its 4.5–7.2 kHz band is
//!   ([`MusicHonesty::drum_noise`]).
//! * [`tempo_adherence`], [`key_adherence`], [`duration_adherence`], [`drums_adherence`]
//!   (module `adherence`): how
//!   well a measurement matches what a prompt asked for, as a factor in [0, 1] with the
//!   tolerances stated as constants.
//!
//! Every estimator returns `None` rather than a guess on silence, non-finite input or clips too
//! short to measure; none of them panics on any input.
//!
//! # Example
//!
//! ```
//! let sr = 16_000;
//! // A 440 Hz tone at half scale for one second.
//! let tone: Vec<f32> = (0..sr)
//!     .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / sr as f32).sin())
//!     .collect();
//! assert!((audiosubnet_music_analysis::peak(&tone) - 0.5).abs() < 1e-3);
//! assert!(audiosubnet_music_analysis::estimate_tempo(&[0.0; 100], sr).is_none());
//! ```

mod adherence;
mod drums;
mod honesty;
mod key;
mod level;
mod stft;
mod tempo;

pub use adherence::{
    DRUMS_FLOOR, DRUMS_PRESENT_AT, DRUMS_PRESENT_FLOOR_AT, DURATION_TOLERANCE_S, DURATION_ZERO_AT,
    NO_DRUMS_CLEAR_AT, NO_DRUMS_FLOOR_AT, OCTAVE_CREDIT, TEMPO_TOLERANCE, TEMPO_ZERO_AT,
    drums_adherence, duration_adherence, key_adherence, key_credit, tempo_adherence,
};
pub use drums::{DRUM_BAND_HZ, DRUM_BAND_MIN_DB};
pub use honesty::{
    HONESTY_MIN_SECONDS, LOOP_MAX_PERIOD_S, LOOP_MIN_PERIOD_S, LOOP_MIN_REPETITION,
    LOOP_SIMILARITY, MOSTLY_SILENT_FRACTION, MusicCheat, MusicHonesty, NOISE_MIN_FLATNESS,
    SILENCE_BELOW_LOUDEST_DB, SILENCE_DBFS, STATIC_MAX_CHROMA_CHANGE,
    STATIC_MAX_PITCH_CLASS_ENTROPY, detect_cheat, measure_honesty,
};
pub use key::{KeyEstimate, Mode, PitchClass, chroma, estimate_key};
pub use level::{CLIP_THRESHOLD, clipped_fraction, peak, rms_dbfs};
pub use tempo::{MAX_BPM, MIN_BPM, TempoEstimate, estimate_tempo};

//! Distill-MOS v7: a speech-quality model that rates 16 kHz mono speech from 1 (bad) to 5
//! (excellent), the `ConvTransformerSQAModel` of the `distillmos` Python package (0.9.1, MIT),
//! run in candle on the CPU.
//!
//! ```no_run
//! # fn main() -> Result<(), audiosubnet_distillmos::Error> {
//! use audiosubnet_distillmos::DistillMos;
//! let model = DistillMos::load("models/distill-mos/distill_mos_v7.pt".as_ref())?;
//! let pcm_16k = vec![0.0f32; 32_000]; // mono, 16 kHz, samples in [-1, 1]
//! let mos = model.score(&pcm_16k)?; // 1.0 ..= 5.0
//! # let _ = mos; Ok(()) }
//! ```
//!
//! What [`DistillMos::score`] does, as `ConvTransformerSQAModel.forward` does it:
//!
//! 1. The clip is cut into windows of [`WINDOW`] samples (7.68 s): a shorter clip is zero-padded
//!    to one window; a longer one gives `ceil((len − WINDOW) / 16000) + 1` evenly spaced crops,
//!    the first at the start and the last flush with the end ([`crop_starts`]).
//! 2. Each window is divided by its peak magnitude (+1e-8).
//! 3. STFT (n_fft = window = 320 Hann, hop 160, reflect-padded by 80 each side, 768 frames),
//!    magnitude compressed to the power 0.3 with the phase kept: 2 × 161 × 768 (real, imaginary).
//! 4. Six 3×3 convolutions (2→64→64→128→256→256→256, frequency stride 2 from the second on,
//!    time stride 2 in the last, LeakyReLU 0.1) leave 256 × 4 × 384, flattened to 384 frames of
//!    1024 features.
//! 5. Two BatchNorms, a linear projection 1024 → 200, the positional encoding, 7 post-norm
//!    transformer encoder layers (8 heads, feed-forward 400, ReLU), BatchNorm, attention pooling
//!    over time, a linear head and a sigmoid.
//! 6. The windows' sigmoids are averaged and mapped to `1 + 4 · mean`.
//!
//! The weights are the package's `distillmos/weights/distill_mos_v7.pt` (a torch zip checkpoint,
//! its state dict under `model`); `audiosubnet models fetch distill-mos` puts it in
//! `$AUDIOSUBNET_HOME/models/distill-mos/`. Inference is deterministic: the same samples give
//! the same score bit for bit on a given build and machine, and agree with the Python package to
//! well under 0.01 MOS (`tests/parity.rs`).

mod features;
mod model;

use std::path::{Path, PathBuf};

pub use crate::features::{MAX_HOP, WINDOW, crop_starts, crop_starts_at_most};

/// The sample rate the model expects.
pub const SAMPLE_RATE: u32 = 16_000;
/// The checkpoint's file name inside the package (and in the model store's directory).
pub const WEIGHTS_FILE: &str = "distill_mos_v7.pt";
/// sha256 of [`WEIGHTS_FILE`] as `distillmos` 0.9.1 ships it.
pub const WEIGHTS_SHA256: &str = "b18b3ac60227267cfb91e5d00ce22cc7b73716fd92f269484da1446e27031a40";
/// The longest clip [`DistillMos::score`] accepts: 5 minutes at 16 kHz (about 290 windows).
/// Longer input is refused rather than scored for minutes.
pub const MAX_SAMPLES: usize = 300 * SAMPLE_RATE as usize;

/// What can go wrong loading the model or scoring a clip.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The checkpoint file could not be opened.
    #[error("cannot read Distill-MOS weights {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The checkpoint is not a readable torch zip file, or a tensor in it could not be read.
    #[error("cannot load Distill-MOS weights from {path}: {source}")]
    Weights {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: candle_core::Error,
    },
    /// The checkpoint's `model` state dict lacks a tensor the network needs.
    #[error("{path} is not a Distill-MOS v7 checkpoint: no tensor {name}")]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name in the state dict.
        name: String,
    },
    /// A tensor has another shape than Distill-MOS v7's.
    #[error(
        "{path} is not a Distill-MOS v7 checkpoint: {name} has shape {found:?}, expected {expected:?}"
    )]
    WrongShape {
        /// The file.
        path: PathBuf,
        /// The tensor's name in the state dict.
        name: String,
        /// The shape the network needs.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// The clip has no samples.
    #[error("cannot rate an empty clip")]
    Empty,
    /// A sample is NaN or infinite.
    #[error("sample {index} is not finite ({value})")]
    NonFinite {
        /// Its position.
        index: usize,
        /// Its value.
        value: f32,
    },
    /// The clip is longer than [`MAX_SAMPLES`].
    #[error("a clip of {samples} samples is too long to rate (at most {max}, 5 minutes at 16 kHz)")]
    TooLong {
        /// The clip's length.
        samples: usize,
        /// [`MAX_SAMPLES`].
        max: usize,
    },
    /// A tensor operation failed while scoring (not expected with a checkpoint that loaded).
    #[error("Distill-MOS inference failed: {0}")]
    Inference(#[source] candle_core::Error),
    /// The STFT failed (not expected: its buffers come from its own plan).
    #[error("Distill-MOS STFT failed: {0}")]
    Fft(#[source] realfft::FftError),
}

/// The loaded Distill-MOS v7 model (about 17 MB of f32 weights); `score` takes `&self`, so one
/// instance can serve several threads in turn.
#[derive(Debug)]
pub struct DistillMos {
    network: model::Network,
    spectrogram: features::Spectrogram,
}

impl DistillMos {
    /// Loads `distill_mos_v7.pt` (the torch checkpoint as the `distillmos` package ships it) and
    /// checks that every tensor the network needs is there with its shape.
    pub fn load(path: &Path) -> Result<Self, Error> {
        // Say "cannot read" for a missing file rather than a zip error.
        std::fs::metadata(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            network: model::Network::load(path)?,
            spectrogram: features::Spectrogram::new(),
        })
    }

    /// The mean opinion score, 1 (bad) to 5 (excellent), of a mono clip at 16 kHz with samples
    /// in [-1, 1] (the level does not matter: each window is peak-normalised).
    ///
    /// Refuses an empty clip, NaN or infinite samples, and clips over [`MAX_SAMPLES`].
    pub fn score(&self, pcm_16k: &[f32]) -> Result<f32, Error> {
        self.score_at_most(pcm_16k, usize::MAX)
    }

    /// [`DistillMos::score`] over at most `max_windows` crops (see [`crop_starts_at_most`]): the
    /// package's own score for clips of up to `WINDOW + (max_windows − 1) · MAX_HOP` samples, and
    /// a bounded cost for longer ones.
    pub fn score_at_most(&self, pcm_16k: &[f32], max_windows: usize) -> Result<f32, Error> {
        if pcm_16k.is_empty() {
            return Err(Error::Empty);
        }
        if pcm_16k.len() > MAX_SAMPLES {
            return Err(Error::TooLong {
                samples: pcm_16k.len(),
                max: MAX_SAMPLES,
            });
        }
        if let Some((index, &value)) = pcm_16k.iter().enumerate().find(|(_, s)| !s.is_finite()) {
            return Err(Error::NonFinite { index, value });
        }
        let starts = crop_starts_at_most(pcm_16k.len(), max_windows);
        let mut sum = 0f64;
        for &start in &starts {
            let window = features::normalized_window(pcm_16k, start);
            let spec = self.spectrogram.compute(&window).map_err(Error::Fft)?;
            sum += f64::from(self.network.forward(&spec).map_err(Error::Inference)?);
        }
        let mean = sum / starts.len() as f64;
        Ok((1.0 + 4.0 * mean) as f32)
    }
}

#[cfg(test)]
mod tests {
    /// One loaded model can sit behind an `Arc` and serve a worker pool.
    #[test]
    fn the_model_is_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<super::DistillMos>();
        send_sync::<super::Error>();
    }
}

//! Inference of Hugging Face `VitsModel` checkpoints (the architecture of facebook/mms-tts-eng and
//! the other MMS-TTS voices) in candle, matching transformers stage by stage.
//!
//! [`Vits::load`] reads a checkpoint directory in the Hugging Face layout: `config.json`,
//! `model.safetensors` (or a sharded `model.safetensors.index.json`, or `pytorch_model.bin`),
//! `vocab.json` and `tokenizer_config.json`. [`Vits::synthesize`] turns text into a mono waveform;
//! [`Vits::forward`] exposes every intermediate ([`Stages`]) and accepts injected noise, which is
//! what the parity tests against transformers use.
//!
//! Scope: single-speaker checkpoints with character vocabularies (no phonemizer, no uroman),
//! one sequence at a time, f32. Modules: [`config`] (config.json), [`tokenizer`] (VitsTokenizer),
//! and the network in `text_encoder`, `duration` (+ `spline`), `flow`, tied together in `model`
//! with the HiFi-GAN decoder of `audiosubnet_candle`, which also loads the checkpoint and
//! provides the weight-normed convolutions; `layers` has the VITS-only building blocks.

pub mod config;
mod duration;
mod flow;
mod layers;
mod model;
mod spline;
mod text_encoder;
pub mod tokenizer;

use std::path::Path;

use audiosubnet_candle::LoadOptions;

/// The shared checkpoint loader's error, wrapped by the `Checkpoint` error variant.
pub use audiosubnet_candle::CheckpointError;
use candle_core::Device;

pub use crate::config::VitsConfig;
pub use crate::model::{MAX_FRAMES, Noise, Stages, SynthesisOptions};
pub use crate::tokenizer::VitsTokenizer;

/// Everything that can go wrong loading a checkpoint or synthesising.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VitsError {
    /// A checkpoint or JSON file could not be read or parsed, the directory has no weights, or
    /// a weight file lacks a tensor or has one of the wrong shape (the shared loader's errors,
    /// with its messages).
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// `config.json` describes an inconsistent model.
    #[error("invalid config: {0}")]
    Config(String),
    /// A valid checkpoint this crate does not run (multi-speaker, phonemizer...).
    #[error("unsupported checkpoint: {0}")]
    Unsupported(String),
    /// `vocab.json` / `tokenizer_config.json` are invalid, or the text has a token the
    /// vocabulary cannot represent.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// Nothing speakable is left of the text.
    #[error("the text has nothing the model can speak")]
    EmptyInput,
    /// Bad ids or options.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// An injected noise tensor has the wrong shape.
    #[error("{name} noise has shape {got:?}, expected {expected:?}")]
    NoiseShape {
        /// `duration` or `prior`.
        name: &'static str,
        /// Its shape.
        got: Vec<usize>,
        /// The shape the model needs.
        expected: Vec<usize>,
    },
    /// The model produced values it cannot go on with (non-finite durations and the like).
    #[error("numerical failure: {0}")]
    Numerical(String),
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// A loaded VITS checkpoint with its tokenizer.
pub struct Vits {
    config: VitsConfig,
    tokenizer: VitsTokenizer,
    model: model::Model,
}

impl std::fmt::Debug for Vits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vits")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Vits {
    /// Loads a checkpoint directory in the Hugging Face layout onto `device`.
    pub fn load(dir: impl AsRef<Path>, device: &Device) -> Result<Self, VitsError> {
        let dir = dir.as_ref();
        let config = VitsConfig::from_file(&dir.join("config.json"))?;
        let tokenizer = VitsTokenizer::from_dir(dir)?;
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(VitsError::Config(format!(
                "vocab.json has {} entries but the model embeds {}",
                tokenizer.vocab_size(),
                config.vocab_size
            )));
        }
        let (vb, path) = audiosubnet_candle::var_builder(dir, device, &LoadOptions::default())?;
        let model = model::Model::load(vb, &config, device)
            .map_err(|source| VitsError::Checkpoint(CheckpointError::Weights { path, source }))?;
        Ok(Self {
            config,
            tokenizer,
            model,
        })
    }

    /// The checkpoint's configuration.
    pub fn config(&self) -> &VitsConfig {
        &self.config
    }

    /// The checkpoint's tokenizer.
    pub fn tokenizer(&self) -> &VitsTokenizer {
        &self.tokenizer
    }

    /// Output sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.config.sampling_rate
    }

    /// Speaks `text` with the checkpoint's noise scales and speaking rate (as transformers does)
    /// and noise seed 0, so the same text always gives the same audio. Returns the samples and
    /// the sample rate.
    pub fn synthesize(&self, text: &str) -> Result<(Vec<f32>, u32), VitsError> {
        self.synthesize_with(text, &SynthesisOptions::from_config(&self.config))
    }

    /// Speaks `text` with explicit options.
    pub fn synthesize_with(
        &self,
        text: &str,
        options: &SynthesisOptions,
    ) -> Result<(Vec<f32>, u32), VitsError> {
        let ids = self.tokenizer.encode(text)?;
        let stages = self.forward(&ids, options, None)?;
        let samples = stages.waveform.flatten_all()?.to_vec1::<f32>()?;
        Ok((samples, self.sample_rate()))
    }

    /// The full pass over token ids, keeping every stage. `noise` replaces the generator's noise
    /// (seeded by `options.seed`) where given.
    pub fn forward(
        &self,
        ids: &[u32],
        options: &SynthesisOptions,
        noise: Option<&Noise>,
    ) -> Result<Stages, VitsError> {
        self.model.forward(ids, options, noise)
    }
}

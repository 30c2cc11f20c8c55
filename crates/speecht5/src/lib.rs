//! Inference of Hugging Face `SpeechT5ForTextToSpeech` checkpoints (microsoft/speecht5_tts) with
//! the `SpeechT5HifiGan` vocoder (microsoft/speecht5_hifigan) in candle, matching transformers
//! stage by stage.
//!
//! [`SpeechT5::load`] reads two checkpoint directories in the Hugging Face layout: the acoustic
//! model (`config.json`, `model.safetensors` or a sharded index or `pytorch_model.bin`,
//! `spm_char.model`, `tokenizer_config.json`) and the vocoder (`config.json` and weights).
//! [`SpeechT5::synthesize`] turns text and a [`SpeakerEmbedding`] into 16 kHz mono audio;
//! [`SpeechT5::generate`] exposes every intermediate ([`Generation`]) and accepts injected prenet
//! dropout masks, which is what the parity tests against transformers use.
//!
//! The speech decoder prenet applies dropout at inference (as transformers does, following
//! Tacotron 2): generation is random, and here seeded by [`GenerationOptions::seed`], so the same
//! text, voice and seed always give the same audio (but not the audio transformers would give,
//! whose masks come from PyTorch's generator).
//!
//! Scope: one sequence at a time, f32, text to speech only (no speech encoder). Modules:
//! [`config`] (the two config.json), [`tokenizer`] (SpeechT5Tokenizer), [`speaker`] (x-vectors),
//! and the network in `model` (encoder, decoder, postnet, generation loop) and `hifigan` (the
//! normalisation in front of the shared HiFi-GAN generator of `audiosubnet_candle`, which also
//! loads the checkpoints and provides the weight-normed convolutions).

pub mod config;
mod hifigan;
mod layers;
mod model;
pub mod speaker;
pub mod tokenizer;

use std::path::Path;

use audiosubnet_candle::{LoadOptions, var_builder};

/// The shared checkpoint loader's error, wrapped by the `Checkpoint` error variant.
pub use audiosubnet_candle::CheckpointError;
use candle_core::{DType, Device, Tensor};

pub use crate::config::{HifiGanConfig, SpeechT5Config};
pub use crate::model::{Generation, GenerationOptions};
pub use crate::speaker::SpeakerEmbedding;
pub use crate::tokenizer::SpeechT5Tokenizer;

/// Everything that can go wrong loading a checkpoint or synthesising.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpeechT5Error {
    /// A checkpoint or JSON file could not be read or parsed, the directory has no weights, or
    /// a weight file lacks a tensor or has one of the wrong shape (the shared loader's errors,
    /// with its messages).
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A `config.json` describes an inconsistent model.
    #[error("invalid config: {0}")]
    Config(String),
    /// A valid checkpoint this crate does not run.
    #[error("unsupported checkpoint: {0}")]
    Unsupported(String),
    /// The tokenizer files are invalid.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The speaker embedding is invalid or does not fit the model.
    #[error("speaker embedding: {0}")]
    Speaker(String),
    /// Nothing speakable is left of the text.
    #[error("the text has nothing the model can speak")]
    EmptyInput,
    /// Bad ids, options or injected masks.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// The vocoder alone: log-mel spectrogram to waveform.
pub struct Vocoder {
    config: HifiGanConfig,
    net: hifigan::HifiGan,
    device: Device,
}

impl std::fmt::Debug for Vocoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vocoder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Vocoder {
    /// Loads a `SpeechT5HifiGan` checkpoint directory onto `device`.
    pub fn load(dir: impl AsRef<Path>, device: &Device) -> Result<Self, SpeechT5Error> {
        let dir = dir.as_ref();
        let config = HifiGanConfig::from_file(&dir.join("config.json"))?;
        let (vb, path) = var_builder(dir, device, &LoadOptions::default())?;
        let net = hifigan::HifiGan::load(vb, &config).map_err(|source| {
            SpeechT5Error::Checkpoint(CheckpointError::Weights { path, source })
        })?;
        Ok(Self {
            config,
            net,
            device: device.clone(),
        })
    }

    /// The vocoder's configuration.
    pub fn config(&self) -> &HifiGanConfig {
        &self.config
    }

    /// `(frames, model_in_dim)` log-mel spectrogram -> `(frames * hop_length,)` samples in
    /// [-1, 1], as transformers' un-batched `SpeechT5HifiGan(spectrogram)`.
    pub fn forward(&self, spectrogram: &Tensor) -> Result<Tensor, SpeechT5Error> {
        let dims = spectrogram.dims();
        if dims.len() != 2 || dims[1] != self.config.model_in_dim || dims[0] == 0 {
            return Err(SpeechT5Error::InvalidInput(format!(
                "spectrogram of shape {dims:?}, expected (frames, {})",
                self.config.model_in_dim
            )));
        }
        let spec = spectrogram.to_dtype(DType::F32)?.to_device(&self.device)?;
        Ok(self.net.forward(&spec)?)
    }
}

/// A loaded SpeechT5 text-to-speech model, its tokenizer and its vocoder.
pub struct SpeechT5 {
    config: SpeechT5Config,
    tokenizer: SpeechT5Tokenizer,
    model: model::Model,
    vocoder: Vocoder,
}

impl std::fmt::Debug for SpeechT5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeechT5")
            .field("config", &self.config)
            .field("vocoder", &self.vocoder)
            .finish_non_exhaustive()
    }
}

impl SpeechT5 {
    /// Loads the acoustic model from `tts_dir` and the vocoder from `vocoder_dir` onto `device`.
    pub fn load(
        tts_dir: impl AsRef<Path>,
        vocoder_dir: impl AsRef<Path>,
        device: &Device,
    ) -> Result<Self, SpeechT5Error> {
        let dir = tts_dir.as_ref();
        let config = SpeechT5Config::from_file(&dir.join("config.json"))?;
        let tokenizer = SpeechT5Tokenizer::from_dir(dir)?;
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(SpeechT5Error::Config(format!(
                "the tokenizer has {} ids but the model embeds {}",
                tokenizer.vocab_size(),
                config.vocab_size
            )));
        }
        let vocoder = Vocoder::load(vocoder_dir, device)?;
        if vocoder.config.model_in_dim != config.num_mel_bins {
            return Err(SpeechT5Error::Config(format!(
                "the vocoder takes {} mel bins, the model makes {}",
                vocoder.config.model_in_dim, config.num_mel_bins
            )));
        }
        let (vb, path) = var_builder(dir, device, &LoadOptions::default())?;
        let model = model::Model::load(vb, &config, device).map_err(|e| match e {
            SpeechT5Error::Candle(source) => {
                SpeechT5Error::Checkpoint(CheckpointError::Weights { path, source })
            }
            other => other,
        })?;
        Ok(Self {
            config,
            tokenizer,
            model,
            vocoder,
        })
    }

    /// The acoustic model's configuration.
    pub fn config(&self) -> &SpeechT5Config {
        &self.config
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &SpeechT5Tokenizer {
        &self.tokenizer
    }

    /// The vocoder.
    pub fn vocoder(&self) -> &Vocoder {
        &self.vocoder
    }

    /// Output sample rate in Hz (the vocoder's, 16 kHz for microsoft/speecht5_hifigan).
    pub fn sample_rate(&self) -> u32 {
        self.vocoder.config.sampling_rate
    }

    /// Speaks `text` in the voice of `speaker` with transformers' default stopping rule and
    /// dropout seed 0. Returns the samples and the sample rate.
    pub fn synthesize(
        &self,
        text: &str,
        speaker: &SpeakerEmbedding,
    ) -> Result<(Vec<f32>, u32), SpeechT5Error> {
        self.synthesize_with(text, speaker, &GenerationOptions::default())
    }

    /// Speaks `text` with explicit options.
    pub fn synthesize_with(
        &self,
        text: &str,
        speaker: &SpeakerEmbedding,
        options: &GenerationOptions,
    ) -> Result<(Vec<f32>, u32), SpeechT5Error> {
        let ids = self.tokenizer.encode(text);
        // Only </s> (and perhaps unknowns and padding): nothing to say.
        let eos = self.tokenizer.eos_id();
        let speakable = ids.iter().any(|&id| {
            id != eos && id != self.tokenizer.unk_id() && Some(id) != self.config.pad_token_id
        });
        if !speakable {
            return Err(SpeechT5Error::EmptyInput);
        }
        let generation = self.generate(&ids, speaker, options, None)?;
        let samples = self
            .vocoder
            .forward(&generation.spectrogram)?
            .to_vec1::<f32>()?;
        Ok((samples, self.sample_rate()))
    }

    /// Runs the encoder and the autoregressive decoder on token ids, keeping every stage.
    /// `dropout_masks` `(steps, prenet_layers, prenet_units)` of zeros and ones replaces the
    /// seeded prenet dropout where given (to replay the masks transformers drew).
    pub fn generate(
        &self,
        ids: &[u32],
        speaker: &SpeakerEmbedding,
        options: &GenerationOptions,
        dropout_masks: Option<&Tensor>,
    ) -> Result<Generation, SpeechT5Error> {
        self.model
            .generate(ids, speaker.values(), options, dropout_masks)
    }

    /// The text encoder alone: `(1, tokens, hidden)`.
    pub fn encode(&self, ids: &[u32]) -> Result<Tensor, SpeechT5Error> {
        if ids.is_empty() {
            return Err(SpeechT5Error::EmptyInput);
        }
        if let Some(&bad) = ids
            .iter()
            .find(|&&id| id as usize >= self.config.vocab_size)
        {
            return Err(SpeechT5Error::InvalidInput(format!(
                "token id {bad} is outside the vocabulary of {}",
                self.config.vocab_size
            )));
        }
        self.model.encode(ids)
    }
}

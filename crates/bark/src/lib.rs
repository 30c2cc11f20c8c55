//! Inference of Hugging Face `BarkModel` checkpoints (suno/bark, suno/bark-small) in candle,
//! matching transformers stage by stage.
//!
//! [`Bark::load`] reads a checkpoint directory in the Hugging Face layout: `config.json`,
//! `generation_config.json` (transformers' defaults when absent), `model.safetensors` (or a
//! sharded `model.safetensors.index.json`, or `pytorch_model.bin`) and `tokenizer.json`.
//! [`Bark::synthesize`] turns text into a mono 24 kHz waveform; the stages are public too
//! ([`Bark::tokenize`], [`Bark::semantic_tokens`], [`Bark::coarse_tokens`],
//! [`Bark::fine_tokens`], [`Bark::decode`]) for the parity tests against transformers.
//!
//! Pipeline, as `BarkModel.generate`: BERT WordPiece ids (offset into the semantic model's
//! vocabulary) -> semantic GPT (causal, KV cache) -> coarse GPT over sliding windows, two
//! interleaved EnCodec codebooks -> fine GPT (non-causal) filling the remaining codebooks window
//! by window -> EnCodec decoder. A [`VoicePreset`] (the `.npz` speaker prompts) conditions every
//! stage. Decoding is greedy by default (transformers' default) or seeded sampling
//! ([`GenerationOptions`]).
//!
//! Scope: one sequence at a time, f32.

pub mod config;
mod generate;
mod gpt;
mod preset;

use std::path::{Path, PathBuf};

use audiosubnet_candle::LoadOptions;

/// The shared checkpoint loader's error, wrapped by the `Checkpoint` error variant.
pub use audiosubnet_candle::{CheckpointError, EncodecConfig};
use candle_core::Device;

pub use crate::config::{BarkConfig, GenerationConfig};
pub use crate::generate::{Decoding, GenerationOptions};
pub use crate::preset::VoicePreset;

/// Everything that can go wrong loading a checkpoint or synthesising.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BarkError {
    /// A checkpoint or JSON file could not be read or parsed, the directory has no weights, or
    /// a weight file lacks a tensor or has one of the wrong shape (the shared loader's errors,
    /// with its messages).
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// `config.json` or `generation_config.json` describe an inconsistent model.
    #[error("invalid config: {0}")]
    Config(String),
    /// A valid checkpoint this crate does not run.
    #[error("unsupported checkpoint: {0}")]
    Unsupported(String),
    /// `tokenizer.json` is missing or invalid, or the text cannot be encoded.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A voice preset is unreadable or does not fit the model.
    #[error("voice preset {path}: {reason}")]
    Preset {
        /// The preset file (empty for in-memory presets).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Nothing speakable is left of the text.
    #[error("the text has nothing the model can speak")]
    EmptyInput,
    /// Bad tokens or options.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The model produced output it cannot go on with.
    #[error("numerical failure: {0}")]
    Numerical(String),
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// A loaded Bark checkpoint with its tokenizer.
pub struct Bark {
    config: BarkConfig,
    generation: GenerationConfig,
    tokenizer: tokenizers::Tokenizer,
    semantic: gpt::CausalModel,
    coarse: gpt::CausalModel,
    fine: gpt::FineModel,
    codec: audiosubnet_candle::EncodecDecoder,
    device: Device,
}

impl std::fmt::Debug for Bark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bark")
            .field("config", &self.config)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Bark {
    /// Loads a checkpoint directory in the Hugging Face layout onto `device`.
    pub fn load(dir: impl AsRef<Path>, device: &Device) -> Result<Self, BarkError> {
        let dir = dir.as_ref();
        let config = BarkConfig::from_file(&dir.join("config.json"))?;
        let generation =
            GenerationConfig::from_file_or_default(&dir.join("generation_config.json"))?;
        generation.validate(&config)?;
        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer = tokenizers::Tokenizer::from_file(&tokenizer_path).map_err(|e| {
            BarkError::Tokenizer(format!("cannot load {}: {e}", tokenizer_path.display()))
        })?;
        // BarkProcessor pads (and the semantic stage truncates) itself; a padding or truncation
        // setting saved in tokenizer.json must not change the ids.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| BarkError::Tokenizer(e.to_string()))?;
        let text_top = generation.semantic_config.text_encoding_offset as usize
            + tokenizer.get_vocab_size(true);
        if text_top > config.semantic_config.input_vocab_size {
            return Err(BarkError::Config(format!(
                "the tokenizer's {} ids plus the text offset exceed the semantic vocabulary {}",
                tokenizer.get_vocab_size(true),
                config.semantic_config.input_vocab_size
            )));
        }
        // The causal-mask buffers (`attn.bias`) are booleans candle cannot hold; the mask is
        // rebuilt from positions.
        let options = LoadOptions {
            skip_suffixes: &[".attn.bias"],
        };
        let (vb, path) = audiosubnet_candle::var_builder(dir, device, &options)?;
        let weights = |source| {
            BarkError::Checkpoint(CheckpointError::Weights {
                path: path.clone(),
                source,
            })
        };
        let semantic =
            gpt::CausalModel::load(vb.pp("semantic"), &config.semantic_config).map_err(weights)?;
        let coarse =
            gpt::CausalModel::load(vb.pp("coarse_acoustics"), &config.coarse_acoustics_config)
                .map_err(weights)?;
        let fine = gpt::FineModel::load(vb.pp("fine_acoustics"), &config.fine_acoustics_config)
            .map_err(weights)?;
        let codec =
            audiosubnet_candle::EncodecDecoder::load(vb.pp("codec_model"), &config.codec_config)
                .map_err(weights)?;
        Ok(Self {
            config,
            generation,
            tokenizer,
            semantic,
            coarse,
            fine,
            codec,
            device: device.clone(),
        })
    }

    /// The checkpoint's configuration.
    pub fn config(&self) -> &BarkConfig {
        &self.config
    }

    /// The checkpoint's generation configuration.
    pub fn generation_config(&self) -> &GenerationConfig {
        &self.generation
    }

    /// Output sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.generation.sample_rate
    }

    /// Speaks `text`, optionally in the voice of `preset`. Returns the samples and the sample
    /// rate.
    pub fn synthesize(
        &self,
        text: &str,
        preset: Option<&VoicePreset>,
        options: &GenerationOptions,
    ) -> Result<(Vec<f32>, u32), BarkError> {
        options.validate()?;
        let mut rng = generate::rng(options.seed);
        let ids = self.tokenize(text)?;
        if ids.is_empty() {
            return Err(BarkError::EmptyInput);
        }
        let semantic = self.semantic_with(&ids, preset, options, &mut rng)?;
        let coarse = self.coarse_with(&semantic, preset, options, &mut rng)?;
        if coarse.is_empty() {
            return Err(BarkError::EmptyInput);
        }
        let fine = self.fine_with(&coarse, preset, options, &mut rng)?;
        let audio = self.decode(&fine)?;
        Ok((audio, self.sample_rate()))
    }

    /// Text to token ids, as `BarkProcessor` does (no special tokens), before padding.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, BarkError> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| BarkError::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Semantic tokens of text ids (the EOS token included when generated), seeded by
    /// `options.seed` when sampling.
    pub fn semantic_tokens(
        &self,
        text_ids: &[u32],
        preset: Option<&VoicePreset>,
        options: &GenerationOptions,
    ) -> Result<Vec<u32>, BarkError> {
        options.validate()?;
        self.semantic_with(text_ids, preset, options, &mut generate::rng(options.seed))
    }

    /// Interleaved coarse tokens (codebook n offset by `semantic_vocab_size + n *
    /// codebook_size`) of semantic tokens.
    pub fn coarse_tokens(
        &self,
        semantic: &[u32],
        preset: Option<&VoicePreset>,
        options: &GenerationOptions,
    ) -> Result<Vec<u32>, BarkError> {
        options.validate()?;
        self.coarse_with(semantic, preset, options, &mut generate::rng(options.seed))
    }

    /// All codebooks, `(n_fine_codebooks, frames)` row-major, of interleaved coarse tokens.
    pub fn fine_tokens(
        &self,
        coarse: &[u32],
        preset: Option<&VoicePreset>,
        options: &GenerationOptions,
    ) -> Result<Vec<u32>, BarkError> {
        options.validate()?;
        self.fine_with(coarse, preset, options, &mut generate::rng(options.seed))
    }

    /// The waveform of codes `(n_fine_codebooks, frames)` row-major.
    pub fn decode(&self, codes: &[u32]) -> Result<Vec<f32>, BarkError> {
        let n_q = self.generation.fine_acoustics_config.n_fine_codebooks;
        if codes.is_empty() || !codes.len().is_multiple_of(n_q) {
            return Err(BarkError::InvalidInput(format!(
                "{} codes are not a whole number of {n_q}-codebook frames",
                codes.len()
            )));
        }
        if n_q > self.codec.num_codebooks() {
            return Err(BarkError::Config(format!(
                "{n_q} codebooks but the codec has {}",
                self.codec.num_codebooks()
            )));
        }
        let size = self.generation.codebook_size;
        if let Some(bad) = codes.iter().find(|&&c| c >= size) {
            return Err(BarkError::InvalidInput(format!(
                "code {bad} is outside the codebook of {size}"
            )));
        }
        let audio = self
            .codec
            .decode(codes, n_q, codes.len() / n_q, &self.device)?;
        let audio = audio.flatten_all()?.to_vec1::<f32>()?;
        Ok(audio)
    }

    fn semantic_with(
        &self,
        text_ids: &[u32],
        preset: Option<&VoicePreset>,
        options: &GenerationOptions,
        rng: &mut rand::rngs::StdRng,
    ) -> Result<Vec<u32>, BarkError> {
        if let Some(p) = preset {
            p.check(&self.config, &self.generation)?;
        }
        let g = &self.generation.semantic_config;
        let limit = self.config.semantic_config.input_vocab_size as u32 - g.text_encoding_offset;
        if let Some(bad) = text_ids.iter().find(|&&id| id >= limit) {
            return Err(BarkError::InvalidInput(format!(
                "text id {bad} is outside the vocabulary"
            )));
        }
        generate::semantic(
            &self.semantic,
            &self.generation,
            text_ids,
            preset,
            options,
            rng,
            &self.device,
        )
    }

    fn coarse_with(
        &self,
        semantic: &[u32],
        preset: Option<&VoicePreset>,
        options: &GenerationOptions,
        rng: &mut rand::rngs::StdRng,
    ) -> Result<Vec<u32>, BarkError> {
        if let Some(p) = preset {
            p.check(&self.config, &self.generation)?;
        }
        let vocab = self.config.coarse_acoustics_config.input_vocab_size as u32;
        let eos = self.generation.semantic_config.eos_token_id;
        if let Some(bad) = semantic.iter().find(|&&t| t >= vocab && t != eos) {
            return Err(BarkError::InvalidInput(format!(
                "semantic token {bad} is outside the coarse vocabulary"
            )));
        }
        generate::coarse(
            &self.coarse,
            &self.generation,
            semantic,
            preset,
            options,
            rng,
            &self.device,
        )
    }

    fn fine_with(
        &self,
        coarse: &[u32],
        preset: Option<&VoicePreset>,
        options: &GenerationOptions,
        rng: &mut rand::rngs::StdRng,
    ) -> Result<Vec<u32>, BarkError> {
        if let Some(p) = preset {
            p.check(&self.config, &self.generation)?;
        }
        generate::fine(
            &self.fine,
            &self.generation,
            coarse,
            preset,
            options,
            rng,
            &self.device,
        )
    }
}

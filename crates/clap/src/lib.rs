//! Hugging Face `ClapModel` (laion/larger_clap_music and other unfused CLAP checkpoints)
//! inference in candle: text and audio embeddings in one space, and their cosine similarity.
//!
//! - Text ([`ClapModel::text_embedding`], transformers' `get_text_features`): the checkpoint's
//!   `tokenizer.json` (RoBERTa byte-level BPE, `<s> ... </s>`) -> RoBERTa encoder and pooler
//!   (module `text`) -> `text_projection` (linear, ReLU, linear) -> L2 normalisation.
//! - Audio ([`ClapModel::audio_embedding`], transformers' `get_audio_features`): resampling to
//!   the feature extractor's rate (48 kHz; `audiosubnet_audio::resample`) -> log-mel features
//!   ([`features`], `ClapFeatureExtractor` with "repeatpad" for short clips) -> HTSAT (module
//!   `htsat`) -> `audio_projection` -> L2 normalisation.
//! - [`similarity`]: the cosine of two embeddings.
//!
//! [`config`] reads `config.json` and `preprocessor_config.json`; [`hub_model`] and
//! [`resolve_checkpoint`] find a checkpoint in the Hugging Face cache (default
//! [`LARGER_CLAP_MUSIC`]).
//!
//! Long clips: transformers crops a clip longer than `max_length_s` (10 s) at a random offset.
//! Validators must agree, so here such a clip is cut into full-length windows chosen by
//! [`window_starts`] (the first at 0 s, the last ending at the clip's end, evenly spread, at most
//! [`DEFAULT_MAX_WINDOWS`] of them, or the count given to
//! [`ClapModel::audio_embedding_windows`]), and the embedding is the L2-normalised mean of the
//! windows' embeddings. Clips up to `max_length_s` get exactly transformers' embedding.
//!
//! Fusion checkpoints (`enable_fusion = true`, e.g. laion/clap-htsat-fused) are refused with
//! [`ClapError::Unsupported`]. The model is `Send + Sync`: a validator can call it from worker
//! threads; nothing is async.

pub mod config;
pub mod features;
mod htsat;
mod text;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use audiosubnet_candle::{Activation, LoadOptions, var_builder};
use audiosubnet_models::hub::HubModel;
use candle_core::{Module, Tensor};
use candle_nn::{Linear, VarBuilder, linear};

pub use audiosubnet_candle::CheckpointError;
/// The device a [`ClapModel`] runs on (`Device::Cpu`, or `Device::new_cuda(i)` with the `cuda`
/// feature).
pub use candle_core::Device;

pub use crate::config::{AudioConfig, ClapConfig, FeatureConfig, TextConfig};
pub use crate::features::{FeatureExtractor, window_starts};

/// The default checkpoint: LAION's CLAP trained on music (HTSAT-base audio encoder, RoBERTa text
/// encoder, 512-dimensional joint space).
pub const LARGER_CLAP_MUSIC: &str = "laion/larger_clap_music";

/// The most full-length windows a long clip is embedded from, unless asked otherwise: 30 s at
/// the released checkpoints' 10 s windows.
pub const DEFAULT_MAX_WINDOWS: usize = 3;

/// What can go wrong loading or running CLAP.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClapError {
    /// The checkpoint's files could not be read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The checkpoint is not in the hub cache (or could not be fetched into it).
    #[error("no CLAP checkpoint: {0}")]
    Hub(String),
    /// `config.json` or `preprocessor_config.json` is inconsistent.
    #[error("invalid CLAP config: {0}")]
    Config(String),
    /// The checkpoint uses something not implemented here.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The request cannot be run (no samples, a rate of 0, too many tokens).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The checkpoint's `tokenizer.json` is missing or cannot encode the text.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A tensor operation failed (including missing or misshapen weights).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// The hub repo and files of a CLAP checkpoint: `repo` (default [`LARGER_CLAP_MUSIC`]) at
/// `revision` (default `main`). Only safetensors weights are looked for.
pub fn hub_model(repo: Option<&str>, revision: Option<&str>) -> HubModel {
    let repo: &'static str = match repo {
        None => LARGER_CLAP_MUSIC,
        Some(r) if r == LARGER_CLAP_MUSIC => LARGER_CLAP_MUSIC,
        // HubModel names its repo with a 'static str; a checkpoint is resolved a handful of
        // times per process, so the leak is bounded.
        Some(r) => Box::leak(r.to_owned().into_boxed_str()),
    };
    HubModel {
        repo,
        revision: Cow::Owned(revision.unwrap_or("main").to_owned()),
        required: &["config.json", "preprocessor_config.json", "tokenizer.json"],
        weights: &["model.safetensors"],
    }
}

/// The checkpoint directory: `path` when given, else the Hugging Face cache's snapshot of `repo`
/// (default [`LARGER_CLAP_MUSIC`]) at `revision` (default `main`), downloaded into the cache
/// when missing unless `$HF_HUB_OFFLINE` is set.
pub fn resolve_checkpoint(
    path: Option<&Path>,
    repo: Option<&str>,
    revision: Option<&str>,
) -> Result<PathBuf, ClapError> {
    hub_model(repo, revision)
        .resolve(path)
        .map_err(|e| ClapError::Hub(e.to_string()))
}

/// `ClapProjectionLayer`: linear, activation, linear.
struct Projection {
    linear1: Linear,
    act: Activation,
    linear2: Linear,
}

impl Projection {
    fn load(vb: VarBuilder, input: usize, cfg: &ClapConfig) -> Result<Self, ClapError> {
        let act = Activation::from_name(&cfg.projection_hidden_act).ok_or_else(|| {
            ClapError::Unsupported(format!(
                "projection_hidden_act {:?}",
                cfg.projection_hidden_act
            ))
        })?;
        let p = cfg.projection_dim;
        Ok(Self {
            linear1: linear(input, p, vb.pp("linear1"))?,
            act,
            linear2: linear(p, p, vb.pp("linear2"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.linear2
            .forward(&self.act.forward(&self.linear1.forward(x)?)?)
    }
}

/// A loaded CLAP checkpoint.
pub struct ClapModel {
    config: ClapConfig,
    extractor: FeatureExtractor,
    tokenizer: tokenizers::Tokenizer,
    text: text::TextEncoder,
    text_projection: Projection,
    audio: htsat::AudioEncoder,
    audio_projection: Projection,
    device: Device,
}

impl std::fmt::Debug for ClapModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClapModel")
            .field("config", &self.config)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl ClapModel {
    /// Loads a checkpoint directory in the Hugging Face layout (`config.json`,
    /// `preprocessor_config.json`, `tokenizer.json`, `model.safetensors`), e.g. a hub-cache
    /// snapshot of laion/larger_clap_music.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, ClapError> {
        let config = ClapConfig::from_file(&dir.join("config.json"))?;
        let extractor = FeatureExtractor::new(FeatureConfig::from_file(
            &dir.join("preprocessor_config.json"),
        )?)?;
        if extractor.config().feature_size != config.audio_config.num_mel_bins {
            return Err(ClapError::Config(format!(
                "the feature extractor makes {} mel bins, the audio encoder takes {}",
                extractor.config().feature_size,
                config.audio_config.num_mel_bins
            )));
        }
        if !dir.join("model.safetensors").is_file() {
            return Err(ClapError::Unsupported(format!(
                "{} has no model.safetensors (only safetensors checkpoints are loaded; convert \
                 pytorch_model.bin with transformers' save_pretrained(safe_serialization=True))",
                dir.display()
            )));
        }
        let tokenizer = load_tokenizer(&dir.join("tokenizer.json"))?;
        let (vb, _) = var_builder(dir, device, &LoadOptions::default())?;
        let text = text::TextEncoder::load(vb.pp("text_model"), &config.text_config)?;
        let text_projection = Projection::load(
            vb.pp("text_projection"),
            config.text_config.hidden_size,
            &config,
        )?;
        let audio = htsat::AudioEncoder::load(
            vb.pp("audio_model").pp("audio_encoder"),
            &config.audio_config,
            extractor.config().frames(),
            device,
        )?;
        let audio_projection = Projection::load(
            vb.pp("audio_projection"),
            config.audio_config.hidden_size,
            &config,
        )?;
        Ok(Self {
            config,
            extractor,
            tokenizer,
            text,
            text_projection,
            audio,
            audio_projection,
            device: device.clone(),
        })
    }

    /// The checkpoint's configuration.
    pub fn config(&self) -> &ClapConfig {
        &self.config
    }

    /// The feature extractor (`preprocessor_config.json`).
    pub fn feature_extractor(&self) -> &FeatureExtractor {
        &self.extractor
    }

    /// The rate the audio encoder hears (Hz); other rates are resampled to it.
    pub fn sample_rate(&self) -> u32 {
        self.extractor.config().sampling_rate
    }

    /// Size of the embeddings.
    pub fn embedding_dim(&self) -> usize {
        self.config.projection_dim
    }

    /// Text to token ids as `RobertaTokenizerFast(text).input_ids` (`<s> ... </s>`), cut to
    /// the position table's limit (transformers would fail past it instead).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, ClapError> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| ClapError::Tokenizer(e.to_string()))?;
        let mut ids = encoding.get_ids().to_vec();
        let max = self.config.text_config.max_tokens();
        if ids.len() > max {
            // Keep the closing special token, as truncation in transformers does.
            let last = ids.last().copied();
            ids.truncate(max);
            if let (Some(last), Some(end)) = (last, ids.last_mut()) {
                *end = last;
            }
        }
        if ids.is_empty() {
            return Err(ClapError::InvalidInput(format!(
                "`{text}` tokenizes to nothing"
            )));
        }
        let vocab = self.config.text_config.vocab_size;
        if let Some(bad) = ids.iter().find(|&&id| id as usize >= vocab) {
            return Err(ClapError::Tokenizer(format!(
                "token id {bad} is outside the text encoder's vocabulary of {vocab}"
            )));
        }
        Ok(ids)
    }

    /// The L2-normalised text embedding of `text` (transformers' `get_text_features`).
    pub fn text_embedding(&self, text: &str) -> Result<Vec<f32>, ClapError> {
        let ids = self.tokenize(text)?;
        self.text_embedding_for_ids(&ids)
    }

    /// [`Self::text_embedding`] from token ids.
    pub fn text_embedding_for_ids(&self, ids: &[u32]) -> Result<Vec<f32>, ClapError> {
        let pooled = self.text.pooled(ids, &self.device)?;
        let projected = self.text_projection.forward(&pooled)?;
        Ok(l2_normalise(projected.squeeze(0)?.to_vec1::<f32>()?))
    }

    /// The L2-normalised audio embedding of a mono clip at `sample_rate` (transformers'
    /// `get_audio_features` for clips up to `max_length_s`; longer clips: the normalised mean
    /// over at most [`DEFAULT_MAX_WINDOWS`] windows, see the crate docs).
    pub fn audio_embedding(
        &self,
        samples: &[f32],
        sample_rate: u32,
    ) -> Result<Vec<f32>, ClapError> {
        self.audio_embedding_windows(samples, sample_rate, DEFAULT_MAX_WINDOWS)
    }

    /// [`Self::audio_embedding`] with at most `max_windows` windows for long clips (1: the
    /// first `max_length_s` only).
    pub fn audio_embedding_windows(
        &self,
        samples: &[f32],
        sample_rate: u32,
        max_windows: usize,
    ) -> Result<Vec<f32>, ClapError> {
        if sample_rate == 0 {
            return Err(ClapError::InvalidInput("a sample rate of 0 Hz".into()));
        }
        if samples.is_empty() {
            return Err(ClapError::InvalidInput("the clip has no samples".into()));
        }
        if let Some(bad) = samples.iter().find(|s| !s.is_finite()) {
            return Err(ClapError::InvalidInput(format!(
                "the clip holds a non-finite sample ({bad})"
            )));
        }
        let rate = self.sample_rate();
        let audio = audiosubnet_audio::resample(samples, sample_rate, rate);
        let window = self.extractor.config().max_samples();
        let features = window_starts(audio.len(), window, max_windows.max(1))
            .into_iter()
            .map(|start| {
                let end = (start + window).min(audio.len());
                self.extractor.log_mel(&audio[start..end])
            })
            .collect::<Result<Vec<_>, _>>()?;
        let embeddings = self.audio_embeddings_for_features(&features)?;
        let dim = self.embedding_dim();
        let mut mean = vec![0f32; dim];
        for e in &embeddings {
            mean.iter_mut().zip(e).for_each(|(m, v)| *m += v);
        }
        if embeddings.len() == 1 {
            return Ok(embeddings.into_iter().next().unwrap_or(mean));
        }
        Ok(l2_normalise(mean))
    }

    /// The L2-normalised embeddings of log-mel feature sets (each `(frames, mel bins)`
    /// row-major, as [`FeatureExtractor::log_mel`] makes them), in one batch.
    pub fn audio_embeddings_for_features(
        &self,
        features: &[Vec<f32>],
    ) -> Result<Vec<Vec<f32>>, ClapError> {
        let frames = self.audio.frames();
        let mels = self.config.audio_config.num_mel_bins;
        if features.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(bad) = features.iter().find(|f| f.len() != frames * mels) {
            return Err(ClapError::InvalidInput(format!(
                "{} feature values; the encoder takes {frames} frames of {mels} mel bins",
                bad.len()
            )));
        }
        let flat: Vec<f32> = features.concat();
        let x = Tensor::from_vec(flat, (features.len(), frames, mels), &self.device)?;
        let pooled = self.audio.pooled(&x)?;
        let projected = self.audio_projection.forward(&pooled)?;
        Ok(projected
            .to_vec2::<f32>()?
            .into_iter()
            .map(l2_normalise)
            .collect())
    }
}

fn load_tokenizer(path: &Path) -> Result<tokenizers::Tokenizer, ClapError> {
    let mut tokenizer = tokenizers::Tokenizer::from_file(path)
        .map_err(|e| ClapError::Tokenizer(format!("cannot load {}: {e}", path.display())))?;
    // One unpadded sequence: a padding or truncation setting saved in the file must not change
    // the ids.
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(None)
        .map_err(|e| ClapError::Tokenizer(e.to_string()))?;
    Ok(tokenizer)
}

/// `F.normalize(x, dim=-1)`: `x / max(||x||, 1e-12)`.
fn l2_normalise(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

/// The cosine similarity of two embeddings (their dot product when both are normalised, as
/// [`ClapModel`]'s are); 0 when either is zero or their lengths differ.
pub fn similarity(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    dot / (na * nb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_is_the_cosine() {
        assert!((similarity(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(similarity(&[1.0, 0.0], &[0.0, 2.0]).abs() < 1e-6);
        assert!((similarity(&[3.0, 4.0], &[-6.0, -8.0]) + 1.0).abs() < 1e-6);
        assert_eq!(similarity(&[1.0], &[1.0, 2.0]), 0.0);
        assert_eq!(similarity(&[0.0, 0.0], &[1.0, 2.0]), 0.0);
        let n = l2_normalise(vec![3.0, 4.0]);
        assert!((n[0] - 0.6).abs() < 1e-7 && (n[1] - 0.8).abs() < 1e-7);
    }

    #[test]
    fn hub_model_defaults_to_larger_clap_music_at_main() {
        let m = hub_model(None, None);
        assert_eq!(m.repo, LARGER_CLAP_MUSIC);
        assert_eq!(m.revision, "main");
        assert_eq!(m.weights, ["model.safetensors"]);
        let other = hub_model(Some("laion/clap-htsat-unfused"), Some("abc"));
        assert_eq!(other.repo, "laion/clap-htsat-unfused");
        assert_eq!(other.revision, "abc");
    }

    #[test]
    fn the_model_can_move_to_a_worker_thread() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<ClapModel>();
    }
}

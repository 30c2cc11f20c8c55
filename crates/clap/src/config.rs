//! `config.json` (`ClapConfig`: the RoBERTa `ClapTextConfig`, the HTSAT `ClapAudioConfig` and the
//! shared projection) and `preprocessor_config.json` (`ClapFeatureExtractor`), with transformers'
//! defaults for every field a file may leave out.

use std::path::Path;

use audiosubnet_candle::read_config;
use serde::Deserialize;

use crate::ClapError;

/// The whole checkpoint (`ClapConfig`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ClapConfig {
    /// The text encoder.
    pub text_config: TextConfig,
    /// The audio encoder.
    pub audio_config: AudioConfig,
    /// Size of the joint embedding space (both projections' outputs).
    pub projection_dim: usize,
    /// Activation between the two linears of each projection (transformers name).
    pub projection_hidden_act: String,
}

impl Default for ClapConfig {
    fn default() -> Self {
        Self {
            text_config: TextConfig::default(),
            audio_config: AudioConfig::default(),
            projection_dim: 512,
            projection_hidden_act: "relu".to_owned(),
        }
    }
}

impl ClapConfig {
    /// Reads and checks `config.json`.
    pub fn from_file(path: &Path) -> Result<Self, ClapError> {
        let config: Self = read_config(path)?;
        config.validate()?;
        Ok(config)
    }

    /// Rejects what this crate does not implement and geometry that cannot run.
    pub fn validate(&self) -> Result<(), ClapError> {
        let t = &self.text_config;
        let a = &self.audio_config;
        let bad = |m: String| Err(ClapError::Config(m));
        if a.enable_fusion {
            return Err(ClapError::Unsupported(
                "enable_fusion = true (feature fusion of long clips); only unfused CLAP \
                 checkpoints such as laion/larger_clap_music are implemented"
                    .into(),
            ));
        }
        if t.position_embedding_type != "absolute" {
            return Err(ClapError::Unsupported(format!(
                "text position_embedding_type {:?} (only \"absolute\")",
                t.position_embedding_type
            )));
        }
        if t.num_attention_heads == 0 || !t.hidden_size.is_multiple_of(t.num_attention_heads) {
            return bad(format!(
                "text hidden_size {} is not a multiple of {} heads",
                t.hidden_size, t.num_attention_heads
            ));
        }
        if a.depths.is_empty() || a.depths.len() != a.num_attention_heads.len() {
            return bad(format!(
                "audio depths {:?} and num_attention_heads {:?} must be non-empty and of one length",
                a.depths, a.num_attention_heads
            ));
        }
        if a.num_mel_bins == 0 || !a.spec_size.is_multiple_of(a.num_mel_bins) {
            return bad(format!(
                "audio spec_size {} is not a multiple of num_mel_bins {}",
                a.spec_size, a.num_mel_bins
            ));
        }
        let ratio = a.freq_ratio();
        if ratio == 0 || !a.spec_size.is_multiple_of(ratio) || a.spec_size / ratio != a.num_mel_bins
        {
            return bad(format!(
                "audio spec_size {} and num_mel_bins {} do not make a square image",
                a.spec_size, a.num_mel_bins
            ));
        }
        if a.patch_embed_input_channels != 1 {
            return Err(ClapError::Unsupported(format!(
                "patch_embed_input_channels {} (only 1)",
                a.patch_embed_input_channels
            )));
        }
        if !a.flatten_patch_embeds {
            return Err(ClapError::Unsupported(
                "flatten_patch_embeds = false".into(),
            ));
        }
        let (ps, st) = (a.patch_size, a.patch_stride());
        if st == 0 || ps < st || a.window_size == 0 {
            return bad(format!(
                "audio patch_size {ps}, patch_stride {st}, window_size {}",
                a.window_size
            ));
        }
        for (i, &heads) in a.num_attention_heads.iter().enumerate() {
            let dim = a.stage_dim(i);
            if heads == 0 || !dim.is_multiple_of(heads) {
                return bad(format!(
                    "audio stage {i} width {dim} is not a multiple of {heads} heads"
                ));
            }
        }
        if a.hidden_size != a.num_features() {
            return bad(format!(
                "audio hidden_size {} differs from the encoder's output width {} \
                 (patch_embeds_hidden_size * 2^(stages - 1))",
                a.hidden_size,
                a.num_features()
            ));
        }
        if self.projection_dim == 0 {
            return bad("projection_dim is 0".into());
        }
        Ok(())
    }
}

/// The RoBERTa text encoder (`ClapTextConfig`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct TextConfig {
    /// Token vocabulary.
    pub vocab_size: usize,
    /// Hidden size.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// Feed-forward inner size.
    pub intermediate_size: usize,
    /// Feed-forward activation (transformers name).
    pub hidden_act: String,
    /// Rows of the position embedding table.
    pub max_position_embeddings: usize,
    /// Rows of the token type embedding table.
    pub type_vocab_size: usize,
    /// Epsilon of the layer norms.
    pub layer_norm_eps: f64,
    /// The pad id, which is also RoBERTa's position offset.
    pub pad_token_id: u32,
    /// Only "absolute" is implemented.
    pub position_embedding_type: String,
}

impl Default for TextConfig {
    fn default() -> Self {
        Self {
            vocab_size: 50_265,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: "gelu".to_owned(),
            max_position_embeddings: 514,
            type_vocab_size: 1,
            layer_norm_eps: 1e-12,
            pad_token_id: 1,
            position_embedding_type: "absolute".to_owned(),
        }
    }
}

impl TextConfig {
    /// The most tokens one sequence may have: positions run from `pad + 1` and must stay inside
    /// the position table.
    pub fn max_tokens(&self) -> usize {
        self.max_position_embeddings
            .saturating_sub(self.pad_token_id as usize + 1)
    }
}

/// `patch_stride` is an int or a pair in transformers' configs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Stride {
    /// One stride for both axes.
    One(usize),
    /// `[height, width]`.
    Pair(Vec<usize>),
}

/// The HTSAT audio encoder (`ClapAudioConfig`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct AudioConfig {
    /// Swin attention window (tokens per side).
    pub window_size: usize,
    /// Mel bins of the input features.
    pub num_mel_bins: usize,
    /// Side of the square image the spectrogram is folded into.
    pub spec_size: usize,
    /// Activation of the Swin MLPs (transformers name).
    pub hidden_act: String,
    /// Patch side.
    pub patch_size: usize,
    /// Patch stride (square strides only).
    pub patch_stride: Stride,
    /// Width of the encoder's output (what `audio_projection` reads).
    pub hidden_size: usize,
    /// Swin blocks per stage.
    pub depths: Vec<usize>,
    /// Attention heads per stage.
    pub num_attention_heads: Vec<usize>,
    /// Feature fusion for long clips (not implemented).
    pub enable_fusion: bool,
    /// Input channels of the patch embedding (1 without fusion).
    pub patch_embed_input_channels: usize,
    /// Whether patches are flattened into a token sequence (always, here).
    pub flatten_patch_embeds: bool,
    /// Width of the first stage.
    pub patch_embeds_hidden_size: usize,
    /// Whether the patch embedding has a layer norm.
    pub enable_patch_layer_norm: bool,
    /// Whether query, key and value have biases.
    pub qkv_bias: bool,
    /// MLP width over block width.
    pub mlp_ratio: f64,
    /// Epsilon of the Swin blocks' layer norms.
    pub layer_norm_eps: f64,
}

impl Default for AudioConfig {
    fn default() -> Self {
        Self {
            window_size: 8,
            num_mel_bins: 64,
            spec_size: 256,
            hidden_act: "gelu".to_owned(),
            patch_size: 4,
            patch_stride: Stride::Pair(vec![4, 4]),
            hidden_size: 768,
            depths: vec![2, 2, 6, 2],
            num_attention_heads: vec![4, 8, 16, 32],
            enable_fusion: false,
            patch_embed_input_channels: 1,
            flatten_patch_embeds: true,
            patch_embeds_hidden_size: 96,
            enable_patch_layer_norm: true,
            qkv_bias: true,
            mlp_ratio: 4.0,
            layer_norm_eps: 1e-5,
        }
    }
}

impl AudioConfig {
    /// How many time slices of the spectrogram are stacked along the frequency axis
    /// (`spec_size // num_mel_bins`).
    pub fn freq_ratio(&self) -> usize {
        self.spec_size / self.num_mel_bins.max(1)
    }

    /// The patch stride; a non-square one reads as 0, which [`ClapConfig::validate`] rejects.
    pub fn patch_stride(&self) -> usize {
        match &self.patch_stride {
            Stride::One(s) => *s,
            Stride::Pair(v) => match v.as_slice() {
                [h, w] if h == w => *h,
                _ => 0,
            },
        }
    }

    /// Width of stage `i`.
    pub fn stage_dim(&self, i: usize) -> usize {
        self.patch_embeds_hidden_size << i
    }

    /// Width of the last stage.
    pub fn num_features(&self) -> usize {
        self.stage_dim(self.depths.len().saturating_sub(1))
    }
}

/// `preprocessor_config.json` (`ClapFeatureExtractor`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct FeatureConfig {
    /// Mel bins.
    pub feature_size: usize,
    /// The rate the model hears (Hz); input is resampled to it.
    pub sampling_rate: u32,
    /// STFT hop (samples).
    pub hop_length: usize,
    /// Clip length the model sees (seconds).
    pub max_length_s: usize,
    /// STFT window and FFT size (samples).
    pub fft_window_size: usize,
    /// Lowest mel filter edge (Hz).
    pub frequency_min: f64,
    /// Highest mel filter edge (Hz).
    pub frequency_max: f64,
    /// `rand_trunc` (Slaney mel filters, one crop) or `fusion` (not implemented).
    pub truncation: String,
    /// How clips shorter than the maximum are filled: `repeatpad` (whole repeats, then zeros),
    /// `repeat` (repeats cut at the maximum) or, for any other value, zeros.
    pub padding: String,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            feature_size: 64,
            sampling_rate: 48_000,
            hop_length: 480,
            max_length_s: 10,
            fft_window_size: 1024,
            frequency_min: 0.0,
            frequency_max: 14_000.0,
            truncation: "fusion".to_owned(),
            padding: "repeatpad".to_owned(),
        }
    }
}

impl FeatureConfig {
    /// Reads and checks `preprocessor_config.json`.
    pub fn from_file(path: &Path) -> Result<Self, ClapError> {
        let config: Self = read_config(path)?;
        config.validate()?;
        Ok(config)
    }

    /// Samples of one clip the model sees.
    pub fn max_samples(&self) -> usize {
        self.max_length_s * self.sampling_rate as usize
    }

    /// Rejects what this crate does not implement and geometry that cannot run.
    pub fn validate(&self) -> Result<(), ClapError> {
        if self.truncation != "rand_trunc" {
            return Err(ClapError::Unsupported(format!(
                "feature extractor truncation {:?}: only \"rand_trunc\" (unfused checkpoints, \
                 Slaney mel filters) is implemented",
                self.truncation
            )));
        }
        if self.feature_size == 0
            || self.hop_length == 0
            || self.fft_window_size < 2
            || self.sampling_rate == 0
        {
            return Err(ClapError::Config(format!(
                "feature extractor: feature_size {}, hop_length {}, fft_window_size {}, \
                 sampling_rate {}",
                self.feature_size, self.hop_length, self.fft_window_size, self.sampling_rate
            )));
        }
        // The centred STFT reflects half a window at each end of a full-length clip.
        if self.max_samples() <= self.fft_window_size / 2 {
            return Err(ClapError::Config(format!(
                "feature extractor: max_length_s {} is shorter than half an FFT window",
                self.max_length_s
            )));
        }
        if !(self.frequency_min >= 0.0 && self.frequency_min < self.frequency_max) {
            return Err(ClapError::Config(format!(
                "feature extractor: frequency range {}..{} Hz",
                self.frequency_min, self.frequency_max
            )));
        }
        Ok(())
    }

    /// STFT frames of one full-length clip (`1 + max_samples / hop`, centred frames).
    pub fn frames(&self) -> usize {
        1 + self.max_samples() / self.hop_length
    }
}

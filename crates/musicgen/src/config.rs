//! `config.json` (`MusicgenConfig`: the T5 text encoder's `T5Config`, the EnCodec
//! `EncodecConfig` and the `MusicgenDecoderConfig`) and `generation_config.json`, with
//! transformers' defaults for every field a file may leave out.

use std::path::Path;

use audiosubnet_candle::{EncodecConfig, EncodecConfigError, read_config};
use serde::Deserialize;

use crate::MusicGenError;

/// The text encoder (`T5Config`, as far as `T5EncoderModel` needs it).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct T5Config {
    /// Token vocabulary.
    pub vocab_size: usize,
    /// Hidden size.
    pub d_model: usize,
    /// Size of one attention head.
    pub d_kv: usize,
    /// Feed-forward inner size.
    pub d_ff: usize,
    /// Encoder blocks.
    pub num_layers: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// Relative position buckets.
    pub relative_attention_num_buckets: usize,
    /// Distance from which relative positions share the last bucket.
    pub relative_attention_max_distance: usize,
    /// Epsilon of the RMS layer norms.
    pub layer_norm_epsilon: f64,
    /// `relu`, `gelu`, `gated-gelu`, `gated-silu`...: an activation, `gated-` for the gated
    /// feed-forward (`wi_0`, `wi_1`).
    pub feed_forward_proj: String,
}

impl Default for T5Config {
    fn default() -> Self {
        Self {
            vocab_size: 32_128,
            d_model: 512,
            d_kv: 64,
            d_ff: 2048,
            num_layers: 6,
            num_heads: 8,
            relative_attention_num_buckets: 32,
            relative_attention_max_distance: 128,
            layer_norm_epsilon: 1e-6,
            feed_forward_proj: "relu".to_owned(),
        }
    }
}

impl T5Config {
    /// The feed-forward activation's transformers name and whether the feed-forward is gated,
    /// as `T5Config.__init__` derives them (`gated-gelu` means `gelu_new`).
    pub fn feed_forward(&self) -> Result<(String, bool), MusicGenError> {
        let parts: Vec<&str> = self.feed_forward_proj.split('-').collect();
        let (act, gated) = match parts.as_slice() {
            [act] => (*act, false),
            ["gated", act] => (*act, true),
            _ => {
                return Err(MusicGenError::Config(format!(
                    "text encoder feed_forward_proj {:?} is not `ACT` or `gated-ACT`",
                    self.feed_forward_proj
                )));
            }
        };
        let act = if self.feed_forward_proj == "gated-gelu" {
            "gelu_new"
        } else {
            act
        };
        Ok((act.to_owned(), gated))
    }
}

/// The MusicGen decoder (`MusicgenDecoderConfig`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct DecoderConfig {
    /// Codes per codebook (the lm heads' outputs; embeddings have one more row, for the pad).
    pub vocab_size: usize,
    /// Positions of the sinusoidal table saved with the checkpoint.
    pub max_position_embeddings: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Feed-forward inner size.
    pub ffn_dim: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// Feed-forward activation (transformers name).
    pub activation_function: String,
    /// Hidden size.
    pub hidden_size: usize,
    /// Codebooks predicted in parallel.
    pub num_codebooks: usize,
    /// 1 (mono) or 2 (stereo, interleaved codebooks).
    pub audio_channels: usize,
    /// Pad token (also the decoder start token).
    pub pad_token_id: u32,
    /// Encoder hidden size the cross-attention reads, when no projection is used.
    pub cross_attention_hidden_size: Option<usize>,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self {
            vocab_size: 2048,
            max_position_embeddings: 2048,
            num_hidden_layers: 24,
            ffn_dim: 4096,
            num_attention_heads: 16,
            activation_function: "gelu".to_owned(),
            hidden_size: 1024,
            num_codebooks: 4,
            audio_channels: 1,
            pad_token_id: 2048,
            cross_attention_hidden_size: None,
        }
    }
}

/// `config.json` of a `MusicgenForConditionalGeneration` checkpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MusicGenConfig {
    /// The T5 text encoder.
    pub text_encoder: T5Config,
    /// The EnCodec codec.
    pub audio_encoder: EncodecConfig,
    /// The MusicGen decoder.
    pub decoder: DecoderConfig,
}

impl MusicGenConfig {
    /// Reads and checks `config.json`.
    pub fn from_file(path: &Path) -> Result<Self, MusicGenError> {
        let config: Self = read_config(path)?;
        config.validate()?;
        Ok(config)
    }

    /// Whether the encoder states go through `enc_to_dec_proj` (as transformers decides).
    pub fn projects_encoder(&self) -> bool {
        self.text_encoder.d_model != self.decoder.hidden_size
            && self.decoder.cross_attention_hidden_size.is_none()
    }

    fn validate(&self) -> Result<(), MusicGenError> {
        let t = &self.text_encoder;
        if t.num_heads == 0 || t.d_kv == 0 || t.relative_attention_num_buckets < 4 {
            return Err(MusicGenError::Config(
                "text encoder needs heads, d_kv and at least 4 relative position buckets".into(),
            ));
        }
        t.feed_forward()?;
        let d = &self.decoder;
        if d.num_attention_heads == 0 || !d.hidden_size.is_multiple_of(d.num_attention_heads) {
            return Err(MusicGenError::Config(format!(
                "decoder hidden size {} is not a multiple of {} heads",
                d.hidden_size, d.num_attention_heads
            )));
        }
        if d.num_codebooks == 0 || d.vocab_size == 0 {
            return Err(MusicGenError::Config(
                "decoder has no codebooks or codes".into(),
            ));
        }
        if d.audio_channels != 1 {
            return Err(MusicGenError::Unsupported(format!(
                "{} audio channels (only mono MusicGen is implemented)",
                d.audio_channels
            )));
        }
        if d.vocab_size > self.audio_encoder.codebook_size {
            return Err(MusicGenError::Config(format!(
                "decoder predicts {} codes, the codec's codebooks have {}",
                d.vocab_size, self.audio_encoder.codebook_size
            )));
        }
        self.audio_encoder.validate().map_err(|e| match e {
            EncodecConfigError::Unsupported(what) => MusicGenError::Unsupported(what),
            other => MusicGenError::Config(other.to_string()),
        })
    }
}

/// `generation_config.json`: the defaults `MusicGen::generate_default` uses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct GenerationConfig {
    /// Sample (true, the released checkpoints' setting) or decode greedily.
    pub do_sample: bool,
    /// Top-k filter when sampling (0: none).
    pub top_k: usize,
    /// Softmax temperature when sampling.
    pub temperature: f64,
    /// Classifier-free guidance scale (> 1 enables it).
    pub guidance_scale: Option<f64>,
    /// Longest decoder sequence, the start token included.
    pub max_length: usize,
    /// Decoder start token (the pad token in MusicGen).
    pub decoder_start_token_id: Option<u32>,
    /// Pad token.
    pub pad_token_id: Option<u32>,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        Self {
            do_sample: false,
            top_k: 50,
            temperature: 1.0,
            guidance_scale: None,
            max_length: 20,
            decoder_start_token_id: None,
            pad_token_id: None,
        }
    }
}

impl GenerationConfig {
    /// Reads `generation_config.json`, or the defaults when the file is absent.
    pub fn from_file_or_default(path: &Path) -> Result<Self, MusicGenError> {
        if path.exists() {
            Ok(read_config(path)?)
        } else {
            Ok(Self::default())
        }
    }
}

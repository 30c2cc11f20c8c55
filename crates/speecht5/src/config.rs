//! The two `config.json` files: the fields of transformers' `SpeechT5Config` and
//! `SpeechT5HifiGanConfig` that text-to-speech inference reads, with the same defaults (those of
//! microsoft/speecht5_tts and microsoft/speecht5_hifigan), and the checks that the architecture is
//! one this crate can run.

use std::path::Path;

use serde::Deserialize;

use crate::SpeechT5Error;
use audiosubnet_candle::read_config;

/// Hyper-parameters of a SpeechT5 checkpoint, as in transformers' `SpeechT5Config`. Fields of the
/// speech encoder (speech-to-text / speech-to-speech) and training-only fields (other dropouts,
/// losses) are ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct SpeechT5Config {
    /// Number of token embeddings.
    pub vocab_size: usize,
    /// Width of the encoder and decoder.
    pub hidden_size: usize,
    /// Transformer layers of the encoder.
    pub encoder_layers: usize,
    /// Attention heads of each encoder layer.
    pub encoder_attention_heads: usize,
    /// Inner width of the encoder feed-forward layers.
    pub encoder_ffn_dim: usize,
    /// Transformer layers of the decoder.
    pub decoder_layers: usize,
    /// Attention heads of each decoder layer (self- and cross-attention).
    pub decoder_attention_heads: usize,
    /// Inner width of the decoder feed-forward layers.
    pub decoder_ffn_dim: usize,
    /// Feed-forward activation (a transformers `ACT2FN` name).
    pub hidden_act: String,
    /// Epsilon of every layer norm.
    pub layer_norm_eps: f64,
    /// Id of the padding token (masked out of attention).
    pub pad_token_id: Option<u32>,
    /// Id of the end-of-sequence token, appended by the tokenizer.
    pub eos_token_id: Option<u32>,
    /// Mel bins per spectrogram frame.
    pub num_mel_bins: usize,
    /// Linear layers of the speech decoder prenet.
    pub speech_decoder_prenet_layers: usize,
    /// Width of the speech decoder prenet.
    pub speech_decoder_prenet_units: usize,
    /// Probability of the prenet dropout, which transformers applies at inference too.
    pub speech_decoder_prenet_dropout: f64,
    /// Width of the x-vector speaker embedding.
    pub speaker_embedding_dim: usize,
    /// Convolution layers of the speech decoder postnet.
    pub speech_decoder_postnet_layers: usize,
    /// Width of the postnet convolutions.
    pub speech_decoder_postnet_units: usize,
    /// Kernel size of the postnet convolutions.
    pub speech_decoder_postnet_kernel: usize,
    /// Spectrogram frames produced per decoder step.
    pub reduction_factor: usize,
    /// Length of the decoder's scaled positional encoding table (in decoder steps).
    pub max_speech_positions: usize,
    /// Length of the encoder's scaled positional encoding table (in tokens).
    pub max_text_positions: usize,
    /// Relative positions in the encoder are clipped to `[-max, max - 1]`.
    pub encoder_max_relative_position: usize,
}

impl Default for SpeechT5Config {
    fn default() -> Self {
        Self {
            vocab_size: 81,
            hidden_size: 768,
            encoder_layers: 12,
            encoder_attention_heads: 12,
            encoder_ffn_dim: 3072,
            decoder_layers: 6,
            decoder_attention_heads: 12,
            decoder_ffn_dim: 3072,
            hidden_act: "gelu".to_owned(),
            layer_norm_eps: 1e-5,
            pad_token_id: Some(1),
            eos_token_id: Some(2),
            num_mel_bins: 80,
            speech_decoder_prenet_layers: 2,
            speech_decoder_prenet_units: 256,
            speech_decoder_prenet_dropout: 0.5,
            speaker_embedding_dim: 512,
            speech_decoder_postnet_layers: 5,
            speech_decoder_postnet_units: 256,
            speech_decoder_postnet_kernel: 5,
            reduction_factor: 2,
            max_speech_positions: 4000,
            max_text_positions: 450,
            encoder_max_relative_position: 160,
        }
    }
}

impl SpeechT5Config {
    /// Reads and validates `config.json`.
    pub fn from_file(path: &Path) -> Result<Self, SpeechT5Error> {
        let config: Self = read_config(path)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks that the sizes fit together and are ones this crate runs.
    pub fn validate(&self) -> Result<(), SpeechT5Error> {
        let err = |m: String| Err(SpeechT5Error::Config(m));
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("encoder_attention_heads", self.encoder_attention_heads),
            ("decoder_attention_heads", self.decoder_attention_heads),
            ("num_mel_bins", self.num_mel_bins),
            (
                "speech_decoder_prenet_units",
                self.speech_decoder_prenet_units,
            ),
            (
                "speech_decoder_postnet_layers",
                self.speech_decoder_postnet_layers,
            ),
            (
                "speech_decoder_postnet_kernel",
                self.speech_decoder_postnet_kernel,
            ),
            ("reduction_factor", self.reduction_factor),
            ("max_speech_positions", self.max_speech_positions),
            ("max_text_positions", self.max_text_positions),
            (
                "encoder_max_relative_position",
                self.encoder_max_relative_position,
            ),
        ] {
            if v == 0 {
                return err(format!("{name} is 0"));
            }
        }
        if !self
            .hidden_size
            .is_multiple_of(self.encoder_attention_heads)
            || !self
                .hidden_size
                .is_multiple_of(self.decoder_attention_heads)
        {
            return err(format!(
                "hidden_size {} is not a multiple of the attention heads",
                self.hidden_size
            ));
        }
        if !self.hidden_size.is_multiple_of(2) {
            return err("hidden_size must be even (sinusoidal positions)".to_owned());
        }
        if self.speech_decoder_postnet_kernel.is_multiple_of(2) {
            // transformers pads (k - 1) / 2 on both sides: an even kernel would shorten the
            // spectrogram and the residual sum would fail.
            return err("speech_decoder_postnet_kernel must be odd".to_owned());
        }
        if !(0.0..1.0).contains(&self.speech_decoder_prenet_dropout) {
            return err(format!(
                "speech_decoder_prenet_dropout {} is not in [0, 1)",
                self.speech_decoder_prenet_dropout
            ));
        }
        Ok(())
    }
}

/// Hyper-parameters of the vocoder, as in transformers' `SpeechT5HifiGanConfig`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct HifiGanConfig {
    /// Mel bins of the input spectrogram.
    pub model_in_dim: usize,
    /// Output sample rate in Hz.
    pub sampling_rate: u32,
    /// Channels entering the upsampler.
    pub upsample_initial_channel: usize,
    /// Stride of each upsampling layer.
    pub upsample_rates: Vec<usize>,
    /// Kernel size of each upsampling layer.
    pub upsample_kernel_sizes: Vec<usize>,
    /// Kernel sizes of the residual blocks after each upsampling layer.
    pub resblock_kernel_sizes: Vec<usize>,
    /// Dilations of the residual blocks, one list per kernel size.
    pub resblock_dilation_sizes: Vec<Vec<usize>>,
    /// Negative slope of the leaky ReLUs (not the last one, which is PyTorch's default 0.01).
    pub leaky_relu_slope: f64,
    /// Whether the spectrogram is normalised with the stored `mean` and `scale` first.
    pub normalize_before: bool,
}

impl Default for HifiGanConfig {
    fn default() -> Self {
        Self {
            model_in_dim: 80,
            sampling_rate: 16_000,
            upsample_initial_channel: 512,
            upsample_rates: vec![4, 4, 4, 4],
            upsample_kernel_sizes: vec![8, 8, 8, 8],
            resblock_kernel_sizes: vec![3, 7, 11],
            resblock_dilation_sizes: vec![vec![1, 3, 5], vec![1, 3, 5], vec![1, 3, 5]],
            leaky_relu_slope: 0.1,
            normalize_before: true,
        }
    }
}

impl HifiGanConfig {
    /// Reads and validates `config.json`.
    pub fn from_file(path: &Path) -> Result<Self, SpeechT5Error> {
        let config: Self = read_config(path)?;
        config.validate()?;
        Ok(config)
    }

    /// Samples per spectrogram frame.
    pub fn hop_length(&self) -> usize {
        self.upsample_rates.iter().product()
    }

    /// Checks that the sizes fit together.
    pub fn validate(&self) -> Result<(), SpeechT5Error> {
        let err = |m: &str| Err(SpeechT5Error::Config(format!("vocoder: {m}")));
        if self.model_in_dim == 0 || self.sampling_rate == 0 {
            return err("model_in_dim and sampling_rate must be positive");
        }
        if self.upsample_rates.is_empty()
            || self.upsample_rates.len() != self.upsample_kernel_sizes.len()
        {
            return err(
                "upsample_rates and upsample_kernel_sizes must be non-empty, equal lengths",
            );
        }
        if self
            .upsample_rates
            .iter()
            .zip(&self.upsample_kernel_sizes)
            .any(|(&r, &k)| r == 0 || k < r)
        {
            return err("each upsample kernel must be at least its rate");
        }
        if self.resblock_kernel_sizes.is_empty()
            || self.resblock_kernel_sizes.len() != self.resblock_dilation_sizes.len()
            || self.resblock_dilation_sizes.iter().any(Vec::is_empty)
        {
            return err("resblock kernel sizes and dilations must be non-empty, equal lengths");
        }
        if self.upsample_initial_channel >> self.upsample_rates.len() == 0 {
            return err("upsample_initial_channel is too small for the number of upsamplers");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_json_gives_the_microsoft_defaults() {
        let c: SpeechT5Config = serde_json::from_str("{}").expect("parse");
        assert_eq!(c, SpeechT5Config::default());
        c.validate().expect("valid");
        let v: HifiGanConfig = serde_json::from_str("{}").expect("parse");
        v.validate().expect("valid");
        assert_eq!(v.hop_length(), 256);
    }

    #[test]
    fn inconsistent_configs_are_rejected() {
        let c = SpeechT5Config {
            encoder_attention_heads: 5,
            ..SpeechT5Config::default()
        };
        assert!(c.validate().is_err());
        let c = SpeechT5Config {
            speech_decoder_prenet_dropout: 1.0,
            ..SpeechT5Config::default()
        };
        assert!(c.validate().is_err());
        let v = HifiGanConfig {
            upsample_rates: vec![4],
            ..HifiGanConfig::default()
        };
        assert!(v.validate().is_err());
    }
}

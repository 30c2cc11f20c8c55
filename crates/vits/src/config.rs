//! The model's `config.json`: the fields of transformers' `VitsConfig` that inference reads, with
//! the same defaults, and the checks that the architecture is one this crate can run.

use std::path::Path;

use serde::Deserialize;

use crate::{CheckpointError, VitsError};

/// Hyper-parameters of a VITS checkpoint, as in transformers' `VitsConfig` (training-only fields
/// such as dropouts are ignored). Defaults are transformers', which are facebook/mms-tts-eng's.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct VitsConfig {
    /// Number of token embeddings.
    pub vocab_size: usize,
    /// Width of the text encoder (and of the flow and duration predictor convolutions).
    pub hidden_size: usize,
    /// Number of transformer layers in the text encoder.
    pub num_hidden_layers: usize,
    /// Attention heads per transformer layer.
    pub num_attention_heads: usize,
    /// Relative-position window of the attention; `None` (or 0) disables relative positions.
    pub window_size: Option<usize>,
    /// Whether the attention projections have biases.
    pub use_bias: bool,
    /// Inner width of the transformer feed-forward convolutions.
    pub ffn_dim: usize,
    /// Kernel size of the feed-forward convolutions.
    pub ffn_kernel_size: usize,
    /// Channels of the latent (flow) space.
    pub flow_size: usize,
    /// Spectrogram bins of the posterior encoder (training only; kept for completeness).
    pub spectrogram_bins: usize,
    /// Activation of the feed-forward layers (a transformers `ACT2FN` name).
    pub hidden_act: String,
    /// Epsilon of the text encoder's and the plain duration predictor's layer norms.
    pub layer_norm_eps: f64,
    /// Stochastic (flow-based, MMS) or plain convolutional duration predictor.
    pub use_stochastic_duration_prediction: bool,
    /// Number of speakers; only single-speaker checkpoints are supported.
    pub num_speakers: usize,
    /// Speaker embedding width (0 for single-speaker models).
    pub speaker_embedding_size: usize,
    /// Channels entering the HiFi-GAN upsampler.
    pub upsample_initial_channel: usize,
    /// Stride of each HiFi-GAN upsampling layer.
    pub upsample_rates: Vec<usize>,
    /// Kernel size of each HiFi-GAN upsampling layer.
    pub upsample_kernel_sizes: Vec<usize>,
    /// Kernel sizes of the residual blocks after each upsampling layer.
    pub resblock_kernel_sizes: Vec<usize>,
    /// Dilations of the residual blocks, one list per kernel size.
    pub resblock_dilation_sizes: Vec<Vec<usize>>,
    /// Negative slope of the HiFi-GAN leaky ReLUs (not the last one, which is fixed at 0.01).
    pub leaky_relu_slope: f64,
    /// Channels of the stochastic duration predictor's flows (must be 2).
    pub depth_separable_channels: usize,
    /// Layers of each dilated depth-separable convolution block.
    pub depth_separable_num_layers: usize,
    /// Bins of the rational-quadratic spline flows.
    pub duration_predictor_flow_bins: usize,
    /// Outside `[-tail_bound, tail_bound]` the spline is the identity.
    pub duration_predictor_tail_bound: f64,
    /// Kernel size of the duration predictors' convolutions.
    pub duration_predictor_kernel_size: usize,
    /// Number of spline flows in the stochastic duration predictor.
    pub duration_predictor_num_flows: usize,
    /// Width of the plain duration predictor.
    pub duration_predictor_filter_channels: usize,
    /// Number of residual coupling layers in the flow.
    pub prior_encoder_num_flows: usize,
    /// WaveNet layers per coupling layer.
    pub prior_encoder_num_wavenet_layers: usize,
    /// WaveNet layers of the posterior encoder (training only).
    pub posterior_encoder_num_wavenet_layers: usize,
    /// Kernel size of the WaveNet convolutions.
    pub wavenet_kernel_size: usize,
    /// WaveNet layer `i` has dilation `wavenet_dilation_rate^i`.
    pub wavenet_dilation_rate: usize,
    /// Default speaking rate (larger is faster).
    pub speaking_rate: f64,
    /// Default scale of the prior noise.
    pub noise_scale: f64,
    /// Default scale of the duration noise.
    pub noise_scale_duration: f64,
    /// Output sample rate in Hz.
    pub sampling_rate: u32,
}

impl Default for VitsConfig {
    fn default() -> Self {
        Self {
            vocab_size: 38,
            hidden_size: 192,
            num_hidden_layers: 6,
            num_attention_heads: 2,
            window_size: Some(4),
            use_bias: true,
            ffn_dim: 768,
            ffn_kernel_size: 3,
            flow_size: 192,
            spectrogram_bins: 513,
            hidden_act: "relu".to_owned(),
            layer_norm_eps: 1e-5,
            use_stochastic_duration_prediction: true,
            num_speakers: 1,
            speaker_embedding_size: 0,
            upsample_initial_channel: 512,
            upsample_rates: vec![8, 8, 2, 2],
            upsample_kernel_sizes: vec![16, 16, 4, 4],
            resblock_kernel_sizes: vec![3, 7, 11],
            resblock_dilation_sizes: vec![vec![1, 3, 5], vec![1, 3, 5], vec![1, 3, 5]],
            leaky_relu_slope: 0.1,
            depth_separable_channels: 2,
            depth_separable_num_layers: 3,
            duration_predictor_flow_bins: 10,
            duration_predictor_tail_bound: 5.0,
            duration_predictor_kernel_size: 3,
            duration_predictor_num_flows: 4,
            duration_predictor_filter_channels: 256,
            prior_encoder_num_flows: 4,
            prior_encoder_num_wavenet_layers: 4,
            posterior_encoder_num_wavenet_layers: 16,
            wavenet_kernel_size: 5,
            wavenet_dilation_rate: 1,
            speaking_rate: 1.0,
            noise_scale: 0.667,
            noise_scale_duration: 0.8,
            sampling_rate: 16_000,
        }
    }
}

impl VitsConfig {
    /// Reads and validates `config.json`.
    pub fn from_file(path: &Path) -> Result<Self, VitsError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            VitsError::Checkpoint(CheckpointError::Io {
                path: path.to_owned(),
                source,
            })
        })?;
        let config: Self = serde_json::from_str(&text).map_err(|source| {
            VitsError::Checkpoint(CheckpointError::Json {
                path: path.to_owned(),
                source,
            })
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The relative-attention window, `None` when disabled.
    pub fn attention_window(&self) -> Option<usize> {
        self.window_size.filter(|&w| w > 0)
    }

    /// Waveform samples per latent frame (the product of the upsampling strides).
    pub fn hop_length(&self) -> usize {
        self.upsample_rates.iter().product()
    }

    /// Checks the shapes this crate relies on, so that a bad config fails at load time with a
    /// message instead of as a tensor shape error in the middle of synthesis.
    pub fn validate(&self) -> Result<(), VitsError> {
        let bad = |m: String| Err(VitsError::Config(m));
        if self.hidden_size == 0 || self.num_attention_heads == 0 {
            return bad("hidden_size and num_attention_heads must be positive".into());
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return bad(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.flow_size == 0 || !self.flow_size.is_multiple_of(2) {
            return bad(format!(
                "flow_size {} must be even and positive",
                self.flow_size
            ));
        }
        if self.upsample_rates.len() != self.upsample_kernel_sizes.len() {
            return bad("upsample_rates and upsample_kernel_sizes differ in length".into());
        }
        if self.upsample_rates.contains(&0) {
            return bad("upsample_rates must be positive".into());
        }
        if self.resblock_kernel_sizes.len() != self.resblock_dilation_sizes.len() {
            return bad(
                "resblock_kernel_sizes and resblock_dilation_sizes differ in length".into(),
            );
        }
        if self.resblock_kernel_sizes.is_empty() {
            return bad("resblock_kernel_sizes is empty".into());
        }
        if self.upsample_initial_channel >> self.upsample_rates.len() == 0 {
            return bad(
                "upsample_initial_channel is too small for the number of upsamplers".into(),
            );
        }
        for (k, s) in self.upsample_kernel_sizes.iter().zip(&self.upsample_rates) {
            if k < s {
                return bad(format!(
                    "upsample kernel {k} is smaller than its stride {s}"
                ));
            }
        }
        if self.ffn_kernel_size == 0
            || self.wavenet_kernel_size == 0
            || self.duration_predictor_kernel_size == 0
        {
            return bad("kernel sizes must be positive".into());
        }
        if !(0.0..=1.0).contains(&self.leaky_relu_slope) {
            return bad(format!(
                "leaky_relu_slope {} is outside [0, 1]",
                self.leaky_relu_slope
            ));
        }
        if self.wavenet_dilation_rate == 0 {
            return bad("wavenet_dilation_rate must be positive".into());
        }
        if self.use_stochastic_duration_prediction {
            // The stochastic predictor draws 2-channel noise and splits it into two halves.
            if self.depth_separable_channels != 2 {
                return Err(VitsError::Unsupported(format!(
                    "depth_separable_channels {} (transformers' stochastic duration predictor \
                     only works with 2)",
                    self.depth_separable_channels
                )));
            }
            if self.duration_predictor_flow_bins == 0
                || self.duration_predictor_flow_bins as f64 * 1e-3 > 1.0
            {
                return bad(format!(
                    "duration_predictor_flow_bins {} out of range",
                    self.duration_predictor_flow_bins
                ));
            }
            if self.duration_predictor_tail_bound <= 0.0 {
                return bad("duration_predictor_tail_bound must be positive".into());
            }
        }
        if self.num_speakers > 1 {
            return Err(VitsError::Unsupported(format!(
                "multi-speaker checkpoints ({} speakers)",
                self.num_speakers
            )));
        }
        crate::layers::activation(&self.hidden_act)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_json_gives_the_mms_defaults() {
        let c: VitsConfig = serde_json::from_str("{}").expect("parse");
        assert_eq!(c, VitsConfig::default());
        assert_eq!(c.hop_length(), 256);
        assert_eq!(c.attention_window(), Some(4));
        c.validate().expect("valid");
    }

    #[test]
    fn null_window_disables_relative_attention() {
        let c: VitsConfig = serde_json::from_str(r#"{"window_size": null}"#).expect("parse");
        assert_eq!(c.attention_window(), None);
    }

    #[test]
    fn multi_speaker_and_bad_shapes_are_rejected() {
        let c = VitsConfig {
            num_speakers: 4,
            speaker_embedding_size: 16,
            ..Default::default()
        };
        assert!(matches!(c.validate(), Err(VitsError::Unsupported(_))));
        let c = VitsConfig {
            num_attention_heads: 5,
            ..Default::default()
        };
        assert!(matches!(c.validate(), Err(VitsError::Config(_))));
        let c = VitsConfig {
            upsample_rates: vec![8, 8],
            ..Default::default()
        };
        assert!(matches!(c.validate(), Err(VitsError::Config(_))));
        let c = VitsConfig {
            hidden_act: "mish".into(),
            ..Default::default()
        };
        assert!(matches!(c.validate(), Err(VitsError::Unsupported(_))));
    }
}

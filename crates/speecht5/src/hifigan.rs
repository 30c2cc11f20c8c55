//! `SpeechT5HifiGan`: optional normalisation with the stored `mean` / `scale`, then the shared
//! HiFi-GAN generator of `audiosubnet_candle`. Turns a log-mel spectrogram into 16 kHz audio.

use audiosubnet_candle::{HifiGan as Generator, HifiGanSpec};
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use crate::config::HifiGanConfig;

/// The vocoder network.
#[derive(Debug, Clone)]
pub(crate) struct HifiGan {
    mean: Option<(Tensor, Tensor)>,
    generator: Generator,
}

impl HifiGan {
    pub(crate) fn load(vb: VarBuilder, c: &HifiGanConfig) -> Result<Self> {
        let mean = if c.normalize_before {
            Some((
                vb.get(c.model_in_dim, "mean")?,
                vb.get(c.model_in_dim, "scale")?,
            ))
        } else {
            None
        };
        let spec = HifiGanSpec {
            in_channels: c.model_in_dim,
            upsample_initial_channel: c.upsample_initial_channel,
            upsample_rates: &c.upsample_rates,
            upsample_kernel_sizes: &c.upsample_kernel_sizes,
            resblock_kernel_sizes: &c.resblock_kernel_sizes,
            resblock_dilation_sizes: &c.resblock_dilation_sizes,
            leaky_relu_slope: c.leaky_relu_slope,
            // SpeechT5HifiGan's conv_post keeps its bias (VitsHifiGan's has none).
            post_bias: true,
        };
        Ok(Self {
            mean,
            generator: Generator::load(vb, &spec)?,
        })
    }

    /// `(frames, mel)` -> `(frames * hop,)`.
    pub(crate) fn forward(&self, spectrogram: &Tensor) -> Result<Tensor> {
        let mut spec = spectrogram.clone();
        if let Some((mean, scale)) = &self.mean {
            spec = spec.broadcast_sub(mean)?.broadcast_div(scale)?;
        }
        self.generator
            .forward(&spec.t()?.unsqueeze(0)?.contiguous()?)?
            .flatten_all()
    }
}

//! The prior flow (`VitsResidualCouplingBlock`) run in reverse: mean-only affine coupling layers
//! whose shift comes from a gated WaveNet over the other half of the channels, with a channel
//! flip between layers. It maps the expanded prior sample to the decoder's latent spectrogram.

use candle_core::{Result, Tensor};
use candle_nn::{Module, VarBuilder};

use crate::config::VitsConfig;
use crate::layers::{self, Conv1d, ConvSpec};

/// `VitsWaveNet` without speaker conditioning: gated dilated convolutions with residual and
/// skip outputs. Its convolutions are weight-normed in checkpoints.
#[derive(Debug, Clone)]
pub(crate) struct WaveNet {
    in_layers: Vec<Conv1d>,
    res_skip_layers: Vec<Conv1d>,
    hidden: usize,
}

impl WaveNet {
    pub(crate) fn load(vb: VarBuilder, c: &VitsConfig, num_layers: usize) -> Result<Self> {
        let h = c.hidden_size;
        let mut in_layers = Vec::with_capacity(num_layers);
        let mut res_skip_layers = Vec::with_capacity(num_layers);
        for i in 0..num_layers {
            let dilation = c.wavenet_dilation_rate.pow(i as u32);
            in_layers.push(Conv1d::load(
                vb.pp(format!("in_layers.{i}")),
                h,
                2 * h,
                ConvSpec::same(c.wavenet_kernel_size, dilation),
            )?);
            // The last layer has no residual output, only the skip half.
            let out = if i + 1 < num_layers { 2 * h } else { h };
            res_skip_layers.push(Conv1d::load(
                vb.pp(format!("res_skip_layers.{i}")),
                h,
                out,
                ConvSpec::pointwise(),
            )?);
        }
        Ok(Self {
            in_layers,
            res_skip_layers,
            hidden: h,
        })
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.hidden;
        let mut x = x.clone();
        let mut output: Option<Tensor> = None;
        let n = self.in_layers.len();
        for (i, (conv_in, res_skip)) in self.in_layers.iter().zip(&self.res_skip_layers).enumerate()
        {
            let (a, b) = layers::split_channels(&conv_in.forward(&x)?, h)?;
            let acts = (a.tanh()? * candle_nn::ops::sigmoid(&b)?)?;
            let rs = res_skip.forward(&acts)?;
            let skip = if i + 1 < n {
                let (res, skip) = layers::split_channels(&rs, h)?;
                x = (x + res)?;
                skip
            } else {
                rs
            };
            // The reference starts from zeros; 0 + skip is exact, so the first skip is taken as is.
            output = Some(match output {
                Some(o) => (o + skip)?,
                None => skip,
            });
        }
        match output {
            Some(o) => Ok(o),
            None => x.zeros_like(),
        }
    }
}

/// `VitsResidualCouplingLayer` (mean only: its log-scale is identically zero).
#[derive(Debug, Clone)]
struct CouplingLayer {
    conv_pre: Conv1d,
    wavenet: WaveNet,
    conv_post: Conv1d,
    half: usize,
}

impl CouplingLayer {
    fn reverse(&self, x: &Tensor) -> Result<Tensor> {
        let (first, second) = layers::split_channels(x, self.half)?;
        let h = self.conv_pre.forward(&first)?;
        let h = self.wavenet.forward(&h)?;
        let mean = self.conv_post.forward(&h)?;
        // (second - mean) * exp(-0) * mask: both factors are exactly one.
        Tensor::cat(&[&first, &(second - mean)?], 1)
    }
}

/// `VitsResidualCouplingBlock`.
#[derive(Debug, Clone)]
pub(crate) struct Flow {
    layers: Vec<CouplingLayer>,
}

impl Flow {
    pub(crate) fn load(vb: VarBuilder, c: &VitsConfig) -> Result<Self> {
        let half = c.flow_size / 2;
        let layers = (0..c.prior_encoder_num_flows)
            .map(|i| {
                let vb = vb.pp(format!("flows.{i}"));
                Ok(CouplingLayer {
                    conv_pre: Conv1d::load(
                        vb.pp("conv_pre"),
                        half,
                        c.hidden_size,
                        ConvSpec::pointwise(),
                    )?,
                    wavenet: WaveNet::load(
                        vb.pp("wavenet"),
                        c,
                        c.prior_encoder_num_wavenet_layers,
                    )?,
                    conv_post: Conv1d::load(
                        vb.pp("conv_post"),
                        c.hidden_size,
                        half,
                        ConvSpec::pointwise(),
                    )?,
                    half,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { layers })
    }

    /// `x`: `(1, flow, frames)`.
    pub(crate) fn reverse(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for layer in self.layers.iter().rev() {
            x = layer.reverse(&layers::flip_channels(&x)?)?;
        }
        Ok(x)
    }
}

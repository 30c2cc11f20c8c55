//! Duration prediction: the stochastic duration predictor run in reverse (noise through the
//! inverted spline flows, as MMS-TTS uses it) and the plain convolutional predictor, both giving
//! log-durations per token. Only the inference (reverse) path is implemented; the posterior flows
//! used in training are not loaded.

use candle_core::{Device, Result, Tensor};
use candle_nn::{Module, VarBuilder};

use crate::config::VitsConfig;
use crate::layers::{self, ChannelNorm, Conv1d, ConvSpec};
use crate::{VitsError, spline};

/// `VitsDilatedDepthSeparableConv`: residual blocks of dilated depthwise conv, layer norm,
/// GELU, pointwise conv, layer norm, GELU.
#[derive(Debug, Clone)]
struct DilatedDepthSeparableConv {
    dilated: Vec<Conv1d>,
    pointwise: Vec<Conv1d>,
    norms_1: Vec<ChannelNorm>,
    norms_2: Vec<ChannelNorm>,
}

impl DilatedDepthSeparableConv {
    fn load(vb: VarBuilder, c: &VitsConfig) -> Result<Self> {
        let (k, ch) = (c.duration_predictor_kernel_size, c.hidden_size);
        let mut s = Self {
            dilated: vec![],
            pointwise: vec![],
            norms_1: vec![],
            norms_2: vec![],
        };
        for i in 0..c.depth_separable_num_layers {
            let dilation = k.pow(i as u32);
            let spec = ConvSpec {
                groups: ch,
                ..ConvSpec::same(k, dilation)
            };
            s.dilated.push(Conv1d::load(
                vb.pp(format!("convs_dilated.{i}")),
                ch,
                ch,
                spec,
            )?);
            s.pointwise.push(Conv1d::load(
                vb.pp(format!("convs_pointwise.{i}")),
                ch,
                ch,
                ConvSpec::pointwise(),
            )?);
            // nn.LayerNorm(channels): PyTorch's default eps, not the config's.
            s.norms_1
                .push(ChannelNorm::load(vb.pp(format!("norms_1.{i}")), ch, 1e-5)?);
            s.norms_2
                .push(ChannelNorm::load(vb.pp(format!("norms_2.{i}")), ch, 1e-5)?);
        }
        Ok(s)
    }

    fn forward(&self, x: &Tensor, conditioning: Option<&Tensor>) -> Result<Tensor> {
        let mut x = match conditioning {
            Some(g) => (x + g)?,
            None => x.clone(),
        };
        for i in 0..self.dilated.len() {
            let h = self.norms_1[i]
                .forward(&self.dilated[i].forward(&x)?)?
                .gelu_erf()?;
            let h = self.norms_2[i]
                .forward(&self.pointwise[i].forward(&h)?)?
                .gelu_erf()?;
            x = (x + h)?;
        }
        Ok(x)
    }
}

/// `VitsConvFlow`: a spline coupling layer; the first channel conditions the spline that
/// transforms the second.
#[derive(Debug, Clone)]
struct ConvFlow {
    conv_pre: Conv1d,
    conv_dds: DilatedDepthSeparableConv,
    conv_proj: Conv1d,
    bins: usize,
    filter_channels: usize,
    tail_bound: f32,
}

impl ConvFlow {
    fn load(vb: VarBuilder, c: &VitsConfig) -> Result<Self> {
        let bins = c.duration_predictor_flow_bins;
        let h = c.hidden_size;
        Ok(Self {
            conv_pre: Conv1d::load(vb.pp("conv_pre"), 1, h, ConvSpec::pointwise())?,
            conv_dds: DilatedDepthSeparableConv::load(vb.pp("conv_dds"), c)?,
            conv_proj: Conv1d::load(vb.pp("conv_proj"), h, 3 * bins - 1, ConvSpec::pointwise())?,
            bins,
            filter_channels: h,
            tail_bound: c.duration_predictor_tail_bound as f32,
        })
    }

    /// `x`: `(1, 2, len)`; `conditioning`: `(1, hidden, len)`.
    fn reverse(&self, x: &Tensor, conditioning: &Tensor) -> std::result::Result<Tensor, VitsError> {
        let (first, second) = layers::split_channels(x, 1)?;
        let h = self.conv_pre.forward(&first)?;
        let h = self.conv_dds.forward(&h, Some(conditioning))?;
        // (1, 3 * bins - 1, len): per position, bins widths, bins heights, bins - 1 derivatives.
        let params = self.conv_proj.forward(&h)?.squeeze(0)?.to_vec2::<f32>()?;
        let values = second.flatten_all()?.to_vec1::<f32>()?;
        let sqrt_filter = (self.filter_channels as f64).sqrt() as f32;
        let b = self.bins;
        let mut out = Vec::with_capacity(values.len());
        for (t, &v) in values.iter().enumerate() {
            let column =
                |r: std::ops::Range<usize>| r.map(|row| params[row][t]).collect::<Vec<_>>();
            let widths: Vec<f32> = column(0..b).into_iter().map(|w| w / sqrt_filter).collect();
            let heights: Vec<f32> = column(b..2 * b)
                .into_iter()
                .map(|h| h / sqrt_filter)
                .collect();
            let derivatives = column(2 * b..3 * b - 1);
            out.push(spline::inverse(
                v,
                &widths,
                &heights,
                &derivatives,
                self.tail_bound,
            )?);
        }
        let len = out.len();
        let second = Tensor::from_vec(out, (1, 1, len), &Device::Cpu)?.to_device(x.device())?;
        Ok(Tensor::cat(&[&first, &second], 1)?)
    }
}

/// `VitsElementwiseAffine`, inverted: `(x - translate) * exp(-log_scale)`.
#[derive(Debug, Clone)]
struct ElementwiseAffine {
    translate: Tensor,
    log_scale: Tensor,
}

impl ElementwiseAffine {
    fn load(vb: VarBuilder, channels: usize) -> Result<Self> {
        Ok(Self {
            translate: vb.get((channels, 1), "translate")?.unsqueeze(0)?,
            log_scale: vb.get((channels, 1), "log_scale")?.unsqueeze(0)?,
        })
    }

    fn reverse(&self, x: &Tensor) -> Result<Tensor> {
        x.broadcast_sub(&self.translate)?
            .broadcast_mul(&self.log_scale.neg()?.exp()?)
    }
}

/// `VitsStochasticDurationPredictor` in reverse mode.
#[derive(Debug, Clone)]
pub(crate) struct StochasticDurationPredictor {
    conv_pre: Conv1d,
    conv_dds: DilatedDepthSeparableConv,
    conv_proj: Conv1d,
    affine: ElementwiseAffine,
    flows: Vec<ConvFlow>,
}

impl StochasticDurationPredictor {
    pub(crate) fn load(vb: VarBuilder, c: &VitsConfig) -> Result<Self> {
        let h = c.hidden_size;
        let flows = (1..=c.duration_predictor_num_flows)
            .map(|i| ConvFlow::load(vb.pp(format!("flows.{i}")), c))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            conv_pre: Conv1d::load(vb.pp("conv_pre"), h, h, ConvSpec::pointwise())?,
            conv_dds: DilatedDepthSeparableConv::load(vb.pp("conv_dds"), c)?,
            conv_proj: Conv1d::load(vb.pp("conv_proj"), h, h, ConvSpec::pointwise())?,
            affine: ElementwiseAffine::load(vb.pp("flows.0"), c.depth_separable_channels)?,
            flows,
        })
    }

    /// `hidden`: `(1, hidden, len)`; `noise`: `(1, 2, len)` already scaled by the duration noise
    /// scale. Returns the log-durations, `(1, 1, len)`.
    pub(crate) fn reverse(
        &self,
        hidden: &Tensor,
        noise: &Tensor,
    ) -> std::result::Result<Tensor, VitsError> {
        let x = self.conv_pre.forward(hidden)?;
        let x = self.conv_dds.forward(&x, None)?;
        let x = self.conv_proj.forward(&x)?;
        let mut latents = noise.clone();
        // The reference inverts the flows last to first but skips the first spline flow ("a
        // useless vflow"), ending with the affine one.
        for flow in self.flows.iter().skip(1).rev() {
            latents = flow.reverse(&layers::flip_channels(&latents)?, &x)?;
        }
        latents = self.affine.reverse(&layers::flip_channels(&latents)?)?;
        Ok(latents.narrow(1, 0, 1)?)
    }
}

/// `VitsDurationPredictor`: two conv + ReLU + layer norm blocks and a projection.
#[derive(Debug, Clone)]
pub(crate) struct DurationPredictor {
    conv_1: Conv1d,
    norm_1: ChannelNorm,
    conv_2: Conv1d,
    norm_2: ChannelNorm,
    proj: Conv1d,
}

impl DurationPredictor {
    pub(crate) fn load(vb: VarBuilder, c: &VitsConfig) -> Result<Self> {
        let k = c.duration_predictor_kernel_size;
        let f = c.duration_predictor_filter_channels;
        // padding k // 2: "same" only for odd kernels, as in the reference.
        let spec = ConvSpec {
            padding: k / 2,
            ..ConvSpec::kernel(k)
        };
        Ok(Self {
            conv_1: Conv1d::load(vb.pp("conv_1"), c.hidden_size, f, spec)?,
            norm_1: ChannelNorm::load(vb.pp("norm_1"), f, c.layer_norm_eps)?,
            conv_2: Conv1d::load(vb.pp("conv_2"), f, f, spec)?,
            norm_2: ChannelNorm::load(vb.pp("norm_2"), f, c.layer_norm_eps)?,
            proj: Conv1d::load(vb.pp("proj"), f, 1, ConvSpec::pointwise())?,
        })
    }

    /// `hidden`: `(1, hidden, len)` -> log-durations `(1, 1, len)`.
    pub(crate) fn forward(&self, hidden: &Tensor) -> Result<Tensor> {
        let x = self.norm_1.forward(&self.conv_1.forward(hidden)?.relu()?)?;
        let x = self.norm_2.forward(&self.conv_2.forward(&x)?.relu()?)?;
        self.proj.forward(&x)
    }
}

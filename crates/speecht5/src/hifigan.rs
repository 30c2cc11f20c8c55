//! `SpeechT5HifiGan`: optional normalisation with the stored `mean` / `scale`, conv_pre,
//! transposed-convolution upsampling each followed by the mean of its multi-receptive-field
//! residual blocks, leaky ReLUs, conv_post and tanh. Turns a log-mel spectrogram into 16 kHz audio.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use crate::config::HifiGanConfig;
use crate::layers::{self, Conv1d, ConvTranspose1d};

/// `HifiGanResidualBlock`.
#[derive(Debug, Clone)]
struct ResidualBlock {
    convs1: Vec<Conv1d>,
    convs2: Vec<Conv1d>,
    slope: f64,
}

impl ResidualBlock {
    fn load(
        vb: VarBuilder,
        channels: usize,
        kernel: usize,
        dilations: &[usize],
        slope: f64,
    ) -> Result<Self> {
        let mut convs1 = Vec::with_capacity(dilations.len());
        let mut convs2 = Vec::with_capacity(dilations.len());
        for (i, &d) in dilations.iter().enumerate() {
            let same = |dilation: usize| (kernel * dilation - dilation) / 2;
            convs1.push(Conv1d::load(
                vb.pp(format!("convs1.{i}")),
                channels,
                channels,
                kernel,
                same(d),
                d,
                true,
            )?);
            convs2.push(Conv1d::load(
                vb.pp(format!("convs2.{i}")),
                channels,
                channels,
                kernel,
                same(1),
                1,
                true,
            )?);
        }
        Ok(Self {
            convs1,
            convs2,
            slope,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for (c1, c2) in self.convs1.iter().zip(&self.convs2) {
            let h = c1.forward(&layers::leaky_relu(&x, self.slope)?)?;
            let h = c2.forward(&layers::leaky_relu(&h, self.slope)?)?;
            x = (h + x)?;
        }
        Ok(x)
    }
}

/// The vocoder network.
#[derive(Debug, Clone)]
pub(crate) struct HifiGan {
    mean: Option<(Tensor, Tensor)>,
    conv_pre: Conv1d,
    upsampler: Vec<ConvTranspose1d>,
    /// `resblock_kernel_sizes.len()` blocks per upsampler, in order.
    resblocks: Vec<ResidualBlock>,
    conv_post: Conv1d,
    slope: f64,
}

impl HifiGan {
    pub(crate) fn load(vb: VarBuilder, c: &HifiGanConfig) -> Result<Self> {
        let c0 = c.upsample_initial_channel;
        let mean = if c.normalize_before {
            Some((
                vb.get(c.model_in_dim, "mean")?,
                vb.get(c.model_in_dim, "scale")?,
            ))
        } else {
            None
        };
        let conv_pre = Conv1d::load(vb.pp("conv_pre"), c.model_in_dim, c0, 7, 3, 1, true)?;
        let mut upsampler = Vec::new();
        let mut resblocks = Vec::new();
        let mut channels = c0;
        for (i, (&rate, &kernel)) in c
            .upsample_rates
            .iter()
            .zip(&c.upsample_kernel_sizes)
            .enumerate()
        {
            let (c_in, c_out) = (c0 >> i, c0 >> (i + 1));
            upsampler.push(ConvTranspose1d::load(
                vb.pp(format!("upsampler.{i}")),
                c_in,
                c_out,
                kernel,
                rate,
            )?);
            for (j, (&k, dilations)) in c
                .resblock_kernel_sizes
                .iter()
                .zip(&c.resblock_dilation_sizes)
                .enumerate()
            {
                let index = i * c.resblock_kernel_sizes.len() + j;
                resblocks.push(ResidualBlock::load(
                    vb.pp(format!("resblocks.{index}")),
                    c_out,
                    k,
                    dilations,
                    c.leaky_relu_slope,
                )?);
            }
            channels = c_out;
        }
        let conv_post = Conv1d::load(vb.pp("conv_post"), channels, 1, 7, 3, 1, true)?;
        Ok(Self {
            mean,
            conv_pre,
            upsampler,
            resblocks,
            conv_post,
            slope: c.leaky_relu_slope,
        })
    }

    /// `(frames, mel)` -> `(frames * hop,)`.
    pub(crate) fn forward(&self, spectrogram: &Tensor) -> Result<Tensor> {
        let mut spec = spectrogram.clone();
        if let Some((mean, scale)) = &self.mean {
            spec = spec.broadcast_sub(mean)?.broadcast_div(scale)?;
        }
        let mut x = self
            .conv_pre
            .forward(&spec.t()?.unsqueeze(0)?.contiguous()?)?;
        let per_stage = self.resblocks.len() / self.upsampler.len().max(1);
        for (i, up) in self.upsampler.iter().enumerate() {
            x = up.forward(&layers::leaky_relu(&x, self.slope)?)?;
            let blocks = &self.resblocks[i * per_stage..(i + 1) * per_stage];
            let mut sum = blocks[0].forward(&x)?;
            for block in &blocks[1..] {
                sum = (sum + block.forward(&x)?)?;
            }
            x = layers::div_scalar(&sum, per_stage as f64)?;
        }
        // The last leaky ReLU uses PyTorch's default slope, not the configured one.
        let x = layers::leaky_relu(&x, 0.01)?;
        self.conv_post.forward(&x)?.tanh()?.flatten_all()
    }
}

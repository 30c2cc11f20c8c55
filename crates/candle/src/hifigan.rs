//! The HiFi-GAN generator (transformers' `HifiGanResidualBlock` stack, as in `VitsHifiGan` and
//! `SpeechT5HifiGan`): conv_pre, transposed-convolution upsampling each followed by the mean of
//! its multi-receptive-field residual blocks, leaky ReLUs, conv_post and tanh.

use candle_core::{Result, Tensor};
use candle_nn::{Module, VarBuilder};

use crate::layers::{Conv1d, ConvSpec, ConvTranspose1d, div_scalar, leaky_relu};

/// The generator's hyperparameters (the fields both configs share).
#[derive(Debug, Clone, Copy)]
pub struct HifiGanSpec<'a> {
    /// Channels of the input spectrogram.
    pub in_channels: usize,
    /// Channels after conv_pre; halved by each upsampler.
    pub upsample_initial_channel: usize,
    /// Stride of each upsampler.
    pub upsample_rates: &'a [usize],
    /// Kernel of each upsampler.
    pub upsample_kernel_sizes: &'a [usize],
    /// Kernel of each residual block of a stage.
    pub resblock_kernel_sizes: &'a [usize],
    /// Dilations of each residual block of a stage.
    pub resblock_dilation_sizes: &'a [Vec<usize>],
    /// Slope of the leaky ReLUs (all but the last).
    pub leaky_relu_slope: f64,
    /// Whether conv_post has a bias (`VitsHifiGan`: no, `SpeechT5HifiGan`: yes).
    pub post_bias: bool,
}

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
            convs1.push(Conv1d::load(
                vb.pp(format!("convs1.{i}")),
                channels,
                channels,
                ConvSpec::same(kernel, d),
            )?);
            convs2.push(Conv1d::load(
                vb.pp(format!("convs2.{i}")),
                channels,
                channels,
                ConvSpec::same(kernel, 1),
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
            let h = c1.forward(&leaky_relu(&x, self.slope)?)?;
            let h = c2.forward(&leaky_relu(&h, self.slope)?)?;
            x = (h + x)?;
        }
        Ok(x)
    }
}

/// The HiFi-GAN generator without speaker conditioning.
#[derive(Debug, Clone)]
pub struct HifiGan {
    conv_pre: Conv1d,
    upsampler: Vec<ConvTranspose1d>,
    /// `resblock_kernel_sizes.len()` blocks per upsampler, in order.
    resblocks: Vec<ResidualBlock>,
    conv_post: Conv1d,
    slope: f64,
}

impl HifiGan {
    /// Loads `conv_pre`, `upsampler.*`, `resblocks.*` and `conv_post` under `vb`.
    pub fn load(vb: VarBuilder, c: &HifiGanSpec<'_>) -> Result<Self> {
        let c0 = c.upsample_initial_channel;
        let conv_pre = Conv1d::load(
            vb.pp("conv_pre"),
            c.in_channels,
            c0,
            ConvSpec {
                padding: 3,
                ..ConvSpec::kernel(7)
            },
        )?;
        let mut upsampler = Vec::new();
        let mut resblocks = Vec::new();
        let mut channels = c0;
        for (i, (&rate, &kernel)) in c
            .upsample_rates
            .iter()
            .zip(c.upsample_kernel_sizes)
            .enumerate()
        {
            let (c_in, c_out) = (c0 >> i, c0 >> (i + 1));
            upsampler.push(ConvTranspose1d::load(
                vb.pp(format!("upsampler.{i}")),
                c_in,
                c_out,
                kernel,
                rate,
                (kernel - rate) / 2,
            )?);
            for (j, (&k, dilations)) in c
                .resblock_kernel_sizes
                .iter()
                .zip(c.resblock_dilation_sizes)
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
        let conv_post = Conv1d::load(
            vb.pp("conv_post"),
            channels,
            1,
            ConvSpec {
                padding: 3,
                bias: c.post_bias,
                ..ConvSpec::kernel(7)
            },
        )?;
        Ok(Self {
            conv_pre,
            upsampler,
            resblocks,
            conv_post,
            slope: c.leaky_relu_slope,
        })
    }

    /// `(1, in_channels, frames)` -> `(1, 1, samples)` in [-1, 1].
    pub fn forward(&self, spectrogram: &Tensor) -> Result<Tensor> {
        let mut x = self.conv_pre.forward(spectrogram)?;
        let per_stage = self.resblocks.len() / self.upsampler.len().max(1);
        for (i, up) in self.upsampler.iter().enumerate() {
            x = up.forward(&leaky_relu(&x, self.slope)?)?;
            let blocks = &self.resblocks[i * per_stage..(i + 1) * per_stage];
            let mut sum = blocks[0].forward(&x)?;
            for block in &blocks[1..] {
                sum = (sum + block.forward(&x)?)?;
            }
            x = div_scalar(&sum, per_stage as f64)?;
        }
        // The last leaky ReLU uses PyTorch's default slope, not the configured one.
        let x = leaky_relu(&x, 0.01)?;
        self.conv_post.forward(&x)?.tanh()
    }
}

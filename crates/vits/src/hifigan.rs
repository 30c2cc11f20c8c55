//! The HiFi-GAN decoder (`VitsHifiGan`): conv_pre, transposed-convolution upsampling each
//! followed by the mean of its multi-receptive-field residual blocks, leaky ReLUs, conv_post
//! and tanh. Turns the latent spectrogram into the waveform.

use candle_core::{Result, Tensor};
use candle_nn::{Module, VarBuilder};

use crate::config::VitsConfig;
use crate::layers::{self, Conv1d, ConvSpec, ConvTranspose1d};

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
            let h = c1.forward(&layers::leaky_relu(&x, self.slope)?)?;
            let h = c2.forward(&layers::leaky_relu(&h, self.slope)?)?;
            x = (h + x)?;
        }
        Ok(x)
    }
}

/// `VitsHifiGan` without speaker conditioning.
#[derive(Debug, Clone)]
pub(crate) struct HifiGan {
    conv_pre: Conv1d,
    upsampler: Vec<ConvTranspose1d>,
    /// `resblock_kernel_sizes.len()` blocks per upsampler, in order.
    resblocks: Vec<ResidualBlock>,
    conv_post: Conv1d,
    slope: f64,
}

impl HifiGan {
    pub(crate) fn load(vb: VarBuilder, c: &VitsConfig) -> Result<Self> {
        let c0 = c.upsample_initial_channel;
        let conv_pre = Conv1d::load(
            vb.pp("conv_pre"),
            c.flow_size,
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
                (kernel - rate) / 2,
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
        let conv_post = Conv1d::load(
            vb.pp("conv_post"),
            channels,
            1,
            ConvSpec {
                padding: 3,
                bias: false,
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

    /// `(1, flow, frames)` -> `(1, samples)`.
    pub(crate) fn forward(&self, spectrogram: &Tensor) -> Result<Tensor> {
        let mut x = self.conv_pre.forward(spectrogram)?;
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
        self.conv_post.forward(&x)?.tanh()?.squeeze(1)
    }
}

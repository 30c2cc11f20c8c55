//! The decoding half of transformers' `EncodecModel` and its `EncodecConfig`: residual vector
//! quantizer lookup and the SEANet decoder (padded convolutions, LSTM, transposed convolutions
//! with trimming, residual blocks), as `BarkModel.codec_decode` and
//! `MusicgenForConditionalGeneration.generate` run it (24 kHz causal and 32 kHz non-causal codecs).
//!
//! candle-transformers' EnCodec cannot be reused: it pads with `replicate` where transformers
//! reflects, and does not trim the transposed convolutions' padding, so its waveform differs.

use candle_core::{D, Device, Module, Tensor};
use candle_nn::rnn::{LSTM, LSTMConfig, RNN};
use candle_nn::{ConvTranspose1d, ConvTranspose1dConfig, VarBuilder};
use serde::Deserialize;

use crate::{conv_weight, conv1d};

/// Why an [`EncodecConfig`] cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodecConfigError {
    /// A variant of the codec this decoder does not implement.
    #[error("unsupported codec: {0}")]
    Unsupported(String),
    /// Inconsistent numbers.
    #[error("invalid codec config: {0}")]
    Invalid(String),
}

/// The EnCodec codec (`EncodecConfig`), as far as decoding needs it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct EncodecConfig {
    /// Bandwidths in kbps; the last one sets the number of quantizers.
    pub target_bandwidths: Vec<f64>,
    /// Output sample rate.
    pub sampling_rate: u32,
    /// Output channels.
    pub audio_channels: usize,
    /// Latent size (codebook dimension unless `codebook_dim` is set).
    pub hidden_size: usize,
    /// Filters of the first encoder / last decoder convolution.
    pub num_filters: usize,
    /// Residual blocks per upsampling stage.
    pub num_residual_layers: usize,
    /// Encoder downsampling ratios (the decoder upsamples by them in this order).
    pub upsampling_ratios: Vec<usize>,
    /// `weight_norm` or `time_group_norm`.
    pub norm_type: String,
    /// Kernel of the first decoder convolution.
    pub kernel_size: usize,
    /// Kernel of the last decoder convolution.
    pub last_kernel_size: usize,
    /// Kernel of the residual blocks' first convolution.
    pub residual_kernel_size: usize,
    /// Dilation growth between residual blocks.
    pub dilation_growth_rate: usize,
    /// Causal (left) padding.
    pub use_causal_conv: bool,
    /// Padding mode of the convolutions (`reflect`, `constant`, `replicate`).
    pub pad_mode: String,
    /// Channel reduction inside the residual blocks.
    pub compress: usize,
    /// LSTM layers after the first decoder convolution.
    pub num_lstm_layers: usize,
    /// Share of a transposed convolution's padding trimmed on the right (causal).
    pub trim_right_ratio: f64,
    /// Entries per codebook.
    pub codebook_size: usize,
    /// Codebook vector size (defaults to `hidden_size`).
    pub codebook_dim: Option<usize>,
    /// A 1x1 convolution on the residual path (else identity).
    pub use_conv_shortcut: bool,
}

impl Default for EncodecConfig {
    fn default() -> Self {
        Self {
            target_bandwidths: vec![1.5, 3.0, 6.0, 12.0, 24.0],
            sampling_rate: 24_000,
            audio_channels: 1,
            hidden_size: 128,
            num_filters: 32,
            num_residual_layers: 1,
            upsampling_ratios: vec![8, 5, 4, 2],
            norm_type: "weight_norm".to_owned(),
            kernel_size: 7,
            last_kernel_size: 7,
            residual_kernel_size: 3,
            dilation_growth_rate: 2,
            use_causal_conv: true,
            pad_mode: "reflect".to_owned(),
            compress: 2,
            num_lstm_layers: 2,
            trim_right_ratio: 1.0,
            codebook_size: 1024,
            codebook_dim: None,
            use_conv_shortcut: true,
        }
    }
}

impl EncodecConfig {
    /// Codebook vector size.
    pub fn codebook_dim(&self) -> usize {
        self.codebook_dim.unwrap_or(self.hidden_size)
    }

    /// Samples per code frame.
    pub fn hop_length(&self) -> usize {
        self.upsampling_ratios.iter().product()
    }

    /// Number of residual quantizers, as `EncodecConfig.num_quantizers` computes it.
    pub fn num_quantizers(&self) -> usize {
        let hop = self.hop_length().max(1);
        let frame_rate = (self.sampling_rate as usize).div_ceil(hop);
        let nbits = self
            .codebook_size
            .max(2)
            .next_power_of_two()
            .trailing_zeros() as usize;
        let last = self.target_bandwidths.last().copied().unwrap_or(0.0);
        ((1000.0 * last) / (frame_rate * nbits) as f64).floor() as usize
    }

    /// Checks that this decoder implements the codec and that its channel counts work out.
    pub fn validate(&self) -> Result<(), EncodecConfigError> {
        if self.norm_type != "weight_norm" {
            return Err(EncodecConfigError::Unsupported(format!(
                "codec norm_type {:?} (only weight_norm, the 24 kHz codec's, is implemented)",
                self.norm_type
            )));
        }
        if !matches!(self.pad_mode.as_str(), "reflect" | "constant" | "replicate") {
            return Err(EncodecConfigError::Unsupported(format!(
                "codec pad_mode {:?}",
                self.pad_mode
            )));
        }
        if self.upsampling_ratios.is_empty()
            || self.upsampling_ratios.contains(&0)
            || self.compress == 0
            || self.num_filters == 0
        {
            return Err(EncodecConfigError::Invalid(
                "codec has an empty or zero ratio".to_owned(),
            ));
        }
        let scale = 1usize << self.upsampling_ratios.len();
        if !(self.num_filters * scale / 2).is_multiple_of(self.compress) {
            return Err(EncodecConfigError::Invalid(
                "codec channels are not divisible by compress".to_owned(),
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Pad {
    Reflect,
    Constant,
    Replicate,
}

struct Conv {
    weight: Tensor,
    bias: Tensor,
    dilation: usize,
    kernel: usize,
    stride: usize,
    causal: bool,
    pad: Pad,
}

impl Conv {
    fn load(
        vb: VarBuilder,
        cfg: &EncodecConfig,
        inp: usize,
        out: usize,
        kernel: usize,
        dilation: usize,
    ) -> candle_core::Result<Self> {
        let vb = vb.pp("conv");
        // Weight-normed in the checkpoint, as weight_g / weight_v or parametrizations.
        let weight = conv_weight(&vb, (out, inp, kernel))?;
        let bias = vb.get(out, "bias")?;
        Ok(Self {
            weight,
            bias,
            dilation,
            kernel: (kernel - 1) * dilation + 1,
            stride: 1,
            causal: cfg.use_causal_conv,
            pad: match cfg.pad_mode.as_str() {
                "constant" => Pad::Constant,
                "replicate" => Pad::Replicate,
                _ => Pad::Reflect,
            },
        })
    }

    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let len = xs.dim(D::Minus1)?;
        let total = self.kernel - self.stride;
        // EncodecConv1d._get_extra_padding_for_conv1d: pad so the last window is complete.
        let frames = ((len + total) as f64 - self.kernel as f64) / self.stride as f64 + 1.0;
        let ideal =
            (frames.ceil() as i64 - 1) * self.stride as i64 + self.kernel as i64 - total as i64;
        let extra = (ideal - len as i64).max(0) as usize;
        let (left, right) = if self.causal {
            (total, extra)
        } else {
            let right = total / 2;
            (total - right, right + extra)
        };
        let xs = pad1d(xs, left, right, self.pad)?;
        conv1d(&xs, &self.weight, 0, self.stride, self.dilation, 1)?
            .broadcast_add(&self.bias.reshape((1, (), 1))?)
    }
}

/// `EncodecConv1d._pad1d`: reflect padding that zero-extends inputs too short to reflect.
fn pad1d(xs: &Tensor, left: usize, right: usize, mode: Pad) -> candle_core::Result<Tensor> {
    if left == 0 && right == 0 {
        return Ok(xs.clone());
    }
    match mode {
        Pad::Constant => xs.pad_with_zeros(D::Minus1, left, right),
        Pad::Replicate => xs.pad_with_same(D::Minus1, left, right),
        Pad::Reflect => {
            let len = xs.dim(D::Minus1)?;
            let max_pad = left.max(right);
            let (xs, extra) = if len <= max_pad {
                let extra = max_pad - len + 1;
                (xs.pad_with_zeros(D::Minus1, 0, extra)?, extra)
            } else {
                (xs.clone(), 0)
            };
            let n = len + extra;
            let mut idx: Vec<u32> = (1..=left).rev().map(|i| i as u32).collect();
            idx.extend((0..n).map(|i| i as u32));
            idx.extend((0..right).map(|i| (n - 2 - i) as u32));
            let keep = idx.len() - extra;
            let idx = Tensor::new(&idx[..keep], xs.device())?;
            xs.index_select(&idx, xs.rank() - 1)
        }
    }
}

struct ConvTranspose {
    conv: ConvTranspose1d,
    left: usize,
    right: usize,
}

impl ConvTranspose {
    fn load(
        vb: VarBuilder,
        cfg: &EncodecConfig,
        inp: usize,
        out: usize,
        kernel: usize,
        stride: usize,
    ) -> candle_core::Result<Self> {
        let vb = vb.pp("conv");
        let weight = conv_weight(&vb, (inp, out, kernel))?;
        let bias = vb.get(out, "bias")?;
        let config = ConvTranspose1dConfig {
            stride,
            ..Default::default()
        };
        let total = kernel - stride;
        let right = if cfg.use_causal_conv {
            (total as f64 * cfg.trim_right_ratio).ceil() as usize
        } else {
            total / 2
        };
        Ok(Self {
            conv: ConvTranspose1d::new(weight, Some(bias), config),
            left: total.saturating_sub(right),
            right: right.min(total),
        })
    }

    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let ys = self.conv.forward(xs)?;
        let len = ys.dim(D::Minus1)?;
        ys.narrow(D::Minus1, self.left, len - self.left - self.right)
    }
}

struct ResBlock {
    conv1: Conv,
    conv2: Conv,
    shortcut: Option<Conv>,
}

impl ResBlock {
    fn load(
        vb: VarBuilder,
        cfg: &EncodecConfig,
        dim: usize,
        dilation: usize,
    ) -> candle_core::Result<Self> {
        let hidden = dim / cfg.compress;
        let k = cfg.residual_kernel_size;
        Ok(Self {
            conv1: Conv::load(vb.pp("block.1"), cfg, dim, hidden, k, dilation)?,
            conv2: Conv::load(vb.pp("block.3"), cfg, hidden, dim, 1, 1)?,
            shortcut: if cfg.use_conv_shortcut {
                Some(Conv::load(vb.pp("shortcut"), cfg, dim, dim, 1, 1)?)
            } else {
                None
            },
        })
    }

    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let h = self.conv1.forward(&xs.elu(1.0)?)?;
        let h = self.conv2.forward(&h.elu(1.0)?)?;
        let residual = match &self.shortcut {
            Some(conv) => conv.forward(xs)?,
            None => xs.clone(),
        };
        residual + h
    }
}

/// The quantizer codebooks and the decoder.
pub struct EncodecDecoder {
    codebooks: Vec<Tensor>,
    init_conv: Conv,
    lstm: Vec<LSTM>,
    stages: Vec<(ConvTranspose, Vec<ResBlock>)>,
    final_conv: Conv,
}

impl EncodecDecoder {
    /// `vb` at the codec's root (`codec_model`).
    pub fn load(vb: VarBuilder, cfg: &EncodecConfig) -> candle_core::Result<Self> {
        Self::load_codebooks(vb, cfg, cfg.num_quantizers())
    }

    /// As [`Self::load`], with the first `n_q` quantizer codebooks only (MusicGen's decoder
    /// predicts a fixed number of them).
    pub fn load_codebooks(
        vb: VarBuilder,
        cfg: &EncodecConfig,
        n_q: usize,
    ) -> candle_core::Result<Self> {
        let codebooks = (0..n_q)
            .map(|i| {
                vb.pp(format!("quantizer.layers.{i}.codebook"))
                    .get((cfg.codebook_size, cfg.codebook_dim()), "embed")
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let layers = vb.pp("decoder.layers");
        let mut index = 0;
        let mut next = || {
            index += 1;
            layers.pp((index - 1).to_string())
        };
        let mut scale = 1usize << cfg.upsampling_ratios.len();
        let channels = scale * cfg.num_filters;
        let init_conv = Conv::load(
            next(),
            cfg,
            cfg.codebook_dim(),
            channels,
            cfg.kernel_size,
            1,
        )?;
        let lstm_vb = next().pp("lstm");
        let lstm = (0..cfg.num_lstm_layers)
            .map(|layer_idx| {
                let config = LSTMConfig {
                    layer_idx,
                    ..Default::default()
                };
                candle_nn::rnn::lstm(channels, channels, config, lstm_vb.clone())
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let mut stages = Vec::new();
        for &ratio in &cfg.upsampling_ratios {
            let current = scale * cfg.num_filters;
            next(); // ELU
            let up = ConvTranspose::load(next(), cfg, current, current / 2, ratio * 2, ratio)?;
            let blocks = (0..cfg.num_residual_layers)
                .map(|j| {
                    let dilation = cfg.dilation_growth_rate.pow(j as u32);
                    ResBlock::load(next(), cfg, current / 2, dilation)
                })
                .collect::<candle_core::Result<Vec<_>>>()?;
            stages.push((up, blocks));
            scale /= 2;
        }
        next(); // ELU
        let final_conv = Conv::load(
            next(),
            cfg,
            cfg.num_filters,
            cfg.audio_channels,
            cfg.last_kernel_size,
            1,
        )?;
        Ok(Self {
            codebooks,
            init_conv,
            lstm,
            stages,
            final_conv,
        })
    }

    /// Codebooks the quantizer has.
    pub fn num_codebooks(&self) -> usize {
        self.codebooks.len()
    }

    /// Audio `(channels, samples)` from codes `(n_q, frames)` (row-major, each < codebook size).
    pub fn decode(
        &self,
        codes: &[u32],
        n_q: usize,
        frames: usize,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        if n_q > self.codebooks.len() {
            candle_core::bail!(
                "{n_q} codebooks given, the codec has {}",
                self.codebooks.len()
            );
        }
        let codes = Tensor::from_slice(codes, (n_q, frames), device)?;
        let mut latent: Option<Tensor> = None;
        for (i, book) in self.codebooks.iter().enumerate().take(n_q) {
            let q = book.embedding(&codes.get(i)?)?;
            latent = Some(match latent {
                None => q,
                Some(acc) => (acc + q)?,
            });
        }
        let Some(latent) = latent else {
            candle_core::bail!("no codebook to decode");
        };
        // (frames, dim) -> (1, dim, frames)
        let xs = latent.t()?.unsqueeze(0)?.contiguous()?;
        let xs = self.init_conv.forward(&xs)?;
        // EncodecLSTM: the LSTM over time, plus its input.
        let mut h = xs.transpose(1, 2)?.contiguous()?;
        let residual = h.clone();
        for layer in &self.lstm {
            let states = layer.seq(&h)?;
            h = layer.states_to_tensor(&states)?;
        }
        let mut xs = (h + residual)?.transpose(1, 2)?.contiguous()?;
        for (up, blocks) in &self.stages {
            xs = up.forward(&xs.elu(1.0)?)?;
            for block in blocks {
                xs = block.forward(&xs)?;
            }
        }
        self.final_conv.forward(&xs.elu(1.0)?)?.squeeze(0)
    }
}

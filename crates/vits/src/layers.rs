//! Building blocks shared by the model's parts: 1-D convolutions (plain, dilated, grouped,
//! transposed) whose weights may be stored weight-normed, channel-first layer norms, the
//! feed-forward activations, and scalar arithmetic that rounds like PyTorch's.

use candle_core::{Result, Tensor};
use candle_nn::{LayerNorm, Module, VarBuilder};

use crate::VitsError;

/// Loads a convolution weight of `shape`, whichever way the checkpoint stores it: plain
/// `weight`, old-style weight norm (`weight_g` / `weight_v`, as in the MMS checkpoints) or
/// `torch.nn.utils.parametrizations.weight_norm` (`parametrizations.weight.original0/1`).
///
/// Weight norm is `w = g * v / ||v||` with the norm over every dimension but the first (PyTorch's
/// default `dim=0`, also for transposed convolutions, whose first dimension is the input).
pub(crate) fn conv_weight(vb: &VarBuilder, shape: (usize, usize, usize)) -> Result<Tensor> {
    if vb.contains_tensor("weight") {
        return vb.get(shape, "weight");
    }
    let (g, v) = if vb.contains_tensor("weight_g") {
        (
            vb.get((shape.0, 1, 1), "weight_g")?,
            vb.get(shape, "weight_v")?,
        )
    } else if vb.contains_tensor("parametrizations.weight.original0") {
        (
            vb.get((shape.0, 1, 1), "parametrizations.weight.original0")?,
            vb.get(shape, "parametrizations.weight.original1")?,
        )
    } else {
        // Let the VarBuilder produce its usual "cannot find tensor" error with the full path.
        return vb.get(shape, "weight");
    };
    let norm = v.sqr()?.sum_keepdim(2)?.sum_keepdim(1)?.sqrt()?;
    // Same association as torch._weight_norm: v * (g / ||v||).
    v.broadcast_mul(&(g / norm)?)
}

/// `nn.Conv1d` with symmetric zero padding.
#[derive(Debug, Clone)]
pub(crate) struct Conv1d {
    weight: Tensor,
    bias: Option<Tensor>,
    padding: usize,
    dilation: usize,
    groups: usize,
}

/// Geometry of a [`Conv1d`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConvSpec {
    pub(crate) kernel: usize,
    pub(crate) padding: usize,
    pub(crate) dilation: usize,
    pub(crate) groups: usize,
    pub(crate) bias: bool,
}

impl ConvSpec {
    /// A 1x1 convolution with bias.
    pub(crate) fn pointwise() -> Self {
        Self {
            kernel: 1,
            padding: 0,
            dilation: 1,
            groups: 1,
            bias: true,
        }
    }

    /// Kernel `kernel` with bias and no padding.
    pub(crate) fn kernel(kernel: usize) -> Self {
        Self {
            kernel,
            ..Self::pointwise()
        }
    }

    /// "Same" padding for an odd kernel with this dilation, as the VITS modules compute it.
    pub(crate) fn same(kernel: usize, dilation: usize) -> Self {
        Self {
            kernel,
            padding: (kernel * dilation - dilation) / 2,
            dilation,
            ..Self::pointwise()
        }
    }
}

impl Conv1d {
    pub(crate) fn load(vb: VarBuilder, c_in: usize, c_out: usize, spec: ConvSpec) -> Result<Self> {
        let weight = conv_weight(&vb, (c_out, c_in / spec.groups, spec.kernel))?;
        let bias = if spec.bias {
            Some(vb.get(c_out, "bias")?)
        } else {
            None
        };
        Ok(Self {
            weight,
            bias,
            padding: spec.padding,
            dilation: spec.dilation,
            groups: spec.groups,
        })
    }
}

impl Module for Conv1d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.conv1d(&self.weight, self.padding, 1, self.dilation, self.groups)?;
        match &self.bias {
            Some(b) => y.broadcast_add(&b.reshape((1, (), 1))?),
            None => Ok(y),
        }
    }
}

/// `nn.ConvTranspose1d` (groups 1, dilation 1, no output padding), as in the HiFi-GAN upsampler.
#[derive(Debug, Clone)]
pub(crate) struct ConvTranspose1d {
    weight: Tensor,
    bias: Tensor,
    stride: usize,
    padding: usize,
}

impl ConvTranspose1d {
    pub(crate) fn load(
        vb: VarBuilder,
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Result<Self> {
        let weight = conv_weight(&vb, (c_in, c_out, kernel))?;
        let bias = vb.get(c_out, "bias")?;
        Ok(Self {
            weight,
            bias,
            stride,
            padding,
        })
    }
}

impl Module for ConvTranspose1d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.conv_transpose1d(&self.weight, self.padding, 0, self.stride, 1, 1)?;
        y.broadcast_add(&self.bias.reshape((1, (), 1))?)
    }
}

/// A layer norm over the channels of a `(batch, channels, time)` tensor.
#[derive(Debug, Clone)]
pub(crate) struct ChannelNorm(LayerNorm);

impl ChannelNorm {
    pub(crate) fn load(vb: VarBuilder, channels: usize, eps: f64) -> Result<Self> {
        Ok(Self(candle_nn::layer_norm(channels, eps, vb)?))
    }
}

impl Module for ChannelNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.0.forward(&x.transpose(1, 2)?.contiguous()?)?;
        y.transpose(1, 2)?.contiguous()
    }
}

/// Loads a layer norm over the last dimension.
pub(crate) fn layer_norm(vb: VarBuilder, size: usize, eps: f64) -> Result<LayerNorm> {
    candle_nn::layer_norm(size, eps, vb)
}

/// Feed-forward activations, by their transformers `ACT2FN` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    Relu,
    /// Exact (erf) GELU, transformers' "gelu".
    Gelu,
    /// tanh-approximated GELU ("gelu_new", "gelu_pytorch_tanh", "gelu_fast").
    GeluTanh,
    Silu,
}

impl Activation {
    pub(crate) fn from_name(name: &str) -> std::result::Result<Self, VitsError> {
        match name {
            "relu" => Ok(Self::Relu),
            "gelu" => Ok(Self::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Self::GeluTanh),
            "silu" | "swish" => Ok(Self::Silu),
            other => Err(VitsError::Unsupported(format!("hidden_act {other:?}"))),
        }
    }
}

impl Module for Activation {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Relu => x.relu(),
            Self::Gelu => x.gelu_erf(),
            Self::GeluTanh => x.gelu(),
            Self::Silu => x.silu(),
        }
    }
}

/// `x * s` rounded as PyTorch rounds a tensor times a Python float (the scalar becomes f32).
pub(crate) fn mul_scalar(x: &Tensor, s: f64) -> Result<Tensor> {
    x.affine(s, 0.0)
}

/// `x / s` as a true division (candle's `Tensor / f64` multiplies by the reciprocal instead,
/// which differs from PyTorch in the last bit).
pub(crate) fn div_scalar(x: &Tensor, s: f64) -> Result<Tensor> {
    let s = Tensor::new(s as f32, x.device())?.to_dtype(x.dtype())?;
    x.broadcast_div(&s)
}

/// Reverses the channel order of a `(batch, channels, time)` tensor (`torch.flip(x, [1])`).
pub(crate) fn flip_channels(x: &Tensor) -> Result<Tensor> {
    x.flip(&[1])
}

/// Splits `(batch, channels, time)` into the first `n` channels and the rest.
pub(crate) fn split_channels(x: &Tensor, n: usize) -> Result<(Tensor, Tensor)> {
    let c = x.dim(1)?;
    Ok((x.narrow(1, 0, n)?, x.narrow(1, n, c - n)?))
}

/// `leaky_relu(x, slope)` for `0 <= slope <= 1` as `max(x, slope * x)`: the same values as
/// PyTorch's (`x * slope` for negative `x`, rounded the same way) in two passes over the tensor
/// instead of the five of `candle_nn::ops::leaky_relu`; the decoder runs it on its longest tensors.
pub(crate) fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    x.maximum(&mul_scalar(x, slope)?)
}

/// Softmax over the last dimension.
pub(crate) fn softmax_last(x: &Tensor) -> Result<Tensor> {
    candle_nn::ops::softmax_last_dim(&x.contiguous()?)
}

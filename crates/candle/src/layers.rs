//! Convolutions whose weights may be stored weight-normed, feed-forward activations, and scalar
//! arithmetic that rounds like PyTorch's.

use candle_core::{Result, Tensor};
use candle_nn::{Module, VarBuilder};

/// Loads a convolution weight of `shape`, whichever way the checkpoint stores it: plain
/// `weight`, old-style weight norm (`weight_g` / `weight_v`, as in the MMS and suno/bark
/// checkpoints) or `torch.nn.utils.parametrizations.weight_norm`
/// (`parametrizations.weight.original0/1`, transformers' current `save_pretrained`).
///
/// Weight norm is `w = g * v / ||v||` with the norm over every dimension but the first (PyTorch's
/// default `dim=0`, also for transposed convolutions, whose first dimension is the input).
pub fn conv_weight(vb: &VarBuilder, shape: (usize, usize, usize)) -> Result<Tensor> {
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

/// `nn.Conv1d` (stride 1) with symmetric zero padding.
#[derive(Debug, Clone)]
pub struct Conv1d {
    weight: Tensor,
    bias: Option<Tensor>,
    padding: usize,
    dilation: usize,
    groups: usize,
}

/// Geometry of a [`Conv1d`].
#[derive(Debug, Clone, Copy)]
pub struct ConvSpec {
    /// Kernel size.
    pub kernel: usize,
    /// Zeros added on each side.
    pub padding: usize,
    /// Kernel dilation.
    pub dilation: usize,
    /// Channel groups.
    pub groups: usize,
    /// Whether the convolution has a bias.
    pub bias: bool,
}

impl ConvSpec {
    /// A 1x1 convolution with bias.
    pub fn pointwise() -> Self {
        Self {
            kernel: 1,
            padding: 0,
            dilation: 1,
            groups: 1,
            bias: true,
        }
    }

    /// Kernel `kernel` with bias and no padding.
    pub fn kernel(kernel: usize) -> Self {
        Self {
            kernel,
            ..Self::pointwise()
        }
    }

    /// "Same" padding for an odd kernel with this dilation, as VITS and HiFi-GAN compute it.
    pub fn same(kernel: usize, dilation: usize) -> Self {
        Self {
            kernel,
            padding: (kernel * dilation - dilation) / 2,
            dilation,
            ..Self::pointwise()
        }
    }
}

impl Conv1d {
    /// Loads `weight` (see [`conv_weight`]) and, if `spec.bias`, `bias` under `vb`.
    pub fn load(vb: VarBuilder, c_in: usize, c_out: usize, spec: ConvSpec) -> Result<Self> {
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
        let y = crate::conv::conv1d(x, &self.weight, self.padding, 1, self.dilation, self.groups)?;
        match &self.bias {
            Some(b) => y.broadcast_add(&b.reshape((1, (), 1))?),
            None => Ok(y),
        }
    }
}

/// `nn.ConvTranspose1d` with bias (groups 1, dilation 1, no output padding), as in the HiFi-GAN
/// upsampler.
#[derive(Debug, Clone)]
pub struct ConvTranspose1d {
    weight: Tensor,
    bias: Tensor,
    stride: usize,
    padding: usize,
}

impl ConvTranspose1d {
    /// Loads `weight` (see [`conv_weight`]) and `bias` under `vb`.
    pub fn load(
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
        // candle's CPU backend is only fast (col2im + matmul) without padding, and padding a
        // transposed convolution only crops its output: compute it whole, then crop.
        let y = x.conv_transpose1d(&self.weight, 0, 0, self.stride, 1, 1)?;
        let len = y.dim(2)?.checked_sub(2 * self.padding).ok_or_else(|| {
            candle_core::Error::Msg(format!(
                "transposed convolution: padding {} crops all of {} samples",
                self.padding,
                y.dims().last().copied().unwrap_or(0)
            ))
        })?;
        y.narrow(2, self.padding, len)?
            .broadcast_add(&self.bias.reshape((1, (), 1))?)
    }
}

/// Feed-forward activations, by their transformers `ACT2FN` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// ReLU.
    Relu,
    /// Exact (erf) GELU, transformers' "gelu".
    Gelu,
    /// tanh-approximated GELU ("gelu_new", "gelu_pytorch_tanh", "gelu_fast").
    GeluTanh,
    /// SiLU ("silu", "swish").
    Silu,
}

impl Activation {
    /// The activation transformers calls `name`; `None` for those not implemented here.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "relu" => Some(Self::Relu),
            "gelu" => Some(Self::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Self::GeluTanh),
            "silu" | "swish" => Some(Self::Silu),
            _ => None,
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
pub fn mul_scalar(x: &Tensor, s: f64) -> Result<Tensor> {
    x.affine(s, 0.0)
}

/// `x / s` as a true division (candle's `Tensor / f64` multiplies by the reciprocal instead,
/// which differs from PyTorch in the last bit).
pub fn div_scalar(x: &Tensor, s: f64) -> Result<Tensor> {
    let s = Tensor::new(s as f32, x.device())?.to_dtype(x.dtype())?;
    x.broadcast_div(&s)
}

/// `leaky_relu(x, slope)` for `0 <= slope <= 1` as `max(x, slope * x)`: the same values as
/// PyTorch's (`x * slope` for negative `x`, rounded the same way) in two passes over the tensor
/// instead of the five of `candle_nn::ops::leaky_relu`; HiFi-GAN runs it on its longest tensors.
pub fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    x.maximum(&mul_scalar(x, slope)?)
}

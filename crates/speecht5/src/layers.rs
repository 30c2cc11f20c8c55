//! Building blocks: 1-D convolutions whose weights may be stored weight-normed, the feed-forward
//! activations, the sinusoid table of `SpeechT5ScaledPositionalEncoding`, and scalar arithmetic
//! that rounds like PyTorch's.

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{Module, VarBuilder};

use crate::SpeechT5Error;

/// Loads a convolution weight of `shape`: plain `weight`, old-style weight norm (`weight_g` /
/// `weight_v`) or `parametrizations.weight.original0/1`. Weight norm is `w = g * v / ||v||`,
/// the norm over every dimension but the first.
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
        // The VarBuilder's own "cannot find tensor" error names the full path.
        return vb.get(shape, "weight");
    };
    let norm = v.sqr()?.sum_keepdim(2)?.sum_keepdim(1)?.sqrt()?;
    v.broadcast_mul(&(g / norm)?)
}

/// `nn.Conv1d` (stride 1) with symmetric zero padding.
#[derive(Debug, Clone)]
pub(crate) struct Conv1d {
    weight: Tensor,
    bias: Option<Tensor>,
    padding: usize,
    dilation: usize,
}

impl Conv1d {
    pub(crate) fn load(
        vb: VarBuilder,
        c_in: usize,
        c_out: usize,
        kernel: usize,
        padding: usize,
        dilation: usize,
        bias: bool,
    ) -> Result<Self> {
        let weight = conv_weight(&vb, (c_out, c_in, kernel))?;
        let bias = if bias {
            Some(vb.get(c_out, "bias")?)
        } else {
            None
        };
        Ok(Self {
            weight,
            bias,
            padding,
            dilation,
        })
    }
}

impl Module for Conv1d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.conv1d(&self.weight, self.padding, 1, self.dilation, 1)?;
        match &self.bias {
            Some(b) => y.broadcast_add(&b.reshape((1, (), 1))?),
            None => Ok(y),
        }
    }
}

/// `nn.ConvTranspose1d` (groups 1, dilation 1, no output padding).
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
    ) -> Result<Self> {
        Ok(Self {
            weight: conv_weight(&vb, (c_in, c_out, kernel))?,
            bias: vb.get(c_out, "bias")?,
            stride,
            padding: (kernel - stride) / 2,
        })
    }
}

impl Module for ConvTranspose1d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.conv_transpose1d(&self.weight, self.padding, 0, self.stride, 1, 1)?;
        y.broadcast_add(&self.bias.reshape((1, (), 1))?)
    }
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
    pub(crate) fn from_name(name: &str) -> std::result::Result<Self, SpeechT5Error> {
        match name {
            "relu" => Ok(Self::Relu),
            "gelu" => Ok(Self::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Self::GeluTanh),
            "silu" | "swish" => Ok(Self::Silu),
            other => Err(SpeechT5Error::Unsupported(format!("hidden_act {other:?}"))),
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

/// The table of `SpeechT5ScaledPositionalEncoding`, `(max_len, dim)`, computed in f32 in
/// PyTorch's order: `div = exp(2i * -(ln(10000) / dim))`, `sin(pos * div)` in the even columns,
/// `cos(pos * div)` in the odd ones.
pub(crate) fn scaled_positions(max_len: usize, dim: usize, device: &Device) -> Result<Tensor> {
    let factor = -(10000f64.ln() / dim as f64) as f32;
    let div: Vec<f32> = (0..dim / 2)
        .map(|i| ((2 * i) as f32 * factor).exp())
        .collect();
    let mut table = vec![0f32; max_len * dim];
    for pos in 0..max_len {
        let row = &mut table[pos * dim..(pos + 1) * dim];
        for (i, d) in div.iter().enumerate() {
            let angle = pos as f32 * d;
            row[2 * i] = angle.sin();
            row[2 * i + 1] = angle.cos();
        }
    }
    Tensor::from_vec(table, (max_len, dim), device)?.to_dtype(DType::F32)
}

/// `x / s` as a true division (candle's `Tensor / f64` multiplies by the reciprocal).
pub(crate) fn div_scalar(x: &Tensor, s: f64) -> Result<Tensor> {
    let s = Tensor::new(s as f32, x.device())?.to_dtype(x.dtype())?;
    x.broadcast_div(&s)
}

/// `leaky_relu(x, slope)` for `0 <= slope <= 1` as `max(x, slope * x)`.
pub(crate) fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    x.maximum(&x.affine(slope, 0.0)?)
}

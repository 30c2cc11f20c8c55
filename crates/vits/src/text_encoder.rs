//! The text encoder: token embeddings scaled by sqrt(hidden), transformer layers with
//! relative-position multi-head attention (post-norm) and convolutional feed-forward, and the
//! 1x1 projection to the prior means and log-variances. One unpadded sequence at a time, so the
//! padding masks of transformers' code are all ones and left out.

use candle_core::{D, Result, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, Module, VarBuilder};

use crate::config::VitsConfig;
use crate::layers::{self, Activation, Conv1d, ConvSpec};

/// What the text encoder produces for one sequence of `len` tokens.
#[derive(Debug, Clone)]
pub(crate) struct TextEncoderOutput {
    /// `(1, len, hidden)`
    pub(crate) hidden_states: Tensor,
    /// `(1, len, flow)`
    pub(crate) prior_means: Tensor,
    /// `(1, len, flow)`
    pub(crate) prior_log_variances: Tensor,
}

#[derive(Debug, Clone)]
struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    heads: usize,
    head_dim: usize,
    scaling: f64,
    /// `(emb_rel_k, emb_rel_v, window)`, each embedding `(1, 2 * window + 1, head_dim)`.
    relative: Option<(Tensor, Tensor, usize)>,
}

fn linear(vb: VarBuilder, dim: usize, bias: bool) -> Result<Linear> {
    if bias {
        candle_nn::linear(dim, dim, vb)
    } else {
        candle_nn::linear_no_bias(dim, dim, vb)
    }
}

impl Attention {
    fn load(vb: VarBuilder, c: &VitsConfig) -> Result<Self> {
        let dim = c.hidden_size;
        let heads = c.num_attention_heads;
        let head_dim = dim / heads;
        let relative = match c.attention_window() {
            Some(w) => Some((
                vb.get((1, 2 * w + 1, head_dim), "emb_rel_k")?,
                vb.get((1, 2 * w + 1, head_dim), "emb_rel_v")?,
                w,
            )),
            None => None,
        };
        Ok(Self {
            q: linear(vb.pp("q_proj"), dim, c.use_bias)?,
            k: linear(vb.pp("k_proj"), dim, c.use_bias)?,
            v: linear(vb.pp("v_proj"), dim, c.use_bias)?,
            out: linear(vb.pp("out_proj"), dim, c.use_bias)?,
            heads,
            head_dim,
            scaling: (head_dim as f64).powf(-0.5),
            relative,
        })
    }

    /// `(1, len, dim)` -> `(heads, len, head_dim)`
    fn heads(&self, x: &Tensor, len: usize) -> Result<Tensor> {
        x.reshape((len, self.heads, self.head_dim))?
            .transpose(0, 1)?
            .contiguous()
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, len, dim) = x.dims3()?;
        let q = self.heads(&layers::mul_scalar(&self.q.forward(x)?, self.scaling)?, len)?;
        let k = self.heads(&self.k.forward(x)?, len)?;
        let v = self.heads(&self.v.forward(x)?, len)?;
        let mut scores = q.matmul(&k.t()?)?;
        if let Some((rel_k, _, w)) = &self.relative {
            let rel_k = relative_embeddings(rel_k, *w, len)?;
            let logits = q.broadcast_matmul(&rel_k.t()?)?;
            scores = (scores + relative_to_absolute(&logits)?)?;
        }
        let probs = layers::softmax_last(&scores)?;
        let mut out = probs.matmul(&v)?;
        if let Some((_, rel_v, w)) = &self.relative {
            let rel_v = relative_embeddings(rel_v, *w, len)?;
            let weights = absolute_to_relative(&probs)?;
            out = (out + weights.broadcast_matmul(&rel_v)?)?;
        }
        let out = out.transpose(0, 1)?.reshape((1, len, dim))?;
        self.out.forward(&out)
    }
}

/// The `2 * len - 1` relative embeddings for offsets `-(len-1)..=len-1`: the window's embeddings,
/// zero-padded (or cut) to that size (`VitsAttention._get_relative_embeddings`).
fn relative_embeddings(emb: &Tensor, window: usize, len: usize) -> Result<Tensor> {
    let pad = len.saturating_sub(window + 1);
    let emb = if pad > 0 {
        emb.pad_with_zeros(1, pad, pad)?
    } else {
        emb.clone()
    };
    let start = (window + 1).saturating_sub(len);
    emb.narrow(1, start, 2 * len - 1)?.contiguous()
}

/// `(h, len, 2len-1)` logits per relative offset -> `(h, len, len)` per key position:
/// `out[i][j] = x[i][j - i + len - 1]`, by the pad-and-reshape trick of the reference.
fn relative_to_absolute(x: &Tensor) -> Result<Tensor> {
    let (h, len, _) = x.dims3()?;
    let x = x.pad_with_zeros(D::Minus1, 0, 1)?;
    let x = x
        .reshape((h, len * 2 * len))?
        .pad_with_zeros(D::Minus1, 0, len - 1)?;
    x.reshape((h, len + 1, 2 * len - 1))?
        .narrow(1, 0, len)?
        .narrow(2, len - 1, len)
}

/// The inverse skew: `(h, len, len)` per key position -> `(h, len, 2len-1)` per offset.
fn absolute_to_relative(x: &Tensor) -> Result<Tensor> {
    let (h, len, _) = x.dims3()?;
    let x = x.pad_with_zeros(D::Minus1, 0, len - 1)?;
    let x = x
        .reshape((h, len * (2 * len - 1)))?
        .pad_with_zeros(D::Minus1, len, 0)?;
    x.reshape((h, len, 2 * len))?.narrow(2, 1, 2 * len - 1)
}

#[derive(Debug, Clone)]
struct FeedForward {
    conv_1: Conv1d,
    conv_2: Conv1d,
    act: Activation,
    /// Left/right zero padding before each convolution (asymmetric for even kernels).
    pad: (usize, usize),
}

impl FeedForward {
    fn load(vb: VarBuilder, c: &VitsConfig) -> Result<Self> {
        let k = c.ffn_kernel_size;
        let act = layers::activation(&c.hidden_act).map_err(candle_core::Error::wrap)?;
        Ok(Self {
            conv_1: Conv1d::load(
                vb.pp("conv_1"),
                c.hidden_size,
                c.ffn_dim,
                ConvSpec::kernel(k),
            )?,
            conv_2: Conv1d::load(
                vb.pp("conv_2"),
                c.ffn_dim,
                c.hidden_size,
                ConvSpec::kernel(k),
            )?,
            act,
            pad: ((k - 1) / 2, k / 2),
        })
    }

    /// `(1, len, hidden)` -> `(1, len, hidden)`
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = x.transpose(1, 2)?.contiguous()?;
        let x = self
            .conv_1
            .forward(&x.pad_with_zeros(D::Minus1, self.pad.0, self.pad.1)?)?;
        let x = self.act.forward(&x)?;
        let x = self
            .conv_2
            .forward(&x.pad_with_zeros(D::Minus1, self.pad.0, self.pad.1)?)?;
        x.transpose(1, 2)?.contiguous()
    }
}

#[derive(Debug, Clone)]
struct EncoderLayer {
    attention: Attention,
    layer_norm: LayerNorm,
    feed_forward: FeedForward,
    final_layer_norm: LayerNorm,
}

impl EncoderLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = self
            .layer_norm
            .forward(&(x + self.attention.forward(x)?)?)?;
        self.final_layer_norm
            .forward(&(&x + self.feed_forward.forward(&x)?)?)
    }
}

/// `VitsTextEncoder`.
#[derive(Debug, Clone)]
pub(crate) struct TextEncoder {
    embed_tokens: Embedding,
    layers: Vec<EncoderLayer>,
    project: Conv1d,
    hidden_size: usize,
    flow_size: usize,
}

impl TextEncoder {
    pub(crate) fn load(vb: VarBuilder, c: &VitsConfig) -> Result<Self> {
        let layers = (0..c.num_hidden_layers)
            .map(|i| {
                let vb = vb.pp(format!("encoder.layers.{i}"));
                Ok(EncoderLayer {
                    attention: Attention::load(vb.pp("attention"), c)?,
                    layer_norm: layers::layer_norm(
                        vb.pp("layer_norm"),
                        c.hidden_size,
                        c.layer_norm_eps,
                    )?,
                    feed_forward: FeedForward::load(vb.pp("feed_forward"), c)?,
                    final_layer_norm: layers::layer_norm(
                        vb.pp("final_layer_norm"),
                        c.hidden_size,
                        c.layer_norm_eps,
                    )?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            embed_tokens: candle_nn::embedding(c.vocab_size, c.hidden_size, vb.pp("embed_tokens"))?,
            layers,
            project: Conv1d::load(
                vb.pp("project"),
                c.hidden_size,
                2 * c.flow_size,
                ConvSpec::pointwise(),
            )?,
            hidden_size: c.hidden_size,
            flow_size: c.flow_size,
        })
    }

    /// `ids`: `(1, len)` u32.
    pub(crate) fn forward(&self, ids: &Tensor) -> Result<TextEncoderOutput> {
        let x = self.embed_tokens.forward(ids)?;
        let mut x = layers::mul_scalar(&x, (self.hidden_size as f64).sqrt())?;
        for layer in &self.layers {
            x = layer.forward(&x)?;
        }
        let stats = self.project.forward(&x.transpose(1, 2)?.contiguous()?)?;
        let stats = stats.transpose(1, 2)?.contiguous()?;
        Ok(TextEncoderOutput {
            prior_means: stats.narrow(2, 0, self.flow_size)?.contiguous()?,
            prior_log_variances: stats
                .narrow(2, self.flow_size, self.flow_size)?
                .contiguous()?,
            hidden_states: x,
        })
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    /// The pad-and-reshape skews against their definition by offsets.
    #[test]
    fn relative_and_absolute_positions_are_inverse_skews() {
        let len = 4;
        let rel: Vec<f32> = (0..len * (2 * len - 1)).map(|v| v as f32).collect();
        let rel = Tensor::from_vec(rel, (1, len, 2 * len - 1), &Device::Cpu).expect("tensor");
        let abs = relative_to_absolute(&rel).expect("skew");
        let a = abs
            .squeeze(0)
            .expect("squeeze")
            .to_vec2::<f32>()
            .expect("vec");
        let r = rel
            .squeeze(0)
            .expect("squeeze")
            .to_vec2::<f32>()
            .expect("vec");
        for i in 0..len {
            for j in 0..len {
                assert_eq!(a[i][j], r[i][j + len - 1 - i]);
            }
        }
        let back = absolute_to_relative(&abs).expect("unskew");
        let b = back
            .squeeze(0)
            .expect("squeeze")
            .to_vec2::<f32>()
            .expect("vec");
        for i in 0..len {
            for o in 0..2 * len - 1 {
                let j = o as isize - (len as isize - 1) + i as isize;
                let expect = if (0..len as isize).contains(&j) {
                    r[i][o]
                } else {
                    0.0
                };
                assert_eq!(b[i][o], expect);
            }
        }
    }
}

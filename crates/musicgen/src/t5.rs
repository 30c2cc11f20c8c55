//! The T5 text encoder (`T5EncoderModel`) as MusicGen conditions on it: token embeddings,
//! self-attention blocks with T5's bucketed relative position bias (computed by the first block,
//! shared by all), RMS layer norms without mean subtraction, and the plain or gated feed-forward.

use audiosubnet_candle::Activation;
use candle_core::{D, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder, linear_no_bias};

use crate::MusicGenError;
use crate::config::T5Config;

/// `T5LayerNorm`: `weight * x / sqrt(mean(x^2) + eps)`, no bias, no mean subtraction.
struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn load(vb: VarBuilder, size: usize, eps: f64) -> candle_core::Result<Self> {
        Ok(Self {
            weight: vb.get(size, "weight")?,
            eps,
        })
    }

    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let variance = xs.sqr()?.mean_keepdim(D::Minus1)?;
        let xs = xs.broadcast_mul(&(variance + self.eps)?.sqrt()?.recip()?)?;
        xs.broadcast_mul(&self.weight)
    }
}

struct SelfAttention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    heads: usize,
    d_kv: usize,
}

impl SelfAttention {
    fn load(vb: VarBuilder, cfg: &T5Config) -> candle_core::Result<Self> {
        let inner = cfg.num_heads * cfg.d_kv;
        Ok(Self {
            q: linear_no_bias(cfg.d_model, inner, vb.pp("q"))?,
            k: linear_no_bias(cfg.d_model, inner, vb.pp("k"))?,
            v: linear_no_bias(cfg.d_model, inner, vb.pp("v"))?,
            o: linear_no_bias(inner, cfg.d_model, vb.pp("o"))?,
            heads: cfg.num_heads,
            d_kv: cfg.d_kv,
        })
    }

    fn split(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let (b, len, _) = xs.dims3()?;
        xs.reshape((b, len, self.heads, self.d_kv))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// `bias`: position bias plus mask, `(b or 1, heads, len, len)`.
    fn forward(&self, xs: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
        let (b, len, _) = xs.dims3()?;
        let q = self.split(&self.q.forward(xs)?)?;
        let k = self.split(&self.k.forward(xs)?)?;
        let v = self.split(&self.v.forward(xs)?)?;
        // T5 does not scale the scores (the initialisation absorbs 1/sqrt(d_kv)).
        let scores = q.matmul(&k.t()?)?.broadcast_add(bias)?;
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        let out = weights
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((b, len, self.heads * self.d_kv))?;
        self.o.forward(&out)
    }
}

enum FeedForward {
    Plain {
        wi: Linear,
        wo: Linear,
        act: Activation,
    },
    Gated {
        wi_0: Linear,
        wi_1: Linear,
        wo: Linear,
        act: Activation,
    },
}

impl FeedForward {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Plain { wi, wo, act } => wo.forward(&act.forward(&wi.forward(xs)?)?),
            Self::Gated {
                wi_0,
                wi_1,
                wo,
                act,
            } => {
                let gate = act.forward(&wi_0.forward(xs)?)?;
                wo.forward(&(gate * wi_1.forward(xs)?)?)
            }
        }
    }
}

struct Block {
    attn_norm: RmsNorm,
    attn: SelfAttention,
    ff_norm: RmsNorm,
    ff: FeedForward,
}

/// `T5EncoderModel` (encoder stack only).
pub(crate) struct T5Encoder {
    embed: Tensor,
    relative_bias: Tensor,
    blocks: Vec<Block>,
    final_norm: RmsNorm,
    num_buckets: usize,
    max_distance: usize,
    vocab_size: usize,
}

impl T5Encoder {
    /// `vb` at the text encoder's root (`text_encoder`).
    pub(crate) fn load(vb: VarBuilder, cfg: &T5Config) -> Result<Self, MusicGenError> {
        let (act_name, gated) = cfg.feed_forward()?;
        let act = Activation::from_name(&act_name).ok_or_else(|| {
            MusicGenError::Unsupported(format!("text encoder activation {act_name:?}"))
        })?;
        // `shared` is tied to `encoder.embed_tokens`; save_pretrained keeps one of them.
        let embed_shape = (cfg.vocab_size, cfg.d_model);
        let embed = if vb.contains_tensor("shared.weight") {
            vb.get(embed_shape, "shared.weight")?
        } else {
            vb.get(embed_shape, "encoder.embed_tokens.weight")?
        };
        let enc = vb.pp("encoder");
        let relative_bias = enc
            .pp("block.0.layer.0.SelfAttention.relative_attention_bias")
            .get(
                (cfg.relative_attention_num_buckets, cfg.num_heads),
                "weight",
            )?;
        let blocks = (0..cfg.num_layers)
            .map(|i| {
                let block = enc.pp(format!("block.{i}"));
                let l0 = block.pp("layer.0");
                let l1 = block.pp("layer.1");
                let dense = l1.pp("DenseReluDense");
                let ff = if gated {
                    FeedForward::Gated {
                        wi_0: linear_no_bias(cfg.d_model, cfg.d_ff, dense.pp("wi_0"))?,
                        wi_1: linear_no_bias(cfg.d_model, cfg.d_ff, dense.pp("wi_1"))?,
                        wo: linear_no_bias(cfg.d_ff, cfg.d_model, dense.pp("wo"))?,
                        act,
                    }
                } else {
                    FeedForward::Plain {
                        wi: linear_no_bias(cfg.d_model, cfg.d_ff, dense.pp("wi"))?,
                        wo: linear_no_bias(cfg.d_ff, cfg.d_model, dense.pp("wo"))?,
                        act,
                    }
                };
                Ok(Block {
                    attn_norm: RmsNorm::load(
                        l0.pp("layer_norm"),
                        cfg.d_model,
                        cfg.layer_norm_epsilon,
                    )?,
                    attn: SelfAttention::load(l0.pp("SelfAttention"), cfg)?,
                    ff_norm: RmsNorm::load(
                        l1.pp("layer_norm"),
                        cfg.d_model,
                        cfg.layer_norm_epsilon,
                    )?,
                    ff,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let final_norm = RmsNorm::load(
            enc.pp("final_layer_norm"),
            cfg.d_model,
            cfg.layer_norm_epsilon,
        )?;
        Ok(Self {
            embed,
            relative_bias,
            blocks,
            final_norm,
            num_buckets: cfg.relative_attention_num_buckets,
            max_distance: cfg.relative_attention_max_distance,
            vocab_size: cfg.vocab_size,
        })
    }

    /// Last hidden state `(1, len, d_model)` of one sequence of token ids (no padding).
    pub(crate) fn forward(&self, ids: &[u32], device: &Device) -> Result<Tensor, MusicGenError> {
        if ids.is_empty() {
            return Err(MusicGenError::InvalidInput("no input ids".into()));
        }
        if let Some(bad) = ids.iter().find(|&&id| id as usize >= self.vocab_size) {
            return Err(MusicGenError::InvalidInput(format!(
                "input id {bad} is outside the text vocabulary of {}",
                self.vocab_size
            )));
        }
        let len = ids.len();
        let ids_t = Tensor::from_slice(ids, (1, len), device)?;
        let mut xs = self.embed.embedding(&ids_t.flatten_all()?)?.unsqueeze(0)?;
        let bias = self.position_bias(len, device)?;
        for block in &self.blocks {
            let h = block.attn.forward(&block.attn_norm.forward(&xs)?, &bias)?;
            xs = (xs + h)?;
            let h = block.ff.forward(&block.ff_norm.forward(&xs)?)?;
            xs = (xs + h)?;
        }
        Ok(self.final_norm.forward(&xs)?)
    }

    /// `T5Attention.compute_bias` for a bidirectional encoder: `(1, heads, len, len)`.
    fn position_bias(&self, len: usize, device: &Device) -> candle_core::Result<Tensor> {
        let mut buckets = Vec::with_capacity(len * len);
        for query in 0..len {
            for key in 0..len {
                buckets.push(relative_bucket(
                    key as i64 - query as i64,
                    self.num_buckets,
                    self.max_distance,
                ));
            }
        }
        let buckets = Tensor::from_vec(buckets, len * len, device)?;
        let values = self.relative_bias.embedding(&buckets)?; // (len * len, heads)
        values
            .reshape((len, len, ()))?
            .permute((2, 0, 1))?
            .unsqueeze(0)?
            .contiguous()
    }
}

/// `T5Attention._relative_position_bucket` (bidirectional), in f32 as PyTorch computes it.
fn relative_bucket(relative: i64, num_buckets: usize, max_distance: usize) -> u32 {
    let half = (num_buckets / 2) as i64;
    let mut bucket = if relative > 0 { half } else { 0 };
    let distance = relative.abs();
    let max_exact = half / 2;
    if distance < max_exact {
        bucket += distance;
    } else {
        // torch: log(d.float() / max_exact) / math.log(max_distance / max_exact) * (nb - me);
        // a tensor divided by a Python scalar is multiplied by its f32 reciprocal.
        let ratio = distance as f32 / max_exact as f32;
        let denom = (max_distance as f64 / max_exact as f64).ln() as f32;
        let scaled = ratio.ln() * (1.0f32 / denom) * (half - max_exact) as f32;
        let large = (max_exact + scaled as i64).min(half - 1);
        bucket += large;
    }
    bucket as u32
}

#[cfg(test)]
mod tests {
    use super::relative_bucket;

    #[test]
    fn buckets_match_t5_for_the_default_geometry() {
        // transformers' T5 with 32 buckets and max distance 128, bidirectional.
        let want = [
            (-200, 15),
            (-128, 15),
            (-40, 12),
            (-9, 8),
            (-8, 8),
            (-7, 7),
            (-1, 1),
            (0, 0),
            (1, 17),
            (7, 23),
            (8, 24),
            (20, 26),
            (127, 31),
            (500, 31),
        ];
        for (relative, bucket) in want {
            assert_eq!(relative_bucket(relative, 32, 128), bucket, "{relative}");
        }
    }
}

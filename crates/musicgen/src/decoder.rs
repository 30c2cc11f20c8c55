//! `MusicgenForCausalLM`: the sum of per-codebook token embeddings plus sinusoidal positions,
//! pre-norm decoder layers (causal self-attention with a key/value cache, cross-attention to the
//! text encoder's states, GELU feed-forward), a final layer norm and one lm head per codebook.

use audiosubnet_candle::Activation;
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{LayerNorm, VarBuilder, layer_norm};

use crate::MusicGenError;
use crate::config::DecoderConfig;

/// `nn.LayerNorm`'s default epsilon (MusicGen's config has none).
const LAYER_NORM_EPS: f64 = 1e-5;

/// A bias-free linear layer that keeps its weight transposed, `(in, out)` and contiguous: the
/// decoder multiplies one or two rows at a time, and candle's CPU matmul against the
/// transposed view of an `(out, in)` weight runs several times slower for such thin inputs.
struct Linear {
    wt: Tensor,
}

fn linear_no_bias(input: usize, output: usize, vb: VarBuilder) -> candle_core::Result<Linear> {
    let w = vb.get((output, input), "weight")?;
    Ok(Linear {
        wt: w.t()?.contiguous()?,
    })
}

impl Module for Linear {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let dims = xs.dims();
        let (input, output) = self.wt.dims2()?;
        let rows = xs.elem_count() / input.max(1);
        let mut out_dims = dims.to_vec();
        if let Some(last) = out_dims.last_mut() {
            *last = output;
        }
        xs.contiguous()?
            .reshape((rows, input))?
            .matmul(&self.wt)?
            .reshape(out_dims)
    }
}

struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    heads: usize,
    head_dim: usize,
    scaling: f64,
}

impl Attention {
    fn load(vb: VarBuilder, dim: usize, heads: usize) -> candle_core::Result<Self> {
        let head_dim = dim / heads;
        Ok(Self {
            q: linear_no_bias(dim, dim, vb.pp("q_proj"))?,
            k: linear_no_bias(dim, dim, vb.pp("k_proj"))?,
            v: linear_no_bias(dim, dim, vb.pp("v_proj"))?,
            out: linear_no_bias(dim, dim, vb.pp("out_proj"))?,
            heads,
            head_dim,
            scaling: (head_dim as f64).powf(-0.5),
        })
    }

    /// `(b, len, dim)` -> `(b, heads, len, head_dim)`.
    fn split(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let (b, len, _) = xs.dims3()?;
        xs.reshape((b, len, self.heads, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Keys and values of `xs`, split into heads.
    fn key_values(&self, xs: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        Ok((
            self.split(&self.k.forward(xs)?)?,
            self.split(&self.v.forward(xs)?)?,
        ))
    }

    /// Eager `MusicgenAttention`: queries scaled before the product, `mask` added to scores.
    fn attend(
        &self,
        xs: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let (b, len, _) = xs.dims3()?;
        let q = self.split(&(self.q.forward(xs)? * self.scaling)?)?;
        let mut scores = q.matmul(&k.t()?)?;
        if let Some(mask) = mask {
            scores = scores.broadcast_add(mask)?;
        }
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        let out =
            weights
                .matmul(v)?
                .transpose(1, 2)?
                .reshape((b, len, self.heads * self.head_dim))?;
        self.out.forward(&out)
    }
}

struct Layer {
    self_norm: LayerNorm,
    self_attn: Attention,
    cross_norm: LayerNorm,
    cross_attn: Attention,
    final_norm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    act: Activation,
}

/// Per-layer keys and values: the self-attention's grow by one position a step, the
/// cross-attention's are computed once from the encoder states.
#[derive(Default)]
pub(crate) struct Cache {
    self_kv: Vec<Option<(Tensor, Tensor)>>,
    cross_kv: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

/// The text conditioning the cross-attention reads.
pub(crate) struct Conditioning {
    /// `(b, src, hidden)`, projected and multiplied by the mask.
    pub(crate) states: Tensor,
    /// Additive mask `(b, 1, 1, src)`: 0 where attended, `f32::MIN` where masked.
    pub(crate) mask: Tensor,
}

/// `MusicgenForCausalLM`.
pub(crate) struct Decoder {
    embed: Vec<Tensor>,
    positions: Option<Tensor>,
    layers: Vec<Layer>,
    norm: LayerNorm,
    heads: Vec<Linear>,
    cfg: DecoderConfig,
}

impl Decoder {
    /// `vb` at the decoder's root (`decoder`).
    pub(crate) fn load(vb: VarBuilder, cfg: &DecoderConfig) -> Result<Self, MusicGenError> {
        let act = Activation::from_name(&cfg.activation_function).ok_or_else(|| {
            MusicGenError::Unsupported(format!("decoder activation {:?}", cfg.activation_function))
        })?;
        let h = cfg.hidden_size;
        let model = vb.pp("model.decoder");
        let embed = (0..cfg.num_codebooks)
            .map(|k| {
                model
                    .pp(format!("embed_tokens.{k}"))
                    .get((cfg.vocab_size + 1, h), "weight")
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        // The sinusoidal table is a (frozen) parameter, so checkpoints usually carry it; it is
        // rebuilt when absent or too short.
        let positions = if model.contains_tensor("embed_positions.weights") {
            Some(model.get((cfg.max_position_embeddings, h), "embed_positions.weights")?)
        } else {
            None
        };
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let vb = model.pp(format!("layers.{i}"));
                Ok(Layer {
                    self_norm: layer_norm(h, LAYER_NORM_EPS, vb.pp("self_attn_layer_norm"))?,
                    self_attn: Attention::load(vb.pp("self_attn"), h, cfg.num_attention_heads)?,
                    cross_norm: layer_norm(h, LAYER_NORM_EPS, vb.pp("encoder_attn_layer_norm"))?,
                    cross_attn: Attention::load(vb.pp("encoder_attn"), h, cfg.num_attention_heads)?,
                    final_norm: layer_norm(h, LAYER_NORM_EPS, vb.pp("final_layer_norm"))?,
                    fc1: linear_no_bias(h, cfg.ffn_dim, vb.pp("fc1"))?,
                    fc2: linear_no_bias(cfg.ffn_dim, h, vb.pp("fc2"))?,
                    act,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let norm = layer_norm(h, LAYER_NORM_EPS, model.pp("layer_norm"))?;
        let heads = (0..cfg.num_codebooks)
            .map(|k| linear_no_bias(h, cfg.vocab_size, vb.pp(format!("lm_heads.{k}"))))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            embed,
            positions,
            layers,
            norm,
            heads,
            cfg: cfg.clone(),
        })
    }

    /// A fresh cache for this decoder.
    pub(crate) fn new_cache(&self) -> Cache {
        Cache {
            self_kv: vec![None; self.layers.len()],
            cross_kv: vec![None; self.layers.len()],
            len: 0,
        }
    }

    /// Sinusoidal positions `start..start + len`, `(len, hidden)`.
    fn positions(&self, start: usize, len: usize, device: &Device) -> candle_core::Result<Tensor> {
        if let Some(table) = &self.positions
            && start + len <= table.dim(0)?
        {
            return table.narrow(0, start, len);
        }
        sinusoidal(start, len, self.cfg.hidden_size, device)
    }

    /// Logits `(b, codebooks, len, vocab)` for codes `(b, codebooks, len)` following the
    /// `cache.len` positions already in `cache`.
    pub(crate) fn forward(
        &self,
        codes: &Tensor,
        cond: &Conditioning,
        cache: &mut Cache,
    ) -> candle_core::Result<Tensor> {
        let (b, k, len) = codes.dims3()?;
        if k != self.embed.len() {
            candle_core::bail!("{k} codebooks given, the decoder has {}", self.embed.len());
        }
        let device = codes.device();
        let mut xs: Option<Tensor> = None;
        for (i, table) in self.embed.iter().enumerate() {
            let ids = codes.narrow(1, i, 1)?.flatten_all()?;
            let e = table.embedding(&ids)?.reshape((b, len, ()))?;
            xs = Some(match xs {
                None => e,
                Some(acc) => (acc + e)?,
            });
        }
        let Some(xs) = xs else {
            candle_core::bail!("decoder without codebooks");
        };
        let past = cache.len;
        let mut xs = xs.broadcast_add(&self.positions(past, len, device)?.unsqueeze(0)?)?;
        let causal = if len > 1 {
            // Query i (absolute past + i) sees keys 0..=past + i.
            let total = past + len;
            let mask: Vec<f32> = (0..len)
                .flat_map(|i| {
                    (0..total).map(move |j| {
                        if j <= past + i {
                            0.0
                        } else {
                            f32::NEG_INFINITY
                        }
                    })
                })
                .collect();
            Some(Tensor::from_vec(mask, (1, 1, len, total), device)?)
        } else {
            None
        };
        for (idx, layer) in self.layers.iter().enumerate() {
            // Self-attention.
            let h = layer.self_norm.forward(&xs)?;
            let (k_new, v_new) = layer.self_attn.key_values(&h)?;
            let (k_all, v_all) = match cache.self_kv[idx].take() {
                Some((k_old, v_old)) => (
                    Tensor::cat(&[&k_old, &k_new], 2)?,
                    Tensor::cat(&[&v_old, &v_new], 2)?,
                ),
                None => (k_new, v_new),
            };
            let h = layer
                .self_attn
                .attend(&h, &k_all, &v_all, causal.as_ref())?;
            cache.self_kv[idx] = Some((k_all, v_all));
            xs = (xs + h)?;
            // Cross-attention.
            let h = layer.cross_norm.forward(&xs)?;
            let (k_c, v_c) = match &cache.cross_kv[idx] {
                Some(kv) => kv.clone(),
                None => {
                    let kv = layer.cross_attn.key_values(&cond.states)?;
                    cache.cross_kv[idx] = Some(kv.clone());
                    kv
                }
            };
            let h = layer.cross_attn.attend(&h, &k_c, &v_c, Some(&cond.mask))?;
            xs = (xs + h)?;
            // Feed-forward.
            let h = layer.final_norm.forward(&xs)?;
            let h = layer
                .fc2
                .forward(&layer.act.forward(&layer.fc1.forward(&h)?)?)?;
            xs = (xs + h)?;
        }
        cache.len += len;
        let xs = self.norm.forward(&xs)?;
        let logits = self
            .heads
            .iter()
            .map(|head| head.forward(&xs))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Tensor::stack(&logits, 1)
    }

    /// Codebooks predicted in parallel.
    pub(crate) fn num_codebooks(&self) -> usize {
        self.embed.len()
    }

    /// Codes per codebook.
    pub(crate) fn vocab_size(&self) -> usize {
        self.cfg.vocab_size
    }
}

/// `MusicgenSinusoidalPositionalEmbedding.get_embedding` rows `start..start + len`, in f32.
fn sinusoidal(
    start: usize,
    len: usize,
    dim: usize,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let half = dim / 2;
    let step = (10_000f64.ln() / (half as f64 - 1.0)) as f32;
    let freqs: Vec<f32> = (0..half).map(|i| (i as f32 * -step).exp()).collect();
    let mut table = Vec::with_capacity(len * dim);
    for pos in start..start + len {
        let angles: Vec<f32> = freqs.iter().map(|f| pos as f32 * f).collect();
        table.extend(angles.iter().map(|a| a.cos()));
        table.extend(angles.iter().map(|a| a.sin()));
        if dim % 2 == 1 {
            table.push(0.0);
        }
    }
    Tensor::from_vec(table, (len, dim), device)?.to_dtype(DType::F32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinusoids_start_with_cosines() {
        let t = sinusoidal(0, 3, 6, &Device::Cpu).expect("table");
        let rows = t.to_vec2::<f32>().expect("rows");
        assert_eq!(rows[0], [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
        // Frequencies 1, 10^-2, 10^-4 for dim 6 (half 3).
        assert!((rows[2][0] - 2f32.cos()).abs() < 1e-6);
        assert!((rows[2][4] - (2.0f32 * 0.01).sin()).abs() < 1e-6);
    }
}

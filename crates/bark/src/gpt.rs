//! The GPT networks of the three stages: `BarkCausalModel` (semantic and coarse: causal
//! self-attention with a KV cache) and `BarkFineModel` (non-causal, one embedding table per
//! codebook summed up to the predicted one, one head per predicted codebook).

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};

use crate::config::SubModelConfig;

fn linear(vb: &VarBuilder, inp: usize, out: usize, bias: bool) -> candle_core::Result<Linear> {
    let weight = vb.get((out, inp), "weight")?;
    let bias = if bias {
        Some(vb.get(out, "bias")?)
    } else {
        None
    };
    Ok(Linear::new(weight, bias))
}

fn layer_norm(vb: &VarBuilder, size: usize, bias: bool) -> candle_core::Result<LayerNorm> {
    let weight = vb.get(size, "weight")?;
    // PyTorch's nn.LayerNorm default eps.
    Ok(if bias {
        LayerNorm::new(weight, vb.get(size, "bias")?, 1e-5)
    } else {
        LayerNorm::new_no_bias(weight, 1e-5)
    })
}

fn embedding(vb: &VarBuilder, n: usize, size: usize) -> candle_core::Result<Embedding> {
    Ok(Embedding::new(vb.get((n, size), "weight")?, size))
}

struct Block {
    ln1: LayerNorm,
    ln2: LayerNorm,
    att_proj: Linear,
    att_out: Linear,
    mlp_in: Linear,
    mlp_out: Linear,
    heads: usize,
    hidden: usize,
}

impl Block {
    fn load(vb: VarBuilder, cfg: &SubModelConfig, causal: bool) -> candle_core::Result<Self> {
        let h = cfg.hidden_size;
        // BarkBlock gives the fine (non-causal) model's layer norms a bias whatever `bias` says.
        let ln_bias = if causal { cfg.bias } else { true };
        Ok(Self {
            ln1: layer_norm(&vb.pp("layernorm_1"), h, ln_bias)?,
            ln2: layer_norm(&vb.pp("layernorm_2"), h, ln_bias)?,
            att_proj: linear(&vb.pp("attn.att_proj"), h, 3 * h, cfg.bias)?,
            att_out: linear(&vb.pp("attn.out_proj"), h, h, cfg.bias)?,
            mlp_in: linear(&vb.pp("mlp.in_proj"), h, 4 * h, cfg.bias)?,
            mlp_out: linear(&vb.pp("mlp.out_proj"), 4 * h, h, cfg.bias)?,
            heads: cfg.num_heads,
            hidden: h,
        })
    }

    /// `xs` `(1, t, hidden)`; `cache` holds this layer's keys and values `(1, heads, past, d)`
    /// when causal.
    fn forward(
        &self,
        xs: &Tensor,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
    ) -> candle_core::Result<Tensor> {
        let (b, t, _) = xs.dims3()?;
        let d = self.hidden / self.heads;
        let h = self.ln1.forward(xs)?;
        let qkv = self.att_proj.forward(&h)?;
        let split = |i: usize| -> candle_core::Result<Tensor> {
            qkv.narrow(2, i * self.hidden, self.hidden)?
                .reshape((b, t, self.heads, d))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(0)?;
        let mut k = split(1)?;
        let mut v = split(2)?;
        let causal = cache.is_some();
        let mut past = 0;
        if let Some(cache) = cache {
            if let Some((pk, pv)) = cache.as_ref() {
                past = pk.dim(2)?;
                k = Tensor::cat(&[pk, &k], 2)?;
                v = Tensor::cat(&[pv, &v], 2)?;
            }
            *cache = Some((k.clone(), v.clone()));
        }
        let scale = 1.0 / (d as f64).sqrt();
        let mut att = (q.matmul(&k.t()?)? * scale)?;
        if causal && t > 1 {
            let total = past + t;
            // Query i sees keys 0..=past+i; the others get a zero weight (transformers fills
            // them with the float minimum, which softmax also turns into exactly zero).
            let mask: Vec<f32> = (0..t)
                .flat_map(|i| (0..total).map(move |j| if j <= past + i { 0.0 } else { f32::MIN }))
                .collect();
            let mask = Tensor::from_vec(mask, (t, total), xs.device())?;
            att = att.broadcast_add(&mask)?;
        }
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let y = att
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((b, t, self.hidden))?;
        let xs = (xs + self.att_out.forward(&y)?)?;
        let m = self
            .mlp_out
            .forward(&self.mlp_in.forward(&self.ln2.forward(&xs)?)?.gelu_erf()?)?;
        xs + m
    }
}

/// `BarkCausalModel` (the semantic and coarse stages).
pub(crate) struct CausalModel {
    wte: Embedding,
    wpe: Embedding,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    lm_head: Linear,
    pub(crate) config: SubModelConfig,
}

/// Keys and values of every layer, and how many positions they hold.
pub(crate) struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl CausalModel {
    pub(crate) fn load(vb: VarBuilder, cfg: &SubModelConfig) -> candle_core::Result<Self> {
        let blocks = (0..cfg.num_layers)
            .map(|i| Block::load(vb.pp(format!("layers.{i}")), cfg, true))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            wte: embedding(
                &vb.pp("input_embeds_layer"),
                cfg.input_vocab_size,
                cfg.hidden_size,
            )?,
            wpe: embedding(
                &vb.pp("position_embeds_layer"),
                cfg.block_size,
                cfg.hidden_size,
            )?,
            blocks,
            ln_f: layer_norm(&vb.pp("layernorm_final"), cfg.hidden_size, cfg.bias)?,
            lm_head: linear(
                &vb.pp("lm_head"),
                cfg.hidden_size,
                cfg.output_vocab_size,
                false,
            )?,
            config: cfg.clone(),
        })
    }

    pub(crate) fn new_cache(&self) -> KvCache {
        KvCache {
            layers: vec![None; self.blocks.len()],
            len: 0,
        }
    }

    /// Token embeddings `(1, t, hidden)` of `ids`.
    pub(crate) fn embed(&self, ids: &[u32], device: &Device) -> candle_core::Result<Tensor> {
        let ids = Tensor::new(ids, device)?.unsqueeze(0)?;
        self.wte.forward(&ids)
    }

    /// Runs `embeds` `(1, t, hidden)` after the cached positions; returns the logits of the
    /// last position as a vector.
    pub(crate) fn forward_last(
        &self,
        embeds: &Tensor,
        cache: &mut KvCache,
    ) -> candle_core::Result<Vec<f32>> {
        let t = embeds.dim(1)?;
        if cache.len + t > self.config.block_size {
            candle_core::bail!(
                "sequence of {} positions exceeds block_size {}",
                cache.len + t,
                self.config.block_size
            );
        }
        let pos: Vec<u32> = (cache.len..cache.len + t).map(|p| p as u32).collect();
        let pos = Tensor::new(pos.as_slice(), embeds.device())?.unsqueeze(0)?;
        let mut xs = embeds.broadcast_add(&self.wpe.forward(&pos)?)?;
        for (block, layer_cache) in self.blocks.iter().zip(cache.layers.iter_mut()) {
            xs = block.forward(&xs, Some(layer_cache))?;
        }
        cache.len += t;
        let last = xs.narrow(1, t - 1, 1)?;
        let logits = self.lm_head.forward(&self.ln_f.forward(&last)?)?;
        logits.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()
    }
}

/// `BarkFineModel`.
pub(crate) struct FineModel {
    wtes: Vec<Embedding>,
    wpe: Embedding,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    lm_heads: Vec<Linear>,
    pub(crate) config: SubModelConfig,
}

impl FineModel {
    pub(crate) fn load(vb: VarBuilder, cfg: &SubModelConfig) -> candle_core::Result<Self> {
        let h = cfg.hidden_size;
        let wtes = (0..cfg.n_codes_total)
            .map(|i| {
                embedding(
                    &vb.pp(format!("input_embeds_layers.{i}")),
                    cfg.input_vocab_size,
                    h,
                )
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let blocks = (0..cfg.num_layers)
            .map(|i| Block::load(vb.pp(format!("layers.{i}")), cfg, false))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let lm_heads = (cfg.n_codes_given..cfg.n_codes_total)
            .map(|codebook| {
                let i = codebook - cfg.n_codes_given;
                let name = format!("lm_heads.{i}");
                if vb.contains_tensor(&format!("{name}.weight")) {
                    linear(&vb.pp(name), h, cfg.output_vocab_size, false)
                } else {
                    // Tied to the next codebook's input embedding (tie_word_embeddings: the
                    // checkpoint then stores only the embedding).
                    let w = vb
                        .pp(format!("input_embeds_layers.{}", i + 1))
                        .get((cfg.output_vocab_size, h), "weight")?;
                    Ok(Linear::new(w, None))
                }
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            wtes,
            wpe: embedding(&vb.pp("position_embeds_layer"), cfg.block_size, h)?,
            blocks,
            ln_f: layer_norm(&vb.pp("layernorm_final"), h, true)?,
            lm_heads,
            config: cfg.clone(),
        })
    }

    /// Logits `(t, output_vocab)` of codebook `codebook` (>= n_codes_given) for `codes`
    /// `(t, n_codes_total)`, row-major.
    pub(crate) fn forward(
        &self,
        codebook: usize,
        codes: &[u32],
        t: usize,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let n = self.config.n_codes_total;
        let ids = Tensor::from_slice(codes, (t, n), device)?;
        let mut xs: Option<Tensor> = None;
        for (i, wte) in self.wtes.iter().enumerate().take(codebook + 1) {
            let e = wte.forward(&ids.narrow(1, i, 1)?.squeeze(1)?)?;
            xs = Some(match xs {
                None => e,
                Some(acc) => (acc + e)?,
            });
        }
        let Some(xs) = xs else {
            candle_core::bail!("no codebook embedded");
        };
        let pos: Vec<u32> = (0..t as u32).collect();
        let pos = Tensor::new(pos.as_slice(), device)?;
        let mut xs = (xs + self.wpe.forward(&pos)?)?.unsqueeze(0)?;
        for block in &self.blocks {
            xs = block.forward(&xs, None)?;
        }
        let head = codebook
            .checked_sub(self.config.n_codes_given)
            .and_then(|i| self.lm_heads.get(i));
        let Some(head) = head else {
            candle_core::bail!("codebook {codebook} has no head");
        };
        head.forward(&self.ln_f.forward(&xs)?)?
            .squeeze(0)?
            .to_dtype(DType::F32)
    }
}

/// Index of the first maximum (torch.argmax's choice on ties).
pub(crate) fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// Softmax of a slice, in f64.
pub(crate) fn softmax(values: &[f32]) -> Vec<f64> {
    let max = values
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
        .max(f32::MIN) as f64;
    let exps: Vec<f64> = values.iter().map(|&v| (v as f64 - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

//! The RoBERTa text encoder (`ClapTextModel`) and its pooler: word, position (from `pad + 1`,
//! RoBERTa's offset) and token-type embeddings, post-norm self-attention layers, and
//! `tanh(dense(first token))`.

use audiosubnet_candle::{Activation, div_scalar};
use candle_core::{Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder, embedding, layer_norm, linear};

use crate::ClapError;
use crate::config::TextConfig;

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

impl Layer {
    fn load(vb: VarBuilder, cfg: &TextConfig) -> candle_core::Result<Self> {
        let h = cfg.hidden_size;
        let attn = vb.pp("attention");
        Ok(Self {
            query: linear(h, h, attn.pp("self").pp("query"))?,
            key: linear(h, h, attn.pp("self").pp("key"))?,
            value: linear(h, h, attn.pp("self").pp("value"))?,
            attn_out: linear(h, h, attn.pp("output").pp("dense"))?,
            attn_norm: layer_norm(h, cfg.layer_norm_eps, attn.pp("output").pp("LayerNorm"))?,
            intermediate: linear(h, cfg.intermediate_size, vb.pp("intermediate").pp("dense"))?,
            output: linear(cfg.intermediate_size, h, vb.pp("output").pp("dense"))?,
            output_norm: layer_norm(h, cfg.layer_norm_eps, vb.pp("output").pp("LayerNorm"))?,
        })
    }
}

/// `ClapTextModel` with its pooler, for one unpadded sequence.
pub(crate) struct TextEncoder {
    word: Embedding,
    position: Embedding,
    /// Row 0 of the token type table: every token has type 0.
    token_type: Tensor,
    norm: LayerNorm,
    layers: Vec<Layer>,
    pooler: Linear,
    act: Activation,
    heads: usize,
    head_dim: usize,
    pad: u32,
    max_tokens: usize,
}

impl TextEncoder {
    pub(crate) fn load(vb: VarBuilder, cfg: &TextConfig) -> Result<Self, ClapError> {
        let act = Activation::from_name(&cfg.hidden_act).ok_or_else(|| {
            ClapError::Unsupported(format!("text hidden_act {:?}", cfg.hidden_act))
        })?;
        let h = cfg.hidden_size;
        let emb = vb.pp("embeddings");
        let token_type = emb
            .get((cfg.type_vocab_size, h), "token_type_embeddings.weight")?
            .get(0)?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::load(vb.pp("encoder").pp("layer").pp(i), cfg))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            word: embedding(cfg.vocab_size, h, emb.pp("word_embeddings"))?,
            position: embedding(
                cfg.max_position_embeddings,
                h,
                emb.pp("position_embeddings"),
            )?,
            token_type,
            norm: layer_norm(h, cfg.layer_norm_eps, emb.pp("LayerNorm"))?,
            layers,
            pooler: linear(h, h, vb.pp("pooler").pp("dense"))?,
            act,
            heads: cfg.num_attention_heads,
            head_dim: h / cfg.num_attention_heads,
            pad: cfg.pad_token_id,
            max_tokens: cfg.max_tokens(),
        })
    }

    /// The pooled output `(1, hidden)` for `ids` (a batch of one, attention mask of ones).
    pub(crate) fn pooled(&self, ids: &[u32], device: &Device) -> Result<Tensor, ClapError> {
        if ids.is_empty() || ids.len() > self.max_tokens {
            return Err(ClapError::InvalidInput(format!(
                "{} tokens; the text encoder takes 1 to {}",
                ids.len(),
                self.max_tokens
            )));
        }
        // RoBERTa's `create_position_ids_from_input_ids`: pad tokens keep position `pad`, the
        // others count up from `pad + 1`.
        let mut next = self.pad;
        let positions: Vec<u32> = ids
            .iter()
            .map(|&id| {
                if id == self.pad {
                    self.pad
                } else {
                    next += 1;
                    next
                }
            })
            .collect();
        let len = ids.len();
        let ids = Tensor::from_vec(ids.to_vec(), (1, len), device)?;
        let positions = Tensor::from_vec(positions, (1, len), device)?;
        let x = self
            .word
            .forward(&ids)?
            .broadcast_add(&self.token_type)?
            .add(&self.position.forward(&positions)?)?;
        let mut x = self.norm.forward(&x)?;
        for layer in &self.layers {
            x = self.layer(layer, &x)?;
        }
        let first = x.narrow(1, 0, 1)?.squeeze(1)?;
        Ok(self.pooler.forward(&first)?.tanh()?)
    }

    fn split(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, len, _) = x.dims3()?;
        x.reshape((b, len, self.heads, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()
    }

    fn layer(&self, l: &Layer, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, len, h) = x.dims3()?;
        let q = self.split(&l.query.forward(x)?)?;
        let k = self.split(&l.key.forward(x)?)?;
        let v = self.split(&l.value.forward(x)?)?;
        let scores = div_scalar(
            &q.matmul(&k.t()?.contiguous()?)?,
            (self.head_dim as f64).sqrt(),
        )?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, len, h))?;
        let attn = l.attn_norm.forward(&(l.attn_out.forward(&ctx)? + x)?)?;
        let inner = self.act.forward(&l.intermediate.forward(&attn)?)?;
        l.output_norm.forward(&(l.output.forward(&inner)? + attn)?)
    }
}

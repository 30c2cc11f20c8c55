//! `SpeechT5ForTextToSpeech` for one sequence: the text encoder (token embeddings with scaled
//! sinusoidal positions, post-norm transformer layers with a relative position bias), the speech
//! decoder (prenet with always-on dropout and speaker projection, transformer layers with self-
//! and cross-attention and a key/value cache), the postnet, and the autoregressive loop of
//! transformers' `_generate_speech`.

use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_nn::{LayerNorm, Linear, VarBuilder};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::SpeechT5Error;
use crate::config::SpeechT5Config;
use crate::layers::{self, Activation, Conv1d, ConvSpec};

/// How generation runs and when it stops, as the arguments of transformers' `generate_speech`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerationOptions {
    /// Generation stops at the first step whose stop probabilities (summed over the
    /// `reduction_factor` frames of the step) reach this.
    pub threshold: f64,
    /// At least `int(tokens * minlenratio / reduction_factor)` steps.
    pub minlenratio: f64,
    /// At most `int(tokens * maxlenratio / reduction_factor)` steps (and at least one).
    pub maxlenratio: f64,
    /// Seed of the speech decoder prenet's dropout masks.
    pub seed: u64,
}

impl Default for GenerationOptions {
    /// transformers' defaults (0.5, 0.0, 20.0) and seed 0.
    fn default() -> Self {
        Self {
            threshold: 0.5,
            minlenratio: 0.0,
            maxlenratio: 20.0,
            seed: 0,
        }
    }
}

impl GenerationOptions {
    fn validate(&self) -> Result<(), SpeechT5Error> {
        for (name, v) in [
            ("threshold", self.threshold),
            ("minlenratio", self.minlenratio),
            ("maxlenratio", self.maxlenratio),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(SpeechT5Error::InvalidInput(format!("{name} {v}")));
            }
        }
        Ok(())
    }
}

/// Everything one generation produced, in transformers' layouts.
#[derive(Debug, Clone)]
pub struct Generation {
    /// The token ids.
    pub input_ids: Vec<u32>,
    /// Output of the text encoder, `(1, tokens, hidden)`.
    pub encoder_hidden_states: Tensor,
    /// The decoder's frames before the postnet (`feat_out`), `(frames, num_mel_bins)`.
    pub spectrum_before_postnet: Tensor,
    /// Stop probabilities of each step, `(steps, reduction_factor)`.
    pub stop_probabilities: Tensor,
    /// The log-mel spectrogram after the postnet, `(frames, num_mel_bins)`; what the vocoder takes.
    pub spectrogram: Tensor,
}

/// `SpeechT5Attention` without dropout; `position_bias` adds the encoder's relative positions.
#[derive(Debug, Clone)]
struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    heads: usize,
    head_dim: usize,
}

impl Attention {
    fn load(vb: VarBuilder, hidden: usize, heads: usize) -> candle_core::Result<Self> {
        Ok(Self {
            q: candle_nn::linear(hidden, hidden, vb.pp("q_proj"))?,
            k: candle_nn::linear(hidden, hidden, vb.pp("k_proj"))?,
            v: candle_nn::linear(hidden, hidden, vb.pp("v_proj"))?,
            out: candle_nn::linear(hidden, hidden, vb.pp("out_proj"))?,
            heads,
            head_dim: hidden / heads,
        })
    }

    /// `(1, len, hidden)` -> `(1, heads, len, head_dim)`.
    fn split(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let len = x.dim(1)?;
        x.reshape((1, len, self.heads, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Keys and values of `x`, split into heads.
    fn key_values(&self, x: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        Ok((
            self.split(&self.k.forward(x)?)?,
            self.split(&self.v.forward(x)?)?,
        ))
    }

    /// Attention of `x` `(1, tgt, hidden)` over `keys` / `values` `(1, heads, src, head_dim)`.
    /// `mask` is additive `(1, 1, 1, src)`; `position_bias` is `(tgt, src, head_dim)`.
    fn attend(
        &self,
        x: &Tensor,
        keys: &Tensor,
        values: &Tensor,
        mask: Option<&Tensor>,
        position_bias: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let tgt = x.dim(1)?;
        // Scaled before the products, as transformers does.
        let scaling = (self.head_dim as f64).powf(-0.5);
        let q = self.split(&self.q.forward(x)?.affine(scaling, 0.0)?)?;
        let mut weights = q.matmul(&keys.transpose(2, 3)?.contiguous()?)?;
        if let Some(bias) = position_bias {
            // bias[h, i, j] = q[h, i] . pe[i, j]: a batch of `tgt` products over the heads.
            let q_by_pos = q.squeeze(0)?.transpose(0, 1)?.contiguous()?; // (tgt, heads, hd)
            let rel = q_by_pos.matmul(&bias.transpose(1, 2)?.contiguous()?)?; // (tgt, heads, src)
            weights = weights.broadcast_add(&rel.transpose(0, 1)?.unsqueeze(0)?)?;
        }
        if let Some(mask) = mask {
            weights = weights.broadcast_add(mask)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&weights.contiguous()?)?;
        let out = probs.matmul(values)?; // (1, heads, tgt, hd)
        let out = out
            .transpose(1, 2)?
            .reshape((1, tgt, self.heads * self.head_dim))?;
        self.out.forward(&out)
    }
}

/// `SpeechT5FeedForward`.
#[derive(Debug, Clone)]
struct FeedForward {
    intermediate: Linear,
    output: Linear,
    act: Activation,
}

impl FeedForward {
    fn load(
        vb: VarBuilder,
        hidden: usize,
        inner: usize,
        act: Activation,
    ) -> candle_core::Result<Self> {
        Ok(Self {
            intermediate: candle_nn::linear(hidden, inner, vb.pp("intermediate_dense"))?,
            output: candle_nn::linear(inner, hidden, vb.pp("output_dense"))?,
            act,
        })
    }
}

impl Module for FeedForward {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.output
            .forward(&self.act.forward(&self.intermediate.forward(x)?)?)
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
    fn forward(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        bias: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let (k, v) = self.attention.key_values(x)?;
        let h = self.attention.attend(x, &k, &v, mask, Some(bias))?;
        let h = self.layer_norm.forward(&(x + h)?)?;
        let f = self.feed_forward.forward(&h)?;
        self.final_layer_norm.forward(&(h + f)?)
    }
}

#[derive(Debug, Clone)]
struct DecoderLayer {
    self_attn: Attention,
    self_attn_layer_norm: LayerNorm,
    encoder_attn: Attention,
    encoder_attn_layer_norm: LayerNorm,
    feed_forward: FeedForward,
    final_layer_norm: LayerNorm,
}

/// Keys and values of one decoder layer: its own past steps, and the encoder output's.
struct LayerCache {
    self_kv: Option<(Tensor, Tensor)>,
    cross_kv: (Tensor, Tensor),
}

impl DecoderLayer {
    /// One new position `(1, 1, hidden)`, appending its keys and values to `cache`.
    fn step(
        &self,
        x: &Tensor,
        encoder_mask: Option<&Tensor>,
        cache: &mut LayerCache,
    ) -> candle_core::Result<Tensor> {
        let (k, v) = self.self_attn.key_values(x)?;
        let (k, v) = match cache.self_kv.take() {
            Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
            None => (k, v),
        };
        // A single query may see every cached position: no causal mask needed.
        let h = self.self_attn.attend(x, &k, &v, None, None)?;
        cache.self_kv = Some((k, v));
        let h = self.self_attn_layer_norm.forward(&(x + h)?)?;
        let (ck, cv) = &cache.cross_kv;
        let c = self.encoder_attn.attend(&h, ck, cv, encoder_mask, None)?;
        let h = self.encoder_attn_layer_norm.forward(&(h + c)?)?;
        let f = self.feed_forward.forward(&h)?;
        self.final_layer_norm.forward(&(h + f)?)
    }
}

/// `SpeechT5BatchNormConvLayer` in eval mode.
#[derive(Debug, Clone)]
struct PostnetLayer {
    conv: Conv1d,
    scale: Tensor,
    shift: Tensor,
    tanh: bool,
}

/// The network, loaded.
pub(crate) struct Model {
    config: SpeechT5Config,
    device: Device,
    // Text encoder.
    embed_tokens: candle_nn::Embedding,
    encoder_alpha: Tensor,
    text_positions: Tensor,
    encoder_layer_norm: LayerNorm,
    encoder_layers: Vec<EncoderLayer>,
    relative_positions: candle_nn::Embedding,
    // Speech decoder.
    prenet_layers: Vec<Linear>,
    prenet_final: Linear,
    decoder_alpha: Tensor,
    speech_positions: Tensor,
    speaker_layer: Linear,
    decoder_layers: Vec<DecoderLayer>,
    // Postnet.
    feat_out: Linear,
    prob_out: Linear,
    postnet: Vec<PostnetLayer>,
}

fn layer_norm(vb: VarBuilder, c: &SpeechT5Config) -> candle_core::Result<LayerNorm> {
    candle_nn::layer_norm(c.hidden_size, c.layer_norm_eps, vb)
}

impl Model {
    pub(crate) fn load(
        vb: VarBuilder,
        c: &SpeechT5Config,
        device: &Device,
    ) -> Result<Self, SpeechT5Error> {
        let act = layers::activation(&c.hidden_act)?;
        Ok(Self::load_weights(vb, c, act, device)?)
    }

    fn load_weights(
        vb: VarBuilder,
        c: &SpeechT5Config,
        act: Activation,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let h = c.hidden_size;
        let enc = vb.pp("speecht5.encoder");
        let wrapped = enc.pp("wrapped_encoder");
        let mut encoder_layers = Vec::with_capacity(c.encoder_layers);
        for i in 0..c.encoder_layers {
            let l = wrapped.pp(format!("layers.{i}"));
            encoder_layers.push(EncoderLayer {
                attention: Attention::load(l.pp("attention"), h, c.encoder_attention_heads)?,
                layer_norm: layer_norm(l.pp("layer_norm"), c)?,
                feed_forward: FeedForward::load(l.pp("feed_forward"), h, c.encoder_ffn_dim, act)?,
                final_layer_norm: layer_norm(l.pp("final_layer_norm"), c)?,
            });
        }
        let dec = vb.pp("speecht5.decoder");
        let prenet = dec.pp("prenet");
        let units = c.speech_decoder_prenet_units;
        let mut prenet_layers = Vec::with_capacity(c.speech_decoder_prenet_layers);
        for i in 0..c.speech_decoder_prenet_layers {
            let c_in = if i == 0 { c.num_mel_bins } else { units };
            prenet_layers.push(candle_nn::linear(
                c_in,
                units,
                prenet.pp(format!("layers.{i}")),
            )?);
        }
        let prenet_out = if c.speech_decoder_prenet_layers == 0 {
            c.num_mel_bins
        } else {
            units
        };
        let mut decoder_layers = Vec::with_capacity(c.decoder_layers);
        for i in 0..c.decoder_layers {
            let l = dec.pp(format!("wrapped_decoder.layers.{i}"));
            decoder_layers.push(DecoderLayer {
                self_attn: Attention::load(l.pp("self_attn"), h, c.decoder_attention_heads)?,
                self_attn_layer_norm: layer_norm(l.pp("self_attn_layer_norm"), c)?,
                encoder_attn: Attention::load(l.pp("encoder_attn"), h, c.decoder_attention_heads)?,
                encoder_attn_layer_norm: layer_norm(l.pp("encoder_attn_layer_norm"), c)?,
                feed_forward: FeedForward::load(l.pp("feed_forward"), h, c.decoder_ffn_dim, act)?,
                final_layer_norm: layer_norm(l.pp("final_layer_norm"), c)?,
            });
        }
        let post = vb.pp("speech_decoder_postnet");
        let n = c.speech_decoder_postnet_layers;
        let mut postnet = Vec::with_capacity(n);
        for i in 0..n {
            let c_in = if i == 0 {
                c.num_mel_bins
            } else {
                c.speech_decoder_postnet_units
            };
            let c_out = if i + 1 == n {
                c.num_mel_bins
            } else {
                c.speech_decoder_postnet_units
            };
            let l = post.pp(format!("layers.{i}"));
            let k = c.speech_decoder_postnet_kernel;
            let spec = ConvSpec {
                padding: (k - 1) / 2,
                bias: false,
                ..ConvSpec::kernel(k)
            };
            let conv = Conv1d::load(l.pp("conv"), c_in, c_out, spec)?;
            let bn = l.pp("batch_norm");
            // Eval-mode batch norm folded into one scale and shift per channel, as PyTorch's
            // inference kernel does: scale = w / sqrt(var + eps), shift = b - mean * scale.
            let weight = bn.get(c_out, "weight")?;
            let bias = bn.get(c_out, "bias")?;
            let mean = bn.get(c_out, "running_mean")?;
            let var = bn.get(c_out, "running_var")?;
            let scale = (weight / (var + 1e-5)?.sqrt()?)?;
            let shift = (bias - (mean * &scale)?)?;
            postnet.push(PostnetLayer {
                conv,
                scale: scale.reshape((1, c_out, 1))?,
                shift: shift.reshape((1, c_out, 1))?,
                tanh: i + 1 < n,
            });
        }
        Ok(Self {
            config: c.clone(),
            device: device.clone(),
            embed_tokens: candle_nn::embedding(c.vocab_size, h, enc.pp("prenet.embed_tokens"))?,
            encoder_alpha: enc.get((), "prenet.encode_positions.alpha")?,
            text_positions: layers::scaled_positions(c.max_text_positions, h, device)?,
            encoder_layer_norm: layer_norm(wrapped.pp("layer_norm"), c)?,
            encoder_layers,
            relative_positions: candle_nn::embedding(
                2 * c.encoder_max_relative_position,
                h / c.encoder_attention_heads,
                wrapped.pp("embed_positions.pe_k"),
            )?,
            prenet_layers,
            prenet_final: candle_nn::linear(prenet_out, h, prenet.pp("final_layer"))?,
            decoder_alpha: prenet.get((), "encode_positions.alpha")?,
            speech_positions: layers::scaled_positions(c.max_speech_positions, h, device)?,
            speaker_layer: candle_nn::linear(
                c.speaker_embedding_dim + h,
                h,
                prenet.pp("speaker_embeds_layer"),
            )?,
            decoder_layers,
            feat_out: candle_nn::linear(
                h,
                c.num_mel_bins * c.reduction_factor,
                post.pp("feat_out"),
            )?,
            prob_out: candle_nn::linear(h, c.reduction_factor, post.pp("prob_out"))?,
            postnet,
        })
    }

    /// Additive attention mask over the encoder positions: the padding token is masked out, as
    /// transformers derives the mask from `input_ids != pad_token_id`. `None` when nothing is.
    fn encoder_mask(&self, ids: &[u32]) -> candle_core::Result<Option<Tensor>> {
        let Some(pad) = self.config.pad_token_id else {
            return Ok(None);
        };
        if !ids.contains(&pad) {
            return Ok(None);
        }
        let mask: Vec<f32> = ids
            .iter()
            .map(|&id| if id == pad { f32::MIN } else { 0.0 })
            .collect();
        Tensor::from_vec(mask, (1, 1, 1, ids.len()), &self.device).map(Some)
    }

    /// The relative position embeddings `(len, len, head_dim)` of `SpeechT5RelativePositionalEncoding`.
    fn relative_bias(&self, len: usize) -> candle_core::Result<Tensor> {
        let max = self.config.encoder_max_relative_position as i64;
        let mut index = Vec::with_capacity(len * len);
        for i in 0..len as i64 {
            for j in 0..len as i64 {
                index.push(((i - j).clamp(-max, max - 1) + max) as u32);
            }
        }
        let index = Tensor::from_vec(index, len * len, &self.device)?;
        let table = self.relative_positions.embeddings();
        table
            .index_select(&index, 0)?
            .reshape((len, len, table.dim(1)?))
    }

    /// The text encoder: `(1, tokens, hidden)`.
    pub(crate) fn encode(&self, ids: &[u32]) -> Result<Tensor, SpeechT5Error> {
        let len = ids.len();
        if len > self.config.max_text_positions {
            return Err(SpeechT5Error::InvalidInput(format!(
                "{len} tokens is more than the model's {} text positions",
                self.config.max_text_positions
            )));
        }
        let input = Tensor::from_vec(ids.to_vec(), (1, len), &self.device)?;
        let x = self.embed_tokens.forward(&input)?;
        let pe = self.text_positions.narrow(0, 0, len)?.unsqueeze(0)?;
        let x = x.broadcast_add(&pe.broadcast_mul(&self.encoder_alpha)?)?;
        let mut x = self.encoder_layer_norm.forward(&x)?;
        let mask = self.encoder_mask(ids)?;
        let bias = self.relative_bias(len)?;
        for layer in &self.encoder_layers {
            x = layer.forward(&x, mask.as_ref(), &bias)?;
        }
        Ok(x)
    }

    /// The speech decoder prenet on the newest frame `(1, 1, mel)` at decoder position `pos`,
    /// with one dropout mask `(units,)` per prenet layer; `speaker` is the normalised embedding
    /// `(1, 1, dim)`. transformers re-runs the prenet over the whole output sequence each step
    /// and keeps the last row; the prenet works row by row, so that row is this.
    fn prenet(
        &self,
        frame: &Tensor,
        pos: usize,
        masks: &[Tensor],
        speaker: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let p = self.config.speech_decoder_prenet_dropout;
        let mut x = frame.clone();
        for (layer, mask) in self.prenet_layers.iter().zip(masks) {
            x = layer.forward(&x)?.relu()?;
            // transformers keeps the values where bernoulli(p) drew a one, then divides by 1 - p.
            x = layers::div_scalar(&x.broadcast_mul(mask)?, 1.0 - p)?;
        }
        let x = self.prenet_final.forward(&x)?;
        let pe = self.speech_positions.narrow(0, pos, 1)?.unsqueeze(0)?;
        let x = x.broadcast_add(&pe.broadcast_mul(&self.decoder_alpha)?)?;
        let x = Tensor::cat(&[&x, speaker], 2)?;
        self.speaker_layer.forward(&x)?.relu()
    }

    /// `SpeechT5SpeechDecoderPostnet.postnet`: the residual convolution stack on `(frames, mel)`.
    pub(crate) fn postnet(&self, spectrum: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = spectrum.t()?.unsqueeze(0)?.contiguous()?;
        for layer in &self.postnet {
            x = layer
                .conv
                .forward(&x)?
                .broadcast_mul(&layer.scale)?
                .broadcast_add(&layer.shift)?;
            if layer.tanh {
                x = x.tanh()?;
            }
        }
        spectrum + x.squeeze(0)?.t()?
    }

    /// The whole of `_generate_speech` for one sequence. `masks`, when given, replaces the
    /// prenet dropout masks: `(steps, prenet_layers, units)` of zeros and ones, at least as many
    /// steps as generation takes.
    pub(crate) fn generate(
        &self,
        ids: &[u32],
        speaker: &[f32],
        options: &GenerationOptions,
        masks: Option<&Tensor>,
    ) -> Result<Generation, SpeechT5Error> {
        options.validate()?;
        let c = &self.config;
        if ids.is_empty() {
            return Err(SpeechT5Error::EmptyInput);
        }
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= c.vocab_size) {
            return Err(SpeechT5Error::InvalidInput(format!(
                "token id {bad} is outside the vocabulary of {}",
                c.vocab_size
            )));
        }
        if speaker.len() != c.speaker_embedding_dim {
            return Err(SpeechT5Error::Speaker(format!(
                "the embedding has {} values, the model takes {}",
                speaker.len(),
                c.speaker_embedding_dim
            )));
        }
        if speaker.iter().any(|v| !v.is_finite()) {
            return Err(SpeechT5Error::Speaker("non-finite value".to_owned()));
        }
        let units = c.speech_decoder_prenet_units;
        let layers_n = c.speech_decoder_prenet_layers;
        if let Some(m) = masks {
            let dims = m.dims();
            if dims.len() != 3 || dims[1] != layers_n || dims[2] != units {
                return Err(SpeechT5Error::InvalidInput(format!(
                    "dropout masks have shape {dims:?}, expected (steps, {layers_n}, {units})"
                )));
            }
        }

        let encoder = self.encode(ids)?;
        let len = ids.len();
        let r = c.reduction_factor;
        let mel = c.num_mel_bins;
        // Python's int() of a float product: truncation towards zero.
        let maxlen = (len as f64 * options.maxlenratio / r as f64) as usize;
        let minlen = (len as f64 * options.minlenratio / r as f64) as usize;

        // F.normalize: v / max(||v||, 1e-12).
        let spk = Tensor::from_vec(speaker.to_vec(), (1, 1, speaker.len()), &self.device)?;
        let norm = spk.sqr()?.sum_keepdim(2)?.sqrt()?.maximum(1e-12)?;
        let spk = spk.broadcast_div(&norm)?;

        let encoder_mask = self.encoder_mask(ids)?;
        let mut caches = Vec::with_capacity(self.decoder_layers.len());
        for layer in &self.decoder_layers {
            caches.push(LayerCache {
                self_kv: None,
                cross_kv: layer.encoder_attn.key_values(&encoder)?,
            });
        }
        let mut rng = StdRng::seed_from_u64(options.seed);
        let mut frame = Tensor::zeros((1, 1, mel), DType::F32, &self.device)?;
        let mut spectra = Vec::new();
        let mut probs = Vec::new();
        let mut step = 0usize;
        loop {
            step += 1;
            // transformers fails here too (its position table is this long); a checkpoint that
            // never reaches its stop threshold ends with this error instead of running on.
            if step > c.max_speech_positions {
                return Err(SpeechT5Error::InvalidInput(format!(
                    "generation ran past the model's {} speech positions without stopping; \
                     lower maxlenratio or split the text",
                    c.max_speech_positions
                )));
            }
            let step_masks: Vec<Tensor> = match masks {
                Some(m) => {
                    if step > m.dim(0)? {
                        return Err(SpeechT5Error::InvalidInput(format!(
                            "dropout masks for {} steps, generation needs more",
                            m.dim(0)?
                        )));
                    }
                    (0..layers_n)
                        .map(|l| {
                            m.i((step - 1, l))?
                                .to_dtype(DType::F32)?
                                .to_device(&self.device)
                        })
                        .collect::<candle_core::Result<_>>()?
                }
                None => (0..layers_n)
                    .map(|_| {
                        let p = c.speech_decoder_prenet_dropout;
                        let m: Vec<f32> = (0..units)
                            .map(|_| if rng.r#gen::<f64>() < p { 1.0 } else { 0.0 })
                            .collect();
                        Tensor::from_vec(m, units, &self.device)
                    })
                    .collect::<candle_core::Result<_>>()?,
            };
            let mut h = self.prenet(&frame, step - 1, &step_masks, &spk)?;
            for (layer, cache) in self.decoder_layers.iter().zip(caches.iter_mut()) {
                h = layer.step(&h, encoder_mask.as_ref(), cache)?;
            }
            let h = h.squeeze(1)?; // (1, hidden)
            let spectrum = self.feat_out.forward(&h)?.reshape((r, mel))?;
            frame = spectrum.narrow(0, r - 1, 1)?.unsqueeze(0)?;
            let prob = candle_nn::ops::sigmoid(&self.prob_out.forward(&h)?)?; // (1, r)
            let total: f32 = prob.sum_all()?.to_scalar()?;
            spectra.push(spectrum);
            probs.push(prob);
            if step < minlen {
                continue;
            }
            // PyTorch compares the f32 sum with the threshold rounded to f32.
            if step >= maxlen || total >= options.threshold as f32 {
                break;
            }
        }
        let spectrum = Tensor::cat(&spectra, 0)?;
        let spectrogram = self.postnet(&spectrum)?;
        Ok(Generation {
            input_ids: ids.to_vec(),
            encoder_hidden_states: encoder,
            spectrum_before_postnet: spectrum,
            stop_probabilities: Tensor::cat(&probs, 0)?,
            spectrogram,
        })
    }
}

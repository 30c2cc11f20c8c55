//! The generation procedures of transformers' `BarkSemanticModel.generate`,
//! `BarkCoarseModel.generate` (with `preprocess_histories`) and `BarkFineModel.generate`, for one
//! sequence, with greedy decoding or seeded sampling.

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::config::GenerationConfig;
use crate::gpt::{CausalModel, FineModel, argmax, softmax};
use crate::{BarkError, VoicePreset};

/// How one autoregressive stage picks its tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decoding {
    /// The most likely token (transformers' default for Bark: `do_sample=False`).
    Greedy,
    /// Draw from the distribution.
    Sample {
        /// Logits are divided by it (> 0).
        temperature: f64,
        /// Keep only the k most likely tokens.
        top_k: Option<usize>,
        /// Keep the smallest set of tokens whose probability reaches p.
        top_p: Option<f64>,
    },
}

/// Decoding settings of a whole synthesis.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationOptions {
    /// Semantic stage.
    pub semantic: Decoding,
    /// Coarse stage.
    pub coarse: Decoding,
    /// Fine stage temperature; `None` or 1.0 take the argmax, as transformers does.
    pub fine_temperature: Option<f64>,
    /// Stop the semantic stage once the EOS probability exceeds it (original Bark: 0.2).
    pub min_eos_p: Option<f64>,
    /// Cap on the semantic tokens (else the generation config's `max_new_tokens`).
    pub semantic_max_new_tokens: Option<usize>,
    /// Seed of the sampler.
    pub seed: u64,
}

impl GenerationOptions {
    /// What `BarkModel.generate` does with the checkpoint's generation config and no arguments:
    /// greedy unless the config says `do_sample`, fine temperature from the config.
    pub fn from_config(config: &GenerationConfig) -> Self {
        let s = &config.semantic_config;
        let c = &config.coarse_acoustics_config;
        let stage = |sample: bool, temperature: f64, top_k, top_p| {
            if sample {
                Decoding::Sample {
                    temperature,
                    top_k,
                    top_p,
                }
            } else {
                Decoding::Greedy
            }
        };
        Self {
            semantic: stage(s.do_sample, s.temperature, s.top_k, s.top_p),
            coarse: stage(c.do_sample, c.temperature, c.top_k, c.top_p),
            fine_temperature: config.fine_acoustics_config.temperature,
            min_eos_p: s.min_eos_p,
            semantic_max_new_tokens: None,
            seed: 0,
        }
    }

    /// Greedy everywhere (the parity setting).
    pub fn greedy() -> Self {
        Self {
            semantic: Decoding::Greedy,
            coarse: Decoding::Greedy,
            fine_temperature: None,
            min_eos_p: None,
            semantic_max_new_tokens: None,
            seed: 0,
        }
    }

    /// The original Bark's sampling settings (temperature 0.7 for the GPT stages, 0.5 for the
    /// fine stage, early stop at EOS probability 0.2), seeded.
    pub fn sampling(seed: u64) -> Self {
        let sample = Decoding::Sample {
            temperature: 0.7,
            top_k: None,
            top_p: None,
        };
        Self {
            semantic: sample,
            coarse: sample,
            fine_temperature: Some(0.5),
            min_eos_p: Some(0.2),
            semantic_max_new_tokens: None,
            seed,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), BarkError> {
        for d in [self.semantic, self.coarse] {
            if let Decoding::Sample {
                temperature, top_p, ..
            } = d
            {
                if !(temperature.is_finite() && temperature > 0.0) {
                    return Err(BarkError::InvalidInput(format!(
                        "temperature {temperature}"
                    )));
                }
                if let Some(p) = top_p
                    && !(p > 0.0 && p <= 1.0)
                {
                    return Err(BarkError::InvalidInput(format!("top_p {p}")));
                }
            }
        }
        if let Some(t) = self.fine_temperature
            && !(t.is_finite() && t > 0.0)
        {
            return Err(BarkError::InvalidInput(format!("fine temperature {t}")));
        }
        Ok(())
    }
}

/// Picks a token from `logits` where banned entries are already `-inf`.
pub(crate) fn pick(logits: &mut [f32], decoding: Decoding, rng: &mut StdRng) -> usize {
    match decoding {
        Decoding::Greedy => argmax(logits),
        Decoding::Sample {
            temperature,
            top_k,
            top_p,
        } => {
            for l in logits.iter_mut() {
                *l = (*l as f64 / temperature) as f32;
            }
            let mut order: Vec<usize> = (0..logits.len()).collect();
            order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
            if let Some(k) = top_k
                && k > 0
            {
                for &i in order.iter().skip(k) {
                    logits[i] = f32::NEG_INFINITY;
                }
            }
            if let Some(p) = top_p {
                let probs = softmax(logits);
                let mut cum = 0.0;
                for (rank, &i) in order.iter().enumerate() {
                    // Keep tokens until the mass before them reaches p (the first always stays).
                    if rank > 0 && cum >= p {
                        logits[i] = f32::NEG_INFINITY;
                    }
                    cum += probs[i];
                }
            }
            sample(&softmax(logits), rng)
        }
    }
}

fn sample(probs: &[f64], rng: &mut StdRng) -> usize {
    let u: f64 = rng.r#gen::<f64>();
    let mut cum = 0.0;
    let mut last = argmax(&probs.iter().map(|&p| p as f32).collect::<Vec<_>>());
    for (i, &p) in probs.iter().enumerate() {
        if p > 0.0 {
            last = i;
            cum += p;
            if u < cum {
                return i;
            }
        }
    }
    last
}

pub(crate) fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Python's `a[-n:]` (all of `a` when n is 0).
fn py_tail<T>(a: &[T], n: usize) -> &[T] {
    if n == 0 || n >= a.len() {
        a
    } else {
        &a[a.len() - n..]
    }
}

/// `BarkSemanticModel.generate`: text ids (without offset) to semantic tokens, the EOS token
/// included when it was generated.
pub(crate) fn semantic(
    model: &CausalModel,
    gen_config: &GenerationConfig,
    text_ids: &[u32],
    preset: Option<&VoicePreset>,
    options: &GenerationOptions,
    rng: &mut StdRng,
    device: &Device,
) -> Result<Vec<u32>, BarkError> {
    let g = &gen_config.semantic_config;
    let max_in = g.max_input_semantic_length;
    let mut text: Vec<u32> = text_ids
        .iter()
        .take(max_in)
        .map(|&id| id + g.text_encoding_offset)
        .collect();
    text.resize(max_in, g.text_pad_token);
    let mut history: Vec<u32> = match preset {
        Some(p) => py_tail(&p.semantic, max_in).to_vec(),
        None => Vec::new(),
    };
    history.resize(max_in, g.eos_token_id);
    let embeds = (model.embed(&text, device)? + model.embed(&history, device)?)?;
    let embeds = Tensor::cat(
        &[embeds, model.embed(&[g.semantic_infer_token], device)?],
        1,
    )?;

    let eos = g.eos_token_id as usize;
    let max_new = options.semantic_max_new_tokens.unwrap_or(g.max_new_tokens);
    let mut cache = model.new_cache();
    let mut out = Vec::new();
    let mut logits = model.forward_last(&embeds, &mut cache)?;
    while out.len() < max_new {
        // SuppressTokensLogitsProcessor: only semantic tokens and EOS may come out.
        for (i, l) in logits.iter_mut().enumerate() {
            if i >= g.semantic_vocab_size as usize && i != eos {
                *l = f32::NEG_INFINITY;
            }
        }
        // BarkEosPrioritizerLogitsProcessor.
        if let Some(min_eos_p) = options.min_eos_p
            && min_eos_p > 0.0
            // Compared in f32, as transformers compares its f32 probabilities.
            && (softmax(&logits).get(eos).copied().unwrap_or(0.0) as f32) > min_eos_p as f32
        {
            for (i, l) in logits.iter_mut().enumerate() {
                if i != eos {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
        let token = pick(&mut logits, options.semantic, rng) as u32;
        out.push(token);
        if token as usize == eos || out.len() == max_new {
            break;
        }
        logits = model.forward_last(&model.embed(&[token], device)?, &mut cache)?;
    }
    Ok(out)
}

/// Semantic frames to coarse tokens: `coarse_rate_hz / semantic_rate_hz * n_coarse_codebooks`.
fn semantic_to_coarse_ratio(g: &GenerationConfig) -> f64 {
    let c = &g.coarse_acoustics_config;
    c.coarse_rate_hz / g.semantic_config.semantic_rate_hz * c.n_coarse_codebooks as f64
}

/// `BarkCoarseModel.preprocess_histories`: the preset's semantic and (interleaved, offset)
/// coarse history.
fn coarse_histories(g: &GenerationConfig, preset: Option<&VoicePreset>) -> (Vec<u32>, Vec<u32>) {
    let Some(p) = preset else {
        return (Vec::new(), Vec::new());
    };
    let c = &g.coarse_acoustics_config;
    let ratio = semantic_to_coarse_ratio(g);
    let rows = p.coarse.len();
    let frames = p.coarse.first().map_or(0, Vec::len);
    let mut coarse = Vec::with_capacity(rows * frames);
    for t in 0..frames {
        for (n, row) in p.coarse.iter().enumerate() {
            coarse
                .push(row[t] + g.codebook_size * n as u32 + g.semantic_config.semantic_vocab_size);
        }
    }
    let max_semantic_history = (c.max_coarse_history as f64 / ratio).floor() as usize;
    let n_sem = max_semantic_history
        .min(p.semantic.len() - p.semantic.len() % 2)
        .min((coarse.len() as f64 / ratio).floor() as usize);
    let n_coarse = (n_sem as f64 * ratio).round_ties_even() as usize;
    let semantic = py_tail(&p.semantic, n_sem).to_vec();
    let coarse = py_tail(&coarse, n_coarse);
    let coarse = coarse[..coarse.len().saturating_sub(2)].to_vec();
    (semantic, coarse)
}

/// `BarkCoarseModel.generate`: semantic tokens to interleaved coarse tokens (offset by the
/// semantic vocabulary, codebook n by n * codebook_size).
pub(crate) fn coarse(
    model: &CausalModel,
    g: &GenerationConfig,
    semantic_tokens: &[u32],
    preset: Option<&VoicePreset>,
    options: &GenerationOptions,
    rng: &mut StdRng,
    device: &Device,
) -> Result<Vec<u32>, BarkError> {
    let c = &g.coarse_acoustics_config;
    let pad = c.coarse_semantic_pad_token;
    let semantic: Vec<u32> = semantic_tokens
        .iter()
        .map(|&t| {
            if t == g.semantic_config.eos_token_id {
                pad
            } else {
                t
            }
        })
        .collect();
    let ratio = semantic_to_coarse_ratio(g);
    let max_semantic_history = (c.max_coarse_history as f64 / ratio).floor() as usize;
    let n_valid = semantic.iter().filter(|&&t| t != pad).count();
    let n_cb = c.n_coarse_codebooks;
    let max_generated =
        ((n_valid as f64 * ratio / n_cb as f64).floor() * n_cb as f64).round_ties_even() as usize;

    let (semantic_history, mut x_coarse) = coarse_histories(g, preset);
    let base = semantic_history.len();
    let all_semantic = [semantic_history, semantic].concat();
    let history_len = x_coarse.len();
    let sv = g.semantic_config.semantic_vocab_size as usize;
    let cb = g.codebook_size as usize;
    let windows = max_generated.div_ceil(c.sliding_window_len);
    let mut total = 0usize;
    for _ in 0..windows {
        let semantic_idx = base + (total as f64 / ratio).round_ties_even() as usize;
        let start = semantic_idx.saturating_sub(max_semantic_history);
        let mut input: Vec<u32> = all_semantic
            .get(start..)
            .unwrap_or(&[])
            .iter()
            .take(c.max_coarse_input_length)
            .copied()
            .collect();
        input.resize(c.max_coarse_input_length, pad);
        input.push(c.coarse_infer_token);
        input.extend_from_slice(py_tail(&x_coarse, c.max_coarse_history));

        let steps = c.sliding_window_len.min(max_generated - total);
        let mut cache = model.new_cache();
        let mut logits = model.forward_last(&model.embed(&input, device)?, &mut cache)?;
        for step in 0..steps {
            // AlternatingCodebooksLogitsProcessor: even steps from the first codebook, odd
            // steps from the second (or anything above it).
            for (i, l) in logits.iter_mut().enumerate() {
                let banned = if step % 2 == 0 {
                    i < sv || i >= sv + cb
                } else {
                    i < sv + cb
                };
                if banned {
                    *l = f32::NEG_INFINITY;
                }
            }
            let token = pick(&mut logits, options.coarse, rng) as u32;
            x_coarse.push(token);
            if step + 1 < steps {
                logits = model.forward_last(&model.embed(&[token], device)?, &mut cache)?;
            }
        }
        total = x_coarse.len() - history_len;
    }
    Ok(x_coarse.split_off(history_len))
}

/// `BarkFineModel.generate`: interleaved coarse tokens to all codebooks, `(n_fine, frames)`
/// row-major.
pub(crate) fn fine(
    model: &FineModel,
    g: &GenerationConfig,
    coarse_tokens: &[u32],
    preset: Option<&VoicePreset>,
    options: &GenerationOptions,
    rng: &mut StdRng,
    device: &Device,
) -> Result<Vec<u32>, BarkError> {
    let f = &g.fine_acoustics_config;
    let n_coarse = g.coarse_acoustics_config.n_coarse_codebooks;
    let n_fine = f.n_fine_codebooks;
    let cb = g.codebook_size;
    let sv = g.semantic_config.semantic_vocab_size as i64;
    if !coarse_tokens.len().is_multiple_of(n_coarse) {
        return Err(BarkError::InvalidInput(format!(
            "{} coarse tokens are not a whole number of {n_coarse}-codebook frames",
            coarse_tokens.len()
        )));
    }
    let frames = coarse_tokens.len() / n_coarse;
    // Rows of n_fine codes per frame: history, then the coarse codes with padding above.
    let mut rows: Vec<Vec<u32>> = Vec::new();
    if let Some(p) = preset {
        let hist_frames = p.fine.first().map_or(0, Vec::len);
        let skip = if f.max_fine_history_length == 0 {
            0
        } else {
            hist_frames.saturating_sub(f.max_fine_history_length)
        };
        for t in skip..hist_frames {
            rows.push(p.fine.iter().map(|row| row[t]).collect());
        }
    }
    let n_history = rows.len();
    for frame in coarse_tokens.chunks(n_coarse) {
        let mut row: Vec<u32> = frame
            .iter()
            .map(|&t| (t as i64 - sv).rem_euclid(cb as i64) as u32)
            .collect();
        row.resize(n_fine, cb);
        rows.push(row);
    }
    let max_in = f.max_fine_input_length;
    let max_hist = f.max_fine_history_length;
    let mut n_remove = 0;
    if rows.len() < max_in {
        n_remove = max_in - rows.len();
        rows.resize(max_in, vec![cb; n_fine]);
    }
    let len = rows.len();
    let loops = ((frames as f64 - (max_in as f64 - n_history as f64)) / max_hist as f64).ceil();
    let loops = loops.max(0.0) as usize + 1;
    let cb = cb as usize;
    for outer in 0..loops {
        let start = (outer * max_hist).min(len - max_in);
        let start_fill = (n_history + outer * max_hist).min(len - max_hist);
        let rel = start_fill - start;
        let mut buffer: Vec<u32> = rows[start..start + max_in].concat();
        for inner in n_coarse..n_fine {
            let logits = model.forward(inner, &buffer, max_in, device)?;
            let logits = logits.narrow(1, 0, cb)?.to_vec2::<f32>()?;
            for (t, row) in logits.iter().enumerate().skip(rel) {
                let pred = match options.fine_temperature {
                    Some(temp) if temp != 1.0 => {
                        let scaled: Vec<f32> =
                            row.iter().map(|&l| (l as f64 / temp) as f32).collect();
                        sample(&softmax(&scaled), rng)
                    }
                    _ => argmax(row),
                };
                buffer[t * n_fine + inner] = pred as u32;
            }
        }
        for (t, row) in rows[start_fill..start + max_in].iter_mut().enumerate() {
            let src = (rel + t) * n_fine;
            row[n_coarse..].copy_from_slice(&buffer[src + n_coarse..src + n_fine]);
        }
    }
    let rows = &rows[n_history..len - n_remove];
    if rows.len() != frames {
        return Err(BarkError::Numerical(
            "fine output length differs from the coarse input".to_owned(),
        ));
    }
    let mut out = Vec::with_capacity(n_fine * frames);
    for cb_idx in 0..n_fine {
        out.extend(rows.iter().map(|r| r[cb_idx]));
    }
    Ok(out)
}

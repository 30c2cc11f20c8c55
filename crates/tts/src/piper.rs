//! Piper VITS voice `en_US-joe-medium` run by ONNX Runtime (`ort`, loaded dynamically from the
//! pinned `onnxruntime` wheel), with espeak-ng IPA phonemes as input.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ort::ep;
use ort::session::Session;
use ort::value::Tensor;
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

use crate::{
    Device, EngineOptions, Speech, SpeechEngine, TtsError, espeak_ffi, synthesize_sentences,
};

const ENGINE: &str = "piper";
const MODEL: &str = "piper-joe";
const ONNX_FILE: &str = "en_US-joe-medium.onnx";
const CONFIG_FILE: &str = "en_US-joe-medium.onnx.json";

/// VITS sampling parameters (the voice's `inference` section has the same defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PiperScales {
    /// Noise added to the prior (prosody variation); 0 gives deterministic output.
    pub noise_scale: f32,
    /// Phoneme duration multiplier (>1 is slower).
    pub length_scale: f32,
    /// Noise of the duration predictor.
    pub noise_w: f32,
}

impl Default for PiperScales {
    fn default() -> Self {
        Self {
            noise_scale: 0.667,
            length_scale: 1.0,
            noise_w: 0.8,
        }
    }
}

#[derive(Debug, Deserialize)]
struct VoiceConfig {
    audio: AudioConfig,
    espeak: EspeakConfig,
    phoneme_id_map: HashMap<String, Vec<i64>>,
}

#[derive(Debug, Deserialize)]
struct AudioConfig {
    sample_rate: u32,
}

#[derive(Debug, Deserialize)]
struct EspeakConfig {
    voice: String,
}

/// The Piper engine: one ONNX Runtime session (resident), the phoneme→id map and the espeak voice.
pub struct PiperEngine {
    session: Session,
    ids: HashMap<char, Vec<i64>>,
    espeak_voice: String,
    sample_rate: u32,
    opts: EngineOptions,
}

impl std::fmt::Debug for PiperEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PiperEngine")
            .field("espeak_voice", &self.espeak_voice)
            .field("sample_rate", &self.sample_rate)
            .field("device", &self.opts.device)
            .finish_non_exhaustive()
    }
}

fn synth_err(message: impl std::fmt::Display) -> TtsError {
    TtsError::Synthesis {
        engine: ENGINE.to_owned(),
        message: message.to_string(),
    }
}

/// The ONNX Runtime library to load: options, then `AUDIOSUBNET_ORT_LIB`, `ORT_DYLIB_PATH`, then
/// the verified `onnxruntime` model (`onnxruntime-gpu` for [`Device::Cuda`]).
pub(crate) fn ort_library(opts: &EngineOptions) -> Result<PathBuf, TtsError> {
    if let Some(p) = &opts.ort_library {
        return Ok(p.clone());
    }
    for var in ["AUDIOSUBNET_ORT_LIB", "ORT_DYLIB_PATH"] {
        if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            return Ok(PathBuf::from(v));
        }
    }
    let model = match opts.device {
        Device::Cpu => "onnxruntime",
        Device::Cuda => "onnxruntime-gpu",
    };
    let paths = opts.model_store()?.require(model)?;
    Ok(paths.file("libonnxruntime.so.1.31.1"))
}

/// An ONNX Runtime session for `model` in the process-wide environment, on `opts.device` with
/// `opts.intra_threads`; shared by the ONNX engines (Piper, Kokoro).
pub(crate) fn new_session(
    engine: &str,
    model: &Path,
    ort_lib: &Path,
    opts: &EngineOptions,
) -> Result<Session, TtsError> {
    let failed = |message: String| TtsError::Synthesis {
        engine: engine.to_owned(),
        message,
    };
    let env = audiosubnet_onnx::environment(ort_lib).map_err(|e| TtsError::EngineUnavailable {
        engine: engine.to_owned(),
        reason: e.to_string(),
    })?;
    let mut builder = Session::builder(&env).map_err(|e| failed(e.to_string()))?;
    if opts.intra_threads > 0 {
        builder = builder
            .with_intra_threads(opts.intra_threads)
            .map_err(|e| failed(e.to_string()))?;
    }
    if opts.device == Device::Cuda {
        builder = builder
            .with_execution_providers([ep::CUDA::default().build().error_on_failure()])
            .map_err(|e| TtsError::DeviceUnavailable {
                engine: engine.to_owned(),
                device: Device::Cuda,
                reason: format!(
                    "{}. The CUDA provider needs the GPU build of ONNX Runtime 1.31 \
                     (`audiosubnet models fetch onnxruntime-gpu`, loaded before any CPU build \
                     in this process) and the CUDA 13 (libcudart, libcublas, libcublasLt \
                     .so.13, libcurand .so.10) and cuDNN 9 libraries on LD_LIBRARY_PATH",
                    e.to_string().trim_end_matches(['.', '\n', ' '])
                ),
            })?;
    }
    builder
        .commit_from_file(model)
        .map_err(|e| failed(format!("loading {}: {e}", model.display())))
}

impl PiperEngine {
    /// Loads the voice from the model store and creates the session on `opts.device`.
    pub fn load(opts: &EngineOptions) -> Result<Self, TtsError> {
        let store = opts.model_store()?;
        let voice = store.require(MODEL)?;
        Self::load_from(
            &voice.file(ONNX_FILE),
            &voice.file(CONFIG_FILE),
            &ort_library(opts)?,
            opts,
        )
    }

    /// Loads a Piper voice from explicit paths (`.onnx`, `.onnx.json`, ONNX Runtime library).
    pub fn load_from(
        model: &Path,
        config: &Path,
        ort_lib: &Path,
        opts: &EngineOptions,
    ) -> Result<Self, TtsError> {
        let bad = |reason: String| TtsError::BadConfig {
            path: config.to_owned(),
            reason,
        };
        let raw = std::fs::read(config).map_err(|e| TtsError::Io {
            context: format!("reading {}", config.display()),
            source: e,
        })?;
        let cfg: VoiceConfig = serde_json::from_slice(&raw).map_err(|e| bad(e.to_string()))?;
        let mut ids = HashMap::new();
        for (k, v) in cfg.phoneme_id_map {
            let mut chars = k.chars();
            // Piper maps single code points; longer keys never match a phoneme character.
            if let (Some(c), None) = (chars.next(), chars.next()) {
                ids.insert(c, v);
            }
        }
        for required in ['^', '_', '$'] {
            if !ids.contains_key(&required) {
                return Err(bad(format!("phoneme_id_map lacks `{required}`")));
            }
        }

        // The phonemizer must work before we spend a second loading the model.
        espeak_ffi::phonemize("ok", &cfg.espeak.voice)?;

        let started = std::time::Instant::now();
        let session = new_session(ENGINE, model, ort_lib, opts)?;
        tracing::info!(
            model = %model.display(),
            device = %opts.device,
            load_ms = started.elapsed().as_millis() as u64,
            "Piper voice loaded"
        );
        Ok(Self {
            session,
            ids,
            espeak_voice: cfg.espeak.voice,
            sample_rate: cfg.audio.sample_rate,
            opts: opts.clone(),
        })
    }

    /// espeak marks a switch to another language's rules as "(fr)" … "(en)"; those letters are
    /// not phonemes.
    fn phonemize_clause(&self, clause: &str) -> Result<String, TtsError> {
        static SWITCH: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            regex::Regex::new(r"\([a-z]{2,3}(?:-[a-z0-9]+)?\)")
                .expect("static regex compiles. This is a bug.")
        });
        let ph = espeak_ffi::phonemize(clause, &self.espeak_voice)?;
        Ok(SWITCH.replace_all(&ph, "").into_owned())
    }

    /// IPA phonemes of one sentence, with its punctuation put back (espeak drops it, but Piper
    /// voices are trained with it and use it for prosody).
    fn phonemes(&self, sentence: &str) -> Result<String, TtsError> {
        let mut out = String::new();
        let mut clause = String::new();
        for c in sentence.chars() {
            if matches!(c, '.' | ',' | '!' | '?' | ';' | ':') {
                let ph = self.phonemize_clause(&clause)?;
                if !ph.is_empty() {
                    if !out.is_empty() {
                        out.push(' ');
                    }
                    out.push_str(&ph);
                    out.push(c);
                }
                clause.clear();
            } else {
                clause.push(c);
            }
        }
        if clause.chars().any(|c| c.is_ascii_alphanumeric()) {
            let ph = self.phonemize_clause(&clause)?;
            if !out.is_empty() && !ph.is_empty() {
                out.push(' ');
            }
            out.push_str(&ph);
        }
        Ok(out)
    }

    /// `^ _ (id _)* $`, decomposed (NFD) like piper-phonemize; unknown phonemes are skipped.
    fn phoneme_ids(&self, phonemes: &str) -> Vec<i64> {
        let pad = &self.ids[&'_'];
        let mut ids = self.ids[&'^'].clone();
        ids.extend_from_slice(pad);
        for c in phonemes.nfd() {
            if let Some(id) = self.ids.get(&c) {
                ids.extend_from_slice(id);
                ids.extend_from_slice(pad);
            }
        }
        ids.extend_from_slice(&self.ids[&'$']);
        ids
    }

    fn infer(&mut self, ids: Vec<i64>) -> Result<Vec<f32>, TtsError> {
        let n = ids.len();
        let scales = self.opts.piper;
        let input = Tensor::from_array(([1usize, n], ids)).map_err(synth_err)?;
        let lengths = Tensor::from_array(([1usize], vec![n as i64])).map_err(synth_err)?;
        let scales = Tensor::from_array((
            [3usize],
            vec![scales.noise_scale, scales.length_scale, scales.noise_w],
        ))
        .map_err(synth_err)?;
        let outputs = self
            .session
            .run(ort::inputs![
                "input" => input,
                "input_lengths" => lengths,
                "scales" => scales,
            ])
            .map_err(synth_err)?;
        let (_, audio) = outputs[0].try_extract_tensor::<f32>().map_err(synth_err)?;
        Ok(audio.to_vec())
    }
}

impl SpeechEngine for PiperEngine {
    fn name(&self) -> &str {
        ENGINE
    }

    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn synthesize(&mut self, text: &str) -> Result<Speech, TtsError> {
        let rate = self.sample_rate;
        let opts = self.opts.clone();
        synthesize_sentences(ENGINE, text, rate, &opts, |sentence| {
            let phonemes = self.phonemes(sentence)?;
            tracing::trace!(%sentence, %phonemes, "phonemized");
            if phonemes.is_empty() {
                return Ok(Vec::new());
            }
            let ids = self.phoneme_ids(&phonemes);
            self.infer(ids)
        })
    }
}

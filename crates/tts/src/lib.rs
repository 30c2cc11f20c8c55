//! Speech synthesis for the miner: the [`SpeechEngine`] interface, the engines, text
//! normalisation ([`text`]) and the bounded [`SynthesisPool`] of resident engine threads.
//!
//! The engines ([`ENGINE_NAMES`]): Kokoro-82M and Piper VITS through ONNX Runtime; the Hugging Face models in
//! candle (SpeechT5, MMS-TTS, Bark and Bark small, and any VITS checkpoint); Festival and flite as
//! processes; espeak-ng through its C library.
//!
//! Everything here is blocking: engines run on the pool's own threads, never on the async runtime.
//! Engines take raw prompt text; they normalise it, split it into sentences, synthesise each and
//! join them with a short pause.

mod bark;
mod classic;
mod espeak;
mod espeak_ffi;
pub mod kokoro;
mod mms;
mod piper;
mod pool;
mod speecht5;
pub mod text;

use std::path::PathBuf;
use std::time::Duration;

pub use bark::{BarkEngine, SUNO_BARK, SUNO_BARK_SMALL};
pub use classic::{FestivalEngine, FliteEngine};
pub use espeak::EspeakEngine;
pub use kokoro::{KOKORO_DEFAULT_VOICE, KOKORO_SPEED_RANGE, KOKORO_VOICES, KokoroEngine};
pub use mms::{MMS_TTS_ENG, MmsEngine};
pub use piper::{PiperEngine, PiperScales};
pub use pool::{Overloaded, PoolConfig, SynthesisPool};
pub use speecht5::{SPEECHT5_HIFIGAN, SPEECHT5_TTS, SpeechT5Engine};

/// Mono audio, f32 samples in [-1, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct Speech {
    /// The samples.
    pub samples: Vec<f32>,
    /// Samples per second.
    pub sample_rate: u32,
}

impl Speech {
    /// Duration in seconds.
    pub fn duration_secs(&self) -> f64 {
        if self.sample_rate == 0 {
            return 0.0;
        }
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }

    /// Root mean square level (0 for empty audio).
    pub fn rms(&self) -> f32 {
        if self.samples.is_empty() {
            return 0.0;
        }
        let sum: f64 = self
            .samples
            .iter()
            .map(|&s| f64::from(s) * f64::from(s))
            .sum();
        (sum / self.samples.len() as f64).sqrt() as f32
    }

    /// The audio as a 16-bit PCM mono WAV file (the conversion rule of [`audiosubnet_audio`]).
    pub fn to_wav_bytes(&self) -> Result<Vec<u8>, TtsError> {
        audiosubnet_audio::encode_wav16(&self.samples, self.sample_rate).map_err(|e| {
            TtsError::BadAudio {
                engine: "wav".to_owned(),
                reason: e.to_string(),
            }
        })
    }

    /// Writes a 16-bit PCM mono WAV file.
    pub fn write_wav(&self, path: &std::path::Path) -> Result<(), TtsError> {
        let bytes = self.to_wav_bytes()?;
        std::fs::write(path, bytes).map_err(|e| TtsError::Io {
            context: format!("writing {}", path.display()),
            source: e,
        })
    }
}

/// A speech synthesiser. Instances are not shared between threads (`&mut self`); the pool gives
/// each worker thread its own.
pub trait SpeechEngine: Send {
    /// The engine's name (as accepted by [`load_engine`]).
    fn name(&self) -> &str;
    /// Sample rate of the audio it returns.
    fn sample_rate(&self) -> u32;
    /// Synthesises `text` (raw prompt text; normalised and split here).
    fn synthesize(&mut self, text: &str) -> Result<Speech, TtsError>;
    /// The voices a request may choose from ([`SpeechEngine::synthesize_voice`]); empty for
    /// engines with one voice.
    fn voices(&self) -> Vec<String> {
        Vec::new()
    }
    /// Synthesises `text` in `voice` (`None`: the engine's configured voice). Engines with one
    /// voice ignore the choice; the others refuse an unknown voice with
    /// [`TtsError::UnknownVoice`].
    fn synthesize_voice(&mut self, text: &str, voice: Option<&str>) -> Result<Speech, TtsError> {
        let _ = voice;
        self.synthesize(text)
    }
}

/// The voice to ask engine `engine` for, given a request's `voice` (an OpenAI name such as
/// `alloy`, or the engine's own voice name): `Ok(None)` for engines with one voice (the request's
/// choice is ignored), [`TtsError::UnknownVoice`] for a name the engine cannot speak with.
pub fn request_voice(engine: &str, voice: Option<&str>) -> Result<Option<String>, TtsError> {
    match (engine, voice) {
        ("kokoro", Some(v)) => kokoro::resolve_voice(v)
            .map(|v| Some(v.to_owned()))
            .ok_or_else(|| TtsError::UnknownVoice {
                engine: engine.to_owned(),
                voice: v.to_owned(),
                valid: KOKORO_VOICES.iter().map(|v| (*v).to_owned()).collect(),
            }),
        _ => Ok(None),
    }
}

/// Errors of synthesis and engine loading.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TtsError {
    /// The prompt is blank or has nothing pronounceable.
    #[error("the text is empty or has nothing to say")]
    EmptyText,
    /// The prompt is over the configured limit.
    #[error("the text has {chars} characters; the limit is {max}")]
    TextTooLong {
        /// Characters in the prompt.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// No engine has this name.
    #[error("unknown model `{name}`; use --model {}", ENGINE_NAMES.join("|"))]
    UnknownEngine {
        /// The name asked for.
        name: String,
    },
    /// The engine's program, library or data is not installed.
    #[error("engine {engine} is unavailable: {reason}")]
    EngineUnavailable {
        /// Engine name.
        engine: String,
        /// What is missing and how to install it.
        reason: String,
    },
    /// The engine cannot run on the requested device.
    #[error("engine {engine} cannot run on {device}: {reason}")]
    DeviceUnavailable {
        /// Engine name.
        engine: String,
        /// The device asked for.
        device: Device,
        /// Why, and what fixes it.
        reason: String,
    },
    /// The engine has no voice of this name.
    #[error("{engine} has no voice `{voice}`; use one of {}", valid.join(", "))]
    UnknownVoice {
        /// Engine name.
        engine: String,
        /// The voice asked for.
        voice: String,
        /// The voices it has.
        valid: Vec<String>,
    },
    /// A model file is missing or corrupt.
    #[error(transparent)]
    Model(#[from] audiosubnet_models::ModelError),
    /// A model or voice configuration file is malformed.
    #[error("bad model configuration {}: {reason}", path.display())]
    BadConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The inference runtime or synthesiser library failed.
    #[error("{engine} failed: {message}")]
    Synthesis {
        /// Engine name.
        engine: String,
        /// The underlying error, as text (ort's errors are not `Send`).
        message: String,
    },
    /// A subprocess engine exited with an error.
    #[error("{engine}: `{command}` failed ({status}): {stderr}")]
    Subprocess {
        /// Engine name.
        engine: String,
        /// Program run.
        command: String,
        /// Exit status.
        status: String,
        /// The end of its stderr.
        stderr: String,
    },
    /// The engine returned unusable audio (empty, NaN, wrong format).
    #[error("{engine} returned bad audio: {reason}")]
    BadAudio {
        /// Engine name.
        engine: String,
        /// What is wrong.
        reason: String,
    },
    /// Filesystem or pipe error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The pool's worker stopped (it panicked or the pool is shutting down).
    #[error("the synthesis worker stopped before answering")]
    WorkerGone,
}

/// Where neural engines run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// CPU (the default).
    #[default]
    Cpu,
    /// NVIDIA GPU through the ONNX Runtime CUDA execution provider (device 0).
    Cuda,
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        })
    }
}

impl std::str::FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda),
            other => Err(format!("unknown device `{other}`; use cpu or cuda")),
        }
    }
}

/// Options shared by all engines.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Where neural engines run.
    pub device: Device,
    /// Longest accepted prompt in characters.
    pub max_chars: usize,
    /// Silence inserted between sentences.
    pub sentence_pause: Duration,
    /// Models directory (default: `ModelStore::from_env()`, i.e. `$AUDIOSUBNET_HOME/models`).
    pub models_dir: Option<PathBuf>,
    /// ONNX Runtime shared library (default: `$AUDIOSUBNET_ORT_LIB`, then `$ORT_DYLIB_PATH`, then
    /// the `onnxruntime` model). Point it at the `onnxruntime-gpu` build for [`Device::Cuda`].
    pub ort_library: Option<PathBuf>,
    /// ONNX Runtime intra-op threads per session (0: ONNX Runtime's default, one per core).
    pub intra_threads: usize,
    /// Piper sampling parameters.
    pub piper: PiperScales,
    /// A local checkpoint directory for Hugging Face models (`--model.path`); by default they
    /// are looked up in the Hugging Face cache.
    pub model_path: Option<PathBuf>,
    /// The Hugging Face revision (branch, tag or commit) to load (`--model.revision`); default:
    /// `main`.
    pub model_revision: Option<String>,
    /// SpeechT5's vocoder checkpoint directory (`--model.vocoder_path`); default: the cache's
    /// `microsoft/speecht5_hifigan`.
    pub vocoder_path: Option<PathBuf>,
    /// The voice (`--model.speaker`): SpeechT5's x-vector file (default: the zero vector), or a
    /// Bark preset (`.npz` file or a name such as `v2/en_speaker_6`; default: Bark's choice).
    pub speaker_path: Option<PathBuf>,
    /// Kokoro's voice (`--model.voice`): one of [`KOKORO_VOICES`] or an OpenAI voice name;
    /// default [`KOKORO_DEFAULT_VOICE`].
    pub voice: Option<String>,
    /// Kokoro's speaking rate (`--model.speed`, 1.0 normal, within [`KOKORO_SPEED_RANGE`]).
    pub speed: f32,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            max_chars: text::DEFAULT_MAX_CHARS,
            sentence_pause: Duration::from_millis(200),
            models_dir: None,
            ort_library: None,
            intra_threads: 0,
            piper: PiperScales::default(),
            model_path: None,
            model_revision: None,
            vocoder_path: None,
            speaker_path: None,
            voice: None,
            speed: 1.0,
        }
    }
}

impl EngineOptions {
    pub(crate) fn model_store(&self) -> Result<audiosubnet_models::ModelStore, TtsError> {
        Ok(match &self.models_dir {
            Some(dir) => audiosubnet_models::ModelStore::new(dir),
            None => audiosubnet_models::ModelStore::from_env()?,
        })
    }
}

/// Engine names accepted by [`load_engine`] (aliases not included).
pub const ENGINE_NAMES: &[&str] = &[
    "kokoro",
    "piper",
    "festival",
    "flite",
    "espeak",
    "microsoft/speecht5_tts",
    "facebook/mms-tts-eng",
    "suno/bark",
    "suno/bark-small",
    "vits",
];

/// Where an engine's files come from (what `audiosubnet models list` checks).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum EngineFiles {
    /// Models of the store (`audiosubnet models fetch NAME…`).
    Store(&'static [&'static str]),
    /// Hugging Face checkpoints, from the hub cache or `--model.path`.
    Hub(&'static [&'static audiosubnet_models::hub::HubModel]),
    /// A program of a Debian package, found on `PATH`.
    Program {
        /// The program.
        program: &'static str,
        /// The Debian package(s) that install it.
        packages: &'static str,
    },
    /// libespeak-ng and its data (Debian `libespeak-ng1`, `espeak-ng-data`).
    EspeakLibrary,
    /// A checkpoint directory given with `--model.path`.
    ModelPath,
}

/// The files engine `name` (one of [`ENGINE_NAMES`]) needs; `None` for other names.
pub fn engine_files(name: &str) -> Option<EngineFiles> {
    // Statics: the checkpoints hold `Cow`s, which constant promotion does not take.
    static SPEECHT5: [&audiosubnet_models::hub::HubModel; 2] = [&SPEECHT5_TTS, &SPEECHT5_HIFIGAN];
    static MMS: [&audiosubnet_models::hub::HubModel; 1] = [&MMS_TTS_ENG];
    static BARK: [&audiosubnet_models::hub::HubModel; 1] = [&SUNO_BARK];
    static BARK_SMALL: [&audiosubnet_models::hub::HubModel; 1] = [&SUNO_BARK_SMALL];
    Some(match name {
        "kokoro" => EngineFiles::Store(&["kokoro", "onnxruntime"]),
        "piper" => EngineFiles::Store(&["piper-joe", "onnxruntime"]),
        "festival" => EngineFiles::Program {
            program: "festival",
            packages: "festival, festvox-us-slt-hts",
        },
        "flite" => EngineFiles::Program {
            program: "flite",
            packages: "flite",
        },
        "espeak" => EngineFiles::EspeakLibrary,
        "microsoft/speecht5_tts" => EngineFiles::Hub(&SPEECHT5),
        "facebook/mms-tts-eng" => EngineFiles::Hub(&MMS),
        "suno/bark" => EngineFiles::Hub(&BARK),
        "suno/bark-small" => EngineFiles::Hub(&BARK_SMALL),
        "vits" => EngineFiles::ModelPath,
        _ => return None,
    })
}

/// The model-store names engine `name` (or its alias) loads on `device`, so that a caller can
/// fetch them before [`load_engine`]; empty for engines whose files come from elsewhere.
pub fn store_models(name: &str, device: Device) -> Vec<&'static str> {
    let name = match name {
        "en_US-joe-medium" => "piper",
        other => other,
    };
    match engine_files(name) {
        Some(EngineFiles::Store(models)) => models
            .iter()
            .map(|&m| match (m, device) {
                ("onnxruntime", Device::Cuda) => "onnxruntime-gpu",
                _ => m,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The voices engine `name` can be asked for by name (`--model.voice`, the OpenAI `voice`);
/// empty for engines with one voice.
pub fn engine_voices(name: &str) -> &'static [&'static str] {
    match name {
        "kokoro" => KOKORO_VOICES,
        _ => &[],
    }
}

/// Whether libespeak-ng loads and initialises (espeak-ng, and the phonemes of Piper and Kokoro).
pub fn espeak_available() -> Result<(), TtsError> {
    espeak_ffi::sample_rate().map(|_| ())
}

/// Loads the engine `name`: one of [`ENGINE_NAMES`], an alias (`en_US-joe-medium`, `espeak-ng`,
/// `bark`, `bark-small`, `speecht5`, `mms-tts-eng`), or `silence` (a demo of a useless miner).
pub fn load_engine(name: &str, opts: &EngineOptions) -> Result<Box<dyn SpeechEngine>, TtsError> {
    let cpu_only = |engine: &str| -> Result<(), TtsError> {
        if opts.device == Device::Cpu {
            Ok(())
        } else {
            Err(TtsError::DeviceUnavailable {
                engine: engine.to_owned(),
                device: opts.device,
                reason: "it runs on the CPU only; use --device cpu or --model piper".to_owned(),
            })
        }
    };
    match name {
        "kokoro" => Ok(Box::new(KokoroEngine::load(opts)?)),
        "piper" | "en_US-joe-medium" => Ok(Box::new(PiperEngine::load(opts)?)),
        "festival" => {
            cpu_only(name)?;
            Ok(Box::new(FestivalEngine::new(opts)?))
        }
        "flite" => {
            cpu_only(name)?;
            Ok(Box::new(FliteEngine::new(opts)?))
        }
        "espeak" | "espeak-ng" => {
            cpu_only(name)?;
            Ok(Box::new(EspeakEngine::new(opts)?))
        }
        "suno/bark" | "bark" => Ok(Box::new(BarkEngine::load(name, &SUNO_BARK, opts)?)),
        "suno/bark-small" | "bark-small" => {
            Ok(Box::new(BarkEngine::load(name, &SUNO_BARK_SMALL, opts)?))
        }
        "microsoft/speecht5_tts" | "speecht5" => Ok(Box::new(SpeechT5Engine::load(name, opts)?)),
        "facebook/mms-tts-eng" | "mms-tts-eng" => {
            Ok(Box::new(MmsEngine::load(name, &MMS_TTS_ENG, opts)?))
        }
        // Any VitsModel checkpoint in the MMS layout, e.g. another language's MMS-TTS.
        "vits" => {
            if opts.model_path.is_none() {
                return Err(TtsError::EngineUnavailable {
                    engine: name.to_owned(),
                    reason: "--model.path DIR is required: a VitsModel checkpoint directory \
                             (config.json, vocab.json, model.safetensors)"
                        .to_owned(),
                });
            }
            Ok(Box::new(MmsEngine::load(name, &MMS_TTS_ENG, opts)?))
        }
        "silence" => Ok(Box::new(SilenceEngine)),
        n => Err(TtsError::UnknownEngine { name: n.to_owned() }),
    }
}

/// A deliberately useless engine: silence as long as the prompt would take to say. It exists to
/// show (in `scripts/demo` and the validator's tests) what a misbehaving miner earns; never use it
/// to mine.
struct SilenceEngine;

impl SpeechEngine for SilenceEngine {
    fn name(&self) -> &str {
        "silence"
    }

    fn sample_rate(&self) -> u32 {
        16_000
    }

    fn synthesize(&mut self, text: &str) -> Result<Speech, TtsError> {
        let chars: usize = text::prepare(text, text::DEFAULT_MAX_CHARS)?
            .iter()
            .map(String::len)
            .sum();
        Ok(Speech {
            samples: vec![0.0; chars * 16_000 / 14],
            sample_rate: 16_000,
        })
    }
}

/// The candle device for `device`; CUDA needs a build with the `cuda` feature.
pub(crate) fn candle_device(engine: &str, device: Device) -> Result<candle_core::Device, TtsError> {
    match device {
        Device::Cpu => Ok(candle_core::Device::Cpu),
        Device::Cuda => candle_core::Device::new_cuda(0).map_err(|e| TtsError::DeviceUnavailable {
            engine: engine.to_owned(),
            device,
            reason: format!("{e} (CUDA needs a build with `--features cuda`)"),
        }),
    }
}

/// Runs the shared text pipeline: limits, normalisation, sentence split; calls `synth` per sentence
/// and joins the results with `opts.sentence_pause` of silence.
pub(crate) fn synthesize_sentences(
    engine: &str,
    text: &str,
    sample_rate: u32,
    opts: &EngineOptions,
    mut synth: impl FnMut(&str) -> Result<Vec<f32>, TtsError>,
) -> Result<Speech, TtsError> {
    let sentences = text::prepare(text, opts.max_chars)?;
    let pause = (opts.sentence_pause.as_secs_f64() * f64::from(sample_rate)).round() as usize;
    let mut samples = Vec::new();
    for (i, sentence) in sentences.iter().enumerate() {
        let audio = synth(sentence)?;
        if i > 0 {
            samples.resize(samples.len() + pause, 0.0);
        }
        samples.extend_from_slice(&audio);
    }
    check_audio(engine, &samples)?;
    // Engines may overshoot slightly (VITS especially); the contract is [-1, 1].
    for s in &mut samples {
        *s = s.clamp(-1.0, 1.0);
    }
    Ok(Speech {
        samples,
        sample_rate,
    })
}

/// Rejects empty or non-finite audio.
fn check_audio(engine: &str, samples: &[f32]) -> Result<(), TtsError> {
    if samples.is_empty() {
        return Err(TtsError::BadAudio {
            engine: engine.to_owned(),
            reason: "no samples".to_owned(),
        });
    }
    if samples.iter().any(|s| !s.is_finite()) {
        return Err(TtsError::BadAudio {
            engine: engine.to_owned(),
            reason: "NaN or infinite samples".to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_models_without_checkpoints_and_unknown_names() {
        // MMS without a checkpoint: an error naming the fix, not a crash or a download.
        let empty = tempfile::tempdir().expect("tempdir");
        let opts = EngineOptions {
            model_path: Some(empty.path().to_owned()),
            ..EngineOptions::default()
        };
        let msg = load_engine("facebook/mms-tts-eng", &opts)
            .err()
            .expect("no checkpoint")
            .to_string();
        assert!(
            msg.contains("config.json") && msg.contains("--model.path"),
            "{msg}"
        );
        let msg = load_engine("vits", &EngineOptions::default())
            .err()
            .expect("no path")
            .to_string();
        assert!(msg.contains("--model.path DIR is required"), "{msg}");
        let err = load_engine("wavenet", &opts).err().unwrap();
        assert!(matches!(err, TtsError::UnknownEngine { .. }), "{err}");
        assert!(ENGINE_NAMES.contains(&"piper"));
    }

    #[test]
    fn request_voices_are_kokoro_voices_and_other_engines_ignore_them() {
        let voice = |engine, v| request_voice(engine, v).map_err(|e| e.to_string());
        assert_eq!(
            voice("kokoro", Some("alloy")),
            Ok(Some("af_alloy".to_owned()))
        );
        assert_eq!(
            voice("kokoro", Some("bm_george")),
            Ok(Some("bm_george".to_owned()))
        );
        assert_eq!(voice("kokoro", None), Ok(None));
        let err = voice("kokoro", Some("zz")).unwrap_err();
        assert!(err.contains("zz") && err.contains("af_heart"), "{err}");
        assert_eq!(voice("piper", Some("zz")), Ok(None));
        assert_eq!(engine_voices("kokoro").len(), 28);
        assert!(engine_voices("piper").is_empty());
        for name in ENGINE_NAMES {
            assert!(engine_files(name).is_some(), "{name}");
        }
    }

    #[test]
    fn classic_engines_refuse_cuda() {
        let opts = EngineOptions {
            device: Device::Cuda,
            ..EngineOptions::default()
        };
        let err = load_engine("flite", &opts).err().unwrap();
        assert!(matches!(err, TtsError::DeviceUnavailable { .. }), "{err}");
        assert_eq!("CUDA".parse::<Device>(), Ok(Device::Cuda));
        assert!("tpu".parse::<Device>().is_err());
    }

    #[test]
    fn speech_stats_and_wav() {
        let speech = Speech {
            samples: vec![0.5, -0.5, 0.5, -0.5],
            sample_rate: 4,
        };
        assert!((speech.duration_secs() - 1.0).abs() < 1e-9);
        assert!((speech.rms() - 0.5).abs() < 1e-6);
        let bytes = speech.to_wav_bytes().unwrap();
        assert_eq!(&bytes[..4], b"RIFF");
        assert_eq!(bytes.len(), 44 + 8);
    }

    #[test]
    fn sentences_are_joined_with_a_pause() {
        let opts = EngineOptions {
            sentence_pause: Duration::from_millis(250),
            ..EngineOptions::default()
        };
        let speech =
            synthesize_sentences("t", "One. Two.", 1000, &opts, |_| Ok(vec![0.1; 100])).unwrap();
        assert_eq!(speech.samples.len(), 100 + 250 + 100);
        let err = synthesize_sentences("t", "One.", 1000, &opts, |_| Ok(vec![f32::NAN]));
        assert!(matches!(err, Err(TtsError::BadAudio { .. })));
    }
}

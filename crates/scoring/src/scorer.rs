//! The resident models and the worker thread that runs them.
//!
//! The worker survives a panic in one clip: the clip's result is [`ScoringError::Panicked`] (a
//! fault of the validator, not of the miner), the models are reloaded when the scorer knows how
//! (it was started from a [`ScorerConfig`]), and the next clip is scored as usual.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Instant;

use audiosubnet_distillmos::DistillMos;
use audiosubnet_models::ModelStore;
use serde::Serialize;

use crate::ScoringError;
use crate::checks::check_response;
use crate::fingerprint::{Fingerprint, exact_hash};
use crate::formula::{Factors, Measurements, Naturalness, factors};
use crate::onnx::{Dnsmos, DnsmosModel, VadModel, default_ort_library};
use crate::resample::to_16k;
use crate::text::{normalize_words, spoken_chars, wer};
use crate::whisper::{AsrModel, WhisperAsr};

/// Where Whisper runs. DNSMOS and the VAD are small and always run on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhisperDevice {
    /// The CPU (default).
    #[default]
    Cpu,
    /// A CUDA GPU by ordinal; needs the crate's `cuda` feature.
    Cuda(usize),
}

/// How to load the models and size the queue.
#[derive(Debug, Clone)]
pub struct ScorerConfig {
    /// The model store; `None` for `ModelStore::from_env()` (`$AUDIOSUBNET_HOME/models`).
    pub store: Option<ModelStore>,
    /// The ONNX Runtime library; `None` for `AUDIOSUBNET_ORT_LIB`, `ORT_DYLIB_PATH`, then the
    /// store's `onnxruntime`.
    pub ort_library: Option<PathBuf>,
    /// Where Whisper runs.
    pub whisper_device: WhisperDevice,
    /// Which Whisper checkpoint transcribes (`--scoring.asr`; tiny.en by default).
    pub asr: AsrModel,
    /// Which model rates naturalness (`--scoring.mos`).
    pub naturalness: Naturalness,
    /// Responses that may wait for the worker; more are refused with [`Overloaded`].
    pub queue_capacity: usize,
}

impl ScorerConfig {
    /// The model-store names [`ScoringModels::load`] reads with this configuration, so that a
    /// caller can fetch them first.
    pub fn required_models(&self) -> Vec<&'static str> {
        let mut names = vec![
            self.asr.model_name(),
            match self.naturalness {
                Naturalness::Dnsmos => "dnsmos",
                Naturalness::DistillMos => "distill-mos",
            },
            "silero-vad",
        ];
        if self.ort_library.is_none() {
            names.push("onnxruntime");
        }
        names
    }
}

impl Default for ScorerConfig {
    fn default() -> Self {
        Self {
            store: None,
            ort_library: None,
            whisper_device: WhisperDevice::Cpu,
            asr: AsrModel::default(),
            naturalness: Naturalness::default(),
            queue_capacity: 64,
        }
    }
}

/// Time spent in each stage, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Timings {
    /// Checks, resampling and fingerprinting.
    pub prepare_ms: f64,
    /// Whisper (mel, encoder, greedy decode).
    pub whisper_ms: f64,
    /// Of which the encoder.
    pub whisper_encoder_ms: f64,
    /// Of which the greedy decoding.
    pub whisper_decoder_ms: f64,
    /// DNSMOS (0 when it is not the naturalness model).
    pub dnsmos_ms: f64,
    /// Distill-MOS (0 when it is not the naturalness model).
    pub distill_mos_ms: f64,
    /// Silero VAD.
    pub vad_ms: f64,
    /// Everything.
    pub total_ms: f64,
}

/// Everything measured about one response, and its reward.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreBreakdown {
    /// The reward in [0, 1] (also `factors.reward`).
    pub reward: f64,
    /// Whisper's transcript.
    pub transcript: String,
    /// Word error rate of the transcript against the prompt, both normalised.
    pub wer: f64,
    /// DNSMOS P.835 scores, when it is the naturalness model.
    pub dnsmos: Option<Dnsmos>,
    /// Distill-MOS, when it is the naturalness model.
    pub distill_mos: Option<f64>,
    /// Which model's MOS the naturalness factor used.
    pub naturalness: Naturalness,
    /// That MOS (DNSMOS OVRL or Distill-MOS).
    pub mos: f64,
    /// Fraction of the clip the VAD calls speech.
    pub speech_fraction: f64,
    /// Seconds of speech.
    pub speech_s: f64,
    /// Silence before the first speech, seconds.
    pub leading_silence_s: f64,
    /// Silence after the last speech, seconds.
    pub trailing_silence_s: f64,
    /// Clip duration, seconds.
    pub duration_s: f64,
    /// The declared sample rate.
    pub sample_rate: u32,
    /// Spoken characters of the prompt per second from the first to the last speech.
    pub speaking_rate: Option<f64>,
    /// Prompt words per second over the same span.
    pub words_per_second: Option<f64>,
    /// Robust fingerprint of the 16 kHz audio (hex, 8 digits per 16 ms frame).
    pub fingerprint: String,
    /// SHA-256 of the checked samples and rate (identical audio only).
    pub exact_hash: String,
    /// The reward's factors.
    pub factors: Factors,
    /// Stage timings.
    pub timings: Timings,
}

/// A response's samples as they came off the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Samples {
    /// Float samples.
    F32(Vec<f32>),
    /// JSON numbers parsed as f64 (keeps int32 PCM exact).
    F64(Vec<f64>),
    /// Float samples shared with the caller (no copy of a clip the caller also keeps).
    Shared(Arc<Vec<f32>>),
}

impl From<Arc<Vec<f32>>> for Samples {
    fn from(v: Arc<Vec<f32>>) -> Self {
        Self::Shared(v)
    }
}

impl From<Vec<f32>> for Samples {
    fn from(v: Vec<f32>) -> Self {
        Self::F32(v)
    }
}

impl From<Vec<f64>> for Samples {
    fn from(v: Vec<f64>) -> Self {
        Self::F64(v)
    }
}

/// Distill-MOS rates a clip in 7.68 s windows, about 1 s of CPU each; the package's rule (crops
/// at most 1 s apart) would spend 24 on a 30 s reply. Four windows still cover the longest clip the
/// checks accept, and give the package's own score up to 10.7 s.
const DISTILL_MOS_MAX_WINDOWS: usize = 4;

/// The naturalness model the formula reads.
#[derive(Debug)]
enum NaturalnessModel {
    Dnsmos(DnsmosModel),
    DistillMos(DistillMos),
}

/// The models, loaded once. [`ScoringModels::score`] is synchronous and blocking; the
/// validator uses it through [`Scorer`].
#[derive(Debug)]
pub struct ScoringModels {
    whisper: WhisperAsr,
    /// The naturalness model: only the one the formula reads is loaded and run.
    naturalness: NaturalnessModel,
    vad: VadModel,
}

impl ScoringModels {
    /// Loads Whisper (`cfg.asr`), the naturalness model (`cfg.naturalness`) and Silero VAD from
    /// the verified model store.
    pub fn load(cfg: &ScorerConfig) -> Result<Self, ScoringError> {
        let store = match &cfg.store {
            Some(s) => s.clone(),
            None => ModelStore::from_env()?,
        };
        let ort_lib = match &cfg.ort_library {
            Some(p) => p.clone(),
            None => default_ort_library(&store)?,
        };
        let device = match cfg.whisper_device {
            WhisperDevice::Cpu => candle_core::Device::Cpu,
            WhisperDevice::Cuda(i) => candle_core::Device::new_cuda(i)
                .map_err(|e| ScoringError::Whisper(format!("CUDA device {i}: {e}")))?,
        };
        let whisper = WhisperAsr::load(&store.require(cfg.asr.model_name())?.dir, &device)?;
        let naturalness = match cfg.naturalness {
            Naturalness::Dnsmos => NaturalnessModel::Dnsmos(DnsmosModel::load(
                &store.require("dnsmos")?.file("sig_bak_ovr.onnx"),
                &ort_lib,
            )?),
            Naturalness::DistillMos => NaturalnessModel::DistillMos(DistillMos::load(
                &store
                    .require("distill-mos")?
                    .file(audiosubnet_distillmos::WEIGHTS_FILE),
            )?),
        };
        let vad = VadModel::load(
            &store
                .require("silero-vad")?
                .file("silero_vad_op18_ifless.onnx"),
            &ort_lib,
        )?;
        Ok(Self {
            whisper,
            naturalness,
            vad,
        })
    }

    /// Checks and scores one response for the validator's `prompt`.
    pub fn score(
        &mut self,
        prompt: &str,
        samples: &Samples,
        sample_rate: u32,
    ) -> Result<ScoreBreakdown, ScoringError> {
        let started = Instant::now();
        let checked = match samples {
            Samples::F32(s) => check_response(prompt, s, sample_rate)?,
            Samples::F64(s) => check_response(prompt, s, sample_rate)?,
            Samples::Shared(s) => check_response(prompt, s.as_slice(), sample_rate)?,
        };
        let pcm = to_16k(&checked.samples, sample_rate);
        let fingerprint = Fingerprint::of_16k(&pcm).to_hex();
        let exact = exact_hash(&checked.samples, sample_rate);
        let prepared = Instant::now();

        let words = normalize_words(prompt).len();
        // Enough tokens for the prompt and some; garbage audio cannot make Whisper run long.
        let heard = self.whisper.transcribe(&pcm, 3 * words + 16)?;
        let transcript = heard.text;
        let whispered = Instant::now();
        let (naturalness, mos, dnsmos, distill_mos) = match &mut self.naturalness {
            NaturalnessModel::Dnsmos(model) => {
                let d = model.score(&pcm)?;
                (Naturalness::Dnsmos, d.ovrl, Some(d), None)
            }
            NaturalnessModel::DistillMos(model) => {
                let m = f64::from(model.score_at_most(&pcm, DISTILL_MOS_MAX_WINDOWS)?);
                (Naturalness::DistillMos, m, None, Some(m))
            }
        };
        let rated = Instant::now();
        let act = self.vad.activity(&pcm)?;
        let vadded = Instant::now();

        let wer = wer(prompt, &transcript);
        let per_span = |n: usize| (act.span_s > 0.0).then(|| n as f64 / act.span_s);
        let speaking_rate = per_span(spoken_chars(prompt));
        let m = Measurements {
            wer,
            mos,
            naturalness,
            speech_fraction: act.speech_fraction,
            speaking_rate,
            leading_silence_s: act.leading_silence_s,
            trailing_silence_s: act.trailing_silence_s,
        };
        let f = factors(&m);
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1000.0;
        let breakdown = ScoreBreakdown {
            reward: f.reward,
            transcript,
            wer,
            dnsmos,
            distill_mos,
            naturalness,
            mos,
            speech_fraction: act.speech_fraction,
            speech_s: act.speech_s,
            leading_silence_s: act.leading_silence_s,
            trailing_silence_s: act.trailing_silence_s,
            duration_s: checked.duration_s,
            sample_rate,
            speaking_rate,
            words_per_second: per_span(words),
            fingerprint,
            exact_hash: exact,
            factors: f,
            timings: Timings {
                prepare_ms: ms(started, prepared),
                whisper_ms: ms(prepared, whispered),
                whisper_encoder_ms: heard.encoder_ms,
                whisper_decoder_ms: heard.decoder_ms,
                dnsmos_ms: if dnsmos.is_some() {
                    ms(whispered, rated)
                } else {
                    0.0
                },
                distill_mos_ms: if distill_mos.is_some() {
                    ms(whispered, rated)
                } else {
                    0.0
                },
                vad_ms: ms(rated, vadded),
                total_ms: ms(started, vadded),
            },
        };
        tracing::debug!(
            reward = breakdown.reward,
            wer = breakdown.wer,
            mos = breakdown.mos,
            speech_fraction = breakdown.speech_fraction,
            total_ms = breakdown.timings.total_ms,
            "scored response"
        );
        Ok(breakdown)
    }
}

/// The queue is full; the response was not accepted (score it as a timeout or retry later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the scoring queue is full ({capacity} waiting)")]
pub struct Overloaded {
    /// The queue's capacity.
    pub capacity: usize,
}

/// Resolves to the response's score.
pub type ScoreReceiver = tokio::sync::oneshot::Receiver<Result<ScoreBreakdown, ScoringError>>;

struct Job {
    prompt: String,
    samples: Samples,
    sample_rate: u32,
    reply: tokio::sync::oneshot::Sender<Result<ScoreBreakdown, ScoringError>>,
}

/// The models on a dedicated thread behind a bounded queue. Submitting never blocks; the result
/// arrives on a oneshot channel the async validator can await. Dropping the scorer lets the worker
/// finish the queued jobs and stop.
#[derive(Debug)]
pub struct Scorer {
    tx: Option<SyncSender<Job>>,
    capacity: usize,
    worker: Option<JoinHandle<()>>,
    hooks: Arc<Hooks>,
}

/// Shared between the scorer and its worker.
#[derive(Debug, Default)]
struct Hooks {
    /// Clips still to fail with an injected panic (fault injection for tests).
    panics: AtomicUsize,
}

impl Scorer {
    /// Loads the models (blocking: seconds; call it at startup or from `spawn_blocking`) and
    /// starts the worker thread.
    pub fn start(cfg: &ScorerConfig) -> Result<Self, ScoringError> {
        let models = ScoringModels::load(cfg)?;
        Self::spawn(models, cfg.queue_capacity, Some(cfg.clone()))
    }

    /// Starts the worker on already loaded models (after a panic they are kept, not reloaded).
    pub fn with_models(models: ScoringModels, queue_capacity: usize) -> Result<Self, ScoringError> {
        Self::spawn(models, queue_capacity, None)
    }

    fn spawn(
        models: ScoringModels,
        queue_capacity: usize,
        reload: Option<ScorerConfig>,
    ) -> Result<Self, ScoringError> {
        let capacity = queue_capacity.max(1);
        let (tx, rx) = sync_channel::<Job>(capacity);
        let hooks = Arc::new(Hooks::default());
        let worker_hooks = hooks.clone();
        let worker = std::thread::Builder::new()
            .name("scoring".to_owned())
            .spawn(move || worker(models, rx, reload, worker_hooks))
            .map_err(|e| ScoringError::Io {
                context: "spawning the scoring thread".to_owned(),
                source: e,
            })?;
        Ok(Self {
            tx: Some(tx),
            capacity,
            worker: Some(worker),
            hooks,
        })
    }

    /// Fault injection for tests: the next `n` clips panic inside the worker, as a bug in a
    /// model would. Each is answered with [`ScoringError::Panicked`]; the worker carries on.
    #[doc(hidden)]
    pub fn inject_panics(&self, n: usize) {
        self.hooks.panics.store(n, Ordering::SeqCst);
    }

    /// Queues a response for scoring against the validator's `prompt`. Returns at once:
    /// [`Overloaded`] when the queue is full, else a receiver for the result (a
    /// [`ScoringError::Rejected`] for a response that fails the checks).
    pub fn try_score(
        &self,
        prompt: impl Into<String>,
        samples: impl Into<Samples>,
        sample_rate: u32,
    ) -> Result<ScoreReceiver, Overloaded> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let job = Job {
            prompt: prompt.into(),
            samples: samples.into(),
            sample_rate,
            reply,
        };
        let overloaded = Overloaded {
            capacity: self.capacity,
        };
        match &self.tx {
            Some(tx) => match tx.try_send(job) {
                Ok(()) => Ok(rx),
                Err(TrySendError::Full(_)) => Err(overloaded),
                // The worker is gone: the receiver resolves with a closed channel.
                Err(TrySendError::Disconnected(_)) => Ok(rx),
            },
            None => Ok(rx),
        }
    }

    /// Queues a response and waits for its score.
    pub async fn score(
        &self,
        prompt: impl Into<String>,
        samples: impl Into<Samples>,
        sample_rate: u32,
    ) -> Result<Result<ScoreBreakdown, ScoringError>, Overloaded> {
        let rx = self.try_score(prompt, samples, sample_rate)?;
        Ok(rx.await.unwrap_or(Err(ScoringError::WorkerGone)))
    }

    /// The queue's capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl Drop for Scorer {
    fn drop(&mut self) {
        // Closing the channel ends the worker's loop after the queued jobs.
        self.tx.take();
        if let Some(w) = self.worker.take()
            && w.join().is_err()
        {
            tracing::error!("the scoring worker panicked");
        }
    }
}

fn worker(
    mut models: ScoringModels,
    rx: Receiver<Job>,
    reload: Option<ScorerConfig>,
    hooks: Arc<Hooks>,
) {
    while let Ok(job) = rx.recv() {
        if job.reply.is_closed() {
            continue;
        }
        let inject = hooks
            .panics
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if inject {
                panic!("injected scoring panic");
            }
            models.score(&job.prompt, &job.samples, job.sample_rate)
        }));
        let result = match outcome {
            Ok(result) => result,
            Err(payload) => {
                let msg = panic_message(payload.as_ref());
                tracing::error!("scoring a clip panicked: {msg}");
                // A panic may leave a model half-updated: start again from the files.
                if let Some(cfg) = &reload {
                    match ScoringModels::load(cfg) {
                        Ok(fresh) => models = fresh,
                        Err(e) => tracing::error!("reloading the models after a panic: {e}"),
                    }
                }
                Err(ScoringError::Panicked(msg))
            }
        };
        if let Err(e) = &result {
            tracing::debug!(error = %e, "response not scored");
        }
        let _ = job.reply.send(result);
    }
    tracing::debug!("scoring worker stopped");
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

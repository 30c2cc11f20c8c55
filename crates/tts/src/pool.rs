//! The speech miner's synthesis threads: [`audiosubnet_workers::WorkerPool`] over speech
//! engines, each resident on its own thread behind a bounded queue. When the queue is full
//! [`SynthesisPool::try_submit`] fails at once with [`Overloaded`] (the miner answers 503)
//! instead of letting latency grow; each engine is warmed up before the pool reports ready.

use audiosubnet_workers::{Engine, StartError, WorkerPool};
use tokio::sync::oneshot;

use crate::{EngineOptions, Speech, SpeechEngine, TtsError};

/// Pool sizing.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Worker threads, each with its own engine instance (at least 1).
    pub workers: usize,
    /// Requests that may wait for a worker; beyond this, submissions are refused.
    pub queue_capacity: usize,
    /// Synthesised once per worker at start so the first real request does not pay for lazy
    /// initialisation (ONNX Runtime allocations, festival's voice load).
    pub warmup_text: String,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            queue_capacity: 8,
            warmup_text: "Warming up.".to_owned(),
        }
    }
}

/// The queue is full; try again later (HTTP 503).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("synthesis queue is full ({capacity} waiting)")]
pub struct Overloaded {
    /// The queue's capacity.
    pub capacity: usize,
}

/// One request: the text, in the request's voice for engines with several
/// ([`SpeechEngine::synthesize_voice`]).
struct SpeechJob {
    text: String,
    voice: Option<String>,
}

/// A speech engine as a pool worker.
struct SpeechWorker(Box<dyn SpeechEngine>);

impl Engine for SpeechWorker {
    type Job = SpeechJob;
    type Output = Speech;
    type Error = TtsError;

    fn name(&self) -> &str {
        self.0.name()
    }
    fn sample_rate(&self) -> u32 {
        self.0.sample_rate()
    }
    fn run(&mut self, job: &SpeechJob) -> Result<Speech, TtsError> {
        self.0.synthesize_voice(&job.text, job.voice.as_deref())
    }
    fn audio_seconds(speech: &Speech) -> f64 {
        speech.duration_secs()
    }
    fn panicked(name: &str) -> TtsError {
        TtsError::Synthesis {
            engine: name.to_owned(),
            message: "the engine panicked".to_owned(),
        }
    }
}

/// N resident engines behind a bounded queue.
pub struct SynthesisPool(WorkerPool<SpeechWorker>);

impl std::fmt::Debug for SynthesisPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SynthesisPool").field(&self.0).finish()
    }
}

impl SynthesisPool {
    /// Starts `config.workers` threads running the engine `name` (see [`crate::load_engine`]);
    /// returns once every engine is loaded and warmed up, or the first load error.
    pub fn start(name: &str, opts: &EngineOptions, config: PoolConfig) -> Result<Self, TtsError> {
        let (name_owned, opts) = (name.to_owned(), opts.clone());
        Self::start_with(config, move |_| crate::load_engine(&name_owned, &opts))
    }

    /// Like [`SynthesisPool::start`] with a custom engine factory (called once per worker, on the
    /// worker's thread, with the worker index).
    pub fn start_with<F>(config: PoolConfig, factory: F) -> Result<Self, TtsError>
    where
        F: Fn(usize) -> Result<Box<dyn SpeechEngine>, TtsError> + Send + Sync + 'static,
    {
        let warmup = config.warmup_text;
        let pool = WorkerPool::start(
            audiosubnet_workers::PoolConfig {
                workers: config.workers,
                queue_capacity: config.queue_capacity,
                thread_name: "tts-worker",
            },
            move |index| {
                let mut engine = factory(index)?;
                if !warmup.is_empty() {
                    engine.synthesize(&warmup)?;
                }
                Ok(SpeechWorker(engine))
            },
        )
        .map_err(|e| match e {
            StartError::Load(e) => e,
            StartError::Spawn(source) => TtsError::Io {
                context: "spawning a synthesis thread".to_owned(),
                source,
            },
            StartError::WorkerGone => TtsError::WorkerGone,
        })?;
        Ok(SynthesisPool(pool))
    }

    /// Queues `text`; the receiver yields the result. Never blocks: a full queue is [`Overloaded`].
    /// The current tracing span is carried to the worker.
    pub fn try_submit(
        &self,
        text: String,
    ) -> Result<oneshot::Receiver<Result<Speech, TtsError>>, Overloaded> {
        self.try_submit_voice(text, None)
    }

    /// Like [`SynthesisPool::try_submit`], in `voice` (see [`crate::request_voice`]; engines
    /// with one voice ignore it).
    pub fn try_submit_voice(
        &self,
        text: String,
        voice: Option<String>,
    ) -> Result<oneshot::Receiver<Result<Speech, TtsError>>, Overloaded> {
        self.0
            .try_submit(SpeechJob { text, voice })
            .map_err(|full| Overloaded {
                capacity: full.capacity,
            })
    }

    /// Requests waiting for a worker (not counting those being synthesised).
    pub fn queue_depth(&self) -> usize {
        self.0.queue_depth()
    }

    /// The queue's capacity.
    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }

    /// Number of worker threads started.
    pub fn workers(&self) -> usize {
        self.0.workers()
    }

    /// Number of worker threads still serving (less than [`SynthesisPool::workers`] only after
    /// a worker thread died).
    pub fn live_workers(&self) -> usize {
        self.0.live_workers()
    }

    /// The engine's name.
    pub fn engine_name(&self) -> &str {
        self.0.engine_name()
    }

    /// Sample rate of the audio the pool returns.
    pub fn sample_rate(&self) -> u32 {
        self.0.sample_rate()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// A deterministic engine for the queue mechanics (the real engines are tested in
    /// tests/engines.rs): a tone whose length follows the text, produced after a fixed delay.
    struct Tone {
        delay: Duration,
    }

    impl SpeechEngine for Tone {
        fn name(&self) -> &str {
            "tone"
        }
        fn sample_rate(&self) -> u32 {
            8000
        }
        fn synthesize(&mut self, text: &str) -> Result<Speech, TtsError> {
            if text == "panic" {
                panic!("test panic");
            }
            std::thread::sleep(self.delay);
            let n = text.len() * 80;
            Ok(Speech {
                samples: (0..n).map(|i| (i as f32 * 0.05).sin() * 0.5).collect(),
                sample_rate: 8000,
            })
        }
    }

    fn tone_pool(delay_ms: u64, workers: usize, capacity: usize) -> SynthesisPool {
        SynthesisPool::start_with(
            PoolConfig {
                workers,
                queue_capacity: capacity,
                warmup_text: "warm".to_owned(),
            },
            move |_| {
                Ok(Box::new(Tone {
                    delay: Duration::from_millis(delay_ms),
                }) as Box<dyn SpeechEngine>)
            },
        )
        .unwrap()
    }

    #[tokio::test]
    async fn full_queue_is_refused_immediately_and_nothing_hangs() {
        let pool = tone_pool(200, 1, 2);
        assert_eq!(pool.engine_name(), "tone");
        let mut accepted = Vec::new();
        let mut refused = 0;
        let t0 = Instant::now();
        for _ in 0..10 {
            match pool.try_submit("hello".to_owned()) {
                Ok(rx) => accepted.push(rx),
                Err(o) => {
                    assert_eq!(o.capacity, 2);
                    refused += 1;
                }
            }
        }
        assert!(
            t0.elapsed() < Duration::from_millis(100),
            "try_submit blocked"
        );
        // One in the worker, two queued; the rest refused.
        assert!((2..=3).contains(&accepted.len()), "{}", accepted.len());
        assert_eq!(refused, 10 - accepted.len());
        assert!(pool.queue_depth() <= 2);
        for rx in accepted {
            let speech = tokio::time::timeout(Duration::from_secs(5), rx)
                .await
                .expect("answer within 5 s")
                .expect("worker alive")
                .expect("synthesis ok");
            assert_eq!(speech.samples.len(), 5 * 80);
        }
        assert_eq!(pool.queue_depth(), 0);
        assert!(pool.try_submit("again".to_owned()).is_ok());
    }

    #[tokio::test]
    async fn workers_run_in_parallel_and_survive_panics() {
        let pool = tone_pool(150, 3, 8);
        assert_eq!(pool.workers(), 3);
        let t0 = Instant::now();
        let rxs: Vec<_> = (0..3)
            .map(|_| pool.try_submit("abc".to_owned()).unwrap())
            .collect();
        for rx in rxs {
            rx.await.unwrap().unwrap();
        }
        // Three 150 ms jobs on three workers take ~150 ms, not 450 ms.
        assert!(
            t0.elapsed() < Duration::from_millis(400),
            "{:?}",
            t0.elapsed()
        );

        let err = pool.try_submit("panic".to_owned()).unwrap().await.unwrap();
        assert!(matches!(err, Err(TtsError::Synthesis { .. })));
        // The panic was contained: every worker still serves.
        assert_eq!(pool.live_workers(), 3);
        assert!(
            pool.try_submit("ok".to_owned())
                .unwrap()
                .await
                .unwrap()
                .is_ok()
        );
    }

    #[tokio::test]
    async fn metrics_are_recorded_by_engine() {
        // The only test in this binary that installs a global recorder (workers are other
        // threads, so a thread-local recorder would not see them).
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install().unwrap();
        let pool = tone_pool(10, 1, 4);
        pool.try_submit("hello".to_owned())
            .unwrap()
            .await
            .unwrap()
            .unwrap();
        let seen: Vec<(String, Vec<(String, String)>)> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, _)| {
                let key = key.key();
                let labels = key
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                (key.name().to_owned(), labels)
            })
            .collect();
        for name in [
            "miner_synthesis_seconds",
            "miner_synthesis_realtime_factor",
            "miner_queue_depth",
        ] {
            assert!(
                seen.iter().any(|(n, labels)| n == name
                    && labels.contains(&("engine".to_owned(), "tone".to_owned()))),
                "{name} not recorded: {seen:?}"
            );
        }
    }

    #[test]
    fn load_errors_are_reported_by_start() {
        let err = SynthesisPool::start_with(PoolConfig::default(), |_| {
            Err(TtsError::EngineUnavailable {
                engine: "x".to_owned(),
                reason: "not installed".to_owned(),
            })
        })
        .unwrap_err();
        assert!(err.to_string().contains("not installed"));
    }
}

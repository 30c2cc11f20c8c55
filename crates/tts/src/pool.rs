//! A fixed set of synthesis threads, each with its own resident engine, fed by a bounded queue.
//!
//! Synthesis is CPU-bound and blocking, so it runs on dedicated `std::thread`s, never on the async
//! runtime; callers await a `oneshot` answer. When the queue is full [`SynthesisPool::try_submit`]
//! fails at once with [`Overloaded`] (the miner answers 503) instead of letting latency grow.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError};
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

type Reply = oneshot::Sender<Result<Speech, TtsError>>;

struct Job {
    text: String,
    /// The request's voice, for engines with several ([`SpeechEngine::synthesize_voice`]).
    voice: Option<String>,
    reply: Reply,
    span: tracing::Span,
    enqueued: Instant,
}

/// N resident engines behind a bounded queue.
pub struct SynthesisPool {
    tx: Option<Sender<Job>>,
    rx: Receiver<Job>,
    engine: Arc<str>,
    sample_rate: u32,
    capacity: usize,
    workers: Vec<JoinHandle<()>>,
    /// Workers still serving; when none is, submissions are refused rather than left to hang.
    live: Arc<AtomicUsize>,
}

/// Decrements the live-worker count when a worker thread ends, however it ends.
struct LiveGuard(Arc<AtomicUsize>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for SynthesisPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SynthesisPool")
            .field("engine", &self.engine)
            .field("workers", &self.workers.len())
            .field("capacity", &self.capacity)
            .field("queue_depth", &self.queue_depth())
            .finish()
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
        let workers_n = config.workers.max(1);
        let (tx, rx) = crossbeam_channel::bounded::<Job>(config.queue_capacity);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(String, u32), TtsError>>();
        let factory = Arc::new(factory);
        let warmup = Arc::<str>::from(config.warmup_text.as_str());
        let mut workers = Vec::with_capacity(workers_n);
        let live = Arc::new(AtomicUsize::new(0));
        for index in 0..workers_n {
            let (rx, ready_tx, factory, warmup) = (
                rx.clone(),
                ready_tx.clone(),
                Arc::clone(&factory),
                Arc::clone(&warmup),
            );
            live.fetch_add(1, Ordering::SeqCst);
            let guard = LiveGuard(Arc::clone(&live));
            let handle = std::thread::Builder::new()
                .name(format!("tts-worker-{index}"))
                .spawn(move || {
                    let _guard = guard;
                    let mut engine = match load_and_warm(index, factory.as_ref(), &warmup) {
                        Ok(engine) => engine,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok((engine.name().to_owned(), engine.sample_rate())));
                    drop(ready_tx);
                    worker_loop(engine.as_mut(), &rx);
                })
                .map_err(|e| TtsError::Io {
                    context: "spawning a synthesis thread".to_owned(),
                    source: e,
                })?;
            workers.push(handle);
        }
        drop(ready_tx);

        let mut pool = Self {
            tx: Some(tx),
            rx,
            engine: Arc::from(""),
            sample_rate: 0,
            capacity: config.queue_capacity,
            workers,
            live,
        };
        for _ in 0..workers_n {
            match ready_rx.recv() {
                Ok(Ok((name, rate))) => {
                    pool.engine = Arc::from(name.as_str());
                    pool.sample_rate = rate;
                }
                // Dropping `pool` closes the queue and joins the workers that did start.
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(TtsError::WorkerGone),
            }
        }
        tracing::info!(
            engine = %pool.engine,
            workers = workers_n,
            queue_capacity = pool.capacity,
            "synthesis pool ready"
        );
        Ok(pool)
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
        let overloaded = Overloaded {
            capacity: self.capacity,
        };
        let Some(tx) = &self.tx else {
            return Err(overloaded);
        };
        if self.live.load(Ordering::SeqCst) == 0 {
            tracing::error!(engine = %self.engine, "no synthesis worker is alive");
            return Err(overloaded);
        }
        let (reply, rx) = oneshot::channel();
        let job = Job {
            text,
            voice,
            reply,
            span: tracing::Span::current(),
            enqueued: Instant::now(),
        };
        match tx.try_send(job) {
            Ok(()) => {
                self.record_depth();
                Ok(rx)
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                metrics::counter!("miner_synthesis_rejected_total", "engine" => self.engine.to_string())
                    .increment(1);
                Err(overloaded)
            }
        }
    }

    /// Requests waiting for a worker (not counting those being synthesised).
    pub fn queue_depth(&self) -> usize {
        self.rx.len()
    }

    /// The queue's capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Number of worker threads started.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Number of worker threads still serving (less than [`SynthesisPool::workers`] only after
    /// a worker thread died).
    pub fn live_workers(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// The engine's name.
    pub fn engine_name(&self) -> &str {
        &self.engine
    }

    /// Sample rate of the audio the pool returns.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn record_depth(&self) {
        metrics::gauge!("miner_queue_depth", "engine" => self.engine.to_string())
            .set(self.queue_depth() as f64);
    }
}

impl Drop for SynthesisPool {
    /// Closes the queue; queued requests are still served, then the workers exit and are joined.
    fn drop(&mut self) {
        self.tx = None;
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
    }
}

fn load_and_warm(
    index: usize,
    factory: &(dyn Fn(usize) -> Result<Box<dyn SpeechEngine>, TtsError> + Send + Sync),
    warmup: &str,
) -> Result<Box<dyn SpeechEngine>, TtsError> {
    let started = Instant::now();
    let mut engine = factory(index)?;
    if !warmup.is_empty() {
        engine.synthesize(warmup)?;
    }
    tracing::info!(
        engine = engine.name(),
        worker = index,
        ready_ms = started.elapsed().as_millis() as u64,
        "synthesis worker loaded and warmed up"
    );
    Ok(engine)
}

fn worker_loop(engine: &mut dyn SpeechEngine, rx: &Receiver<Job>) {
    let label = engine.name().to_owned();
    for job in rx.iter() {
        metrics::gauge!("miner_queue_depth", "engine" => label.clone()).set(rx.len() as f64);
        if job.reply.is_closed() {
            // The caller gave up (timeout, disconnect); do not spend CPU on it.
            tracing::debug!(parent: &job.span, "request abandoned while queued");
            continue;
        }
        let span = job.span.clone();
        let _entered = span.enter();
        let waited = job.enqueued.elapsed();
        let started = Instant::now();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            engine.synthesize_voice(&job.text, job.voice.as_deref())
        }))
        .unwrap_or_else(|_| {
            Err(TtsError::Synthesis {
                engine: label.clone(),
                message: "the engine panicked".to_owned(),
            })
        });
        let secs = started.elapsed().as_secs_f64();
        match &result {
            Ok(speech) => {
                let audio = speech.duration_secs();
                metrics::histogram!("miner_synthesis_seconds", "engine" => label.clone())
                    .record(secs);
                if audio > 0.0 {
                    metrics::histogram!("miner_synthesis_realtime_factor", "engine" => label.clone())
                        .record(secs / audio);
                }
                tracing::debug!(
                    engine = %label,
                    chars = job.text.len(),
                    audio_secs = audio,
                    synth_secs = secs,
                    queue_secs = waited.as_secs_f64(),
                    "synthesized"
                );
            }
            Err(e) => {
                tracing::warn!(engine = %label, error = %e, "synthesis failed");
            }
        }
        let _ = job.reply.send(result);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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

//! Resident music engines on dedicated threads behind a bounded queue, so generation (seconds of
//! CPU per clip) never runs on the async runtime and a burst of requests is refused at once
//! ([`QueueFull`], the miner's 503) instead of queueing without bound. It records the miner's
//! synthesis metrics (`miner_synthesis_seconds`, `miner_synthesis_realtime_factor`,
//! `miner_queue_depth`, `miner_synthesis_rejected_total`) under its engine's name, so the
//! dashboards show speech and music engines side by side.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::{MusicAudio, MusicEngine, MusicError};

/// Pool sizing.
#[derive(Debug, Clone)]
pub struct MusicPoolConfig {
    /// Worker threads, each with its own engine (at least 1).
    pub workers: usize,
    /// Requests that may wait for a worker; beyond this, submissions are refused.
    pub queue_capacity: usize,
}

impl Default for MusicPoolConfig {
    fn default() -> Self {
        MusicPoolConfig {
            workers: 1,
            queue_capacity: 4,
        }
    }
}

/// The queue is full, or no worker is alive: try again later (HTTP 503).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("music queue is full ({capacity} waiting)")]
pub struct QueueFull {
    /// The queue's capacity.
    pub capacity: usize,
}

/// What a caller asks a worker for.
#[derive(Debug, Clone)]
pub struct MusicJob {
    /// The prompt.
    pub prompt: String,
    /// Seconds of audio.
    pub seconds: f32,
    /// Sampling seed: the same prompt, length and seed give the same clip.
    pub seed: u64,
}

type Reply = oneshot::Sender<Result<MusicAudio, MusicError>>;

struct Job {
    job: MusicJob,
    reply: Reply,
    span: tracing::Span,
    enqueued: Instant,
}

/// N resident music engines behind a bounded queue.
pub struct MusicPool {
    tx: Option<SyncSender<Job>>,
    waiting: Arc<AtomicUsize>,
    live: Arc<AtomicUsize>,
    capacity: usize,
    engine: String,
    sample_rate: u32,
    workers: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for MusicPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MusicPool")
            .field("engine", &self.engine)
            .field("workers", &self.workers.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

/// Decrements the live-worker count when a worker thread ends, however it ends.
struct LiveGuard(Arc<AtomicUsize>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl MusicPool {
    /// Starts `config.workers` threads, each with an engine from `factory` (called on the
    /// worker's thread with its index); returns once all are loaded, or the first load error.
    pub fn start<F>(config: MusicPoolConfig, factory: F) -> Result<Self, MusicError>
    where
        F: Fn(usize) -> Result<Box<dyn MusicEngine>, MusicError> + Send + Sync + 'static,
    {
        let workers_n = config.workers.max(1);
        let capacity = config.queue_capacity;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(capacity);
        let rx = Arc::new(Mutex::new(rx));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(String, u32), MusicError>>();
        let factory = Arc::new(factory);
        let waiting = Arc::new(AtomicUsize::new(0));
        let live = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::with_capacity(workers_n);
        for index in 0..workers_n {
            let (rx, ready_tx, factory, waiting) = (
                Arc::clone(&rx),
                ready_tx.clone(),
                Arc::clone(&factory),
                Arc::clone(&waiting),
            );
            live.fetch_add(1, Ordering::SeqCst);
            let guard = LiveGuard(Arc::clone(&live));
            let handle = std::thread::Builder::new()
                .name(format!("music-worker-{index}"))
                .spawn(move || {
                    let _guard = guard;
                    let mut engine = match factory(index) {
                        Ok(engine) => engine,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok((engine.name().to_owned(), engine.sample_rate())));
                    drop(ready_tx);
                    worker_loop(engine.as_mut(), &rx, &waiting);
                })
                .map_err(|e| MusicError::Worker(format!("spawning a music thread: {e}")))?;
            workers.push(handle);
        }
        drop(ready_tx);
        let mut pool = MusicPool {
            tx: Some(tx),
            waiting,
            live,
            capacity,
            engine: String::new(),
            sample_rate: 0,
            workers,
        };
        for _ in 0..workers_n {
            match ready_rx.recv() {
                Ok(Ok((name, rate))) => {
                    pool.engine = name;
                    pool.sample_rate = rate;
                }
                // Dropping `pool` closes the queue and joins the workers that did start.
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(MusicError::Worker("a music worker died loading".into())),
            }
        }
        tracing::info!(engine = %pool.engine, workers = workers_n, queue_capacity = capacity, "music pool ready");
        Ok(pool)
    }

    /// Starts one worker per engine in `engines` (e.g. from [`crate::load_engines`]).
    pub fn from_engines(
        queue_capacity: usize,
        engines: Vec<Box<dyn MusicEngine>>,
    ) -> Result<Self, MusicError> {
        let config = MusicPoolConfig {
            workers: engines.len(),
            queue_capacity,
        };
        let engines: Mutex<Vec<Option<Box<dyn MusicEngine>>>> =
            Mutex::new(engines.into_iter().map(Some).collect());
        MusicPool::start(config, move |index| {
            engines
                .lock()
                .map_err(|_| MusicError::Worker("engine list poisoned".into()))?
                .get_mut(index)
                .and_then(Option::take)
                .ok_or_else(|| MusicError::Worker(format!("no engine for worker {index}")))
        })
    }

    /// Queues `job`; the receiver yields the clip. Never blocks: a full queue is [`QueueFull`].
    pub fn try_submit(
        &self,
        job: MusicJob,
    ) -> Result<oneshot::Receiver<Result<MusicAudio, MusicError>>, QueueFull> {
        let full = QueueFull {
            capacity: self.capacity,
        };
        let Some(tx) = &self.tx else {
            return Err(full);
        };
        if self.live.load(Ordering::SeqCst) == 0 {
            tracing::error!(engine = %self.engine, "no music worker is alive");
            return Err(full);
        }
        let (reply, rx) = oneshot::channel();
        let job = Job {
            job,
            reply,
            span: tracing::Span::current(),
            enqueued: Instant::now(),
        };
        // Counted before sending so a worker that takes the job at once never sees it below 0.
        self.waiting.fetch_add(1, Ordering::SeqCst);
        match tx.try_send(job) {
            Ok(()) => {
                metrics::gauge!("miner_queue_depth", "engine" => self.engine.clone())
                    .set(self.queue_depth() as f64);
                Ok(rx)
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                metrics::counter!("miner_synthesis_rejected_total", "engine" => self.engine.clone())
                    .increment(1);
                Err(full)
            }
        }
    }

    /// Requests waiting for a worker.
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// The queue's capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Worker threads started.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// The engine's name (`model_name` in replies).
    pub fn engine_name(&self) -> &str {
        &self.engine
    }

    /// Sample rate of the clips.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }
}

impl Drop for MusicPool {
    /// Closes the queue; queued requests are still served, then the workers exit and are joined.
    fn drop(&mut self) {
        self.tx = None;
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
    }
}

fn worker_loop(engine: &mut dyn MusicEngine, rx: &Mutex<Receiver<Job>>, waiting: &AtomicUsize) {
    loop {
        // The lock is held only while waiting for the next job, never while generating.
        let next = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(Job {
            job,
            reply,
            span,
            enqueued,
        }) = next
        else {
            return;
        };
        waiting.fetch_sub(1, Ordering::SeqCst);
        if reply.is_closed() {
            // The caller went away (timeout) while this waited: skip the work.
            continue;
        }
        let _enter = span.enter();
        let started = Instant::now();
        let queued = started.duration_since(enqueued).as_secs_f64();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            engine.generate(&job.prompt, job.seconds, job.seed)
        }))
        .unwrap_or_else(|_| Err(MusicError::Worker("the music engine panicked".into())));
        let took = started.elapsed().as_secs_f64();
        if let Ok(clip) = &result {
            let audio = clip.samples.len() as f64 / f64::from(clip.sample_rate.max(1));
            metrics::histogram!("miner_synthesis_seconds", "engine" => engine.name().to_owned())
                .record(took);
            if audio > 0.0 {
                metrics::histogram!("miner_synthesis_realtime_factor", "engine" => engine.name().to_owned())
                    .record(took / audio);
            }
            tracing::debug!(queued, took, audio, seed = job.seed, "music generated");
        }
        let _ = reply.send(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Holds each job until the test lets it go, then returns silence of the asked length.
    struct Gated {
        release: Arc<Mutex<mpsc::Receiver<()>>>,
    }

    impl MusicEngine for Gated {
        fn name(&self) -> &str {
            "gated"
        }
        fn sample_rate(&self) -> u32 {
            1_000
        }
        fn generate(
            &mut self,
            prompt: &str,
            seconds: f32,
            seed: u64,
        ) -> Result<MusicAudio, MusicError> {
            if prompt == "panic" {
                panic!("engine bug");
            }
            let _ = (self.release.lock().map(|rx| rx.recv()), seed);
            Ok(MusicAudio {
                samples: vec![0.0; (seconds * 1_000.0) as usize],
                sample_rate: 1_000,
            })
        }
    }

    fn job(prompt: &str) -> MusicJob {
        MusicJob {
            prompt: prompt.into(),
            seconds: 1.0,
            seed: 7,
        }
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_a_panic_is_an_error() {
        let (release, gate) = mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let config = MusicPoolConfig {
            workers: 1,
            queue_capacity: 1,
        };
        let pool = MusicPool::start(config, move |_| {
            Ok(Box::new(Gated {
                release: Arc::clone(&gate),
            }) as Box<dyn MusicEngine>)
        })
        .expect("pool starts");
        assert_eq!((pool.engine_name(), pool.sample_rate()), ("gated", 1_000));

        // The worker holds the first job; the second waits; the third is refused at once.
        let first = pool.try_submit(job("first")).expect("first queued");
        while pool.queue_depth() > 0 {
            tokio::task::yield_now().await;
        }
        let second = pool.try_submit(job("second")).expect("second queued");
        assert_eq!(
            pool.try_submit(job("third")).err(),
            Some(QueueFull { capacity: 1 })
        );
        for _ in 0..2 {
            release.send(()).expect("worker alive");
        }
        for pending in [first, second] {
            let clip = pending.await.expect("answered").expect("generated");
            assert_eq!(clip.samples.len(), 1_000);
        }

        // An engine that panics answers an error and the worker keeps serving.
        let failed = pool
            .try_submit(job("panic"))
            .expect("queued")
            .await
            .expect("answered");
        assert!(matches!(failed, Err(MusicError::Worker(_))), "{failed:?}");
        release.send(()).expect("worker alive");
        let after = pool
            .try_submit(job("after"))
            .expect("queued")
            .await
            .expect("answered");
        assert!(after.is_ok());
    }
}

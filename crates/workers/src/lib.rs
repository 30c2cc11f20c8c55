//! Resident engines on dedicated threads behind a bounded queue, so model compute (seconds of
//! CPU per clip) never runs on the async runtime and a burst of requests is refused at once
//! ([`QueueFull`], the miner's 503) instead of queueing without bound.
//!
//! Each worker thread owns one [`Engine`], loaded once on that thread and kept resident;
//! callers await a `oneshot` answer. A job whose caller has gone (a timeout) is skipped, and an
//! engine that panics answers that job with an error and keeps serving. The pool records the
//! miner's synthesis metrics under the engine's name, for speech and music alike:
//! `miner_synthesis_seconds`, `miner_synthesis_realtime_factor`, `miner_queue_depth` and
//! `miner_synthesis_rejected_total`.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tokio::sync::oneshot;

/// What a worker runs: one loaded model or engine, and its jobs.
pub trait Engine: Send + 'static {
    /// One request.
    type Job: Send + 'static;
    /// One answer.
    type Output: Send + 'static;
    /// A failed job or a failed load.
    type Error: std::fmt::Display + Send + 'static;

    /// The engine's name: the metrics label and the name replies carry.
    fn name(&self) -> &str;
    /// Sample rate of the audio it returns.
    fn sample_rate(&self) -> u32;
    /// Runs one job (blocking, on the worker's thread).
    fn run(&mut self, job: &Self::Job) -> Result<Self::Output, Self::Error>;
    /// Seconds of audio in an answer, for the real-time-factor metric.
    fn audio_seconds(output: &Self::Output) -> f64;
    /// The error a caller gets when the engine `name` panicked on its job.
    fn panicked(name: &str) -> Self::Error;
}

/// Pool sizing.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Worker threads, each with its own engine (at least 1).
    pub workers: usize,
    /// Requests that may wait for a worker; beyond this, submissions are refused.
    pub queue_capacity: usize,
    /// Thread names are this and the worker's index (`tts-worker-0`).
    pub thread_name: &'static str,
}

/// The queue is full, or no worker is alive: try again later (HTTP 503).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the queue is full ({capacity} waiting)")]
pub struct QueueFull {
    /// The queue's capacity.
    pub capacity: usize,
}

/// Why a pool did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError<E> {
    /// An engine failed to load (the first such error).
    #[error("{0}")]
    Load(E),
    /// The operating system refused a thread.
    #[error("spawning a worker thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// A worker ended before reporting its engine loaded (it panicked while loading).
    #[error("a worker died while loading its engine")]
    WorkerGone,
}

type Answer<E> = Result<<E as Engine>::Output, <E as Engine>::Error>;

struct Queued<E: Engine> {
    job: E::Job,
    reply: oneshot::Sender<Answer<E>>,
    span: tracing::Span,
    enqueued: Instant,
}

/// N resident engines behind a bounded queue.
pub struct WorkerPool<E: Engine> {
    tx: Option<Sender<Queued<E>>>,
    rx: Receiver<Queued<E>>,
    engine: Arc<str>,
    sample_rate: u32,
    capacity: usize,
    workers: Vec<JoinHandle<()>>,
    /// Workers still serving; when none is, submissions are refused rather than left to hang.
    live: Arc<AtomicUsize>,
}

impl<E: Engine> std::fmt::Debug for WorkerPool<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPool")
            .field("engine", &self.engine)
            .field("workers", &self.workers.len())
            .field("capacity", &self.capacity)
            .field("queue_depth", &self.queue_depth())
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

impl<E: Engine> WorkerPool<E> {
    /// Starts `config.workers` threads, each with an engine from `factory` (called on the
    /// worker's thread with its index); returns once every engine is loaded, or the first load
    /// error (the workers that did start are then stopped and joined).
    pub fn start<F>(config: PoolConfig, factory: F) -> Result<Self, StartError<E::Error>>
    where
        F: Fn(usize) -> Result<E, E::Error> + Send + Sync + 'static,
    {
        let workers_n = config.workers.max(1);
        let (tx, rx) = crossbeam_channel::bounded::<Queued<E>>(config.queue_capacity);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(String, u32), E::Error>>();
        let factory = Arc::new(factory);
        let live = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::with_capacity(workers_n);
        for index in 0..workers_n {
            let (rx, ready_tx, factory) = (rx.clone(), ready_tx.clone(), Arc::clone(&factory));
            live.fetch_add(1, Ordering::SeqCst);
            let guard = LiveGuard(Arc::clone(&live));
            let spawned = std::thread::Builder::new()
                .name(format!("{}-{index}", config.thread_name))
                .spawn(move || {
                    let _guard = guard;
                    let started = Instant::now();
                    let mut engine = match factory(index) {
                        Ok(engine) => engine,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    tracing::info!(
                        engine = engine.name(),
                        worker = index,
                        ready_ms = started.elapsed().as_millis() as u64,
                        "worker loaded its engine"
                    );
                    let _ = ready_tx.send(Ok((engine.name().to_owned(), engine.sample_rate())));
                    drop(ready_tx);
                    serve(&mut engine, &rx);
                });
            match spawned {
                Ok(handle) => workers.push(handle),
                Err(e) => {
                    // The guard moved into the closure that never ran: undo its count.
                    live.fetch_sub(1, Ordering::SeqCst);
                    drop(tx);
                    for handle in workers {
                        let _ = handle.join();
                    }
                    return Err(StartError::Spawn(e));
                }
            }
        }
        drop(ready_tx);

        let mut pool = WorkerPool {
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
                Ok(Err(e)) => return Err(StartError::Load(e)),
                Err(_) => return Err(StartError::WorkerGone),
            }
        }
        tracing::info!(
            engine = %pool.engine,
            workers = workers_n,
            queue_capacity = pool.capacity,
            "worker pool ready"
        );
        Ok(pool)
    }

    /// Queues `job`; the receiver yields the answer. Never blocks: a full queue, or a pool whose
    /// workers have all died, is [`QueueFull`]. The current tracing span is carried to the worker.
    pub fn try_submit(&self, job: E::Job) -> Result<oneshot::Receiver<Answer<E>>, QueueFull> {
        let full = QueueFull {
            capacity: self.capacity,
        };
        let Some(tx) = &self.tx else {
            return Err(full);
        };
        if self.live.load(Ordering::SeqCst) == 0 {
            tracing::error!(engine = %self.engine, "no worker is alive");
            return Err(full);
        }
        let (reply, rx) = oneshot::channel();
        let queued = Queued {
            job,
            reply,
            span: tracing::Span::current(),
            enqueued: Instant::now(),
        };
        match tx.try_send(queued) {
            Ok(()) => {
                metrics::gauge!("miner_queue_depth", "engine" => self.engine.to_string())
                    .set(self.queue_depth() as f64);
                Ok(rx)
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                metrics::counter!("miner_synthesis_rejected_total", "engine" => self.engine.to_string())
                    .increment(1);
                Err(full)
            }
        }
    }

    /// Requests waiting for a worker (not counting those being run).
    pub fn queue_depth(&self) -> usize {
        self.rx.len()
    }

    /// The queue's capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Worker threads started.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Worker threads still serving (fewer than [`WorkerPool::workers`] only after a worker
    /// thread died).
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
}

impl<E: Engine> Drop for WorkerPool<E> {
    /// Closes the queue; queued requests are still served, then the workers exit and are joined.
    fn drop(&mut self) {
        self.tx = None;
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
    }
}

/// A worker's loop: until the queue closes, run each job whose caller still waits.
fn serve<E: Engine>(engine: &mut E, rx: &Receiver<Queued<E>>) {
    let label = engine.name().to_owned();
    for queued in rx.iter() {
        metrics::gauge!("miner_queue_depth", "engine" => label.clone()).set(rx.len() as f64);
        if queued.reply.is_closed() {
            // The caller gave up (timeout, disconnect); do not spend CPU on it.
            tracing::debug!(parent: &queued.span, "request abandoned while queued");
            continue;
        }
        let _entered = queued.span.enter();
        let waited = queued.enqueued.elapsed();
        let started = Instant::now();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| engine.run(&queued.job)))
            .unwrap_or_else(|_| Err(E::panicked(&label)));
        let secs = started.elapsed().as_secs_f64();
        match &result {
            Ok(output) => {
                let audio = E::audio_seconds(output);
                metrics::histogram!("miner_synthesis_seconds", "engine" => label.clone())
                    .record(secs);
                if audio > 0.0 {
                    metrics::histogram!("miner_synthesis_realtime_factor", "engine" => label.clone())
                        .record(secs / audio);
                }
                tracing::debug!(
                    engine = %label,
                    audio_secs = audio,
                    run_secs = secs,
                    queue_secs = waited.as_secs_f64(),
                    "job done"
                );
            }
            Err(e) => tracing::warn!(engine = %label, error = %e, "job failed"),
        }
        let _ = queued.reply.send(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Holds each job until the test lets it go; a job "panic" panics, "fail" fails.
    struct Gated {
        release: Arc<Mutex<mpsc::Receiver<()>>>,
    }

    impl Engine for Gated {
        type Job = &'static str;
        type Output = Vec<f32>;
        type Error = String;

        fn name(&self) -> &str {
            "gated"
        }
        fn sample_rate(&self) -> u32 {
            1_000
        }
        fn run(&mut self, job: &&'static str) -> Result<Vec<f32>, String> {
            match *job {
                "panic" => panic!("engine bug"),
                "fail" => Err("no".into()),
                _ => {
                    let _ = self.release.lock().map(|rx| rx.recv());
                    Ok(vec![0.0; 1_000])
                }
            }
        }
        fn audio_seconds(output: &Vec<f32>) -> f64 {
            output.len() as f64 / 1_000.0
        }
        fn panicked(name: &str) -> String {
            format!("{name} panicked")
        }
    }

    fn gated_pool(workers: usize, capacity: usize) -> (WorkerPool<Gated>, mpsc::Sender<()>) {
        let (release, gate) = mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let config = PoolConfig {
            workers,
            queue_capacity: capacity,
            thread_name: "test-worker",
        };
        let pool = WorkerPool::start(config, move |_| {
            Ok(Gated {
                release: Arc::clone(&gate),
            })
        })
        .expect("pool starts");
        (pool, release)
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_every_accepted_job_is_answered() {
        let (pool, release) = gated_pool(1, 1);
        assert_eq!((pool.engine_name(), pool.sample_rate()), ("gated", 1_000));
        // The worker holds the first job; the second waits; the third is refused at once.
        let first = pool.try_submit("first").expect("first queued");
        while pool.queue_depth() > 0 {
            tokio::task::yield_now().await;
        }
        let second = pool.try_submit("second").expect("second queued");
        assert_eq!(pool.queue_depth(), 1);
        assert_eq!(
            pool.try_submit("third").err(),
            Some(QueueFull { capacity: 1 })
        );
        for _ in 0..2 {
            release.send(()).expect("worker alive");
        }
        for pending in [first, second] {
            let out = pending.await.expect("answered").expect("ran");
            assert_eq!(out.len(), 1_000);
        }
        assert_eq!(pool.queue_depth(), 0);
    }

    #[tokio::test]
    async fn a_panic_or_an_error_answers_its_job_and_the_worker_keeps_serving() {
        let (pool, release) = gated_pool(2, 4);
        let panicked = pool.try_submit("panic").expect("queued").await;
        assert_eq!(panicked.expect("answered"), Err("gated panicked".into()));
        let failed = pool.try_submit("fail").expect("queued").await;
        assert_eq!(failed.expect("answered"), Err("no".into()));
        assert_eq!(pool.live_workers(), 2);
        release.send(()).expect("worker alive");
        let after = pool.try_submit("after").expect("queued").await;
        assert!(after.expect("answered").is_ok());
    }

    #[tokio::test]
    async fn a_job_whose_caller_left_is_skipped() {
        let (pool, release) = gated_pool(1, 4);
        let first = pool.try_submit("first").expect("queued");
        while pool.queue_depth() > 0 {
            tokio::task::yield_now().await;
        }
        // Queued behind the first, then abandoned: the worker must not run it.
        drop(pool.try_submit("abandoned").expect("queued"));
        let third = pool.try_submit("third").expect("queued");
        release.send(()).expect("worker alive");
        first.await.expect("answered").expect("ran");
        release.send(()).expect("worker alive");
        // Had the abandoned job run, it would have taken this release and the third would hang.
        tokio::time::timeout(Duration::from_secs(5), third)
            .await
            .expect("the third ran after one release")
            .expect("answered")
            .expect("ran");
    }

    #[test]
    fn load_errors_and_a_worker_dying_while_loading_fail_start() {
        let config = PoolConfig {
            workers: 2,
            queue_capacity: 1,
            thread_name: "test-worker",
        };
        let err = WorkerPool::<Gated>::start(config.clone(), |_| Err("not installed".into()))
            .expect_err("load fails");
        assert!(
            matches!(err, StartError::Load(ref e) if e == "not installed"),
            "{err}"
        );
        let one = PoolConfig {
            workers: 1,
            ..config
        };
        let err = WorkerPool::<Gated>::start(one, |_| panic!("loader bug")).expect_err("it died");
        assert!(matches!(err, StartError::WorkerGone), "{err}");
    }
}

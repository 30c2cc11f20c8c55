//! The music miner's generation threads: [`audiosubnet_workers::WorkerPool`] over music
//! engines, each resident on its own thread behind a bounded queue, so generation (seconds of
//! CPU per clip) never runs on the async runtime and a burst of requests is refused at once
//! ([`QueueFull`], the miner's 503). The pool records the same synthesis metrics as speech,
//! under the music engine's name, so dashboards show both side by side.

use std::sync::Mutex;

use audiosubnet_workers::{Engine, StartError, WorkerPool};
use tokio::sync::oneshot;

pub use audiosubnet_workers::QueueFull;

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

/// A music engine as a pool worker.
struct MusicWorker(Box<dyn MusicEngine>);

impl Engine for MusicWorker {
    type Job = MusicJob;
    type Output = MusicAudio;
    type Error = MusicError;

    fn name(&self) -> &str {
        self.0.name()
    }
    fn sample_rate(&self) -> u32 {
        self.0.sample_rate()
    }
    fn run(&mut self, job: &MusicJob) -> Result<MusicAudio, MusicError> {
        self.0.generate(&job.prompt, job.seconds, job.seed)
    }
    fn audio_seconds(clip: &MusicAudio) -> f64 {
        clip.samples.len() as f64 / f64::from(clip.sample_rate.max(1))
    }
    fn panicked(_name: &str) -> MusicError {
        MusicError::Worker("the music engine panicked".into())
    }
}

/// N resident music engines behind a bounded queue.
pub struct MusicPool(WorkerPool<MusicWorker>);

impl std::fmt::Debug for MusicPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MusicPool").field(&self.0).finish()
    }
}

impl MusicPool {
    /// Starts `config.workers` threads, each with an engine from `factory` (called on the
    /// worker's thread with its index); returns once all are loaded, or the first load error.
    pub fn start<F>(config: MusicPoolConfig, factory: F) -> Result<Self, MusicError>
    where
        F: Fn(usize) -> Result<Box<dyn MusicEngine>, MusicError> + Send + Sync + 'static,
    {
        let pool = WorkerPool::start(
            audiosubnet_workers::PoolConfig {
                workers: config.workers,
                queue_capacity: config.queue_capacity,
                thread_name: "music-worker",
            },
            move |index| factory(index).map(MusicWorker),
        )
        .map_err(|e| match e {
            StartError::Load(e) => e,
            StartError::Spawn(e) => MusicError::Worker(format!("spawning a music thread: {e}")),
            StartError::WorkerGone => MusicError::Worker("a music worker died loading".into()),
        })?;
        Ok(MusicPool(pool))
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
        self.0.try_submit(job)
    }

    /// Requests waiting for a worker.
    pub fn queue_depth(&self) -> usize {
        self.0.queue_depth()
    }

    /// The queue's capacity.
    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }

    /// Worker threads started.
    pub fn workers(&self) -> usize {
        self.0.workers()
    }

    /// The engine's name (`model_name` in replies).
    pub fn engine_name(&self) -> &str {
        self.0.engine_name()
    }

    /// Sample rate of the clips.
    pub fn sample_rate(&self) -> u32 {
        self.0.sample_rate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, mpsc};

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

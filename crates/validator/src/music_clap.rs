//! CLAP for the music judge: whether a clip sounds like what its prompt describes (a "jazz trio
//! with saxophone" against a sine drone under drums), the one thing the measurable terms cannot
//! tell.
//!
//! One resident [`ClapModel`] runs on a dedicated thread behind a bounded queue, so its seconds
//! of compute never block the async runtime. The term is a rank, not a raw cosine: the clip's
//! similarity to its own prompt is compared with its similarity to [`DECOY_DESCRIPTIONS`], a
//! fixed set of contrasting music descriptions, and the term is the share of decoys the prompt
//! beats. A rank needs no calibration of the checkpoint's similarity scale (which differs
//! between CLAP checkpoints and could not be measured here on real weights), and validators
//! running the same checkpoint agree on it.

pub use audiosubnet_clap::LARGER_CLAP_MUSIC;
use audiosubnet_clap::{ClapError, ClapModel, Device, similarity};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

/// Contrasting descriptions a clip's own prompt must beat: styles and instrumentations far
/// apart from each other, so that for any prompt most of them describe something else.
pub const DECOY_DESCRIPTIONS: [&str; 12] = [
    "a solo classical piano piece",
    "heavy metal with distorted electric guitars and fast double-kick drums",
    "a string orchestra playing a slow romantic adagio",
    "an energetic electronic dance track with synthesizers and a four-on-the-floor kick",
    "a jazz trio with saxophone, upright bass and brushed drums",
    "a folk song on a fingerpicked acoustic guitar",
    "a hip hop beat with a deep 808 bass and crisp snares",
    "an ambient drone of soft evolving synth pads without drums",
    "a brass band marching tune with tubas and trumpets",
    "a reggae groove with offbeat guitar skanks and a deep bassline",
    "a funky disco groove with slap bass and brass stabs",
    "a lone flute melody over a quiet harp",
];

/// Prompts whose text embeddings are kept (every miner of a round gets the same prompt).
const TEXT_CACHE_CAPACITY: usize = 64;

/// Which CLAP checkpoint the music judge uses, from the validator's flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClapSetup {
    /// Hub repo (default [`audiosubnet_clap::LARGER_CLAP_MUSIC`]).
    pub repo: String,
    /// Revision of the repo in the hub cache.
    pub revision: Option<String>,
    /// A checkpoint directory instead of the hub cache.
    pub path: Option<PathBuf>,
    /// CUDA device ordinal; `None` for the CPU.
    pub cuda: Option<usize>,
}

/// Why CLAP could not be started or could not score a clip.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClapScoreError {
    /// Loading or running the model failed.
    #[error(transparent)]
    Model(#[from] ClapError),
    /// The queue was full.
    #[error("the CLAP queue is full ({0} waiting)")]
    Overloaded(usize),
    /// The worker thread is gone.
    #[error("the CLAP worker stopped")]
    WorkerGone,
    /// The model panicked on this clip (the worker carries on).
    #[error("CLAP panicked: {0}")]
    Panicked(String),
    /// The worker thread could not be started.
    #[error("cannot start the CLAP worker: {0}")]
    Spawn(std::io::Error),
}

/// What CLAP made of one clip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClapVerdict {
    /// Cosine similarity of the clip and its prompt.
    pub similarity: f32,
    /// Share of [`DECOY_DESCRIPTIONS`] whose similarity to the clip is below the prompt's, in
    /// [0, 1].
    pub rank: f32,
}

struct Job {
    prompt: String,
    samples: Arc<Vec<f32>>,
    sample_rate: u32,
    reply: tokio::sync::oneshot::Sender<Result<ClapVerdict, ClapScoreError>>,
}

/// The CLAP worker: submit a clip and its prompt, await a [`ClapVerdict`].
#[derive(Debug)]
pub struct ClapScorer {
    tx: SyncSender<Job>,
    capacity: usize,
    /// What was loaded, for the start-up log.
    pub description: String,
}

impl ClapScorer {
    /// Loads the checkpoint of `setup` (blocking: seconds) and starts its worker with a queue
    /// of `queue_capacity` clips.
    pub fn start(setup: &ClapSetup, queue_capacity: usize) -> Result<Self, ClapScoreError> {
        let dir = audiosubnet_clap::resolve_checkpoint(
            setup.path.as_deref(),
            Some(&setup.repo),
            setup.revision.as_deref(),
        )?;
        let device = match setup.cuda {
            None => Device::Cpu,
            Some(i) => Device::new_cuda(i).map_err(ClapError::from)?,
        };
        let model = ClapModel::load(&dir, &device)?;
        let description = format!("{} ({})", setup.repo, dir.display());
        Self::with_model(model, queue_capacity, description)
    }

    /// Starts the worker on a loaded model; embeds the decoys first (a failure here is a
    /// broken checkpoint and is returned).
    pub fn with_model(
        model: ClapModel,
        queue_capacity: usize,
        description: String,
    ) -> Result<Self, ClapScoreError> {
        let decoys = DECOY_DESCRIPTIONS
            .iter()
            .map(|d| model.text_embedding(d))
            .collect::<Result<Vec<_>, _>>()?;
        let capacity = queue_capacity.max(1);
        let (tx, rx) = sync_channel::<Job>(capacity);
        std::thread::Builder::new()
            .name("clap".to_owned())
            .spawn(move || {
                let mut texts = TextCache::default();
                // The loop ends when the scorer (the only sender) is dropped.
                for job in rx {
                    let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        judge_clip(&model, &decoys, &mut texts, &job)
                    }))
                    .unwrap_or_else(|panic| Err(ClapScoreError::Panicked(panic_text(&panic))));
                    // The caller may have given up (timeout); nothing to do then.
                    let _ = job.reply.send(verdict);
                }
            })
            .map_err(ClapScoreError::Spawn)?;
        Ok(ClapScorer {
            tx,
            capacity,
            description,
        })
    }

    /// The verdict on `samples` at `sample_rate` for `prompt`; [`ClapScoreError::Overloaded`]
    /// at once when the queue is full.
    pub async fn judge(
        &self,
        prompt: String,
        samples: Arc<Vec<f32>>,
        sample_rate: u32,
    ) -> Result<ClapVerdict, ClapScoreError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let job = Job {
            prompt,
            samples,
            sample_rate,
            reply,
        };
        match self.tx.try_send(job) {
            Ok(()) => rx.await.unwrap_or(Err(ClapScoreError::WorkerGone)),
            Err(TrySendError::Full(_)) => Err(ClapScoreError::Overloaded(self.capacity)),
            Err(TrySendError::Disconnected(_)) => Err(ClapScoreError::WorkerGone),
        }
    }
}

fn judge_clip(
    model: &ClapModel,
    decoys: &[Vec<f32>],
    texts: &mut TextCache,
    job: &Job,
) -> Result<ClapVerdict, ClapScoreError> {
    let text = texts.get_or_embed(model, &job.prompt)?;
    let audio = model.audio_embedding(&job.samples, job.sample_rate)?;
    let own = similarity(&text, &audio);
    let beaten = decoys
        .iter()
        .filter(|d| similarity(d, &audio) < own)
        .count();
    Ok(ClapVerdict {
        similarity: own,
        rank: beaten as f32 / decoys.len().max(1) as f32,
    })
}

/// Text embeddings of recent prompts; cleared when full (prompts change every round, so an
/// exact LRU buys nothing).
#[derive(Default)]
struct TextCache(HashMap<String, Arc<Vec<f32>>>);

impl TextCache {
    fn get_or_embed(
        &mut self,
        model: &ClapModel,
        prompt: &str,
    ) -> Result<Arc<Vec<f32>>, ClapError> {
        if let Some(hit) = self.0.get(prompt) {
            return Ok(hit.clone());
        }
        if self.0.len() >= TEXT_CACHE_CAPACITY {
            self.0.clear();
        }
        let embedding = Arc::new(model.text_embedding(prompt)?);
        self.0.insert(prompt.to_owned(), embedding.clone());
        Ok(embedding)
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn tiny() -> ClapModel {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../clap/tests/fixtures/tiny");
        ClapModel::load(&dir, &Device::Cpu).expect("the tiny CLAP checkpoint")
    }

    fn chord(seconds: f32, rate: u32) -> Vec<f32> {
        (0..(seconds * rate as f32) as usize)
            .map(|i| {
                let t = i as f32 / rate as f32;
                [220.0f32, 277.2, 329.6]
                    .iter()
                    .map(|f| 0.2 * (std::f32::consts::TAU * f * t).sin())
                    .sum()
            })
            .collect()
    }

    #[tokio::test]
    async fn verdicts_are_deterministic_ranks_and_bad_clips_are_errors_not_panics() {
        let scorer = ClapScorer::with_model(tiny(), 4, "tiny".into()).expect("worker");
        let clip = Arc::new(chord(3.0, 32_000));
        let prompt = "a warm chord on a synth pad in A major".to_owned();
        let first = scorer
            .judge(prompt.clone(), clip.clone(), 32_000)
            .await
            .expect("verdict");
        let again = scorer
            .judge(prompt.clone(), clip, 32_000)
            .await
            .expect("verdict");
        assert_eq!(first.similarity.to_bits(), again.similarity.to_bits());
        assert_eq!(first.rank, again.rank);
        assert!((0.0..=1.0).contains(&first.rank), "{first:?}");
        // The rank counts the decoys below the prompt: 0 when the prompt is a decoy's twin
        // cannot be guaranteed, but the rank is always a multiple of 1/12.
        let twelfths = first.rank * DECOY_DESCRIPTIONS.len() as f32;
        assert!((twelfths - twelfths.round()).abs() < 1e-5, "{first:?}");

        let broken = Arc::new(vec![f32::NAN; 32_000]);
        let err = scorer.judge(prompt, broken, 32_000).await.err();
        assert!(
            matches!(err, Some(ClapScoreError::Model(ClapError::InvalidInput(_)))),
            "{err:?}"
        );
    }
}

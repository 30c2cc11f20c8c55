//! How a reply is judged: the [`Judge`] interface, its verdicts and errors (whose fault a
//! failure is), and the validator's implementation, [`ScoringJudge`]: the scoring crate's
//! resident models, plus replay detection across
//! rounds (a clip that matches one sent earlier for a different prompt earns nothing, however
//! close its transcript happens to be).
//!
//! Only clips whose transcript matched their own prompt (WER below the formula's zero point)
//! enter the replay index: otherwise a miner could plant another prompt's audio now and have
//! the honest miners who speak that prompt later flagged as replays.

use crate::state::{FingerprintRecord, REPLAY_MEMORY};
use audiosubnet_scoring::formula::WER_ZERO;
use audiosubnet_scoring::{Fingerprint, ReplayIndex, ReplayMatch, Samples, Scorer, ScoringError};
use futures::future::BoxFuture;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// The scorer's verdict on one reply.
#[derive(Debug, Clone, Serialize)]
pub struct Judgement {
    /// Reward in [0, 1].
    pub reward: f64,
    /// The scoring breakdown, as JSON.
    pub breakdown: serde_json::Value,
    /// Robust fingerprint (hex), for replay detection across rounds.
    pub fingerprint: Option<String>,
    /// Exact hash of the samples, for identical audio across miners within a round.
    pub exact_hash: Option<String>,
    /// Whether the fingerprint entered the replay index (and so belongs in the state): only
    /// clips whose transcript matched their own prompt do, so planted audio cannot get honest
    /// miners flagged later.
    pub indexed: bool,
    /// Word error rate, when measured.
    pub wer: Option<f64>,
    /// The naturalness model's MOS, when measured.
    pub mos: Option<f64>,
    /// Whisper's transcript, when measured.
    pub transcript: Option<String>,
}

/// Why a reply got no judgement: the miner's fault (it is penalised) or the validator's (the
/// miner is skipped for the round).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JudgeError {
    /// The reply was rejected (silence, NaN, wrong rate, replayed audio…).
    #[error("{0}")]
    Rejected(String),
    /// The validator could not score it; the miner is not to blame.
    #[error("validator fault: {0}")]
    Validator(#[from] ValidatorFault),
}

/// A failure of the validator's own scoring.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidatorFault {
    /// The scoring queue closed.
    #[error("the scoring queue is closed")]
    QueueClosed,
    /// The scoring queue was full (the judge's own limit should prevent it).
    #[error(transparent)]
    Overloaded(#[from] audiosubnet_scoring::Overloaded),
    /// A model failed, the worker is gone, or it panicked on this clip.
    #[error("scoring failed: {0}")]
    Scoring(#[from] audiosubnet_scoring::ScoringError),
    /// The scorer returned something unusable (a non-finite reward).
    #[error("{0}")]
    Invalid(String),
    /// CLAP could not judge the clip (its queue was full, it failed or panicked).
    #[error("CLAP: {0}")]
    Clap(String),
}

impl ValidatorFault {
    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        use audiosubnet_scoring::ScoringError as E;
        match self {
            Self::QueueClosed => "queue_closed",
            Self::Overloaded(_) => "overloaded",
            Self::Scoring(E::WorkerGone) => "worker_gone",
            Self::Scoring(E::Panicked(_)) => "panic",
            Self::Scoring(_) => "model",
            Self::Invalid(_) => "invalid",
            Self::Clap(_) => "clap",
        }
    }
}

/// Scores replies. Implementations keep their models resident and run them off the async
/// runtime, and remember what they scored to recognise replays.
pub trait Judge: Send + Sync {
    /// Judges `samples` at `sample_rate` as speech of `prompt` from `hotkey`. The samples are
    /// shared, not copied: the round keeps the same buffer for its report.
    fn judge(
        &self,
        hotkey: String,
        prompt: String,
        samples: Arc<Vec<f32>>,
        sample_rate: u32,
    ) -> BoxFuture<'static, Result<Judgement, JudgeError>>;
}

/// A judge's memory of recent clips' fingerprints, shared by its concurrent calls: a clip that
/// matches one remembered for another prompt is a replay.
#[derive(Debug, Clone)]
pub(crate) struct ReplayMemory(Arc<Mutex<ReplayIndex>>);

impl ReplayMemory {
    /// Remembers `history` (oldest first; only indexed clips are in the state).
    pub(crate) fn new(history: impl IntoIterator<Item = FingerprintRecord>) -> Self {
        let mut index = ReplayIndex::new(REPLAY_MEMORY);
        for record in history {
            if let Some(fp) = Fingerprint::from_hex(&record.fingerprint) {
                index.insert(&record.hotkey, &record.prompt, fp);
            }
        }
        ReplayMemory(Arc::new(Mutex::new(index)))
    }

    /// The remembered clip for another prompt that `fingerprint` (hex) matches, if any; when
    /// none does and `indexable`, remembers it under `label` (off the async runtime: a lookup
    /// compares against every remembered clip).
    pub(crate) async fn check(
        &self,
        label: String,
        prompt: String,
        fingerprint: String,
        indexable: bool,
    ) -> Option<ReplayMatch> {
        let index = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let fp = Fingerprint::from_hex(&fingerprint)?;
            let mut index = index.lock().unwrap_or_else(|p| p.into_inner());
            let found = index.find_replay(&prompt, &fp);
            if indexable && found.is_none() {
                index.insert(&label, &prompt, fp);
            }
            found
        })
        .await
        .ok()
        .flatten()
    }
}

/// Scores replies with [`Scorer`] and rejects replayed clips.
#[derive(Debug, Clone)]
pub struct ScoringJudge {
    scorer: Arc<Scorer>,
    /// One permit per free place in the scorer's queue: replies wait here (asynchronously)
    /// instead of being refused when a large round outpaces the models.
    queue: Arc<Semaphore>,
    replays: ReplayMemory,
}

impl ScoringJudge {
    /// A judge on a running scorer, remembering `history` (the state's fingerprints, oldest
    /// first) so replays of clips scored before a restart are still caught.
    pub fn new(scorer: Arc<Scorer>, history: impl IntoIterator<Item = FingerprintRecord>) -> Self {
        Self {
            queue: Arc::new(Semaphore::new(scorer.capacity())),
            scorer,
            replays: ReplayMemory::new(history),
        }
    }

    async fn score(
        &self,
        hotkey: String,
        prompt: String,
        samples: Arc<Vec<f32>>,
        sample_rate: u32,
    ) -> Result<Judgement, JudgeError> {
        let scored = {
            let _place = self
                .queue
                .acquire()
                .await
                .map_err(|_| ValidatorFault::QueueClosed)?;
            match self
                .scorer
                .try_score(prompt.clone(), Samples::Shared(samples), sample_rate)
            {
                Ok(rx) => rx.await,
                // The semaphore keeps the queue from filling; if it is full anyway, that is ours.
                Err(e) => return Err(ValidatorFault::Overloaded(e).into()),
            }
        };
        let breakdown = match scored {
            Ok(Ok(b)) => b,
            Ok(Err(ScoringError::Rejected(r))) => return Err(JudgeError::Rejected(r.to_string())),
            // Our own failure (model error, panic, worker gone): not the miner's fault.
            Ok(Err(e)) => return Err(ValidatorFault::Scoring(e).into()),
            Err(_) => return Err(ValidatorFault::Scoring(ScoringError::WorkerGone).into()),
        };
        // Only speech of its own prompt may later testify against others.
        let indexable = breakdown.wer < WER_ZERO;
        let replay = self
            .replays
            .check(hotkey, prompt, breakdown.fingerprint.clone(), indexable)
            .await;
        if let Some(m) = replay {
            return Err(JudgeError::Rejected(format!(
                "replayed audio: matches a clip {} sent for another prompt (similarity {:.2})",
                short(&m.label),
                m.similarity
            )));
        }
        let value = serde_json::to_value(&breakdown).unwrap_or(serde_json::Value::Null);
        Ok(Judgement {
            reward: breakdown.reward,
            breakdown: value,
            wer: Some(breakdown.wer),
            mos: Some(breakdown.mos),
            transcript: Some(breakdown.transcript),
            fingerprint: Some(breakdown.fingerprint),
            exact_hash: Some(breakdown.exact_hash),
            indexed: indexable,
        })
    }
}

fn short(hotkey: &str) -> String {
    hotkey.chars().take(10).collect()
}

impl Judge for ScoringJudge {
    fn judge(
        &self,
        hotkey: String,
        prompt: String,
        samples: Arc<Vec<f32>>,
        sample_rate: u32,
    ) -> BoxFuture<'static, Result<Judgement, JudgeError>> {
        let this = self.clone();
        Box::pin(async move { this.score(hotkey, prompt, samples, sample_rate).await })
    }
}

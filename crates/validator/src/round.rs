//! One validator round: a prompt goes to a chunk of miners at once; every reply is judged
//! (or penalised), blended into the miners' EMAs, and summarised in a report.

use crate::state::{FingerprintRecord, ScoreState};
use audiosubnet_dendrite::{AxonTarget, Dendrite, SynapseResponse};
use audiosubnet_protocol::TextToSpeech;
use futures::future::BoxFuture;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The reward a failure pulls the EMA towards (the original's final −0.1): a miner that errs,
/// times out or sends garbage loses ground faster than one that sends poor speech.
pub const FAILURE_PENALTY: f64 = -0.1;

/// A miner to ask.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its uid, when the metagraph is known.
    pub uid: Option<u16>,
    /// Its axon.
    pub axon: AxonTarget,
}

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
    /// Word error rate, when measured.
    pub wer: Option<f64>,
    /// DNSMOS OVRL, when measured.
    pub dnsmos_ovrl: Option<f64>,
    /// Whisper's transcript, when measured.
    pub transcript: Option<String>,
}

/// Scores replies. Implementations keep their models resident and run them off the async
/// runtime, and remember what they scored to recognise replays; a rejected reply (silence, NaN,
/// wrong rate, replayed audio…) is an `Err` with the reason.
pub trait Judge: Send + Sync {
    /// Judges `samples` at `sample_rate` as speech of `prompt` from `hotkey`.
    fn judge(
        &self,
        hotkey: String,
        prompt: String,
        samples: Vec<f32>,
        sample_rate: u32,
    ) -> BoxFuture<'static, Result<Judgement, String>>;
}

/// Round settings.
#[derive(Debug, Clone)]
pub struct RoundConfig {
    /// Per-call timeout (`--neuron.timeout`).
    pub timeout: Duration,
    /// EMA weight of the past (`--alpha`).
    pub alpha: f64,
    /// Rewards below this count as failed responses (`--threshold`), for reporting.
    pub threshold: f64,
}

/// What happened to one miner this round.
#[derive(Debug, Clone, Serialize)]
pub struct MinerResult {
    /// SS58 hotkey.
    pub hotkey: String,
    /// uid, when known.
    pub uid: Option<u16>,
    /// Status of the call (200, the miner's error status, or the client's 408/503/422).
    pub status: u16,
    /// Reward applied (after penalties); `None` when the miner refused this validator (403).
    pub reward: Option<f64>,
    /// Below the threshold, an error, or rejected.
    pub failed: bool,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    /// The breakdown when scored.
    pub breakdown: Option<serde_json::Value>,
    /// Seconds the call took.
    pub latency_s: f64,
    /// The engine the miner says it used.
    pub model_name: Option<String>,
    /// The audio the miner returned (kept for the round's report, not serialised).
    #[serde(skip)]
    pub audio: Option<Arc<(Vec<f32>, u32)>>,
    /// Whisper's transcript, when scored.
    pub transcript: Option<String>,
}

/// A round's summary.
#[derive(Debug, Clone, Serialize)]
pub struct RoundReport {
    /// Round number (1-based, counting restarts).
    pub round: u64,
    /// The prompt every miner in the round got.
    pub prompt: String,
    /// Per miner.
    pub results: Vec<MinerResult>,
    /// Hotkeys that returned bit-identical audio (a metric, not a penalty: honest miners running
    /// the same deterministic model may agree).
    pub identical_audio: Vec<Vec<String>>,
}

/// Asks `targets` to speak `prompt`, judges the replies, updates `state`.
pub async fn run_round(
    dendrite: &Dendrite,
    judge: &Arc<dyn Judge>,
    prompt: &str,
    targets: &[Target],
    state: &mut ScoreState,
    config: &RoundConfig,
) -> RoundReport {
    let axons: Vec<AxonTarget> = targets.iter().map(|t| t.axon.clone()).collect();
    let replies = dendrite
        .forward(&axons, &TextToSpeech::request(prompt), config.timeout)
        .await;
    let judged = futures::future::join_all(targets.iter().zip(replies).map(|(t, reply)| {
        let judge = judge.clone();
        let prompt = prompt.to_string();
        async move {
            let verdict = judge_reply(judge, t, &prompt, &reply).await;
            let model_name = reply.synapse.as_ref().and_then(|s| s.model_name.clone());
            (
                t.clone(),
                reply.status_code,
                reply.elapsed,
                model_name,
                verdict,
            )
        }
    }))
    .await;

    state.rounds += 1;
    let mut results = Vec::with_capacity(judged.len());
    let mut by_hash: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (target, status, elapsed, model_name, (verdict, audio)) in judged {
        let hotkey = target.axon.hotkey.clone();
        let mut result = MinerResult {
            hotkey: hotkey.clone(),
            uid: target.uid,
            status,
            reward: None,
            failed: true,
            reason: None,
            breakdown: None,
            latency_s: elapsed.as_secs_f64(),
            model_name: model_name.clone(),
            audio,
            transcript: None,
        };
        match verdict {
            Verdict::Refused(msg) => {
                tracing::info!(%hotkey, "miner refuses this validator (403): {msg}");
                result.reason = Some(format!("refused: {msg}"));
            }
            Verdict::Failed(reason) => {
                state.update(&hotkey, target.uid, FAILURE_PENALTY, config.alpha, true);
                result.reward = Some(0.0);
                result.reason = Some(reason);
            }
            Verdict::Scored(j) => {
                let failed = j.reward < config.threshold;
                state.update(&hotkey, target.uid, j.reward, config.alpha, failed);
                if let Some(fp) = &j.fingerprint {
                    state.remember_fingerprint(FingerprintRecord {
                        hotkey: hotkey.clone(),
                        prompt: prompt.to_string(),
                        fingerprint: fp.clone(),
                    });
                }
                if let Some(h) = &j.exact_hash {
                    by_hash.entry(h.clone()).or_default().push(hotkey.clone());
                }
                if let (Some(wer), Some(ovrl)) = (j.wer, j.dnsmos_ovrl) {
                    state.record_measures(&hotkey, wer, ovrl);
                }
                result.transcript = j.transcript.clone();
                result.reward = Some(j.reward);
                result.failed = failed;
                result.reason =
                    failed.then(|| format!("reward below threshold {}", config.threshold));
                result.breakdown = Some(j.breakdown);
            }
        }
        let round = state.rounds;
        state.record_history(&hotkey, round);
        if let Some(m) = state.miners.get_mut(&hotkey) {
            if model_name.is_some() {
                m.model_name = model_name.map(|n| n.chars().take(64).collect());
            }
            m.last_breakdown = result.breakdown.clone().or_else(|| {
                result
                    .reason
                    .clone()
                    .map(|r| serde_json::json!({ "failure": r }))
            });
        }
        metrics::counter!("validator_responses_total", "status" => status.to_string(), "failed" => result.failed.to_string())
            .increment(1);
        results.push(result);
    }
    let identical_audio: Vec<Vec<String>> = by_hash.into_values().filter(|g| g.len() > 1).collect();
    if !identical_audio.is_empty() {
        metrics::counter!("validator_identical_audio_total")
            .increment(identical_audio.len() as u64);
        tracing::info!(groups = ?identical_audio, "miners returned identical audio");
    }
    RoundReport {
        round: state.rounds,
        prompt: prompt.to_string(),
        results,
        identical_audio,
    }
}

enum Verdict {
    Scored(Judgement),
    Failed(String),
    Refused(String),
}

async fn judge_reply(
    judge: Arc<dyn Judge>,
    target: &Target,
    prompt: &str,
    reply: &SynapseResponse<TextToSpeech>,
) -> (Verdict, Option<Arc<(Vec<f32>, u32)>>) {
    if reply.status_code == 403 {
        return (Verdict::Refused(reply.status_message.clone()), None);
    }
    let Some(synapse) = reply.synapse.as_ref().filter(|_| reply.is_success()) else {
        let reason = format!("status {}: {}", reply.status_code, reply.status_message);
        return (Verdict::Failed(reason), None);
    };
    let Some(samples) = synapse.speech_output.clone() else {
        return (Verdict::Failed("no speech_output".into()), None);
    };
    let rate = synapse.effective_sample_rate();
    let audio = Arc::new((samples.clone(), rate));
    let hotkey = target.axon.hotkey.clone();
    let verdict = match judge.judge(hotkey, prompt.to_string(), samples, rate).await {
        Ok(j) if j.reward.is_finite() => Verdict::Scored(Judgement {
            reward: j.reward.clamp(0.0, 1.0),
            ..j
        }),
        Ok(_) => Verdict::Failed("scorer returned a non-finite reward".into()),
        Err(reason) => Verdict::Failed(reason),
    };
    (verdict, Some(audio))
}

//! One validator round: a prompt goes to a chunk of miners at once; every reply is judged
//! (or penalised), blended into the miners' EMAs, and summarised in a report.
//!
//! Whose fault a bad outcome is decides what happens: anything but a 200 with audio that
//! passes the checks is the miner's failure (refusals included, unless this validator holds no
//! permit and may legitimately be refused); a failure of the validator's own scoring skips the
//! miner for the round and never touches its EMA.

use crate::judge::{Judge, JudgeError, Judgement, ValidatorFault};
use crate::state::{FingerprintRecord, ScoreState};
use crate::tasks::{Task, TaskMix};
use audiosubnet_dendrite::{
    AudioAsk, AxonTarget, Dendrite, Spoken, SynapseResponse, Transport, TransportMode, TtsReply,
};
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

/// Round settings.
#[derive(Debug, Clone)]
pub struct RoundConfig {
    /// Per-call timeout (`--neuron.timeout`).
    pub timeout: Duration,
    /// EMA weight of the past (`--alpha`).
    pub alpha: f64,
    /// Rewards below this count as failed responses (`--threshold`), for reporting.
    pub threshold: f64,
    /// Which wire protocol to speak to each miner (`--neuron.transport`).
    pub transport: TransportMode,
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
    /// Reward applied (after penalties); `None` when the miner was not charged: it refused a
    /// validator without a permit, or the validator could not score its reply.
    pub reward: Option<f64>,
    /// Below the threshold, an error, or rejected.
    pub failed: bool,
    /// The validator's own scoring failed on this reply (no EMA change).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub validator_fault: bool,
    /// The judge looked at the audio (scored or rejected it).
    #[serde(skip)]
    pub judged: bool,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    /// The breakdown when scored.
    pub breakdown: Option<serde_json::Value>,
    /// Seconds the call took.
    pub latency_s: f64,
    /// The engine the miner says it used.
    pub model_name: Option<String>,
    /// The wire protocol the reply came over.
    pub transport: Transport,
    /// The audio the miner returned and its rate (the judge's copy, shared; kept for the
    /// round's report, not serialised).
    #[serde(skip)]
    pub audio: Option<(Arc<Vec<f32>>, u32)>,
    /// Whisper's transcript, when scored.
    pub transcript: Option<String>,
}

/// A round's summary.
#[derive(Debug, Clone, Serialize)]
pub struct RoundReport {
    /// Round number (1-based, counting restarts).
    pub round: u64,
    /// What the round asked for.
    pub task: Task,
    /// The prompt every miner in the round got.
    pub prompt: String,
    /// Per miner.
    pub results: Vec<MinerResult>,
    /// Hotkeys that returned bit-identical audio (a metric, not a penalty: honest miners running
    /// the same deterministic model may agree).
    pub identical_audio: Vec<Vec<String>>,
}

impl RoundReport {
    /// True when the validator's scoring failed on every reply that reached it (and at least
    /// one did): its weights would rest on a broken scorer, so they are not set.
    pub fn scoring_failed(&self) -> bool {
        let reached = self
            .results
            .iter()
            .filter(|r| r.validator_fault || r.judged)
            .count();
        reached > 0 && self.results.iter().filter(|r| r.validator_fault).count() == reached
    }
}

/// What one round asks every chosen miner for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RoundAsk<'a> {
    /// Speech of a sentence, within [`RoundConfig::timeout`].
    Speech(&'a str),
    /// `seconds` of music for a description, within `timeout`.
    Music {
        /// The description.
        text: &'a str,
        /// Length asked for.
        seconds: f64,
        /// Per-call timeout (generation takes longer than speech).
        timeout: Duration,
    },
}

impl RoundAsk<'_> {
    /// The task.
    pub fn task(&self) -> Task {
        match self {
            RoundAsk::Speech(_) => Task::Speech,
            RoundAsk::Music { .. } => Task::Music,
        }
    }

    /// The prompt text.
    pub fn text(&self) -> &str {
        match self {
            RoundAsk::Speech(text) | RoundAsk::Music { text, .. } => text,
        }
    }
}

/// Asks `targets` to speak `prompt`, judges the replies, updates `state`, for a validator that
/// runs speech alone. `holds_permit`: this validator holds a validator permit (or runs
/// offline); without one, a miner may refuse it (401/403) at no cost.
pub async fn run_round(
    dendrite: &Dendrite,
    judge: &Arc<dyn Judge>,
    prompt: &str,
    targets: &[Target],
    state: &mut ScoreState,
    config: &RoundConfig,
    holds_permit: bool,
) -> RoundReport {
    run_task_round(
        dendrite,
        judge,
        RoundAsk::Speech(prompt),
        targets,
        state,
        (config, &TaskMix::default()),
        holds_permit,
    )
    .await
}

/// Asks `targets` for `ask`, judges the replies with `judge` (the task's), updates the task's
/// EMAs in `state` and recombines them under `mix` (see [`run_round`] for `holds_permit`).
pub async fn run_task_round(
    dendrite: &Dendrite,
    judge: &Arc<dyn Judge>,
    ask: RoundAsk<'_>,
    targets: &[Target],
    state: &mut ScoreState,
    (config, mix): (&RoundConfig, &TaskMix),
    holds_permit: bool,
) -> RoundReport {
    let task = ask.task();
    let prompt = ask.text();
    let axons: Vec<AxonTarget> = targets.iter().map(|t| t.axon.clone()).collect();
    // Only the scored fields are read (padding such as `clone_input` is skipped unbuilt), and
    // miner text is bounded by the dendrite.
    // Each miner over the transport it serves (or the one `--neuron.transport` names); both
    // come back as the same reply type, so what follows does not care.
    let (audio_ask, timeout) = match ask {
        RoundAsk::Speech(text) => (AudioAsk::Speech { text }, config.timeout),
        RoundAsk::Music {
            text,
            seconds,
            timeout,
        } => (AudioAsk::Music { text, seconds }, timeout),
    };
    let replies = dendrite
        .ask_all(&axons, &audio_ask, timeout, config.transport)
        .await;
    let judged = futures::future::join_all(targets.iter().zip(replies).map(|(t, spoken)| {
        let judge = judge.clone();
        let prompt = prompt.to_string();
        async move {
            let Spoken {
                transport,
                response: mut reply,
            } = spoken;
            let model_name = reply.synapse.as_ref().and_then(|s| s.model_name.clone());
            let verdict = judge_reply(judge, t, &prompt, &mut reply, transport, holds_permit).await;
            (
                t.clone(),
                (reply.status_code, transport),
                reply.elapsed,
                model_name,
                verdict,
            )
        }
    }))
    .await;

    state.rounds += 1;
    *state.rounds_by_task.entry(task).or_default() += 1;
    let mut results = Vec::with_capacity(judged.len());
    let mut by_hash: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (target, (status, transport), elapsed, model_name, (verdict, audio)) in judged {
        let hotkey = target.axon.hotkey.clone();
        let mut result = MinerResult {
            hotkey: hotkey.clone(),
            uid: target.uid,
            status,
            reward: None,
            failed: true,
            validator_fault: false,
            judged: false,
            reason: None,
            breakdown: None,
            latency_s: elapsed.as_secs_f64(),
            model_name: model_name.clone(),
            transport,
            audio,
            transcript: None,
        };
        match verdict {
            Verdict::Refused(msg) => {
                tracing::info!(%hotkey, status, "miner refuses this validator (no permit): {msg}");
                result.reason = Some(format!("refused: {msg}"));
            }
            Verdict::Skipped(fault) => {
                // Our fault, not the miner's: no EMA change, but loud.
                tracing::warn!(%hotkey, kind = fault.kind(), "reply not scored: {fault}");
                metrics::counter!("validator_scoring_faults_total", "kind" => fault.kind())
                    .increment(1);
                result.failed = false;
                result.validator_fault = true;
                result.reason = Some(format!("not scored (validator fault): {fault}"));
            }
            Verdict::Failed { reason, judged } => {
                state.update_task(
                    task,
                    &hotkey,
                    target.uid,
                    FAILURE_PENALTY,
                    config.alpha,
                    true,
                    mix,
                );
                result.reward = Some(0.0);
                result.reason = Some(reason);
                result.judged = judged;
            }
            Verdict::Scored(j) => {
                result.judged = true;
                let failed = j.reward < config.threshold;
                state.update_task(
                    task,
                    &hotkey,
                    target.uid,
                    j.reward,
                    config.alpha,
                    failed,
                    mix,
                );
                if let Some(fp) = j.fingerprint.as_ref().filter(|_| j.indexed) {
                    state.remember_fingerprint(FingerprintRecord {
                        hotkey: hotkey.clone(),
                        prompt: prompt.to_string(),
                        fingerprint: fp.clone(),
                        task,
                    });
                }
                if let Some(h) = &j.exact_hash {
                    by_hash.entry(h.clone()).or_default().push(hotkey.clone());
                }
                if let (Some(wer), Some(mos)) = (j.wer, j.mos) {
                    state.record_measures(&hotkey, wer, mos);
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
            m.transport = Some(transport);
            if model_name.is_some() {
                // Already bounded by the dendrite; a name is short, so cut it further.
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
        metrics::histogram!("validator_response_seconds", "transport" => transport.to_string())
            .record(result.latency_s);
        // Validator faults have no reward: they say nothing about the miner.
        if let Some(reward) = result.reward {
            metrics::histogram!("validator_reward").record(reward);
        }
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
        task,
        prompt: prompt.to_string(),
        results,
        identical_audio,
    }
}

enum Verdict {
    Scored(Judgement),
    /// The miner's failure; `judged` when the judge rejected the audio.
    Failed {
        reason: String,
        judged: bool,
    },
    /// A validator without a permit was refused.
    Refused(String),
    /// The validator could not score the reply.
    Skipped(ValidatorFault),
}

fn failed(reason: String) -> Verdict {
    Verdict::Failed {
        reason,
        judged: false,
    }
}

async fn judge_reply(
    judge: Arc<dyn Judge>,
    target: &Target,
    prompt: &str,
    reply: &mut SynapseResponse<TtsReply>,
    transport: Transport,
    holds_permit: bool,
) -> (Verdict, Option<(Arc<Vec<f32>>, u32)>) {
    // The blacklist's answers: legitimate only towards a validator without a permit.
    if !holds_permit && matches!(reply.status_code, 401 | 403) {
        return (Verdict::Refused(reply.status_message.clone()), None);
    }
    if !reply.is_success() {
        let reason = format!("status {}: {}", reply.status_code, reply.status_message);
        return (failed(reason), None);
    }
    let Some(synapse) = reply.synapse.as_mut() else {
        return (failed("no reply".into()), None);
    };
    let rate = synapse.effective_sample_rate();
    let Some(mut samples) = synapse.speech_output.take() else {
        return (failed("no audio in the reply".into()), None);
    };
    if transport == Transport::Synapse {
        // `/tts` audio is 16-bit already; put Synapse floats on the same grid.
        to_pcm16_grid(&mut samples);
    }
    // One copy of the samples: the judge and the report share it.
    let samples = Arc::new(samples);
    let hotkey = target.axon.hotkey.clone();
    let verdict = match judge
        .judge(hotkey, prompt.to_string(), samples.clone(), rate)
        .await
    {
        Ok(j) if j.reward.is_finite() => Verdict::Scored(Judgement {
            reward: j.reward.clamp(0.0, 1.0),
            ..j
        }),
        Ok(_) => Verdict::Skipped(ValidatorFault::Invalid(
            "scorer returned a non-finite reward".into(),
        )),
        Err(JudgeError::Rejected(reason)) => Verdict::Failed {
            reason,
            judged: true,
        },
        Err(JudgeError::Validator(fault)) => Verdict::Skipped(fault),
    };
    (verdict, Some((samples, rate)))
}

/// Puts Synapse samples (f32 in JSON) on the 16-bit grid `/tts` audio arrives on: each sample
/// is written as the miner's WAV writer writes it ([`audiosubnet_audio::f32_to_i16`]) and read
/// back as the WAV reader reads it ([`audiosubnet_audio::i16_to_f32`]). So the same clip is
/// bit-identical whichever transport carried it, and scores identically. Only clips of finite
/// samples within [-1, 1] are moved (at most 1.5/32768 each, far below anything the models
/// hear); anything else is left for the checks to judge as sent (NaN, out of range, or integer
/// PCM that the checks rescale by its type's full scale).
pub fn to_pcm16_grid(samples: &mut [f32]) {
    if samples.iter().all(|s| s.is_finite() && s.abs() <= 1.0) {
        for s in samples.iter_mut() {
            *s = audiosubnet_audio::i16_to_f32(audiosubnet_audio::f32_to_i16(*s));
        }
    }
}

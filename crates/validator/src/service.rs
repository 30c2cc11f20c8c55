//! The validator's main loop: rounds over rotating chunks of miners, state saved after each,
//! a readable table per round, and the `--scores.out` summary.

use crate::dashboard::Dashboard;
use crate::judge::Judge;
use crate::network::Network;
use crate::prompts::PromptSource;
use crate::round::{RoundAsk, RoundConfig, RoundReport, Target, run_task_round};
use crate::selection::Rotation;
use crate::state::{ScoreState, StateError};
use crate::tasks::{Task, TaskMix};
use audiosubnet_dendrite::Dendrite;
use serde::Serialize;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Loop settings.
#[derive(Debug, Clone)]
pub struct LoopConfig {
    /// Per-round settings.
    pub round: RoundConfig,
    /// Miners asked per round.
    pub chunk_size: usize,
    /// Stop after this many rounds (`--rounds`); forever when `None`.
    pub rounds: Option<u64>,
    /// Pause between rounds.
    pub interval: Duration,
    /// Where the state lives.
    pub state_path: PathBuf,
    /// Where to write the per-miner summary after each round (`--scores.out`).
    pub scores_out: Option<PathBuf>,
    /// Where to write the HTML report after each round (`--report.dir`).
    pub report_dir: Option<PathBuf>,
    /// The live dashboard to publish to after each round (`--dashboard.port`).
    pub dashboard: Option<Dashboard>,
}

/// Errors that stop the loop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidatorError {
    /// State could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// The summary could not be written.
    #[error("cannot write {path}: {source}")]
    ScoresOut {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Nothing to query (with `--rounds`: the run cannot do what it was asked).
    #[error("no miners to query")]
    NoMiners,
    /// The task mix names a task the validator was given no judge or prompts for.
    #[error("the {0} task has no judge or prompts")]
    TaskNotSetUp(Task),
}

/// One task's judge and prompts.
pub struct TaskSetup<'a> {
    /// Scores the task's replies.
    pub judge: Arc<dyn Judge>,
    /// Where its prompts come from.
    pub prompts: &'a mut dyn PromptSource,
}

/// The tasks a validator runs: the mix (which rounds ask for what, and how the EMAs combine)
/// and each task's setup.
pub struct Tasks<'a> {
    /// Shares of the rounds and of the weight.
    pub mix: TaskMix,
    /// Speech, when the mix runs it.
    pub speech: Option<TaskSetup<'a>>,
    /// Music, when the mix runs it.
    pub music: Option<TaskSetup<'a>>,
    /// Seconds of music asked for.
    pub music_seconds: f64,
    /// Per-call timeout of music rounds.
    pub music_timeout: Duration,
}

/// One line of `--scores.out`.
#[derive(Debug, Serialize)]
pub struct MinerSummary<'a> {
    /// SS58 hotkey.
    pub hotkey: &'a str,
    /// uid when known.
    pub uid: Option<u16>,
    /// EMA score.
    pub ema: f64,
    /// Last reward.
    pub last_reward: Option<f64>,
    /// Last breakdown or failure.
    pub last_breakdown: Option<&'a serde_json::Value>,
    /// Responses scored and failures.
    pub responses: u64,
    /// Failures.
    pub failures: u64,
    /// Mean reward over all responses (failures count as 0).
    pub mean_reward: Option<f64>,
    /// Mean WER over scored responses.
    pub mean_wer: Option<f64>,
    /// Mean MOS (of the validator's naturalness model) over scored responses.
    pub mean_mos: Option<f64>,
    /// The engine the miner last reported.
    pub model_name: Option<&'a str>,
    /// The wire protocol of its last reply (`synapse` or `btauth`).
    pub transport: Option<audiosubnet_dendrite::Transport>,
    /// Per task: EMA, last reward, responses, failures.
    pub tasks: &'a std::collections::BTreeMap<Task, crate::state::TaskScore>,
}

/// [`run_task_rounds`] for a validator that runs speech alone.
pub async fn run_rounds(
    config: &LoopConfig,
    dendrite: &Dendrite,
    judge: Arc<dyn Judge>,
    prompts: &mut dyn PromptSource,
    network: &mut dyn Network,
    shutdown: impl Future<Output = ()>,
) -> Result<ScoreState, ValidatorError> {
    let tasks = Tasks {
        mix: TaskMix::default(),
        speech: Some(TaskSetup { judge, prompts }),
        music: None,
        music_seconds: 0.0,
        music_timeout: config.round.timeout,
    };
    run_task_rounds(config, dendrite, tasks, network, shutdown).await
}

/// Runs rounds over the miners `network` lists until `--rounds` are done or `shutdown` resolves,
/// each round asking for the task the mix says is due; saves the state after each round and
/// lets `network` set weights (not after a round in which the validator's own scoring failed
/// on every reply that reached it; see [`RoundReport::scoring_failed`]). Returns the final
/// state.
pub async fn run_task_rounds(
    config: &LoopConfig,
    dendrite: &Dendrite,
    mut tasks: Tasks<'_>,
    network: &mut dyn Network,
    shutdown: impl Future<Output = ()>,
) -> Result<ScoreState, ValidatorError> {
    for task in tasks.mix.tasks() {
        let set_up = match task {
            Task::Speech => tasks.speech.is_some(),
            Task::Music => tasks.music.is_some(),
        };
        if !set_up {
            return Err(ValidatorError::TaskNotSetUp(task));
        }
    }
    let mut state = ScoreState::load(&config.state_path)?;
    // Restarted with another mix: weights follow the mix now in force.
    state.recombine(&tasks.mix);
    if state.rounds > 0 {
        tracing::info!(
            rounds = state.rounds,
            miners = state.miners.len(),
            "resumed state"
        );
    }
    if let Some(dashboard) = &config.dashboard {
        dashboard.publish(&state, None, network.chain_view());
    }
    let mut rotation = Rotation::new(config.chunk_size);
    let mut done = 0u64;
    tokio::pin!(shutdown);
    while config.rounds.is_none_or(|n| done < n) {
        let roster = tokio::select! {
            r = network.roster() => r,
            _ = &mut shutdown => break,
        };
        let (targets, holds_permit) = match roster {
            Ok(roster) => {
                if let Some(registered) = &roster.registered {
                    state.sync_registered(registered);
                }
                (roster.targets, roster.holds_permit)
            }
            Err(e) => {
                tracing::warn!("cannot list miners: {e}");
                (Vec::new(), true)
            }
        };
        if targets.is_empty() {
            if done == 0 && config.rounds.is_some() {
                return Err(ValidatorError::NoMiners);
            }
            tracing::warn!("no miners to query; waiting");
        } else {
            let keys: Vec<String> = targets.iter().map(|t| t.axon.hotkey.clone()).collect();
            let chunk = rotation.next_chunk(&keys);
            let chosen: Vec<Target> = targets
                .into_iter()
                .filter(|t| chunk.contains(&t.axon.hotkey))
                .collect();
            let task = tasks.mix.next_task(&state.rounds_by_task);
            let setup = match task {
                Task::Speech => tasks.speech.as_mut(),
                Task::Music => tasks.music.as_mut(),
            }
            .ok_or(ValidatorError::TaskNotSetUp(task))?;
            let prompt = setup.prompts.next_prompt();
            let judge = setup.judge.clone();
            let ask = match task {
                Task::Speech => RoundAsk::Speech(&prompt),
                Task::Music => RoundAsk::Music {
                    text: &prompt,
                    seconds: tasks.music_seconds,
                    timeout: tasks.music_timeout,
                },
            };
            let round = run_task_round(
                dendrite,
                &judge,
                ask,
                &chosen,
                &mut state,
                (&config.round, &tasks.mix),
                holds_permit,
            );
            let report = tokio::select! {
                r = round => r,
                _ = &mut shutdown => break,
            };
            tracing::info!("{}", format_round(&report, &state));
            metrics::gauge!("validator_rounds").set(state.rounds as f64);
            state.save(&config.state_path)?;
            if let Some(path) = &config.scores_out {
                write_scores(path, &state)?;
            }
            if let Some(dir) = &config.report_dir
                && let Err(e) = crate::report::write(dir, &state, &report)
            {
                tracing::warn!("cannot write the report in {}: {e}", dir.display());
            }
            done += 1;
            // Weights resting on a broken scorer would be wrong for every miner: hold them
            // until a round is scored again.
            let scoring_failed = report.scoring_failed();
            metrics::gauge!("validator_scoring_healthy").set(if scoring_failed {
                0.0
            } else {
                1.0
            });
            if scoring_failed {
                metrics::counter!("validator_weights_held_total").increment(1);
                tracing::error!(
                    round = report.round,
                    "the validator could not score any reply this round; weights are held until it can"
                );
            } else {
                network.after_round(&mut state).await;
            }
            state.save(&config.state_path)?;
            if let Some(dashboard) = &config.dashboard {
                dashboard.publish(&state, Some(&report), network.chain_view());
            }
            if config.rounds.is_some_and(|n| done >= n) {
                break;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(config.interval) => {}
            _ = &mut shutdown => break,
        }
    }
    network.finish(&mut state).await;
    state.save(&config.state_path)?;
    Ok(state)
}

/// Writes the per-miner summary as JSON (atomically).
pub fn write_scores(path: &Path, state: &ScoreState) -> Result<(), ValidatorError> {
    let summary: Vec<MinerSummary<'_>> = state
        .miners
        .iter()
        .map(|(hotkey, m)| MinerSummary {
            hotkey,
            uid: m.uid,
            ema: m.ema,
            last_reward: m.last_reward,
            last_breakdown: m.last_breakdown.as_ref(),
            responses: m.responses,
            failures: m.failures,
            mean_reward: m.mean_reward,
            mean_wer: m.mean_wer,
            mean_mos: m.mean_mos,
            model_name: m.model_name.as_deref(),
            transport: m.transport,
            tasks: &m.tasks,
        })
        .collect();
    let err = |source| ValidatorError::ScoresOut {
        path: path.into(),
        source,
    };
    let data = serde_json::to_vec_pretty(&summary).map_err(|e| err(std::io::Error::other(e)))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// A readable table of a round.
pub fn format_round(report: &RoundReport, state: &ScoreState) -> String {
    let mut out = format!(
        "round {} {} prompt {:?}\n",
        report.round, report.task, report.prompt
    );
    // The task's own EMA, and the combined one weights come from.
    out.push_str(&format!(
        "  uid  hotkey            via      status  reward   {:<7} ema     latency  note\n",
        report.task.name()
    ));
    for r in &report.results {
        let miner = state.miners.get(&r.hotkey);
        let ema = miner.map_or(0.0, |m| m.ema);
        let task_ema = miner
            .and_then(|m| m.tasks.get(&report.task))
            .map_or(0.0, |t| t.ema);
        let short: String = r.hotkey.chars().take(16).collect();
        out.push_str(&format!(
            "  {:>4} {:<17} {:<7}  {:>6}  {:>6}  {:.4}  {:.4}  {:>6.2}s  {}\n",
            r.uid.map_or("-".into(), |u| u.to_string()),
            short,
            r.transport.name(),
            r.status,
            r.reward.map_or("-".into(), |v| format!("{v:.3}")),
            task_ema,
            ema,
            r.latency_s,
            r.reason.as_deref().unwrap_or("")
        ));
    }
    out
}

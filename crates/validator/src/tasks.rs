//! The validator's tasks (speech, music), their shares of the rounds and of the weight, and the
//! rule that turns per-task EMAs into the one score per miner the chain sees.
//!
//! `--tasks speech:3,music:1` gives speech three rounds in four and 75 % of each miner's weight;
//! `--tasks speech,music` splits both evenly. A miner's combined score is the share-weighted sum
//! of its per-task EMAs, so a miner that serves only one task earns only that task's share: the
//! subnet pays for the whole service it asks for, and no task can be ignored for free.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a round asks miners for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Text to speech (`TextToSpeech`, `POST /tts`).
    #[default]
    Speech,
    /// Text to music (`MusicGeneration`, `POST /music`).
    Music,
}

impl Task {
    /// Every task, in display order.
    pub const ALL: [Task; 2] = [Task::Speech, Task::Music];

    /// The name used in flags, files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Task::Speech => "speech",
            Task::Music => "music",
        }
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Task {
    type Err = TaskMixError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "speech" | "tts" | "text_to_speech" => Ok(Task::Speech),
            "music" | "ttm" | "music_generation" => Ok(Task::Music),
            other => Err(TaskMixError(format!(
                "unknown task {other:?} (expected speech or music)"
            ))),
        }
    }
}

/// A `--tasks` value that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("--tasks: {0}")]
pub struct TaskMixError(String);

/// The tasks a validator runs and each one's share (the shares sum to 1).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskMix {
    shares: BTreeMap<Task, f64>,
}

impl Default for TaskMix {
    /// Speech alone, as the original validator.
    fn default() -> Self {
        TaskMix {
            shares: BTreeMap::from([(Task::Speech, 1.0)]),
        }
    }
}

impl std::str::FromStr for TaskMix {
    type Err = TaskMixError;

    /// `speech`, `speech,music`, `speech:3,music:1` or `speech=0.7,music=0.3`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut weights = BTreeMap::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = match part.split_once([':', '=']) {
                Some((name, weight)) => {
                    let w: f64 = weight.trim().parse().map_err(|_| {
                        TaskMixError(format!("{part:?}: the share is not a number"))
                    })?;
                    (name, w)
                }
                None => (part, 1.0),
            };
            if !(weight.is_finite() && weight > 0.0) {
                return Err(TaskMixError(format!("{part:?}: a share must be positive")));
            }
            let task: Task = name.parse()?;
            if weights.insert(task, weight).is_some() {
                return Err(TaskMixError(format!("{task} is named twice")));
            }
        }
        if weights.is_empty() {
            return Err(TaskMixError("no task named".into()));
        }
        let total: f64 = weights.values().sum();
        Ok(TaskMix {
            shares: weights.into_iter().map(|(t, w)| (t, w / total)).collect(),
        })
    }
}

impl std::fmt::Display for TaskMix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .shares
            .iter()
            .map(|(t, s)| format!("{t}:{}", (s * 1000.0).round() / 1000.0))
            .collect();
        f.write_str(&parts.join(","))
    }
}

impl TaskMix {
    /// `task`'s share (0 when the validator does not run it).
    pub fn share(&self, task: Task) -> f64 {
        self.shares.get(&task).copied().unwrap_or(0.0)
    }

    /// The tasks run, in display order.
    pub fn tasks(&self) -> impl Iterator<Item = Task> + '_ {
        self.shares.keys().copied()
    }

    /// True when `task` is run.
    pub fn runs(&self, task: Task) -> bool {
        self.shares.contains_key(&task)
    }

    /// The combined score of per-task EMAs: `Σ share(t) · ema(t)`, a task without an EMA
    /// counting 0.
    pub fn combine(&self, emas: impl Fn(Task) -> Option<f64>) -> f64 {
        self.shares
            .iter()
            .map(|(t, s)| s * emas(*t).unwrap_or(0.0))
            .sum::<f64>()
            .clamp(0.0, 1.0)
    }

    /// The task of the next round, given how many rounds each task has had: the one furthest
    /// behind its share (ties to the first in display order). Over any stretch of rounds each
    /// task's count stays within one round of `share × rounds`, and the choice survives
    /// restarts because the counts are in the state.
    pub fn next_task(&self, rounds_by_task: &BTreeMap<Task, u64>) -> Task {
        let total: u64 = self
            .shares
            .keys()
            .map(|t| rounds_by_task.get(t).copied().unwrap_or(0))
            .sum();
        let deficit = |t: &Task| {
            self.share(*t) * (total + 1) as f64 - rounds_by_task.get(t).copied().unwrap_or(0) as f64
        };
        self.shares
            .keys()
            .copied()
            .fold(None, |best: Option<Task>, t| match best {
                Some(b) if deficit(&b) >= deficit(&t) => Some(b),
                _ => Some(t),
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_parse_normalise_and_refuse_nonsense() {
        let mix: TaskMix = "speech".parse().expect("speech");
        assert_eq!(mix, TaskMix::default());
        let mix: TaskMix = "speech,music".parse().expect("even");
        assert_eq!(mix.share(Task::Speech), 0.5);
        assert_eq!(mix.share(Task::Music), 0.5);
        let mix: TaskMix = " music:1 , speech:3 ".parse().expect("3:1");
        assert_eq!(mix.share(Task::Speech), 0.75);
        assert_eq!(mix.to_string(), "speech:0.75,music:0.25");
        let mix: TaskMix = "music=0.3,speech=0.7".parse().expect("fractions");
        assert!((mix.share(Task::Music) - 0.3).abs() < 1e-12);
        assert_eq!(
            "music"
                .parse::<TaskMix>()
                .expect("music only")
                .share(Task::Speech),
            0.0
        );
        for bad in [
            "",
            ",",
            "dance",
            "speech:0",
            "speech:-1",
            "speech:nan",
            "speech,speech",
            "music:x",
        ] {
            assert!(bad.parse::<TaskMix>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn rounds_follow_the_shares_and_the_weight_is_their_blend() {
        let mix: TaskMix = "speech:3,music:1".parse().expect("mix");
        let mut counts = BTreeMap::new();
        let mut order = Vec::new();
        for _ in 0..400 {
            let t = mix.next_task(&counts);
            *counts.entry(t).or_insert(0) += 1;
            order.push(t);
            let n = order.len() as f64;
            for task in Task::ALL {
                let had = counts.get(&task).copied().unwrap_or(0) as f64;
                assert!(
                    (had - mix.share(task) * n).abs() <= 1.0,
                    "{task} drifted at {n}"
                );
            }
        }
        assert_eq!(counts[&Task::Music], 100);
        // Speech alone never asks for music.
        let speech = TaskMix::default();
        assert!((0..10).all(|_| speech.next_task(&BTreeMap::new()) == Task::Speech));

        let combined = mix.combine(|t| match t {
            Task::Speech => Some(0.8),
            Task::Music => None,
        });
        assert!((combined - 0.6).abs() < 1e-12, "{combined}");
        assert_eq!(mix.combine(|_| Some(1.0)), 1.0);
    }
}

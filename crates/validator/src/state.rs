//! Per-miner scores and what must survive a restart: EMAs keyed by hotkey (so a uid whose hotkey
//! changed starts fresh), one per task and their combination (see [`crate::tasks`]), recent
//! audio fingerprints, rounds per task, and the last weight-setting block. Saved atomically
//! (create-new temporary, fsync, rename, directory fsync) after every round.

use crate::tasks::{Task, TaskMix};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};

/// File format version.
pub const STATE_VERSION: u32 = 1;
/// Responses remembered for replay detection (oldest dropped first), in the judge's index and
/// in this file (about 2.5 KB each). Each lookup compares against all of them, so this bounds
/// the per-response cost as well as memory.
pub const REPLAY_MEMORY: usize = 2048;
/// Fingerprints kept in the state (the judge's memory).
pub const MAX_FINGERPRINTS: usize = REPLAY_MEMORY;

/// One miner's record in one task.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TaskScore {
    /// Exponential moving average of this task's rewards, in [0, 1].
    pub ema: f64,
    /// The last reward in this task.
    pub last_reward: Option<f64>,
    /// Responses in this task.
    pub responses: u64,
    /// Failures in this task.
    pub failures: u64,
}

/// One miner's record.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MinerScore {
    /// The miner's uid on the subnet, when known.
    pub uid: Option<u16>,
    /// The score weights are set from: the task EMAs combined by the validator's task mix
    /// ([`TaskMix::combine`]); the speech EMA itself when speech is the only task.
    pub ema: f64,
    /// Per task. A state file written before tasks existed has none; its `ema` is read as the
    /// speech EMA.
    #[serde(default)]
    pub tasks: BTreeMap<Task, TaskScore>,
    /// The last reward, after penalties.
    pub last_reward: Option<f64>,
    /// The last scored breakdown (scoring's JSON), or the failure.
    pub last_breakdown: Option<serde_json::Value>,
    /// Responses scored.
    pub responses: u64,
    /// Failures: error statuses, timeouts, malformed or rejected audio.
    pub failures: u64,
    /// Mean reward over all responses (failures count as 0).
    #[serde(default)]
    pub mean_reward: Option<f64>,
    /// Mean WER over the responses the models scored.
    #[serde(default)]
    pub mean_wer: Option<f64>,
    /// Mean MOS (of the validator's naturalness model) over the responses the models scored.
    #[serde(default, alias = "mean_dnsmos")]
    pub mean_mos: Option<f64>,
    /// Responses the models scored (the denominator of the means).
    #[serde(default)]
    pub scored: u64,
    /// The engine the miner last said it used (`model_name`, informational only).
    #[serde(default)]
    pub model_name: Option<String>,
    /// The wire protocol of the miner's last reply (`synapse` or `btauth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<audiosubnet_dendrite::Transport>,
    /// `(round, EMA)` after each of the miner's recent rounds, oldest first.
    #[serde(default)]
    pub history: VecDeque<(u64, f64)>,
}

/// Rounds of EMA history kept per miner (for the report's chart).
pub const MAX_HISTORY: usize = 500;

/// A scored response's fingerprint, for recognising replayed audio.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FingerprintRecord {
    /// Who sent it.
    pub hotkey: String,
    /// The prompt it answered.
    pub prompt: String,
    /// The scoring crate's fingerprint (hex).
    pub fingerprint: String,
    /// The task it answered (each task's judge remembers only its own).
    #[serde(default)]
    pub task: Task,
}

/// Everything the validator persists.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScoreState {
    /// File format version.
    pub version: u32,
    /// Miners by SS58 hotkey.
    pub miners: BTreeMap<String, MinerScore>,
    /// Recent fingerprints, oldest first.
    pub fingerprints: VecDeque<FingerprintRecord>,
    /// Rounds completed.
    pub rounds: u64,
    /// Block of the last successful weight setting.
    pub last_weights_block: Option<u64>,
    /// Rounds completed per task (which task comes next, see [`TaskMix::next_task`]).
    #[serde(default)]
    pub rounds_by_task: BTreeMap<Task, u64>,
}

impl Default for ScoreState {
    fn default() -> Self {
        ScoreState {
            version: STATE_VERSION,
            miners: BTreeMap::new(),
            fingerprints: VecDeque::new(),
            rounds: 0,
            last_weights_block: None,
            rounds_by_task: BTreeMap::new(),
        }
    }
}

/// Why the state could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Reading or writing the file failed.
    #[error("state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a state file of this version.
    #[error(
        "state file {path} is unreadable ({msg}); start with --state.reset to move it aside \
         and begin with fresh scores, or restore a backup"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
}

impl ScoreState {
    /// Loads `path`, or a fresh state when it does not exist.
    pub fn load(path: &Path) -> Result<Self, StateError> {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(StateError::Io {
                    path: path.into(),
                    source,
                });
            }
        };
        let mut state: ScoreState =
            serde_json::from_slice(&data).map_err(|e| StateError::Corrupt {
                path: path.into(),
                msg: e.to_string(),
            })?;
        if state.version != STATE_VERSION {
            let msg = format!("version {} (expected {STATE_VERSION})", state.version);
            return Err(StateError::Corrupt {
                path: path.into(),
                msg,
            });
        }
        // Written before tasks existed: every score was a speech score.
        for m in state.miners.values_mut() {
            if m.tasks.is_empty() && (m.responses > 0 || m.ema > 0.0) {
                m.tasks.insert(
                    Task::Speech,
                    TaskScore {
                        ema: m.ema,
                        last_reward: m.last_reward,
                        responses: m.responses,
                        failures: m.failures,
                    },
                );
            }
        }
        if state.rounds_by_task.is_empty() && state.rounds > 0 {
            state.rounds_by_task.insert(Task::Speech, state.rounds);
        }
        Ok(state)
    }

    /// Loads `path` as [`ScoreState::load`] does; with `reset`, moves any existing file (corrupt
    /// or not) aside first and starts fresh. Returns the state and where an old file went.
    pub fn load_or_reset(path: &Path, reset: bool) -> Result<(Self, Option<PathBuf>), StateError> {
        if !reset {
            return Ok((Self::load(path)?, None));
        }
        if std::fs::symlink_metadata(path).is_err() {
            return Ok((Self::default(), None));
        }
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{stamp}.bak"));
        let aside = path.with_file_name(name);
        let io = |source| StateError::Io {
            path: path.into(),
            source,
        };
        std::fs::rename(path, &aside).map_err(io)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            audiosubnet_wallet::atomic::sync_dir(dir).map_err(io)?;
        }
        Ok((Self::default(), Some(aside)))
    }

    /// Writes the state so that a crash at any point leaves either the old or the new file
    /// (see [`audiosubnet_wallet::atomic::write_atomic`]).
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let io = |source| StateError::Io {
            path: path.into(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let data = serde_json::to_vec_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        audiosubnet_wallet::atomic::write_atomic(path, &data, 0o644).map_err(io)
    }

    /// [`update_task`](Self::update_task) for a validator that runs speech alone.
    pub fn update(
        &mut self,
        hotkey: &str,
        uid: Option<u16>,
        reward: f64,
        alpha: f64,
        failed: bool,
    ) {
        self.update_task(
            Task::Speech,
            hotkey,
            uid,
            reward,
            alpha,
            failed,
            &TaskMix::default(),
        );
    }

    /// Blends `reward` into `hotkey`'s EMA for `task`: `ema = alpha·ema + (1 − alpha)·reward`,
    /// clamped to [0, 1] (a penalty pulls towards 0 but never below); then recombines the
    /// miner's score under `mix`.
    #[allow(clippy::too_many_arguments)]
    pub fn update_task(
        &mut self,
        task: Task,
        hotkey: &str,
        uid: Option<u16>,
        reward: f64,
        alpha: f64,
        failed: bool,
        mix: &TaskMix,
    ) {
        let alpha = alpha.clamp(0.0, 1.0);
        let m = self.miners.entry(hotkey.to_string()).or_default();
        if uid.is_some() {
            m.uid = uid;
        }
        let reward = if reward.is_finite() { reward } else { 0.0 };
        let t = m.tasks.entry(task).or_default();
        t.ema = (alpha * t.ema + (1.0 - alpha) * reward).clamp(0.0, 1.0);
        t.last_reward = Some(reward.clamp(0.0, 1.0));
        t.responses += 1;
        if failed {
            t.failures += 1;
            m.failures += 1;
        }
        m.ema = combined(m, mix);
        m.last_reward = Some(reward.clamp(0.0, 1.0));
        m.responses += 1;
        let mean = m.mean_reward.unwrap_or(0.0);
        m.mean_reward = Some(mean + (reward.clamp(0.0, 1.0) - mean) / m.responses as f64);
    }

    /// Recombines every miner's score under `mix` (a validator restarted with other tasks).
    pub fn recombine(&mut self, mix: &TaskMix) {
        for m in self.miners.values_mut() {
            m.ema = combined(m, mix);
        }
    }

    /// Folds a scored response's WER and MOS into `hotkey`'s running means.
    pub fn record_measures(&mut self, hotkey: &str, wer: f64, mos: f64) {
        if !(wer.is_finite() && mos.is_finite()) {
            return;
        }
        let m = self.miners.entry(hotkey.to_string()).or_default();
        m.scored += 1;
        let n = m.scored as f64;
        let fold = |mean: Option<f64>, x: f64| {
            let mean = mean.unwrap_or(0.0);
            Some(mean + (x - mean) / n)
        };
        m.mean_wer = fold(m.mean_wer, wer);
        m.mean_mos = fold(m.mean_mos, mos);
    }

    /// Appends `hotkey`'s current EMA to its history for `round`.
    pub fn record_history(&mut self, hotkey: &str, round: u64) {
        if let Some(m) = self.miners.get_mut(hotkey) {
            m.history.push_back((round, m.ema));
            while m.history.len() > MAX_HISTORY {
                m.history.pop_front();
            }
        }
    }

    /// Keeps only miners whose hotkey is still registered, and records their current uid.
    /// A uid taken over by a new hotkey thus starts from zero.
    pub fn sync_registered(&mut self, registered: &[(u16, String)]) {
        let live: HashSet<&str> = registered.iter().map(|(_, h)| h.as_str()).collect();
        self.miners.retain(|h, _| live.contains(h.as_str()));
        for (uid, hotkey) in registered {
            if let Some(m) = self.miners.get_mut(hotkey) {
                m.uid = Some(*uid);
            }
        }
    }

    /// Remembers a fingerprint, dropping the oldest beyond [`MAX_FINGERPRINTS`].
    pub fn remember_fingerprint(&mut self, record: FingerprintRecord) {
        self.fingerprints.push_back(record);
        while self.fingerprints.len() > MAX_FINGERPRINTS {
            self.fingerprints.pop_front();
        }
    }
}

/// `m`'s task EMAs combined under `mix`.
fn combined(m: &MinerScore, mix: &TaskMix) -> f64 {
    mix.combine(|t| m.tasks.get(&t).map(|s| s.ema))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_penalty_and_clamping() {
        let mut s = ScoreState::default();
        s.update("a", Some(1), 1.0, 0.9, false);
        assert!((s.miners["a"].ema - 0.1).abs() < 1e-12);
        s.update("a", None, 1.0, 0.9, false);
        assert!((s.miners["a"].ema - 0.19).abs() < 1e-12);
        assert_eq!(s.miners["a"].uid, Some(1));
        for _ in 0..100 {
            s.update("a", None, -0.1, 0.9, true);
        }
        assert_eq!(s.miners["a"].ema, 0.0);
        assert_eq!(s.miners["a"].failures, 100);
        s.update("a", None, f64::NAN, 0.9, true);
        assert_eq!(s.miners["a"].ema, 0.0);
    }

    #[test]
    fn task_emas_combine_by_the_mix_and_old_files_read_as_speech() {
        let mix: TaskMix = "speech:3,music:1".parse().expect("mix");
        let mut s = ScoreState::default();
        s.update_task(Task::Speech, "a", Some(1), 0.8, 0.0, false, &mix);
        assert!(
            (s.miners["a"].ema - 0.6).abs() < 1e-12,
            "{}",
            s.miners["a"].ema
        );
        s.update_task(Task::Music, "a", None, 0.4, 0.0, false, &mix);
        assert!(
            (s.miners["a"].ema - 0.7).abs() < 1e-12,
            "{}",
            s.miners["a"].ema
        );
        assert_eq!(s.miners["a"].tasks[&Task::Music].responses, 1);
        assert_eq!(s.miners["a"].responses, 2);
        // Restarted for speech alone: the weight is the speech EMA again.
        s.recombine(&TaskMix::default());
        assert!((s.miners["a"].ema - 0.8).abs() < 1e-12);

        // A file from before tasks: its EMA is the speech EMA, its rounds speech rounds.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("old.json");
        std::fs::write(
            &path,
            br#"{"version": 1, "rounds": 4, "last_weights_block": null, "fingerprints": [
                {"hotkey": "a", "prompt": "hi", "fingerprint": "ab"}],
              "miners": {"a": {"uid": 1, "ema": 0.5, "last_reward": 0.6,
                "last_breakdown": null, "responses": 4, "failures": 1}}}"#,
        )
        .expect("write");
        let mut old = ScoreState::load(&path).expect("old file loads");
        assert_eq!(old.miners["a"].tasks[&Task::Speech].ema, 0.5);
        assert_eq!(old.miners["a"].tasks[&Task::Speech].failures, 1);
        assert_eq!(old.rounds_by_task[&Task::Speech], 4);
        assert_eq!(old.fingerprints[0].task, Task::Speech);
        old.recombine(&"speech,music".parse().expect("mix"));
        assert_eq!(old.miners["a"].ema, 0.25);
    }

    #[test]
    fn save_load_round_trip_and_hotkey_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state").join("validator.json");
        let mut s = ScoreState::default();
        s.update("old", Some(3), 0.8, 0.5, false);
        s.update("keep", Some(4), 0.6, 0.5, false);
        s.rounds = 7;
        s.rounds_by_task.insert(Task::Speech, 7);
        s.remember_fingerprint(FingerprintRecord {
            hotkey: "keep".into(),
            prompt: "hi".into(),
            fingerprint: "ab".into(),
            task: Task::Speech,
        });
        s.save(&path).expect("save");
        let loaded = ScoreState::load(&path).expect("load");
        assert_eq!(loaded, s);
        let mut loaded = loaded;
        // uid 3 now belongs to a new hotkey; "keep" moved to uid 9.
        loaded.sync_registered(&[(3, "new".into()), (9, "keep".into())]);
        assert!(!loaded.miners.contains_key("old"));
        assert_eq!(loaded.miners["keep"].uid, Some(9));
        assert!(
            ScoreState::load(&dir.path().join("missing.json"))
                .expect("fresh")
                .miners
                .is_empty()
        );
        std::fs::write(&path, b"{not json").expect("write");
        assert!(matches!(
            ScoreState::load(&path),
            Err(StateError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_corrupt_file_is_kept_and_reset_moves_it_aside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("validator.json");
        std::fs::write(&path, b"{\"version\": 1, \"miners\": [").expect("write");
        let err = ScoreState::load_or_reset(&path, false).expect_err("corrupt");
        assert!(err.to_string().contains("--state.reset"), "{err}");
        assert!(path.exists(), "a failed load leaves the file where it is");

        let (state, aside) = ScoreState::load_or_reset(&path, true).expect("reset");
        assert_eq!(state, ScoreState::default());
        let aside = aside.expect("moved aside");
        assert!(!path.exists());
        assert_eq!(
            std::fs::read(&aside).expect("kept"),
            b"{\"version\": 1, \"miners\": ["
        );
        // Nothing to move: a fresh state, nothing reported.
        let (_, none) = ScoreState::load_or_reset(&path, true).expect("fresh");
        assert!(none.is_none());
        state.save(&path).expect("save");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(
            names.len(),
            2,
            "the state and its backup, no temporary: {names:?}"
        );
    }
}

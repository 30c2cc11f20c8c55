//! What the browser tests of the report and the dashboard share: rounds of three miners with
//! real espeak-ng speech (generated tones where the engine does not load), and starting and
//! stopping headless Chromium.

use audiosubnet_validator::round::{MinerResult, RoundReport};
use audiosubnet_validator::state::ScoreState;
use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

/// Alice, Bob and Charlie of the dev chain.
pub(crate) const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
pub(crate) const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
pub(crate) const CHARLIE: &str = "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y";

/// Round n speaks `PROMPTS[(n - 1) % 5]`.
pub(crate) const PROMPTS: [&str; 5] = [
    "The quick brown fox jumps over the lazy dog.",
    "A validator scores every miner once per round.",
    "The weights are set on chain every few rounds.",
    "Speech synthesis turns text into sound.",
    "Say <b>bold</b> & \"quoted\" words.",
];

/// Rewards per round (cycled); `None` is a failed response (no audio).
pub(crate) const REWARDS: [(&str, [Option<f64>; 5]); 3] = [
    (
        ALICE,
        [Some(0.9), Some(0.85), Some(0.95), Some(0.9), Some(0.92)],
    ),
    (
        BOB,
        [Some(0.5), Some(0.6), Some(0.4), Some(0.55), Some(0.5)],
    ),
    (CHARLIE, [Some(0.1), Some(0.3), None, Some(0.2), None]),
];

/// Rounds as the validator's loop runs them: scores, measures, breakdowns and history in the
/// state, and a report carrying each reply's audio.
pub(crate) struct Rounds {
    engine: Option<Box<dyn audiosubnet_tts::SpeechEngine>>,
    /// The state after the rounds played so far.
    pub(crate) state: ScoreState,
}

impl Rounds {
    pub(crate) fn new() -> Self {
        let engine = match audiosubnet_tts::load_engine("espeak", &Default::default()) {
            Ok(engine) => Some(engine),
            Err(e) => {
                eprintln!("espeak unavailable ({e}); generated tones instead of speech");
                None
            }
        };
        Rounds {
            engine,
            state: ScoreState::default(),
        }
    }

    /// Plays the next round and returns its report (the state is updated).
    pub(crate) fn play(&mut self) -> RoundReport {
        let round = self.state.rounds + 1;
        let i = (round as usize - 1) % PROMPTS.len();
        let prompt = PROMPTS[i];
        let mut results = Vec::new();
        for (hotkey, rewards) in REWARDS {
            let reward = rewards[i];
            let model = if hotkey == CHARLIE { "chirp" } else { "espeak" };
            let state = &mut self.state;
            state.update(hotkey, None, reward.unwrap_or(0.0), 0.5, reward.is_none());
            if let Some(m) = state.miners.get_mut(hotkey) {
                m.model_name = Some(model.into());
                // Scoring's breakdown: the reward split into its factors, or the failure.
                m.last_breakdown = Some(match reward {
                    Some(r) => serde_json::json!({
                        "reward": r,
                        "factors": {"intelligibility": r.sqrt(), "naturalness": r.sqrt(),
                                    "activity": 1.0, "rate": 1.0, "silence": 1.0,
                                    "pacing": 1.0, "reward": r}
                    }),
                    None => serde_json::json!({"failure": "status 500: engine crashed"}),
                });
            }
            let audio = reward.map(|_| {
                // Charlie is the miner with a cheap "engine": a chirp at another sample rate.
                let (samples, rate) = match self.engine.as_mut() {
                    Some(engine) if hotkey != CHARLIE => {
                        let speech = engine.synthesize(prompt).expect("espeak synthesis");
                        (speech.samples, speech.sample_rate)
                    }
                    _ => (chirp(24_000), 24_000),
                };
                (Arc::new(samples), rate)
            });
            if let Some(reward) = reward {
                state.record_measures(hotkey, 1.0 - reward, 1.0 + 3.0 * reward);
            }
            results.push(MinerResult {
                hotkey: hotkey.into(),
                uid: None,
                status: if reward.is_some() { 200 } else { 500 },
                reward,
                failed: reward.is_none(),
                validator_fault: false,
                judged: reward.is_some(),
                reason: None,
                breakdown: None,
                latency_s: 0.2,
                model_name: Some(model.into()),
                transport: audiosubnet_dendrite::Transport::Synapse,
                audio,
                transcript: reward.map(|_| prompt.to_lowercase()),
            });
        }
        self.state.rounds = round;
        for (hotkey, _) in REWARDS {
            self.state.record_history(hotkey, round);
        }
        RoundReport {
            round,
            task: audiosubnet_validator::tasks::Task::Speech,
            prompt: prompt.into(),
            results,
            identical_audio: vec![],
        }
    }
}

/// 0.6 s rising from 300 Hz to 1200 Hz, faded in and out.
fn chirp(rate: u32) -> Vec<f32> {
    let n = rate as usize * 6 / 10;
    (0..n)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let phase = 2.0 * std::f32::consts::PI * (300.0 * t + 750.0 * t * t);
            let fade = (i.min(n - i) as f32 / (rate as f32 * 0.05)).min(1.0);
            0.4 * fade * phase.sin()
        })
        .collect()
}

/// Debian's chromium, or `AUDIOSUBNET_TEST_CHROMIUM`.
pub(crate) fn chromium() -> PathBuf {
    let chromium = std::env::var_os("AUDIOSUBNET_TEST_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        chromium.exists(),
        "{} not found: install Debian `chromium` or set AUDIOSUBNET_TEST_CHROMIUM",
        chromium.display()
    );
    chromium
}

/// Starts headless Chromium in its own process group with a fresh profile in `profile`,
/// stdout into `stdout` and stderr beside it (`.stderr`).
pub(crate) fn spawn_chromium(
    chromium: &Path,
    profile: &Path,
    extra: &[&str],
    url: &str,
    stdout: &Path,
) -> Child {
    Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .env("XDG_CONFIG_HOME", profile)
        .env("XDG_CACHE_HOME", profile)
        .stdin(Stdio::null())
        .stdout(File::create(stdout).expect("stdout file"))
        .stderr(File::create(stdout.with_extension("stderr")).expect("stderr file"))
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", chromium.display()))
}

/// Kills Chromium's whole process group (the browser, its zygote and renderers).
pub(crate) fn kill_chromium(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// The last 30 lines of the stderr file beside `stdout`.
pub(crate) fn stderr_tail(stdout: &Path) -> String {
    let stderr = std::fs::read_to_string(stdout.with_extension("stderr")).unwrap_or_default();
    let lines: Vec<&str> = stderr.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

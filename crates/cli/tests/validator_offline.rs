//! `audiosubnet validator --offline` and `audiosubnet score` as processes: two offline miners
//! (espeak-ng and the useless `silence` engine) are scored; the validator is killed with SIGKILL
//! mid-run and restarted, and resumes from the same scores.

mod common;

use common::{Guard, bin, free_port, hotkey, regen};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn state(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn validator(wallets: &Path, axons: &str, dir: &Path, rounds: u32) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(["validator", "--offline", "--wallet.name", "validator"])
        .args(["--axons", axons, "--rounds", &rounds.to_string()])
        .args(["--neuron.round_interval", "0", "--neuron.timeout", "20"])
        .arg("--prompts.file")
        .arg(dir.join("prompts.txt"))
        .arg("--wallet.path")
        .arg(wallets)
        .arg("--state.path")
        .arg(dir.join("state.json"))
        .arg("--scores.out")
        .arg(dir.join("scores.json"))
        .arg("--report.dir")
        .arg(dir.join("report"));
    cmd
}

const PROMPTS: &str = "Please open the window before you leave the house.
My brother likes to read books about the ocean.
Can you help me carry these boxes to the car?
The children played in the garden all afternoon.
";

#[test]
#[ignore = "needs espeak-ng and the scoring models; run scripts/test"]
fn validator_scores_offline_miners_and_resumes_after_a_kill() {
    let home = tempfile::tempdir().expect("tempdir");
    let wallets = home.path().join("wallets");
    regen(&wallets, "validator", "//Alice");
    regen(&wallets, "honest", "//Bob");
    regen(&wallets, "mute", "//Charlie");
    let (p1, p2) = (free_port(), free_port());
    let _honest = common::start_miner(&wallets, "honest", "espeak", p1, &[]);
    let _mute = common::start_miner(&wallets, "mute", "silence", p2, &[]);
    let honest = hotkey(&wallets, "honest");
    let mute = hotkey(&wallets, "mute");
    let axons = format!("{honest}@127.0.0.1:{p1},{mute}@127.0.0.1:{p2}");
    // Plain sentences espeak-ng says clearly (Whisper WER <= 0.125 on each), so the WER bound
    // below checks scoring, not the luck of a generated prompt with rare names.
    std::fs::write(home.path().join("prompts.txt"), PROMPTS).expect("prompts file");

    // Run "forever", kill -9 once two rounds are saved.
    let state_path = home.path().join("state.json");
    let mut first = Guard(
        validator(&wallets, &axons, home.path(), 1000)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("validator starts"),
    );
    let deadline = Instant::now() + Duration::from_secs(600);
    let saved = loop {
        if let Some(s) = state(&state_path).filter(|s| s["rounds"].as_u64() >= Some(2)) {
            break s;
        }
        assert!(
            first.0.try_wait().expect("status").is_none(),
            "the validator exited early"
        );
        assert!(Instant::now() < deadline, "no two rounds within 600 s");
        std::thread::sleep(Duration::from_millis(200));
    };
    first.0.kill().expect("SIGKILL");
    let _ = first.0.wait();
    // The state on disk after the kill is whole (atomic writes) and at least what we saw.
    let killed = state(&state_path).expect("state readable after SIGKILL");
    let rounds = killed["rounds"].as_u64().expect("rounds");
    assert!(rounds >= saved["rounds"].as_u64().expect("rounds"));
    let ema = |s: &serde_json::Value, k: &str| s["miners"][k]["ema"].as_f64().expect("ema");
    assert!(ema(&killed, &honest) > ema(&killed, &mute), "{killed}");

    // Restart for one more round: it resumes from the saved scores.
    let out = validator(&wallets, &axons, home.path(), 1)
        .output()
        .expect("validator runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resumed = state(&state_path).expect("state");
    assert_eq!(resumed["rounds"].as_u64(), Some(rounds + 1));
    for k in [&honest, &mute] {
        assert_eq!(
            resumed["miners"][k]["responses"].as_u64(),
            killed["miners"][k]["responses"].as_u64().map(|n| n + 1),
            "{k} answered once more on top of the saved count"
        );
    }
    // The EMA moved from the saved value by one step: ema' = 0.9·ema + 0.1·reward.
    let reward = resumed["miners"][&honest]["last_reward"]
        .as_f64()
        .expect("reward");
    let expected = 0.9 * ema(&killed, &honest) + 0.1 * reward;
    assert!((ema(&resumed, &honest) - expected).abs() < 1e-9);
    assert_eq!(ema(&resumed, &mute), 0.0, "silence earns nothing");

    let scores: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.path().join("scores.json")).expect("scores"))
            .expect("scores JSON");
    let row = scores
        .as_array()
        .and_then(|a| a.iter().find(|r| r["hotkey"] == honest.as_str()))
        .expect("honest miner in scores.out");
    assert_eq!(row["model_name"], "espeak");
    assert!(row["mean_wer"].as_f64().is_some_and(|w| w < 0.3), "{row}");
    let html = std::fs::read_to_string(home.path().join("report/index.html")).expect("report");
    assert!(html.contains(&format!("audio/{honest}.wav")));

    // `audiosubnet score` on the honest miner's latest sample (the report's WAV).
    let latest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(home.path().join("report/latest.json")).expect("latest.json"),
    )
    .expect("latest JSON");
    let prompt = latest[&honest]["prompt"].as_str().expect("prompt");
    let out = Command::new(bin())
        .args(["score", "--compact", "--text", prompt])
        .arg(home.path().join(format!("report/audio/{honest}.wav")))
        .output()
        .expect("score runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let breakdown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("score JSON");
    for key in [
        "transcript",
        "wer",
        "dnsmos",
        "speech_fraction",
        "duration_s",
        "fingerprint",
        "reward",
    ] {
        assert!(breakdown.get(key).is_some(), "{key} missing: {breakdown}");
    }
    assert!(breakdown["reward"].as_f64().is_some_and(|r| r > 0.0));
}

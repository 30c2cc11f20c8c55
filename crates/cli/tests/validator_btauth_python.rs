//! The real validator process scoring a miner written for the Python SDK 11.3.0: a stdlib HTTP
//! server (`crates/dendrite/tests/python/bt11_tts_server.py`) that checks every request with
//! `bittensor.http_auth.verify` and answers `POST /tts` with espeak-ng speech of the prompt.
//! `audiosubnet validator --offline --neuron.transport btauth` queries it: every request is
//! accepted, the audio is scored like any other, and the transport is in `--scores.out`.
//!
//! Needs `AUDIOSUBNET_TEST_PYTHON_BT11` (the bt11 venv's python; `scripts/test` sets it), espeak-ng
//! and the scoring models; without the venv it says SKIPPED and passes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const PROMPT: &str = "Please open the window before you leave the house.";
const MINER: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"; // //Bob
const VALIDATOR: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"; // //Alice

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_audiosubnet")
}

fn python_bt11() -> Option<PathBuf> {
    match std::env::var("AUDIOSUBNET_TEST_PYTHON_BT11") {
        Ok(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            eprintln!(
                "SKIPPED: AUDIOSUBNET_TEST_PYTHON_BT11 is unset; it must point at a python with \
                 bittensor==11.3.0 (scripts/test creates the venv and sets it)"
            );
            None
        }
    }
}

/// Kills the child when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run_ok(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
#[ignore = "needs the bittensor 11.3.0 venv, espeak-ng and the scoring models; run scripts/test"]
fn the_validator_scores_a_python_sdk11_miner_over_btauth() {
    let Some(python) = python_bt11() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let wallets = dir.path().join("wallets");
    run_ok(
        Command::new(bin())
            .args(["wallet", "regen", "--hotkey", "--uri", "//Alice"])
            .args(["--wallet.name", "validator", "--wallet.path"])
            .arg(&wallets),
    );
    let wav = dir.path().join("speech.wav");
    run_ok(
        Command::new(bin())
            .args(["tts", "--model", "espeak", "--text", PROMPT, "--out"])
            .arg(&wav),
    );
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../dendrite/tests/python/bt11_tts_server.py");
    let mut server = Guard(
        Command::new(&python)
            .arg(script)
            .arg(MINER)
            .arg(&wav)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python starts"),
    );
    let mut lines = BufReader::new(server.0.stdout.take().expect("stdout"));
    let mut first = String::new();
    lines.read_line(&mut first).expect("first line");
    let port: u16 = first
        .strip_prefix("LISTENING ")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("server did not start: {first:?}"));
    std::fs::write(dir.path().join("prompts.txt"), format!("{PROMPT}\n")).expect("prompts");

    let scores = dir.path().join("scores.json");
    run_ok(
        Command::new(bin())
            .args(["validator", "--offline", "--wallet.name", "validator"])
            .args(["--axons", &format!("{MINER}@127.0.0.1:{port}")])
            .args(["--rounds", "2", "--neuron.round_interval", "0"])
            .args(["--neuron.timeout", "20", "--neuron.transport", "btauth"])
            .arg("--wallet.path")
            .arg(&wallets)
            .arg("--prompts.file")
            .arg(dir.path().join("prompts.txt"))
            .arg("--state.path")
            .arg(dir.path().join("state.json"))
            .arg("--scores.out")
            .arg(&scores),
    );
    // Both rounds' requests passed the SDK's verify (fresh nonces, bound to the miner).
    for _ in 0..2 {
        let mut line = String::new();
        lines.read_line(&mut line).expect("verdict");
        assert_eq!(line.trim(), format!("ACCEPTED {VALIDATOR}"));
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&scores).expect("scores.out")).expect("JSON");
    let row = &summary[0];
    assert_eq!(row["hotkey"], MINER, "{row}");
    assert_eq!(row["transport"], "btauth", "{row}");
    assert_eq!(row["model_name"], "python-sdk11", "{row}");
    // Both replies were scored (espeak-ng's reward sits below the 0.68 threshold, which only
    // labels it a "failed response" in the table).
    assert_eq!(row["responses"], 2, "{row}");
    assert_eq!(row["last_breakdown"]["wer"], 0.0, "{row}");
    assert!(row["mean_wer"].as_f64().is_some_and(|w| w < 0.3), "{row}");
    assert!(
        row["last_reward"].as_f64().is_some_and(|r| r > 0.0),
        "the audio was scored: {row}"
    );
}

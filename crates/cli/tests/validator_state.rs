//! The validator's state file as an operator meets it: a corrupt file stops the validator with
//! a message that names the way out and stays where it is; `--state.reset` moves it aside.
//! Neither needs the scoring models: both happen before they load.

mod common;

use common::{bin, regen};
use std::path::Path;
use std::process::{Command, Output};

fn validator(dir: &Path, state: &Path, extra: &[&str]) -> Output {
    Command::new(bin())
        .args(["validator", "--offline", "--rounds", "1"])
        .args([
            "--axons",
            "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty@127.0.0.2:9",
        ])
        .arg("--wallet.path")
        .arg(dir.join("wallets"))
        .arg("--state.path")
        .arg(state)
        .args(extra)
        // No models here, and none fetched: the run stops at the model check, after the state
        // file was handled.
        .arg("--models.offline")
        .env("AUDIOSUBNET_HOME", dir.join("empty-home"))
        .output()
        .expect("validator runs")
}

#[test]
fn a_corrupt_state_file_is_never_replaced_silently() {
    let dir = tempfile::tempdir().expect("tempdir");
    regen(&dir.path().join("wallets"), "default", "//Alice");
    let state = dir.path().join("state.json");
    let corrupt = b"{\"version\": 1, \"miners\": {\"5F\": {\"ema\": 0.7";
    std::fs::write(&state, corrupt).expect("write");

    let out = validator(dir.path(), &state, &[]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{log}");
    assert!(log.contains("--state.reset"), "{log}");
    assert_eq!(std::fs::read(&state).expect("still there"), corrupt);

    let out = validator(dir.path(), &state, &["--state.reset"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("starting with fresh scores"), "{log}");
    assert!(!state.exists(), "{log}");
    let backups: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".bak"))
        .collect();
    assert_eq!(backups.len(), 1, "{log}");
    assert_eq!(std::fs::read(backups[0].path()).expect("kept"), corrupt);
}

//! The `audiosubnet` binary end to end without a chain: wallet files made by `wallet regen`, an
//! offline miner with a real engine, queried by the Python SDK dendrite; SIGTERM stops it cleanly.

mod common;

use common::{free_port, python_script, regen, start_miner_with};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

#[test]
#[ignore = "needs the Python SDK venv and espeak-ng; run scripts/test"]
fn python_dendrite_gets_real_speech_from_an_offline_miner() {
    let home = tempfile::tempdir().expect("tempdir");
    let wallets = home.path().join("wallets");
    regen(&wallets, "miner", "//Bob");
    let port = free_port();
    let mut miner = start_miner_with(
        &wallets,
        "miner",
        "espeak",
        port,
        &[
            "--blacklist.allowed_hotkeys",
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
        ],
        |command| {
            command.stderr(Stdio::inherit());
        },
    );

    let text = "The weather in Paris is sunny today.";
    let port_s = port.to_string();
    let query = |uri: &str| {
        python_script(
            "query_axon.py",
            &[BOB, "127.0.0.1", &port_s, "hashed", text, uri],
        )
    };
    let r = query("//Alice");
    assert_eq!(r["is_success"], true, "{r}");
    assert_eq!(r["model_name"], "espeak", "{r}");
    let rate = r["sample_rate"].as_f64().expect("sample_rate");
    let seconds = r["samples"].as_f64().expect("samples") / rate;
    // About 36 characters of speech: between one and ten seconds.
    assert!((1.0..10.0).contains(&seconds), "{seconds} s of audio: {r}");

    // A hotkey outside --blacklist.allowed_hotkeys is refused.
    let refused = query("//Charlie");
    assert_eq!(refused["status_code"], 403, "{refused}");

    // SIGTERM: graceful shutdown, exit 0.
    let pid = miner.0.id().to_string();
    let kill = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = miner.0.try_wait().expect("status") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "miner did not stop within 20 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "miner exit status {status}");
}

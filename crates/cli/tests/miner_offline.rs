//! The `audiosubnet` binary end to end without a chain: wallet files made by `wallet regen`, an
//! offline miner with a real engine, queried by the Python SDK dendrite; SIGTERM stops it cleanly.

mod common;

use common::{bin, free_port};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

fn scripts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/python")
}

#[test]
#[ignore = "needs the Python SDK venv and espeak-ng; run scripts/test"]
fn python_dendrite_gets_real_speech_from_an_offline_miner() {
    let python = std::env::var("AUDIOSUBNET_TEST_PYTHON").expect("AUDIOSUBNET_TEST_PYTHON");
    let home = tempfile::tempdir().expect("tempdir");
    let wallets = home.path().join("wallets");
    let regen = Command::new(bin())
        .args([
            "wallet",
            "regen",
            "--hotkey",
            "--uri",
            "//Bob",
            "--wallet.name",
            "miner",
        ])
        .arg("--wallet.path")
        .arg(&wallets)
        .output()
        .expect("wallet regen runs");
    assert!(
        regen.status.success(),
        "{}",
        String::from_utf8_lossy(&regen.stderr)
    );

    let port = free_port();
    let mut miner = Command::new(bin())
        .args([
            "miner",
            "--offline",
            "--model",
            "espeak",
            "--wallet.name",
            "miner",
        ])
        .args(["--axon.ip", "127.0.0.1", "--axon.port", &port.to_string()])
        .args([
            "--blacklist.allowed_hotkeys",
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
        ])
        .arg("--wallet.path")
        .arg(&wallets)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("miner starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "miner did not listen within 60 s"
        );
        assert!(
            miner.try_wait().expect("status").is_none(),
            "miner exited early"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let text = "The weather in Paris is sunny today.";
    let query = |uri: &str| {
        let out = Command::new(&python)
            .args([
                "query_axon.py",
                BOB,
                "127.0.0.1",
                &port.to_string(),
                "hashed",
                text,
                uri,
            ])
            .current_dir(scripts_dir())
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or("")
            .to_string();
        serde_json::from_str::<serde_json::Value>(&line).expect("json result")
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
    let pid = miner.id().to_string();
    let kill = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = miner.try_wait().expect("status") {
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

//! What the CLI's process tests share: the built binary, free ports, wallets made from dev URIs,
//! and offline miners that are killed when the test ends, however it ends.
#![allow(dead_code)] // each test file uses its own subset

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `audiosubnet` binary cargo built for these tests.
pub(crate) fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_audiosubnet")
}

/// A loopback port nothing listens on right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Kills the child when dropped, so a failing test leaves no process behind.
pub(crate) struct Guard(pub(crate) Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Creates hotkey `name` (hotkey `default`) in `wallets` from a dev URI such as `//Alice`.
pub(crate) fn regen(wallets: &Path, name: &str, uri: &str) {
    let out = Command::new(bin())
        .args(["wallet", "regen", "--hotkey", "--uri", uri])
        .args(["--wallet.name", name])
        .arg("--wallet.path")
        .arg(wallets)
        .output()
        .expect("wallet regen runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The SS58 hotkey of wallet `name`, as `wallet show` prints it.
pub(crate) fn hotkey(wallets: &Path, name: &str) -> String {
    let out = Command::new(bin())
        .args(["wallet", "show", "--wallet.name", name])
        .arg("--wallet.path")
        .arg(wallets)
        .output()
        .expect("wallet show runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find(|w| w.len() == 48 && w.starts_with('5'))
        .unwrap_or_else(|| panic!("no hotkey in `wallet show`: {text}"))
        .to_owned()
}

/// Starts `audiosubnet miner --offline --model MODEL` for wallet `name` on 127.0.0.1:`port`,
/// with `extra` flags, and waits (at most a minute) until it listens.
pub(crate) fn start_miner(
    wallets: &Path,
    name: &str,
    model: &str,
    port: u16,
    extra: &[&str],
) -> Guard {
    start_miner_with(wallets, name, model, port, extra, |_| {})
}

/// [`start_miner`] with the command adjusted by `configure` before it is spawned (a log file
/// for stderr, environment variables). When the miner exits or does not listen within a
/// minute, the test fails.
pub(crate) fn start_miner_with(
    wallets: &Path,
    name: &str,
    model: &str,
    port: u16,
    extra: &[&str],
    configure: impl FnOnce(&mut Command),
) -> Guard {
    let mut command = Command::new(bin());
    command
        .args([
            "miner",
            "--offline",
            "--model",
            model,
            "--wallet.name",
            name,
        ])
        .args(["--axon.ip", "127.0.0.1", "--axon.port", &port.to_string()])
        .args(extra)
        .arg("--wallet.path")
        .arg(wallets)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    configure(&mut command);
    let mut guard = Guard(command.spawn().expect("miner starts"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "miner {name} did not listen");
        if let Ok(Some(status)) = guard.0.try_wait() {
            panic!("miner {name} exited before listening: {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    guard
}

/// Runs `script` from tests/python with the SDK 10.5 venv (`AUDIOSUBNET_TEST_PYTHON`) and
/// returns its last stdout line as JSON; fails the test when it exits non-zero.
pub(crate) fn python_script(script: &str, args: &[&str]) -> serde_json::Value {
    let python = std::env::var("AUDIOSUBNET_TEST_PYTHON")
        .expect("AUDIOSUBNET_TEST_PYTHON (scripts/test sets it)");
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python"))
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{script} printed {stdout:?}: {e}"))
}

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
    let child = Command::new(bin())
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
        .stderr(Stdio::null())
        .spawn()
        .expect("miner starts");
    let guard = Guard(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "miner {name} did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    guard
}

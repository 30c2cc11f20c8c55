//! Whether the real binary accepts a command line, without a chain or a wallet: the command
//! runs with an empty wallet directory, so it must get past argument parsing and stop at its
//! first real step, loading the hotkey. clap's own errors (unknown flag, bad value) exit with 2
//! and print a usage line; ours exit with 1 and name the wallet.
#![allow(dead_code)] // each test file uses its own subset

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Environment that would change what a command line means (the wallet and chain flags read
/// these; RUST_LOG overrides the logging flags), removed so the test sees the flags alone.
const FLAG_ENV: &[&str] = &[
    "BT_WALLET_NAME",
    "BT_WALLET_HOTKEY",
    "BT_WALLET_PATH",
    "BT_AXON_PORT",
    "AUDIOSUBNET_SUBTENSOR_NETWORK",
    "AUDIOSUBNET_SUBTENSOR_CHAIN_ENDPOINT",
    "AUDIOSUBNET_WALLET_PASSWORD",
    "AUDIOSUBNET_HUB_KEY",
    "AUDIOSUBNET_OPENAI_API_KEY",
    "RUST_LOG",
];

/// The `audiosubnet` binary cargo built for these tests.
pub(crate) fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_audiosubnet")
}

/// What the binary said.
pub(crate) struct Run {
    pub(crate) code: Option<i32>,
    pub(crate) stderr: String,
}

/// Runs `audiosubnet ARGS` with `home` as its home and model directory, for at most a minute.
pub(crate) fn run(args: &[String], home: &Path) -> Run {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env("HOME", home)
        .env("AUDIOSUBNET_HOME", home.join("audiosubnet"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for var in FLAG_ENV {
        cmd.env_remove(var);
    }
    let mut child = cmd.spawn().expect("the audiosubnet binary starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        match child.try_wait().expect("waiting for audiosubnet") {
            Some(status) => break status,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`audiosubnet {}` still runs after a minute", args.join(" "));
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read as _;
        let _ = pipe.read_to_string(&mut stderr);
    }
    Run {
        code: status.code(),
        stderr,
    }
}

/// Asserts that `audiosubnet ARGS` parsed: it failed only at loading the (absent) hotkey.
pub(crate) fn assert_accepted(args: &[String], home: &Path) -> Run {
    let out = run(args, home);
    let line = args.join(" ");
    assert!(
        out.code != Some(2) && !out.stderr.contains("Usage:"),
        "`audiosubnet {line}` was refused by argument parsing:\n{}",
        out.stderr
    );
    assert_eq!(
        out.code,
        Some(1),
        "`audiosubnet {line}` should stop at the missing wallet:\n{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("loading hotkey"),
        "`audiosubnet {line}` failed before loading the hotkey:\n{}",
        out.stderr
    );
    out
}

/// The `--flags` of a command line.
pub(crate) fn flags(args: &[String]) -> Vec<&str> {
    args.iter()
        .filter(|a| a.starts_with("--"))
        .map(|a| a.split('=').next().unwrap_or(a))
        .collect()
}

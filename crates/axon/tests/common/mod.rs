//! Fixtures: an in-process axon serving a test tone, and helpers to run the interop scripts.

#![allow(dead_code, unreachable_pub, missing_docs)]

use audiosubnet_axon::{Axon, AxonConfig, AxonHooks, Caller, ForwardError};
use audiosubnet_protocol::TextToSpeech;
use audiosubnet_wallet::Keypair;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The tone the test axon speaks: 0.05 s per character at 22.05 kHz.
pub fn tone_for(text: &str) -> Vec<f32> {
    let n = 1102 * text.chars().count();
    (0..n)
        .map(|i| 0.3 * (i as f32 * 2.0 * std::f32::consts::PI * 220.0 / 22_050.0).sin())
        .collect()
}

pub async fn tone_handler(_c: Caller, mut req: TextToSpeech) -> Result<TextToSpeech, ForwardError> {
    let text = req.text_input.clone().unwrap_or_default();
    if text.trim().is_empty() {
        return Err(ForwardError::BadRequest("text_input is empty".into()));
    }
    req.speech_output = Some(tone_for(&text));
    req.sample_rate = Some(22_050);
    req.model_name = Some("test-tone".into());
    Ok(req)
}

/// Starts an axon for `uri`'s hotkey on 127.0.0.1 with a free port.
pub async fn start_axon(
    uri: &str,
    config: AxonConfig,
    hooks: Option<Arc<dyn AxonHooks>>,
    slow: Option<Duration>,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let mut builder = Axon::builder(Keypair::from_uri(uri).expect("dev uri"), config).attach(
        move |c: Caller, req: TextToSpeech| async move {
            if let Some(d) = slow {
                tokio::time::sleep(d).await;
            }
            tone_handler(c, req).await
        },
    );
    if let Some(h) = hooks {
        builder = builder.hooks(h);
    }
    let axon = builder.build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        axon.serve(listener, async move {
            let _ = rx.await;
        })
        .await
        .expect("axon serves");
    });
    (addr, tx, handle)
}

pub fn python() -> PathBuf {
    PathBuf::from(std::env::var("AUDIOSUBNET_TEST_PYTHON").expect(
        "AUDIOSUBNET_TEST_PYTHON must point at the venv python with bittensor==10.5.0 (scripts/test sets it)",
    ))
}

/// The SDK venvs to test against: 10.5.0 always, 9.12.2 too when `scripts/test` made it.
pub fn pythons() -> Vec<PathBuf> {
    let mut all = vec![python()];
    if let Ok(p) = std::env::var("AUDIOSUBNET_TEST_PYTHON_BT9") {
        all.push(PathBuf::from(p));
    }
    all
}

pub fn scripts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/python")
}

/// Runs an interop script to completion and returns its JSON output lines.
pub async fn run_script(script: &str, args: &[&str]) -> Vec<serde_json::Value> {
    run_script_with(&python(), script, args).await
}

/// Same, with a given interpreter.
pub async fn run_script_with(
    python: &std::path::Path,
    script: &str,
    args: &[&str],
) -> Vec<serde_json::Value> {
    let out = tokio::process::Command::new(python)
        .arg(script)
        .args(args)
        .current_dir(scripts_dir())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("script finishes within 120 s")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} failed: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A Python SDK axon (serve_axon.py) running until dropped.
pub struct PythonAxon {
    pub port: u16,
    pub hotkey: String,
    child: tokio::process::Child,
    // Kept open so the axon's later log lines do not hit a closed pipe.
    _stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl PythonAxon {
    pub async fn start(uri: &str) -> PythonAxon {
        Self::start_with(&python(), uri).await
    }

    pub async fn start_with(python: &std::path::Path, uri: &str) -> PythonAxon {
        use tokio::io::AsyncBufReadExt;
        let port = free_port();
        let mut child = tokio::process::Command::new(python)
            .arg("serve_axon.py")
            .arg(port.to_string())
            .arg(uri)
            .current_dir(scripts_dir())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python axon starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("python axon ready within 60 s")
            .expect("read stdout")
            .expect("a READY line");
        let ready: serde_json::Value = serde_json::from_str(&ready).expect("json READY line");
        let hotkey = ready["hotkey"].as_str().expect("hotkey").to_string();
        // uvicorn starts in a thread after attach(); wait until the port accepts connections.
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        PythonAxon {
            port,
            hotkey,
            child,
            _stdout: lines,
        }
    }
}

impl Drop for PythonAxon {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

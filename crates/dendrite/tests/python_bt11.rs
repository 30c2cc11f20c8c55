//! Our `btauth/1` client against a miner written for the real Python SDK 11.3.0: a stdlib HTTP
//! server (`python/bt11_tts_server.py`) that checks every request with
//! `bittensor.http_auth.verify` and answers `POST /tts` with a WAV file. Every signed call is
//! accepted, the audio arrives sample for sample, and one signed for another receiver is refused
//! the way the SDK refuses it.
//!
//! Needs `AUDIOSUBNET_TEST_PYTHON_BT11` (the bt11 venv's python; `scripts/test` sets it);
//! without it each test says SKIPPED and passes without checking anything.

use audiosubnet_dendrite::{AxonTarget, Dendrite, Transport, TransportMode};
use audiosubnet_protocol::tts_http::TtsRequest;
use audiosubnet_wallet::Keypair;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

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

/// The Python server; killed when dropped.
struct Server {
    child: Child,
    lines: BufReader<ChildStdout>,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(python: &Path, self_hotkey: &str, wav: &Path) -> Server {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/bt11_tts_server.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(self_hotkey)
            .arg(wav)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        lines.read_line(&mut first).expect("first line");
        let port = first
            .strip_prefix("LISTENING ")
            .and_then(|r| r.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("server did not start: {first:?}"));
        eprintln!("python server: {}", first.trim());
        Server { child, lines, port }
    }

    /// The server's verdict on the next request.
    fn next_verdict(&mut self) -> String {
        let mut line = String::new();
        self.lines.read_line(&mut line).expect("a verdict line");
        line.trim().to_string()
    }
}

fn speech_like() -> Vec<f32> {
    (0..24_000)
        .map(|i| {
            let t = i as f32 / 24_000.0;
            (0.5 + 0.4 * (t * 25.0).sin()) * 0.5 * (t * 1100.0).sin()
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs the bittensor 11.3.0 venv (AUDIOSUBNET_TEST_PYTHON_BT11); run scripts/test"]
async fn the_sdk_verifies_our_requests_and_we_read_its_audio() {
    let Some(python) = python_bt11() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("clip.wav");
    audiosubnet_audio::write_wav16(&wav, &speech_like(), 24_000).expect("wav");
    let file = std::fs::read(&wav).expect("read");
    let expected = audiosubnet_audio::decode_wav(&file).expect("decodes");
    let miner = Keypair::from_uri("//Bob").expect("dev uri").ss58();
    let mut server = Server::start(&python, &miner, &wav);
    let target: AxonTarget = format!("{miner}@127.0.0.1:{}", server.port)
        .parse()
        .expect("target");
    let alice = Keypair::from_uri("//Alice").expect("dev uri");
    let dendrite = Dendrite::new(alice.clone());
    let request = TtsRequest {
        text: "Hello there.".into(),
        voice: None,
        sample_rate: None,
    };
    // Several calls back to back: each signs a fresh nonce, none is a replay to the SDK's store.
    for _ in 0..3 {
        let reply = dendrite
            .call_tts(&target, &request, Duration::from_secs(10))
            .await;
        assert_eq!(
            reply.status_code, 200,
            "{}: {}",
            reply.status_code, reply.status_message
        );
        assert_eq!(server.next_verdict(), format!("ACCEPTED {}", alice.ss58()));
        let tts = reply.synapse.expect("audio");
        assert_eq!(tts.sample_rate, Some(24_000));
        assert_eq!(tts.model_name.as_deref(), Some("python-sdk11"));
        assert_eq!(tts.speech_output.as_ref(), Some(&expected.samples));
        assert_eq!(reply.body_bytes, file.len());
    }
    // Auto-detection on a btauth-only peer: btauth, remembered.
    let spoken = dendrite
        .speak(
            &target,
            "Hello again.",
            Duration::from_secs(10),
            TransportMode::Auto,
        )
        .await;
    assert_eq!(spoken.transport, Transport::Btauth);
    assert_eq!(spoken.response.status_code, 200);
    assert_eq!(server.next_verdict(), format!("ACCEPTED {}", alice.ss58()));
    assert_eq!(dendrite.known_transport(&miner), Some(Transport::Btauth));

    // Signed for another receiver: the SDK refuses it, and we report its 401 and message.
    let charlie = Keypair::from_uri("//Charlie").expect("dev uri").ss58();
    let wrong: AxonTarget = format!("{charlie}@127.0.0.1:{}", server.port)
        .parse()
        .expect("target");
    let reply = dendrite
        .call_tts(&wrong, &request, Duration::from_secs(10))
        .await;
    assert_eq!(reply.status_code, 401);
    assert_eq!(reply.status_message, "WrongReceiver");
    assert!(reply.synapse.is_none());
    assert_eq!(server.next_verdict(), "REFUSED WrongReceiver");
}

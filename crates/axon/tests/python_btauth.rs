//! `btauth/1` interop with the real Python SDK 11.3.0 (`bittensor.http_auth`): our payload bytes
//! against `build_payload`, its `sign` against our `/tts`, and for each hostile request our
//! status and error kind against what its `verify` raises for the same request.
//!
//! Needs `AUDIOSUBNET_TEST_PYTHON_BT11` (the bt11 venv's python; `scripts/test` sets it); without
//! it each test says so and passes without checking anything.

mod common;

use audiosubnet_axon::{
    AudioEncoding, Axon, AxonConfig, Caller, ForwardError, TtsAudio, TtsRequest,
};
use audiosubnet_protocol::btauth::{Scheme, build_payload};
use audiosubnet_protocol::tts_http::pcm16le;
use audiosubnet_wallet::Keypair;
use common::run_script_with;
use std::path::PathBuf;

const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

/// The bt11 venv's python, or `None` (with a message saying why the test checks nothing).
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

/// 16 kHz mono 16-bit WAV of 0.05 s of tone per character.
async fn tone_tts(
    _c: Caller,
    req: TtsRequest,
    enc: AudioEncoding,
) -> Result<TtsAudio, ForwardError> {
    let rate = 16_000u32;
    let n = 800 * req.text.chars().count();
    let samples: Vec<f32> = (0..n)
        .map(|i| 0.3 * (i as f32 * 2.0 * std::f32::consts::PI * 220.0 / rate as f32).sin())
        .collect();
    let pcm = pcm16le(&samples);
    let body = match enc {
        AudioEncoding::S16le => pcm,
        AudioEncoding::Wav => {
            let mut w = Vec::with_capacity(44 + pcm.len());
            w.extend_from_slice(b"RIFF");
            w.extend_from_slice(&(36 + pcm.len() as u32).to_le_bytes());
            w.extend_from_slice(b"WAVEfmt ");
            w.extend_from_slice(&16u32.to_le_bytes());
            for v in [1u16, 1] {
                w.extend_from_slice(&v.to_le_bytes());
            }
            for v in [rate, rate * 2] {
                w.extend_from_slice(&v.to_le_bytes());
            }
            for v in [2u16, 16] {
                w.extend_from_slice(&v.to_le_bytes());
            }
            w.extend_from_slice(b"data");
            w.extend_from_slice(&(pcm.len() as u32).to_le_bytes());
            w.extend_from_slice(&pcm);
            w
        }
    };
    Ok(TtsAudio {
        body: body.into(),
        sample_rate: rate,
        model: "test-tone".into(),
    })
}

#[tokio::test]
#[ignore = "needs the bittensor 11.3.0 venv (AUDIOSUBNET_TEST_PYTHON_BT11); run scripts/test"]
async fn payload_bytes_equal_the_sdk_build_payload() {
    let Some(python) = python_bt11() else { return };
    let bodies: [&[u8]; 4] = [
        b"",
        br#"{"text":"hi"}"#,
        &[0, 159, 146, 150, 255, 10],
        &[0xff; 300],
    ];
    let mut cases = Vec::new();
    let mut ours = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        for method in ["POST", "get", "Put"] {
            for path in ["/tts", "/tts?voice=a&x=%20y", "/", "/v1/a/b?q="] {
                for receiver in [Some(BOB), None] {
                    for scheme in [Scheme::Sr25519, Scheme::Ed25519] {
                        let nonce = 1_700_000_000_123_456_789_i128 + i as i128;
                        cases.push(serde_json::json!({
                            "scheme": scheme.name(), "method": method, "path": path,
                            "body_hex": hex::encode(body), "nonce": nonce as i64,
                            "sender": ALICE, "receiver": receiver,
                        }));
                        ours.push(build_payload(
                            scheme, method, path, body, nonce, ALICE, receiver,
                        ));
                    }
                }
            }
        }
    }
    let arg = serde_json::to_string(&cases).expect("json");
    let theirs = run_script_with(&python, "btauth11.py", &["payload", &arg]).await;
    assert_eq!(theirs.len(), ours.len());
    for ((case, ours), theirs) in cases.iter().zip(&ours).zip(&theirs) {
        let theirs = hex::decode(theirs["hex"].as_str().expect("hex")).expect("hex");
        assert_eq!(
            String::from_utf8_lossy(ours),
            String::from_utf8_lossy(&theirs),
            "{case}"
        );
        assert_eq!(ours, &theirs, "{case}");
    }
    eprintln!("{} payloads equal the SDK's build_payload", ours.len());
}

/// The kind our error message names for each of the SDK's exceptions.
fn our_kind(python_exception: &str) -> &'static str {
    match python_exception {
        "MalformedAuth" => "malformed auth",
        "StaleRequest" => "stale request",
        "BadSignature" => "bad signature",
        "ReplayedRequest" => "replayed request",
        "WrongReceiver" => "wrong receiver",
        other => panic!("unexpected SDK exception {other}"),
    }
}

#[tokio::test]
#[ignore = "needs the bittensor 11.3.0 venv (AUDIOSUBNET_TEST_PYTHON_BT11); run scripts/test"]
async fn sdk_signed_requests_against_our_tts() {
    let Some(python) = python_bt11() else { return };
    let axon = Axon::builder(
        Keypair::from_uri("//Bob").expect("dev uri"),
        AxonConfig::default(),
    )
    .attach_tts(tone_tts)
    .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(axon.serve(listener, std::future::pending()));
    let base = format!("http://{addr}");
    let results = run_script_with(&python, "btauth11.py", &["post", &base, BOB]).await;
    assert!(results.len() >= 25, "{results:?}");
    for r in &results {
        let name = r["name"].as_str().expect("name");
        let python = r["python"].as_str().expect("python");
        let status = r["status"].as_u64().expect("status");
        if python == "ok" {
            assert_eq!(status, 200, "{name}: the SDK accepts it, we answered {r}");
            if name == "ok_l16" {
                assert_eq!(r["content_type"], "application/octet-stream", "{r}");
                continue;
            }
            assert_eq!(r["content_type"], "audio/wav", "{r}");
            assert_eq!(r["sample_rate"], "16000", "{r}");
            assert_eq!(r["model"], "test-tone", "{r}");
            assert_eq!(r["wav_rate"], 16_000, "{r}");
            assert_eq!(r["wav_width"], 2, "{r}");
            assert_eq!(r["wav_channels"], 1, "{r}");
            assert!(r["wav_frames"].as_u64().expect("frames") > 16_000, "{r}");
        } else {
            assert_eq!(
                status, 401,
                "{name}: the SDK raises {python}, we answered {r}"
            );
            let error = r["error"].as_str().expect("error message");
            assert!(
                error.starts_with(our_kind(python)),
                "{name}: the SDK raises {python}, we said {error:?}"
            );
        }
    }
    let kinds: std::collections::BTreeSet<&str> = results
        .iter()
        .filter_map(|r| r["python"].as_str())
        .collect();
    // Every one of the SDK's five refusals, and success, came up.
    assert_eq!(kinds.len(), 6, "{kinds:?}");
    eprintln!(
        "{} scenarios agree with bittensor.http_auth.verify",
        results.len()
    );
}

//! OpenAI's own Python client (`openai`, pinned in scripts/lib.sh's `ensure_openai_venv`) against
//! a real offline miner's OpenAI-compatible endpoint (espeak-ng, with an API key): default
//! arguments (mp3), every `response_format`, `speed`, `with_streaming_response` and
//! `models.list()`. The script checks each file is the format asked for and reads its duration
//! from the format's own headers; this test checks those durations against the WAV reply.
//!
//! Needs `AUDIOSUBNET_TEST_PYTHON_OPENAI` (the venv's python; `scripts/test` sets it) and
//! libespeak-ng; without the variable it says SKIPPED and passes.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{free_port, regen, start_miner};

fn python_openai() -> Option<PathBuf> {
    match std::env::var("AUDIOSUBNET_TEST_PYTHON_OPENAI") {
        Ok(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            eprintln!(
                "SKIPPED: AUDIOSUBNET_TEST_PYTHON_OPENAI is unset; it must point at a python with \
                 the openai package (scripts/test creates the venv and sets it)"
            );
            None
        }
    }
}

#[test]
#[ignore = "needs the openai venv (AUDIOSUBNET_TEST_PYTHON_OPENAI) and espeak-ng; run scripts/test"]
fn the_openai_python_client_works_as_it_comes() {
    let Some(python) = python_openai() else {
        return;
    };
    let home = tempfile::tempdir().expect("tempdir");
    let wallets = home.path().join("wallets");
    regen(&wallets, "miner", "//Bob");
    let (axon_port, openai_port) = (free_port(), free_port());
    let key = "sk-audiosubnet-test";
    let _miner = start_miner(
        &wallets,
        "miner",
        "espeak",
        axon_port,
        &[
            "--openai.port",
            &openai_port.to_string(),
            "--openai.api_key",
            key,
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", openai_port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the OpenAI endpoint did not listen"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let out_dir = home.path().join("replies");
    std::fs::create_dir(&out_dir).expect("mkdir");
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/openai_client.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(format!("http://127.0.0.1:{openai_port}/v1"))
        .arg(key)
        .arg(&out_dir)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the openai client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    let file = |name: &str| &report["files"][name];
    let seconds = |name: &str| file(name)["seconds"].as_f64().expect("seconds");

    // The WAV reply is the reference: espeak-ng speaks the sentence in a few seconds.
    let wav = seconds("wav");
    assert!((1.5..10.0).contains(&wav), "{wav} s");
    let wav_file = audiosubnet_audio::read_wav(&out_dir.join("speech.wav")).expect("a WAV file");
    assert!((wav_file.samples.len() as f64 / f64::from(wav_file.sample_rate) - wav).abs() < 1e-6);
    for (name, content_type, slack) in [
        // mp3 frames hold 576 samples; the encoder adds its delay and padding (under 0.15 s).
        ("default", "audio/mpeg", 0.15),
        ("mp3", "audio/mpeg", 0.15),
        ("streamed", "audio/mpeg", 0.15),
        ("opus", "audio/ogg", 0.001),
        ("flac", "audio/flac", 0.001),
        ("pcm", "audio/pcm", 0.001),
    ] {
        assert_eq!(file(name)["content_type"], content_type, "{name}");
        let s = seconds(name);
        assert!(
            s >= wav - 0.001 && s <= wav + slack,
            "{name}: {s} s, the WAV is {wav} s"
        );
    }
    // speed 1.5: two thirds as long.
    let fast = seconds("speed_1.5");
    assert!(
        (fast - wav / 1.5).abs() < 0.01,
        "{fast} s at 1.5×, {wav} s at 1×"
    );

    let models = report["models"].as_array().expect("models");
    for id in ["tts-1", "tts-1-hd", "gpt-4o-mini-tts", "espeak"] {
        assert!(models.iter().any(|m| m == id), "{id} not in {models:?}");
    }
    let aac = report["aac_error"].as_str().expect("aac error");
    assert!(aac.contains("mp3, opus, flac, wav, pcm"), "{aac}");
}

//! A MusicGen miner: `audiosubnet miner --offline --task music --music.model
//! facebook/musicgen-small --music.model.path DIR` on the tiny random checkpoint of
//! crates/musicgen (copied to a temp dir, as an operator's checkpoint directory would be) answers
//! our dendrite's `MusicGeneration` with 200 and audio of the asked length, and `audiosubnet
//! music` makes a clip from the same directory, reporting its progress.

mod common;

use common::{bin, free_port, regen, start_miner};
use std::path::{Path, PathBuf};
use std::process::Command;

const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

/// The tiny checkpoint (config, weights, tokenizer) copied into `dir`.
fn copy_fixture(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../musicgen/tests/fixtures/tiny");
    let dst = dir.join("musicgen-tiny");
    std::fs::create_dir_all(&dst).expect("checkpoint dir");
    for file in [
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ] {
        std::fs::copy(src.join(file), dst.join(file))
            .unwrap_or_else(|e| panic!("copying {file}: {e}"));
    }
    dst
}

#[test]
#[ignore = "starts a miner process and runs MusicGen on the CPU; run scripts/test"]
fn our_dendrite_gets_musicgen_audio_and_audiosubnet_music_runs_it() {
    use audiosubnet_dendrite::{AudioAsk, AxonTarget, Dendrite, TransportMode};
    use audiosubnet_wallet::Keypair;
    use std::time::Duration;

    let home = tempfile::tempdir().expect("tempdir");
    let checkpoint = copy_fixture(home.path());
    let checkpoint_arg = checkpoint.to_str().expect("utf-8 temp path");
    let wallets = home.path().join("wallets");
    regen(&wallets, "miner", "//Bob");
    let port = free_port();
    let _miner = start_miner(
        &wallets,
        "miner",
        "facebook/musicgen-small",
        port,
        &[
            "--task",
            "music",
            "--music.model",
            "facebook/musicgen-small",
            "--music.model.path",
            checkpoint_arg,
        ],
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let dendrite = Dendrite::new(Keypair::from_uri("//Alice").expect("dev uri"));
        let target: AxonTarget = format!("{BOB}@127.0.0.1:{port}").parse().expect("target");
        for seconds in [0.5, 1.0] {
            let ask = AudioAsk::Music {
                text: "a calm piano tune at 90 bpm",
                seconds,
            };
            let got = dendrite
                .ask(&target, &ask, Duration::from_secs(120), TransportMode::Auto)
                .await;
            let r = &got.response;
            assert_eq!(r.status_code, 200, "{seconds} s: {}", r.status_message);
            let reply = r.synapse.as_ref().expect("reply");
            assert_eq!(reply.effective_sample_rate(), 32_000);
            let samples = reply.speech_output.as_ref().expect("music");
            let got_seconds = samples.len() as f64 / 32_000.0;
            assert!(
                (got_seconds - seconds).abs() < 1e-3,
                "asked {seconds} s, got {got_seconds} s"
            );
        }
    });

    // `audiosubnet music` with the same checkpoint directory.
    let wav = home.path().join("x.wav");
    let out = Command::new(bin())
        .args([
            "music",
            "--model",
            "facebook/musicgen-small",
            "--model.path",
        ])
        .arg(&checkpoint)
        .args([
            "--text",
            "a driving rock song",
            "--duration",
            "1.5",
            "--out",
        ])
        .arg(&wav)
        .output()
        .expect("audiosubnet music runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("1 s of 1.5 s generated"), "{stderr}");
    let bytes = std::fs::read(&wav).expect("the WAV");
    // 16-bit mono PCM after a 44-byte header: 1.5 s at 32 kHz.
    assert_eq!(bytes.len(), 44 + 2 * 48_000, "{stderr}");

    // A MusicGen name without a checkpoint says what to pass.
    let empty = home.path().join("empty");
    std::fs::create_dir_all(&empty).expect("empty dir");
    let out = Command::new(bin())
        .args(["music", "--model", "musicgen-small", "--model.path"])
        .arg(&empty)
        .args(["--text", "jazz", "--duration", "1", "--out"])
        .arg(home.path().join("y.wav"))
        .output()
        .expect("audiosubnet music runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("--model.path"), "{stderr}");
    // --midi is the soundfont engine's.
    let out = Command::new(bin())
        .args(["music", "--model", "musicgen-small", "--model.path"])
        .arg(&checkpoint)
        .args([
            "--text",
            "jazz",
            "--duration",
            "1",
            "--midi",
            "x.mid",
            "--out",
        ])
        .arg(home.path().join("z.wav"))
        .output()
        .expect("audiosubnet music runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--midi"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

//! `audiosubnet query` against an offline espeak-ng miner serving both transports: over btauth
//! and over Synapse it prints the status, transport, rate, duration, model, latency and bytes,
//! writes a WAV both ways, and the binary reply is a fraction of the JSON one. A miner
//! serving Synapse only answers `--transport auto` over Synapse.

mod common;

use common::{bin, free_port, regen};
use std::path::Path;
use std::process::Command;

const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

/// Runs `query` and returns its printed fields.
fn query(wallets: &Path, port: u16, transport: &str, out: &Path) -> Vec<(String, String)> {
    let run = Command::new(bin())
        .args([
            "query",
            "--wallet.name",
            "validator",
            "--transport",
            transport,
        ])
        .args(["--axons", &format!("{BOB}@127.0.0.1:{port}")])
        .args(["--text", "Hello there, how are you today?", "--out"])
        .arg(out)
        .arg("--wallet.path")
        .arg(wallets)
        .output()
        .expect("query runs");
    let stdout = String::from_utf8_lossy(&run.stdout).to_string();
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().to_string()))
        })
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], key: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("{key} not printed: {fields:?}"))
}

#[test]
#[ignore = "needs espeak-ng; run scripts/test"]
fn query_asks_a_miner_over_either_transport() {
    let home = tempfile::tempdir().expect("tempdir");
    let wallets = home.path().join("wallets");
    regen(&wallets, "validator", "//Alice");
    regen(&wallets, "miner", "//Bob");
    let port = free_port();
    let _miner = common::start_miner(
        &wallets,
        "miner",
        "espeak",
        port,
        &["--axon.transports", "synapse,btauth"],
    );
    let (a, b) = (home.path().join("a.wav"), home.path().join("b.wav"));
    let over_btauth = query(&wallets, port, "btauth", &a);
    let over_synapse = query(&wallets, port, "synapse", &b);
    assert_eq!(field(&over_btauth, "transport"), "btauth");
    assert_eq!(field(&over_synapse, "transport"), "synapse");
    for fields in [&over_btauth, &over_synapse] {
        assert!(field(fields, "status").starts_with("200"), "{fields:?}");
        assert_eq!(field(fields, "model"), "espeak");
        assert!(field(fields, "sample").ends_with("Hz"), "{fields:?}");
        assert!(
            field(fields, "duration").ends_with("samples)"),
            "{fields:?}"
        );
        assert!(field(fields, "latency").ends_with(" s"), "{fields:?}");
    }
    let bytes = |f: &[(String, String)]| field(f, "bytes").parse::<usize>().expect("bytes");
    assert!(
        bytes(&over_btauth) * 4 <= bytes(&over_synapse),
        "binary {} vs JSON {}",
        bytes(&over_btauth),
        bytes(&over_synapse)
    );
    // Both written as playable WAVs of the same speech (two syntheses: lengths close, not equal).
    let a = audiosubnet_audio::read_wav(&a).expect("a.wav");
    let b = audiosubnet_audio::read_wav(&b).expect("b.wav");
    assert_eq!(a.sample_rate, b.sample_rate);
    let (la, lb) = (a.samples.len() as f64, b.samples.len() as f64);
    assert!((la - lb).abs() <= 0.2 * la.max(lb), "{la} vs {lb} samples");

    // A Synapse-only miner: auto falls back after the one 404 on /tts.
    let port = free_port();
    let _old = common::start_miner(
        &wallets,
        "miner",
        "espeak",
        port,
        &["--axon.transports", "synapse"],
    );
    let auto = query(&wallets, port, "auto", &home.path().join("c.wav"));
    assert_eq!(field(&auto, "transport"), "synapse");
    assert!(field(&auto, "status").starts_with("200"));
}

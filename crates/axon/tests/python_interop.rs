//! Interop with the real Python SDK (bittensor 10.5.0, and 9.12.2 when its venv is there): its
//! dendrite against our axon, our dendrite against its axon, and hostile requests answered with
//! the statuses the 10.5.0 axon gives.

mod common;

use audiosubnet_axon::AxonConfig;
use audiosubnet_dendrite::{AxonTarget, Dendrite};
use audiosubnet_protocol::TextToSpeech;
use audiosubnet_wallet::Keypair;
use common::*;
use std::time::Duration;

const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const NEEDS_VENV: &str = "needs the Python SDK venv; run scripts/test";

#[tokio::test]
#[ignore = "needs the Python SDK venv; run scripts/test"]
async fn python_dendrite_gets_speech_from_our_axon() {
    let _ = NEEDS_VENV;
    let (addr, stop, handle) = start_axon("//Bob", AxonConfig::default(), None, None).await;
    let port = addr.port().to_string();
    let text = "The quick brown fox jumps over the lazy dog.";
    for (python, mode) in pythons()
        .iter()
        .flat_map(|p| [(p, "legacy"), (p, "hashed")])
    {
        let mode_args = [BOB, "127.0.0.1", &port, mode, text];
        let out = run_script_with(python, "query_axon.py", &mode_args).await;
        let r = &out[0];
        let mode = format!("{} {mode}", python.display());
        assert_eq!(r["is_success"], true, "{mode}: {r}");
        assert_eq!(r["status_code"], 200, "{mode}: {r}");
        assert_eq!(r["sample_rate"], 22_050, "{mode}: {r}");
        assert_eq!(r["model_name"], "test-tone", "{mode}: {r}");
        assert_eq!(r["samples"], tone_for(text).len(), "{mode}: {r}");
        assert_eq!(r["all_floats"], true, "{mode}: {r}");
        assert_eq!(r["text_input"], text, "{mode}: {r}");
    }
    let _ = stop.send(());
    handle.await.expect("axon task");
}

#[tokio::test]
#[ignore = "needs the Python SDK venv; run scripts/test"]
async fn our_dendrite_gets_speech_from_a_python_axon() {
    for python in pythons() {
        our_dendrite_against(&python).await;
    }
}

async fn our_dendrite_against(python: &std::path::Path) {
    let py = PythonAxon::start_with(python, "//Bob").await;
    assert_eq!(py.hotkey, BOB);
    let dendrite = Dendrite::new(Keypair::from_uri("//Alice").expect("dev uri"));
    let target: AxonTarget = format!("{BOB}@127.0.0.1:{}", py.port)
        .parse()
        .expect("target");
    let text = "Hello from Rust.";
    // Several calls, some concurrent, over the same pooled connection(s).
    let replies = dendrite
        .forward(
            &[target.clone(), target.clone()],
            &TextToSpeech::request(text),
            Duration::from_secs(12),
        )
        .await;
    for reply in replies {
        assert!(
            reply.is_success(),
            "{} {}",
            reply.status_code,
            reply.status_message
        );
        let synapse = reply.synapse.expect("synapse");
        assert_eq!(synapse.sample_rate, Some(16_000));
        assert_eq!(
            synapse.speech_output.map(|s| s.len()),
            Some(1600 * text.len())
        );
        assert_eq!(synapse.text_input.as_deref(), Some(text));
    }
    // Signed for the wrong hotkey: the Python axon refuses with 401.
    let wrong: AxonTarget = format!(
        "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y@127.0.0.1:{}",
        py.port
    )
    .parse()
    .expect("target");
    let reply = dendrite
        .call(
            &wrong,
            &TextToSpeech::request(text),
            Duration::from_secs(12),
        )
        .await;
    assert_eq!(reply.status_code, 401, "{}", reply.status_message);
}

#[tokio::test]
#[ignore = "needs the Python SDK venv; run scripts/test"]
async fn hostile_requests_get_the_python_axons_statuses() {
    let (addr, stop, handle) = start_axon("//Bob", AxonConfig::default(), None, None).await;
    let py = PythonAxon::start("//Bob").await;
    let out = run_script(
        "negative_cases.py",
        &["127.0.0.1", &addr.port().to_string(), &py.port.to_string()],
    )
    .await;
    assert!(out.len() >= 12, "all cases ran: {out:?}");
    let mut mismatches = Vec::new();
    for case in &out {
        println!("{case}");
        if case["ours"] != case["python"] {
            mismatches.push(case.clone());
        }
    }
    assert!(
        mismatches.is_empty(),
        "statuses differ from the Python axon: {mismatches:?}"
    );
    let _ = stop.send(());
    handle.await.expect("axon task");
}

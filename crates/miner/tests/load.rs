//! Load: 200 concurrent signed requests against a miner with a small queue. Every request gets
//! audio or an immediate 503; nothing hangs; memory stays bounded.

mod common;

use audiosubnet_axon::{AllowAll, AxonConfig};
use audiosubnet_dendrite::{AxonTarget, Dendrite};
use audiosubnet_miner::build_axon;
use audiosubnet_protocol::TextToSpeech;
use audiosubnet_wallet::Keypair;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs libespeak-ng; run scripts/test"]
async fn two_hundred_concurrent_requests_get_audio_or_a_fast_503() {
    let pool = common::espeak_pool(4);
    let bob = Keypair::from_uri("//Bob").expect("dev uri");
    let target_hotkey = bob.ss58();
    let config = AxonConfig {
        max_concurrency: 64,
        max_queue: 512,
        ..Default::default()
    };
    let axon = build_axon(bob, config, Arc::new(pool), Arc::new(AllowAll));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(axon.serve(listener, std::future::pending()));

    let dendrite = Dendrite::new(Keypair::from_uri("//Alice").expect("dev uri"));
    let rss_before = rss_bytes();
    let target: AxonTarget = format!("{target_hotkey}@{addr}").parse().expect("target");
    let targets = vec![target; 200];
    let request = TextToSpeech::request("A short sentence for a busy miner.");
    let replies = tokio::time::timeout(
        Duration::from_secs(120),
        dendrite.forward(&targets, &request, Duration::from_secs(60)),
    )
    .await
    .expect("all 200 answered within 120 s: nothing hangs");
    let rss_after = rss_bytes();

    let ok: Vec<_> = replies.iter().filter(|r| r.status_code == 200).collect();
    let busy: Vec<_> = replies.iter().filter(|r| r.status_code == 503).collect();
    assert_eq!(
        ok.len() + busy.len(),
        200,
        "only audio or 503: {:?}",
        replies
            .iter()
            .filter(|r| r.status_code != 200 && r.status_code != 503)
            .map(|r| (r.status_code, &r.status_message))
            .collect::<Vec<_>>()
    );
    assert!(
        ok.len() >= 5,
        "the queue's worth of requests got audio: {}",
        ok.len()
    );
    assert!(!busy.is_empty(), "a 4-deep queue cannot hold 200 requests");
    for r in &ok {
        let s = r.synapse.as_ref().expect("synapse");
        assert!(s.speech_output.as_ref().is_some_and(|a| a.len() > 8_000));
    }
    // A refusal is answered without waiting for synthesis.
    let slowest_503 = busy.iter().map(|r| r.elapsed).max().unwrap_or_default();
    let slowest_ok = ok.iter().map(|r| r.elapsed).max().unwrap_or_default();
    assert!(
        slowest_503 < slowest_ok,
        "503s ({slowest_503:?}) come before the slowest audio ({slowest_ok:?})"
    );
    eprintln!(
        "{} audio (slowest {slowest_ok:?}), {} busy (slowest {slowest_503:?}); RSS {} -> {} MiB",
        ok.len(),
        busy.len(),
        rss_before >> 20,
        rss_after >> 20
    );
    // The replies held here are a few MB of audio; a per-request leak or an unbounded queue of
    // 200 prompts would show as far more.
    if rss_before > 0 {
        let growth = rss_after.saturating_sub(rss_before);
        assert!(
            growth < 256 << 20,
            "RSS grew by {} MiB during the burst",
            growth >> 20
        );
    }
}

/// Resident set size from /proc/self/statm (0 where there is none).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

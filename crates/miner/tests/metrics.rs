//! The miner's Prometheus metrics, scraped from the real exporter (`--metrics.port`) after one
//! request on each front end. Its own test binary: it installs the process-wide recorder.

mod common;

use std::sync::Arc;
use std::time::Duration;

use audiosubnet_axon::{AllowAll, AxonConfig};
use audiosubnet_dendrite::{AxonTarget, Dendrite};
use audiosubnet_miner::{OpenAiConfig, build_axon, describe_metrics, serve_openai};
use audiosubnet_protocol::TextToSpeech;
use audiosubnet_wallet::Keypair;
use common::{http, listener, tone_pool};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_after_requests_shows_the_miner_metrics() {
    let metrics_addr = {
        // A free port for the exporter, which binds by address.
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("addr")
    };
    audiosubnet_telemetry::serve_metrics(metrics_addr).expect("exporter");
    describe_metrics();

    let pool = Arc::new(tone_pool(Duration::from_millis(20), 4));

    // Synapse path: a signed TextToSpeech through the axon.
    let bob = Keypair::from_uri("//Bob").expect("dev uri");
    let hotkey = bob.ss58();
    let axon = build_axon(bob, AxonConfig::default(), pool.clone(), Arc::new(AllowAll));
    let (l, axon_addr) = listener().await;
    tokio::spawn(axon.serve(l, std::future::pending()));
    let dendrite = Dendrite::new(Keypair::from_uri("//Alice").expect("dev uri"));
    let target: AxonTarget = format!("{hotkey}@{axon_addr}").parse().expect("target");
    let reply = dendrite
        .call(
            &target,
            &TextToSpeech::request("Metrics, please."),
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(reply.status_code, 200, "{}", reply.status_message);
    let reply = dendrite
        .call(
            &target,
            &TextToSpeech::request("  "),
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(reply.status_code, 400, "{}", reply.status_message);

    // OpenAI path.
    let (l, openai_addr) = listener().await;
    tokio::spawn(serve_openai(
        l,
        pool.clone(),
        OpenAiConfig::default(),
        std::future::pending(),
    ));
    let reply = http(
        openai_addr,
        "POST",
        "/v1/audio/speech",
        br#"{"model":"tts-1","input":"Metrics too."}"#,
    )
    .await;
    assert_eq!(reply.status, 200);
    let reply = http(openai_addr, "POST", "/v1/audio/speech", b"{").await;
    assert_eq!(reply.status, 400);

    let scrape = http(metrics_addr, "GET", "/metrics", b"").await;
    assert_eq!(scrape.status, 200);
    let text = String::from_utf8(scrape.body).expect("utf-8");
    let has = |needle: &str| {
        assert!(
            text.lines()
                .any(|l| !l.starts_with('#') && l.contains(needle)),
            "`{needle}` missing from the scrape:\n{text}"
        );
    };
    has(r#"miner_requests_total{path="synapse",status="200"} 1"#);
    has(r#"miner_requests_total{path="synapse",status="400"} 1"#);
    has(r#"miner_requests_total{path="openai",status="200"} 1"#);
    has(r#"miner_requests_total{path="openai",status="400"} 1"#);
    has(r#"miner_request_duration_seconds_count{path="openai"} 2"#);
    // Recorded by the synthesis pool for both front ends: two prompts synthesised.
    has(r#"miner_synthesis_seconds_count{engine="tone"} 2"#);
    has(r#"miner_synthesis_seconds_bucket{engine="tone",le="0.05"}"#);
    has(r#"miner_synthesis_realtime_factor_count{engine="tone"} 2"#);
    // Its value races with the worker's own update; presence is what is checked here.
    has(r#"miner_queue_depth{engine="tone"} "#);
    assert!(text.contains("# HELP miner_requests_total"), "{text}");
}

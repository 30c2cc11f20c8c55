//! Signed `TextToSpeech` round trips per second on loopback: our axon against the Python SDK
//! axon (bittensor 10.5.0), same payload (a 5 s, 22.05 kHz `speech_output`), same client (our
//! dendrite), measured in the same run.
//!
//! Run: `AUDIOSUBNET_TEST_PYTHON=.cache/venv/bt10/bin/python cargo bench -p audiosubnet-axon`
//! (`scripts/test` creates that venv). Optional: `BENCH_REQUESTS` (default 300),
//! `BENCH_CONCURRENCY` (default 4).

use audiosubnet_axon::{Axon, AxonConfig, Caller, ForwardError};
use audiosubnet_dendrite::{AxonTarget, Dendrite};
use audiosubnet_protocol::TextToSpeech;
use audiosubnet_wallet::Keypair;
use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIP_SECONDS: f64 = 5.0;
const SAMPLE_RATE: u32 = 22_050;

struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    failures: usize,
}

async fn drive(
    dendrite: &Dendrite,
    target: &AxonTarget,
    requests: usize,
    concurrency: usize,
) -> Run {
    let request = TextToSpeech::request("The quick brown fox jumps over the lazy dog.");
    let timeout = Duration::from_secs(30);
    // Warm-up: connections, allocator, Python's first-request costs.
    for _ in 0..10 {
        let _ = dendrite.call(target, &request, timeout).await;
    }
    let started = Instant::now();
    let results: Vec<(bool, Duration)> = futures::stream::iter(0..requests)
        .map(|_| async {
            let r = dendrite.call(target, &request, timeout).await;
            let ok = r.is_success()
                && r.synapse.and_then(|s| s.speech_output).map(|v| v.len())
                    == Some((CLIP_SECONDS * f64::from(SAMPLE_RATE)) as usize);
            (ok, r.elapsed)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let wall = started.elapsed().as_secs_f64();
    let mut latencies: Vec<f64> = results.iter().map(|(_, d)| d.as_secs_f64() * 1e3).collect();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    Run {
        rps: requests as f64 / wall,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        failures: results.iter().filter(|(ok, _)| !ok).count(),
    }
}

fn main() {
    let Ok(python) = std::env::var("AUDIOSUBNET_TEST_PYTHON") else {
        eprintln!(
            "set AUDIOSUBNET_TEST_PYTHON to the venv python with bittensor==10.5.0 (scripts/test makes it)"
        );
        std::process::exit(2);
    };
    let requests: usize = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let concurrency: usize = std::env::var("BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let clip: Arc<Vec<f32>> = Arc::new(
            (0..(CLIP_SECONDS * f64::from(SAMPLE_RATE)) as usize)
                .map(|i| 0.3 * (i as f32 * 2.0 * std::f32::consts::PI * 220.0 / SAMPLE_RATE as f32).sin())
                .collect(),
        );
        let bob = Keypair::from_uri("//Bob").expect("dev uri");
        let bob_ss58 = bob.ss58();
        let axon = Axon::builder(bob, AxonConfig { max_concurrency: 64, ..Default::default() })
            .attach(move |_c: Caller, mut req: TextToSpeech| {
                let clip = clip.clone();
                async move {
                    req.speech_output = Some(clip.to_vec());
                    req.sample_rate = Some(SAMPLE_RATE);
                    Ok::<_, ForwardError>(req)
                }
            })
            .build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let ours = listener.local_addr().expect("addr");
        tokio::spawn(axon.serve(listener, std::future::pending()));

        let py_port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let scripts = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/python");
        let mut child = tokio::process::Command::new(&python)
            .args(["serve_axon.py", &py_port.to_string(), "//Bob"])
            .env("BENCH_SECONDS", CLIP_SECONDS.to_string())
            .current_dir(scripts)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python axon");
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(("127.0.0.1", py_port)).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        let dendrite = Dendrite::new(Keypair::from_uri("//Alice").expect("dev uri"));
        let ours_t: AxonTarget = format!("{bob_ss58}@{ours}").parse().expect("target");
        let py_t: AxonTarget = format!("{bob_ss58}@127.0.0.1:{py_port}").parse().expect("target");
        println!("{requests} signed TextToSpeech round trips, {CLIP_SECONDS} s @ {SAMPLE_RATE} Hz reply, concurrency {concurrency}");
        let py = drive(&dendrite, &py_t, requests.min(200), concurrency).await;
        let rs = drive(&dendrite, &ours_t, requests, concurrency).await;
        for (name, r) in [("python axon", &py), ("rust axon", &rs)] {
            println!(
                "{name:12} {:8.1} req/s   p50 {:7.2} ms   p99 {:7.2} ms   failures {}",
                r.rps, r.p50_ms, r.p99_ms, r.failures
            );
        }
        println!("throughput ratio rust/python: {:.1}x", rs.rps / py.rps);
        let _ = child.start_kill();
    });
}

//! What the transport costs: signed round trips per second, p50/p99 latency and bytes on the
//! wire per reply for a fixed 5 s clip (22.05 kHz; no synthesis), over
//!
//! * `btauth/1` `POST /tts` to our axon (16-bit WAV body),
//! * the Synapse protocol to our axon (JSON list of floats, shortest f32 spelling),
//! * the Synapse protocol to the Python SDK 10.5 axon (JSON floats as Python writes them),
//!
//! all read by our dendrite the way the validator reads them, on loopback, in the same run.
//! Bytes on the wire are counted by a TCP relay in front of each server for one reply (status
//! line, headers and body as sent).
//!
//! Run: `AUDIOSUBNET_TEST_PYTHON=.cache/venv/bt10/bin/python cargo bench -p audiosubnet-dendrite
//! --bench transports` (`scripts/test` makes the venv; without it the Python row is skipped).
//! Optional: `BENCH_REQUESTS` (default 300), `BENCH_CONCURRENCY` (default 4).

use audiosubnet_axon::{
    AudioEncoding, Axon, AxonConfig, Caller, ForwardError, TtsAudio, TtsRequest,
};
use audiosubnet_dendrite::{AxonTarget, Dendrite, TransportMode};
use audiosubnet_protocol::TextToSpeech;
use audiosubnet_wallet::Keypair;
use futures::StreamExt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CLIP_SECONDS: f64 = 5.0;
const SAMPLE_RATE: u32 = 22_050;
const PROMPT: &str = "The quick brown fox jumps over the lazy dog.";

fn clip() -> Vec<f32> {
    // The Python axon's bench clip, sample for sample.
    (0..(CLIP_SECONDS * f64::from(SAMPLE_RATE)) as usize)
        .map(|i| {
            (0.3 * (2.0 * std::f64::consts::PI * 220.0 * i as f64 / f64::from(SAMPLE_RATE)).sin())
                as f32
        })
        .collect()
}

struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    failures: usize,
}

async fn drive(
    dendrite: &Dendrite,
    target: &AxonTarget,
    mode: TransportMode,
    requests: usize,
    concurrency: usize,
) -> Run {
    let timeout = Duration::from_secs(30);
    let expected = (CLIP_SECONDS * f64::from(SAMPLE_RATE)) as usize;
    // Warm-up: connections, allocator, Python's first-request costs.
    for _ in 0..10 {
        let _ = dendrite.speak(target, PROMPT, timeout, mode).await;
    }
    let started = Instant::now();
    let results: Vec<(bool, Duration)> = futures::stream::iter(0..requests)
        .map(|_| async {
            let r = dendrite.speak(target, PROMPT, timeout, mode).await.response;
            let ok = r.is_success()
                && r.synapse.and_then(|s| s.speech_output).map(|v| v.len()) == Some(expected);
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

/// A TCP relay to `upstream` counting the bytes the server sends back. Returns its address.
async fn counting_relay(upstream: SocketAddr, down: Arc<AtomicUsize>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let down = down.clone();
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.split();
                let (mut sr, mut sw) = server.split();
                let up = tokio::io::copy(&mut cr, &mut sw);
                let back = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match sr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        down.fetch_add(n, Ordering::SeqCst);
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                };
                tokio::select! { _ = up => {}, _ = back => {} }
            });
        }
    });
    addr
}

/// Bytes the server sent for one reply (a fresh connection through the relay).
async fn wire_bytes(hotkey: &str, server: SocketAddr, mode: TransportMode) -> usize {
    let down = Arc::new(AtomicUsize::new(0));
    let relay = counting_relay(server, down.clone()).await;
    let target: AxonTarget = format!("{hotkey}@{relay}").parse().expect("target");
    let dendrite = Dendrite::new(Keypair::from_uri("//Alice").expect("dev uri"));
    let r = dendrite
        .speak(&target, PROMPT, Duration::from_secs(30), mode)
        .await;
    assert!(r.response.is_success(), "{}", r.response.status_message);
    drop(dendrite);
    tokio::time::sleep(Duration::from_millis(100)).await;
    down.load(Ordering::SeqCst)
}

fn main() {
    let python = std::env::var("AUDIOSUBNET_TEST_PYTHON").ok();
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
        let clip = Arc::new(clip());
        let bob = Keypair::from_uri("//Bob").expect("dev uri");
        let bob_ss58 = bob.ss58();
        let for_synapse = clip.clone();
        let axon = Axon::builder(
            bob,
            AxonConfig {
                max_concurrency: 64,
                ..Default::default()
            },
        )
        .attach(move |_c: Caller, mut req: TextToSpeech| {
            let clip = for_synapse.clone();
            async move {
                req.speech_output = Some(clip.to_vec());
                req.sample_rate = Some(SAMPLE_RATE);
                Ok::<_, ForwardError>(req)
            }
        })
        .attach_tts(move |_c: Caller, _req: TtsRequest, _enc: AudioEncoding| {
            let clip = clip.clone();
            async move {
                // Encoded per request, as a miner does.
                let body = audiosubnet_audio::encode_wav16(&clip, SAMPLE_RATE)
                    .map_err(|e| ForwardError::Internal(e.to_string()))?;
                Ok(TtsAudio {
                    body: body.into(),
                    sample_rate: SAMPLE_RATE,
                    model: "fixed-clip".into(),
                })
            }
        })
        .build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let ours = listener.local_addr().expect("addr");
        tokio::spawn(axon.serve(listener, std::future::pending()));

        let mut child = None;
        let mut py_addr = None;
        if let Some(python) = &python {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("port")
                .port();
            let scripts = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/python");
            child = Some(
                tokio::process::Command::new(python)
                    .args(["serve_axon.py", &port.to_string(), "//Bob"])
                    .env("BENCH_SECONDS", CLIP_SECONDS.to_string())
                    .current_dir(scripts)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .kill_on_drop(true)
                    .spawn()
                    .expect("python axon"),
            );
            for _ in 0..300 {
                if tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            py_addr = Some(SocketAddr::from(([127, 0, 0, 1], port)));
        } else {
            eprintln!(
                "AUDIOSUBNET_TEST_PYTHON is unset: no Python 10.5 axon row (scripts/test makes the venv)"
            );
        }

        let dendrite = Dendrite::new(Keypair::from_uri("//Alice").expect("dev uri"));
        let ours_t: AxonTarget = format!("{bob_ss58}@{ours}").parse().expect("target");
        println!(
            "{requests} signed round trips per row, a fixed {CLIP_SECONDS} s @ {SAMPLE_RATE} Hz clip, concurrency {concurrency}, loopback"
        );
        let mut rows = Vec::new();
        let bt_bytes = wire_bytes(&bob_ss58, ours, TransportMode::Btauth).await;
        let bt = drive(&dendrite, &ours_t, TransportMode::Btauth, requests, concurrency).await;
        rows.push(("btauth /tts, rust axon", bt, bt_bytes));
        let syn_bytes = wire_bytes(&bob_ss58, ours, TransportMode::Synapse).await;
        let syn = drive(&dendrite, &ours_t, TransportMode::Synapse, requests, concurrency).await;
        rows.push(("synapse, rust axon", syn, syn_bytes));
        if let Some(addr) = py_addr {
            let py_t: AxonTarget = format!("{bob_ss58}@{addr}").parse().expect("target");
            let py_bytes = wire_bytes(&bob_ss58, addr, TransportMode::Synapse).await;
            let py = drive(
                &dendrite,
                &py_t,
                TransportMode::Synapse,
                requests.min(200),
                concurrency,
            )
            .await;
            rows.push(("synapse, python 10.5 axon", py, py_bytes));
        }
        for (name, r, bytes) in &rows {
            println!(
                "{name:26} {:8.1} req/s   p50 {:7.2} ms   p99 {:7.2} ms   {:>9} bytes/reply   failures {}",
                r.rps, r.p50_ms, r.p99_ms, bytes, r.failures
            );
        }
        let (bt, syn) = (&rows[0], &rows[1]);
        println!(
            "btauth vs our synapse: {:.1}x the throughput, {:.3} of the bytes (goal: >= 3x, <= 0.25)",
            bt.1.rps / syn.1.rps,
            bt.2 as f64 / syn.2 as f64
        );
        if let Some(py) = rows.get(2) {
            println!(
                "btauth vs python 10.5 synapse: {:.1}x the throughput, {:.3} of the bytes",
                bt.1.rps / py.1.rps,
                bt.2 as f64 / py.2 as f64
            );
        }
        if let Some(mut c) = child {
            let _ = c.start_kill();
        }
    });
}

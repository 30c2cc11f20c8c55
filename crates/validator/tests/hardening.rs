//! The validator against hostile miners, without models: a refusal costs weight, miner text is
//! bounded before it is stored, and a huge reply costs no more memory than the reply's bytes.
//!
//! The hostile miners are raw HTTP servers on loopback (they are the adversary, so they do not
//! use our axon). No reply here is worth scoring: the judge panics if one reaches it, except in
//! the test of the validator's own faults, where the judge stands for a scorer whose thread has
//! died (the model-backed version, with a real panic in the real scorer, is in
//! `scoring_faults.rs`).

// A counting global allocator measures what parsing costs; it only forwards to `System`.
#![allow(unsafe_code)]

use audiosubnet_dendrite::{AxonTarget, Dendrite};
use audiosubnet_scoring::ScoringError;
use audiosubnet_validator::dashboard::Dashboard;
use audiosubnet_validator::judge::{Judge, JudgeError, Judgement, ValidatorFault};
use audiosubnet_validator::network::{Network, Roster};
use audiosubnet_validator::prompts::PromptSource;
use audiosubnet_validator::round::{RoundConfig, Target, run_round};
use audiosubnet_validator::service::{LoopConfig, run_rounds};
use audiosubnet_validator::state::ScoreState;
use audiosubnet_wallet::Keypair;
use futures::future::BoxFuture;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Counts live heap bytes and their peak, to check what a reply costs the validator.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed)
                    + (new_size - layout.size());
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A judge for replies that must never be scored.
struct NeverJudge;

impl Judge for NeverJudge {
    fn judge(
        &self,
        _hotkey: String,
        _prompt: String,
        _samples: Arc<Vec<f32>>,
        _sample_rate: u32,
    ) -> BoxFuture<'static, Result<Judgement, JudgeError>> {
        panic!("no reply in this test carries audio worth scoring")
    }
}

/// What a hostile miner sends back for every request.
#[derive(Clone)]
enum Answer {
    /// A full HTTP response, sent at once.
    Raw(Arc<Vec<u8>>),
}

fn http(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Arc<Vec<u8>> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    Arc::new(out)
}

/// Reads one HTTP request (headers and a `content-length` body).
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut have = buf.len() - head_end;
    while have < len {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        have += n;
    }
    Some(())
}

/// A hostile miner on `ip`; returns its target.
async fn hostile(ip: &str, seed: &str, answer: Answer) -> Target {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let served = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let (answer, served) = (answer.clone(), served.clone());
            tokio::spawn(async move {
                while read_request(&mut stream).await.is_some() {
                    served.fetch_add(1, Ordering::SeqCst);
                    let Answer::Raw(bytes) = &answer;
                    if stream.write_all(bytes).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let key = Keypair::from_uri(seed).expect("uri");
    Target {
        uid: None,
        axon: format!("{}@{addr}", key.ss58())
            .parse::<AxonTarget>()
            .expect("target"),
    }
}

fn config() -> RoundConfig {
    RoundConfig {
        timeout: Duration::from_secs(10),
        alpha: 0.9,
        threshold: 0.68,
        // These servers are hostile Synapse axons.
        transport: audiosubnet_dendrite::TransportMode::Synapse,
    }
}

fn judge() -> Arc<dyn Judge> {
    Arc::new(NeverJudge)
}

fn dendrite() -> Dendrite {
    Dendrite::new(Keypair::from_uri("//Validator").expect("uri"))
}

/// A miner that earned weight and then refuses the validator (403 as HTTP status, or 200 with
/// the SDK's status header) loses weight like any other failure.
#[tokio::test]
async fn refusing_miners_lose_weight() {
    let forbidden = http(
        "403 Forbidden",
        &[("bt_header_axon_status_code", "403")],
        br#"{"message":"Forbidden"}"#,
    );
    let header_only = http(
        "200 OK",
        &[
            ("bt_header_axon_status_code", "403"),
            ("bt_header_axon_status_message", "blacklisted"),
        ],
        br#"{"axon":{"status_code":403}}"#,
    );
    let unauthorized = http("401 Unauthorized", &[], br#"{"message":"no"}"#);
    let too_many = http("429 Too Many Requests", &[], b"{}");
    let targets = vec![
        hostile("127.0.0.2", "//Refuse403", Answer::Raw(forbidden)).await,
        hostile("127.0.0.2", "//RefuseHeader", Answer::Raw(header_only)).await,
        hostile("127.0.0.2", "//Refuse401", Answer::Raw(unauthorized)).await,
        hostile("127.0.0.2", "//Refuse429", Answer::Raw(too_many)).await,
    ];
    let mut state = ScoreState::default();
    for t in &targets {
        // Earned weight in earlier rounds.
        for _ in 0..20 {
            state.update(&t.axon.hotkey, None, 0.8, 0.9, false);
        }
    }
    let before: Vec<f64> = targets
        .iter()
        .map(|t| state.miners[&t.axon.hotkey].ema)
        .collect();
    let report = run_round(
        &dendrite(),
        &judge(),
        "Hello there.",
        &targets,
        &mut state,
        &config(),
        true,
    )
    .await;
    for (t, before) in targets.iter().zip(before) {
        let m = &state.miners[&t.axon.hotkey];
        let expected = 0.9 * before - 0.01;
        assert!(
            (m.ema - expected).abs() < 1e-9,
            "{}: EMA {} after a refusal, expected {expected}",
            t.axon,
            m.ema
        );
        assert_eq!(m.last_reward, Some(0.0));
    }
    assert!(report.results.iter().all(|r| r.failed));
}

/// A validator without a permit may be refused (401/403) without cost to the miner; other
/// failures still count.
#[tokio::test]
async fn a_validator_without_a_permit_may_be_refused() {
    let forbidden = http("403 Forbidden", &[], br#"{"message":"Forbidden"}"#);
    let broken = http("500 Internal Server Error", &[], br#"{"message":"boom"}"#);
    let targets = vec![
        hostile("127.0.0.3", "//NoPermit403", Answer::Raw(forbidden)).await,
        hostile("127.0.0.3", "//NoPermit500", Answer::Raw(broken)).await,
    ];
    let mut state = ScoreState::default();
    for t in &targets {
        state.update(&t.axon.hotkey, None, 0.5, 0.0, false);
    }
    run_round(
        &dendrite(),
        &judge(),
        "Hello there.",
        &targets,
        &mut state,
        &config(),
        false,
    )
    .await;
    assert_eq!(state.miners[&targets[0].axon.hotkey].ema, 0.5);
    assert!(state.miners[&targets[1].axon.hotkey].ema < 0.5);
}

fn check_bounded(what: &str, s: &str) {
    assert!(s.len() <= 600, "{what} is {} bytes", s.len());
    assert!(
        !s.chars().any(char::is_control),
        "{what} has control characters: {s:?}"
    );
}

/// Text a miner controls (its error message, its model name) is cut to 512 bytes and stripped
/// of control characters before it reaches the report, the state and the logs.
#[tokio::test]
async fn miner_text_is_bounded_before_it_is_stored() {
    // 20 MB of message with terminal escapes and newlines in it.
    let message = "\u{1b}[2J\nfake log line é".repeat(20_000_000 / 24);
    let body = serde_json::to_vec(&serde_json::json!({ "message": message })).expect("json");
    let huge_error = http("500 Internal Server Error", &[], &body);
    // A 200 reply with no audio and a long, hostile model name.
    let name = "x\u{7}\r\nERROR forged".repeat(2_000);
    let body = serde_json::to_vec(&serde_json::json!({
        "model_name": name,
        "axon": {"status_code": 200},
    }))
    .expect("json");
    let long_name = http("200 OK", &[("bt_header_axon_status_code", "200")], &body);
    let header_message = "y".repeat(6_000);
    let long_header = http(
        "503 Service Unavailable",
        &[("bt_header_axon_status_message", header_message.as_str())],
        b"not json",
    );
    let targets = vec![
        hostile("127.0.0.4", "//HugeError", Answer::Raw(huge_error)).await,
        hostile("127.0.0.4", "//LongName", Answer::Raw(long_name)).await,
        hostile("127.0.0.4", "//LongHeader", Answer::Raw(long_header)).await,
    ];
    let mut state = ScoreState::default();
    let report = run_round(
        &dendrite(),
        &judge(),
        "Hello there.",
        &targets,
        &mut state,
        &config(),
        true,
    )
    .await;
    for r in &report.results {
        check_bounded("reason", r.reason.as_deref().unwrap_or(""));
        check_bounded("model name", r.model_name.as_deref().unwrap_or(""));
        assert!(r.failed);
    }
    let stored = serde_json::to_string(&state).expect("state json");
    for m in state.miners.values() {
        check_bounded("stored model name", m.model_name.as_deref().unwrap_or(""));
    }
    let longest = stored.split('"').map(str::len).max().unwrap_or(0);
    assert!(longest <= 600, "a stored string is {longest} bytes");
    let table = audiosubnet_validator::service::format_round(&report, &state);
    assert!(table.lines().all(|l| l.len() <= 1024), "{table:.2000}");
    assert_eq!(table.lines().count(), 2 + targets.len());
}

/// A 200 reply padded with megabytes of `clone_input` (empty lists, the costliest JSON per byte
/// to hold as values) costs the validator about the reply's bytes, not tens of times more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn padding_in_a_reply_is_not_materialised() {
    let n = 8 * 1024 * 1024;
    let mut body = Vec::with_capacity(3 * n + 100);
    body.extend_from_slice(br#"{"axon":{"status_code":200},"clone_input":["#);
    for i in 0..n {
        body.extend_from_slice(if i + 1 == n { b"[]" } else { b"[]," });
    }
    body.extend_from_slice(br#"],"model_name":"padded"}"#);
    let body_len = body.len();
    let padded = http("200 OK", &[("bt_header_axon_status_code", "200")], &body);
    drop(body);
    let targets = vec![hostile("127.0.0.5", "//Padded", Answer::Raw(padded)).await];
    let mut state = ScoreState::default();
    let dendrite = dendrite();
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let report = run_round(
        &dendrite,
        &judge(),
        "Hello there.",
        &targets,
        &mut state,
        &config(),
        true,
    )
    .await;
    let extra = PEAK.load(Ordering::SeqCst).saturating_sub(base);
    eprintln!(
        "reply of {body_len} bytes, peak extra heap {extra} bytes, status {}",
        report.results[0].status
    );
    assert!(
        extra < 3 * body_len + (16 << 20),
        "a {body_len}-byte reply cost {extra} bytes of heap"
    );
}

/// A 200 reply with a second of tone: audio the judge gets to see.
fn tone_reply() -> Arc<Vec<u8>> {
    let samples: Vec<f32> = (0..16_000).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
    let body = serde_json::to_vec(&serde_json::json!({
        "speech_output": samples,
        "sample_rate": 16_000,
        "model_name": "tone",
        "axon": {"status_code": 200},
    }))
    .expect("json");
    http("200 OK", &[("bt_header_axon_status_code", "200")], &body)
}

/// The judge of a validator whose scoring fails for its first `faults` replies (what
/// `ScoringJudge` reports when its scoring thread is gone), then gives every reply 0.5.
struct FailingScorer(AtomicUsize);

impl Judge for FailingScorer {
    fn judge(
        &self,
        _hotkey: String,
        _prompt: String,
        _samples: Arc<Vec<f32>>,
        _sample_rate: u32,
    ) -> BoxFuture<'static, Result<Judgement, JudgeError>> {
        let fault = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        Box::pin(async move {
            if fault {
                return Err(ValidatorFault::Scoring(ScoringError::WorkerGone).into());
            }
            Ok(Judgement {
                reward: 0.5,
                breakdown: serde_json::Value::Null,
                fingerprint: None,
                exact_hash: None,
                indexed: false,
                wer: None,
                mos: None,
                transcript: None,
            })
        })
    }
}

/// Counts the rounds after which weights could be set.
struct CountingNetwork(Vec<Target>, Arc<AtomicUsize>);

impl Network for CountingNetwork {
    fn roster(&mut self) -> BoxFuture<'_, Result<Roster, String>> {
        let roster = Roster {
            targets: self.0.clone(),
            registered: None,
            holds_permit: true,
        };
        Box::pin(async move { Ok(roster) })
    }
    fn after_round<'a>(&'a mut self, _state: &'a mut ScoreState) -> BoxFuture<'a, ()> {
        self.1.fetch_add(1, Ordering::SeqCst);
        Box::pin(async {})
    }
    fn finish<'a>(&'a mut self, _state: &'a mut ScoreState) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

struct Fixed;

impl PromptSource for Fixed {
    fn next_prompt(&mut self) -> String {
        "Hello there.".into()
    }
}

/// The validator's own scoring failures skip the miners (no EMA change) and, for as long as they
/// last a whole round, hold weight setting; once a round is scored, weights resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validator_faults_cost_miners_nothing_and_hold_weights() {
    let dir = tempfile::tempdir().expect("tempdir");
    let targets = vec![
        hostile("127.0.0.7", "//ToneA", Answer::Raw(tone_reply())).await,
        hostile("127.0.0.7", "//ToneB", Answer::Raw(tone_reply())).await,
    ];
    let mut seeded = ScoreState::default();
    for t in &targets {
        seeded.update(&t.axon.hotkey, None, 0.8, 0.0, false);
    }
    seeded.save(&dir.path().join("state.json")).expect("save");
    let config = LoopConfig {
        round: config(),
        chunk_size: 16,
        rounds: Some(2),
        interval: Duration::ZERO,
        state_path: dir.path().join("state.json"),
        scores_out: None,
        report_dir: None,
        dashboard: Some(Dashboard::new()),
    };
    let weights = Arc::new(AtomicUsize::new(0));
    // Two rounds of two replies, every one a validator fault.
    let judge: Arc<dyn Judge> = Arc::new(FailingScorer(AtomicUsize::new(4)));
    let mut network = CountingNetwork(targets.clone(), weights.clone());
    let state = run_rounds(
        &config,
        &dendrite(),
        judge.clone(),
        &mut Fixed,
        &mut network,
        std::future::pending(),
    )
    .await
    .expect("rounds");
    for t in &targets {
        let m = &state.miners[&t.axon.hotkey];
        assert_eq!(m.ema, 0.8, "a validator fault changed {}'s EMA", t.axon);
        assert_eq!(m.failures, 0);
    }
    assert_eq!(
        weights.load(Ordering::SeqCst),
        0,
        "weights set on a broken scorer"
    );
    // The dashboard got the loaded state at start and each round after it, clips included.
    let snapshot = config.dashboard.as_ref().expect("dashboard").snapshot();
    assert_eq!((snapshot.seq, snapshot.round), (3, 2));
    assert_eq!(snapshot.prompt.as_deref(), Some("Hello there."));
    assert_eq!(snapshot.miners.len(), 2);
    for row in &snapshot.miners {
        assert_eq!(row.ema, 0.8, "{row:?}");
        assert!(row.incentive.is_none(), "no chain, no incentive");
        assert_eq!(row.clip.as_ref().map(|c| c.round), Some(2), "{row:?}");
    }
    // The scorer recovers: the next round is scored and weights may be set again. A restart: a
    // fresh dashboard.
    let config = LoopConfig {
        rounds: Some(1),
        dashboard: Some(Dashboard::new()),
        ..config
    };
    let state = run_rounds(
        &config,
        &dendrite(),
        judge,
        &mut Fixed,
        &mut network,
        std::future::pending(),
    )
    .await
    .expect("rounds");
    assert_eq!(weights.load(Ordering::SeqCst), 1);
    for t in &targets {
        let m = &state.miners[&t.axon.hotkey];
        assert!((m.ema - (0.9 * 0.8 + 0.05)).abs() < 1e-9, "{}", m.ema);
    }
    let snapshot = config.dashboard.as_ref().expect("dashboard").snapshot();
    assert_eq!((snapshot.seq, snapshot.round), (2, 3));
    assert!(snapshot.miners.iter().all(|r| r.clip.is_some()));
}

//! The live dashboard (`--dashboard.port`): owns the snapshot the validator publishes after each
//! round (leaderboard with the reward's factors and on-chain incentive, EMA history, the last
//! weights submission), the latest clip of each miner kept in memory as WAV bytes, and the HTTP
//! routes that serve them on the validator's own runtime:
//!
//! - `/`: one self-contained page (no external assets; miner strings reach the DOM as text);
//! - `/api/snapshot`: the snapshot as JSON;
//! - `/events`: server-sent events, a `snapshot` event on connect and after every round;
//! - `/audio/{hotkey}.wav`: the miner's latest clip (byte ranges supported).
//!
//! Publishing never waits for a client: each subscriber reads the latest snapshot from a watch
//! channel and skips the ones it was too slow for.

use crate::network::{ChainView, WeightsEvent};
use crate::round::RoundReport;
use crate::state::ScoreState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use serde::Serialize;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};

/// EMA points per miner in a snapshot (the newest; the state keeps more for the report).
pub const HISTORY_POINTS: usize = 200;
/// Clips larger than this are not kept (a 30 s clip at 48 kHz is 2.9 MB).
pub const MAX_CLIP_BYTES: usize = 4 << 20;
/// All clips together stay under this; the oldest go first.
pub const MAX_CLIPS_BYTES: usize = 256 << 20;
/// Open `/events` streams at once; more get 503.
pub const MAX_SUBSCRIBERS: usize = 64;
/// Seconds between keep-alive comments on `/events` (proxies close idle streams).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

const INDEX_HTML: &str = include_str!("dashboard.html");

/// Everything the page shows, as `/api/snapshot` and `/events` send it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// Increases with every publish (the SSE event id).
    pub seq: u64,
    /// Unix seconds of the publish.
    pub updated_unix: u64,
    /// Rounds completed (restarts included).
    pub round: u64,
    /// The prompt of the last round this process ran.
    pub prompt: Option<String>,
    /// Miners, highest EMA first.
    pub miners: Vec<Row>,
    /// The chain, when the validator runs on one (`None` offline).
    pub chain: Option<ChainSummary>,
    /// The last weights submission of this process.
    pub last_weights: Option<WeightsEvent>,
    /// Block of the last successful weights setting (kept in the state across restarts).
    pub last_weights_block: Option<u64>,
}

/// The subnet and the metagraph's age.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainSummary {
    /// The subnet.
    pub netuid: u16,
    /// Block of the last metagraph read.
    pub metagraph_block: Option<u64>,
}

/// One leaderboard row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// 1-based place by EMA.
    pub rank: usize,
    /// SS58 hotkey.
    pub hotkey: String,
    /// uid, when known.
    pub uid: Option<u16>,
    /// The engine the miner last reported.
    pub engine: Option<String>,
    /// The wire protocol of its last reply.
    pub transport: Option<audiosubnet_dendrite::Transport>,
    /// EMA score (the tasks' EMAs combined).
    pub ema: f64,
    /// Each task's EMA.
    pub task_emas: std::collections::BTreeMap<crate::tasks::Task, f64>,
    /// Last reward.
    pub last_reward: Option<f64>,
    /// The last scored reply's factors (speech).
    pub factors: Option<FactorsView>,
    /// The last scored reply's factors when it was music.
    pub music_factors: Option<MusicFactorsView>,
    /// Why the last reply failed, when it did.
    pub failure: Option<String>,
    /// Mean WER over scored replies.
    pub mean_wer: Option<f64>,
    /// Mean MOS over scored replies.
    pub mean_mos: Option<f64>,
    /// Responses.
    pub responses: u64,
    /// Failures.
    pub failures: u64,
    /// Incentive (0..=1) from the last metagraph; `None` offline or when not registered.
    pub incentive: Option<f64>,
    /// `(round, EMA)`, oldest first, at most [`HISTORY_POINTS`].
    pub history: Vec<(u64, f64)>,
    /// The latest clip, when one is kept.
    pub clip: Option<ClipInfo>,
}

/// The reward's factors of one reply (scoring's `Factors`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FactorsView {
    /// From WER.
    pub intelligibility: f64,
    /// From the MOS.
    pub naturalness: f64,
    /// From the speech fraction.
    pub activity: f64,
    /// From the speaking rate and the silences.
    pub pacing: f64,
}

/// The music judge's factors of one reply (absent: the prompt stated no such attribute).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MusicFactorsView {
    /// Tempo adherence.
    pub tempo: Option<f64>,
    /// Key adherence.
    pub key: Option<f64>,
    /// Duration adherence.
    pub duration: Option<f64>,
    /// CLAP's rank term (absent without CLAP weights).
    pub clap: Option<f64>,
}

/// What is known about a kept clip.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClipInfo {
    /// The round it was heard in.
    pub round: u64,
    /// The prompt it answered.
    pub prompt: String,
    /// Whisper's transcript, when scored.
    pub transcript: Option<String>,
    /// The reward it got.
    pub reward: Option<f64>,
    /// Seconds.
    pub duration_s: f64,
    /// The miner's sample rate.
    pub sample_rate: u32,
    /// Where to fetch it, relative to the page.
    pub url: String,
}

struct Clip {
    info: ClipInfo,
    wav: Bytes,
}

struct Published {
    snapshot: Arc<Snapshot>,
    json: String,
}

#[derive(Default)]
struct Memory {
    clips: BTreeMap<String, Clip>,
    prompt: Option<String>,
    seq: u64,
}

struct Shared {
    memory: Mutex<Memory>,
    published: watch::Sender<Arc<Published>>,
    subscribers: Arc<Semaphore>,
}

/// The dashboard's state: cheap to clone (one shared inside), fed by [`Dashboard::publish`],
/// served by [`Dashboard::router`] or [`Dashboard::serve`].
#[derive(Clone)]
pub struct Dashboard {
    shared: Arc<Shared>,
}

impl fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dashboard")
            .field("seq", &self.snapshot().seq)
            .finish_non_exhaustive()
    }
}

impl Default for Dashboard {
    fn default() -> Self {
        Self::new()
    }
}

/// Why the dashboard could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DashboardError {
    /// The address could not be bound.
    #[error("cannot serve the dashboard on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl Dashboard {
    /// An empty dashboard (no rounds yet).
    pub fn new() -> Self {
        let empty = Arc::new(Published {
            snapshot: Arc::new(Snapshot::default()),
            json: serde_json::to_string(&Snapshot::default())
                .expect("a snapshot always serialises. This is a bug."),
        });
        let (published, _) = watch::channel(empty);
        Dashboard {
            shared: Arc::new(Shared {
                memory: Mutex::new(Memory::default()),
                published,
                subscribers: Arc::new(Semaphore::new(MAX_SUBSCRIBERS)),
            }),
        }
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.published.borrow().snapshot.clone()
    }

    /// Publishes `state` after a round (`report`: keeps each miner's new clip) or at start
    /// (`None`: the loaded state, no clips yet), with the chain's view when there is a chain.
    /// Clips of miners no longer in `state` are dropped.
    pub fn publish(
        &self,
        state: &ScoreState,
        report: Option<&RoundReport>,
        chain: Option<ChainView>,
    ) {
        let snapshot = {
            let mut memory = self
                .shared
                .memory
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(report) = report {
                memory.prompt = Some(report.prompt.clone());
                keep_clips(&mut memory.clips, report);
            }
            memory
                .clips
                .retain(|hotkey, _| state.miners.contains_key(hotkey));
            memory.seq += 1;
            build(state, &memory, chain)
        };
        let json = match serde_json::to_string(&snapshot) {
            Ok(json) => json,
            Err(e) => {
                // Plain data does not fail to serialise; should it, the last snapshot stays.
                tracing::warn!("dashboard snapshot not published: {e}");
                return;
            }
        };
        self.shared.published.send_replace(Arc::new(Published {
            snapshot: Arc::new(snapshot),
            json,
        }));
    }

    /// The routes, for [`axum::serve()`] or a test.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(index))
            .route("/api/snapshot", get(snapshot_json))
            .route("/events", get(events))
            .route("/audio/{file}", get(audio))
            .with_state(self.clone())
    }

    /// Binds `addr` and serves the dashboard on the current runtime until the process ends.
    /// Returns the bound address (port 0 picks one).
    pub async fn serve(&self, addr: SocketAddr) -> Result<SocketAddr, DashboardError> {
        let bind = |source| DashboardError::Bind { addr, source };
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(bind)?;
        let local = listener.local_addr().map_err(bind)?;
        let router = self.router();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::warn!("the dashboard stopped: {e}");
            }
        });
        Ok(local)
    }
}

/// Encodes this round's clips and keeps the newest per miner within the byte budgets.
fn keep_clips(clips: &mut BTreeMap<String, Clip>, report: &RoundReport) {
    for r in &report.results {
        let Some((samples, rate)) = &r.audio else {
            continue;
        };
        let Some(wav) = crate::report::playable_wav(samples, *rate) else {
            continue;
        };
        if wav.len() > MAX_CLIP_BYTES {
            tracing::debug!(hotkey = %r.hotkey, bytes = wav.len(), "clip too large for the dashboard");
            continue;
        }
        let info = ClipInfo {
            round: report.round,
            prompt: report.prompt.clone(),
            transcript: r.transcript.clone(),
            reward: r.reward,
            duration_s: samples.len() as f64 / f64::from(*rate),
            sample_rate: *rate,
            url: format!("audio/{}.wav?round={}", url_escape(&r.hotkey), report.round),
        };
        let wav = Bytes::from(wav);
        clips.insert(r.hotkey.clone(), Clip { info, wav });
    }
    let mut total: usize = clips.values().map(|c| c.wav.len()).sum();
    while total > MAX_CLIPS_BYTES {
        let Some(oldest) = clips
            .iter()
            .min_by_key(|(_, c)| c.info.round)
            .map(|(h, _)| h.clone())
        else {
            break;
        };
        if let Some(c) = clips.remove(&oldest) {
            total -= c.wav.len();
        }
    }
}

/// Percent-encodes everything but ASCII letters and digits (SS58 hotkeys need nothing).
fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Four decimals are all the page shows; fewer digits keep each event small.
fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

fn build(state: &ScoreState, memory: &Memory, chain: Option<ChainView>) -> Snapshot {
    let mut miners: Vec<(&String, &crate::state::MinerScore)> = state.miners.iter().collect();
    miners.sort_by(|a, b| b.1.ema.total_cmp(&a.1.ema).then_with(|| a.0.cmp(b.0)));
    let rows = miners
        .into_iter()
        .enumerate()
        .map(|(i, (hotkey, m))| {
            let breakdown = m.last_breakdown.as_ref();
            let skip = m.history.len().saturating_sub(HISTORY_POINTS);
            Row {
                rank: i + 1,
                hotkey: hotkey.clone(),
                uid: m.uid,
                engine: m.model_name.clone(),
                transport: m.transport,
                ema: round4(m.ema),
                task_emas: m.tasks.iter().map(|(t, s)| (*t, round4(s.ema))).collect(),
                last_reward: m.last_reward.map(round4),
                factors: breakdown.and_then(factors),
                music_factors: breakdown.and_then(music_factors),
                failure: breakdown
                    .and_then(|b| b.get("failure"))
                    .and_then(|f| f.as_str())
                    .map(|f| f.chars().take(300).collect()),
                mean_wer: m.mean_wer.map(round4),
                mean_mos: m.mean_mos.map(round4),
                responses: m.responses,
                failures: m.failures,
                incentive: chain
                    .as_ref()
                    .and_then(|c| c.incentive.get(hotkey.as_str()).copied()),
                history: m
                    .history
                    .iter()
                    .skip(skip)
                    .map(|&(r, v)| (r, round4(v)))
                    .collect(),
                clip: memory.clips.get(hotkey).map(|c| c.info.clone()),
            }
        })
        .collect();
    Snapshot {
        seq: memory.seq,
        updated_unix: unix_now(),
        round: state.rounds,
        prompt: memory.prompt.clone(),
        miners: rows,
        chain: chain.as_ref().map(|c| ChainSummary {
            netuid: c.netuid,
            metagraph_block: c.metagraph_block,
        }),
        last_weights: chain.and_then(|c| c.last_weights),
        last_weights_block: state.last_weights_block,
    }
}

/// The factors of a scored breakdown (scoring's JSON); `None` for a failure.
fn factors(breakdown: &serde_json::Value) -> Option<FactorsView> {
    let f = breakdown.get("factors")?;
    let get = |name: &str| f.get(name).and_then(serde_json::Value::as_f64).map(round4);
    Some(FactorsView {
        intelligibility: get("intelligibility")?,
        naturalness: get("naturalness")?,
        activity: get("activity")?,
        pacing: get("pacing")?,
    })
}

fn music_factors(breakdown: &serde_json::Value) -> Option<MusicFactorsView> {
    if breakdown.get("task")?.as_str()? != "music" {
        return None;
    }
    let get = |name: &str| {
        breakdown
            .get(name)
            .and_then(serde_json::Value::as_f64)
            .map(round4)
    };
    Some(MusicFactorsView {
        tempo: get("tempo"),
        key: get("key"),
        duration: get("duration"),
        clap: get("clap"),
    })
}

fn common_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

async fn index() -> Response {
    let mut response = INDEX_HTML.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Everything the page needs is inline or from this server.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; media-src 'self'; img-src 'self' data:; base-uri 'none'; \
             form-action 'none'; frame-ancestors 'none'",
        ),
    );
    common_headers(headers);
    response
}

async fn snapshot_json(State(d): State<Dashboard>) -> Response {
    let json = d.shared.published.borrow().json.clone();
    let mut response = json.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    common_headers(headers);
    response
}

async fn events(State(d): State<Dashboard>) -> Response {
    let Ok(slot) = d.shared.subscribers.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many dashboard clients",
        )
            .into_response();
    };
    let mut rx = d.shared.published.subscribe();
    // The current snapshot goes first, so a new page needs nothing else.
    rx.mark_changed();
    let stream = futures::stream::unfold((rx, slot), |(mut rx, slot)| async move {
        rx.changed().await.ok()?;
        let published = rx.borrow_and_update().clone();
        let event = Event::default()
            .event("snapshot")
            .id(published.snapshot.seq.to_string())
            .data(published.json.as_str());
        Some((Ok::<_, Infallible>(event), (rx, slot)))
    });
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    common_headers(response.headers_mut());
    response
}

async fn audio(
    State(d): State<Dashboard>,
    Path(file): Path<String>,
    request_headers: HeaderMap,
) -> Response {
    let wav = file.strip_suffix(".wav").and_then(|hotkey| {
        let memory = d
            .shared
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        memory.clips.get(hotkey).map(|c| c.wav.clone())
    });
    let Some(wav) = wav else {
        return (StatusCode::NOT_FOUND, "no clip for this miner").into_response();
    };
    let range = request_headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| byte_range(v, wav.len()));
    let len = wav.len();
    let mut response = match range {
        Some(Some((start, end))) => {
            let mut r = (StatusCode::PARTIAL_CONTENT, wav.slice(start..=end)).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            r
        }
        Some(None) => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
        None => wav.into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    common_headers(headers);
    response
}

/// The inclusive byte range of a single-range `Range` header (`bytes=a-b`, `bytes=a-`,
/// `bytes=-n`) within `len` bytes; `None` when it cannot be satisfied. Multiple ranges are
/// answered with the first.
fn byte_range(value: &str, len: usize) -> Option<(usize, usize)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    let first = spec.split(',').next()?.trim();
    let (a, b) = first.split_once('-')?;
    let last = len.checked_sub(1)?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: usize = n.parse().ok()?;
            if n == 0 {
                return None;
            }
            (len.saturating_sub(n), last)
        }
        (a, "") => (a.parse().ok()?, last),
        (a, b) => (a.parse().ok()?, b.parse::<usize>().ok()?.min(last)),
    };
    (start <= end && start <= last).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::round::MinerResult;
    use axum::body::Body;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    fn result(hotkey: &str, audio: Option<(Arc<Vec<f32>>, u32)>) -> MinerResult {
        MinerResult {
            hotkey: hotkey.into(),
            uid: Some(1),
            status: 200,
            reward: Some(0.5),
            failed: false,
            validator_fault: false,
            judged: true,
            reason: None,
            breakdown: None,
            latency_s: 0.1,
            model_name: None,
            transport: audiosubnet_dendrite::Transport::Btauth,
            audio,
            transcript: Some("hello <b>".into()),
        }
    }

    fn tone() -> Arc<Vec<f32>> {
        Arc::new((0..1600).map(|i| (i as f32 * 0.1).sin() * 0.5).collect())
    }

    async fn get(
        router: &Router,
        uri: &str,
        range: Option<&str>,
    ) -> (StatusCode, HeaderMap, Bytes) {
        let mut request = http::Request::get(uri);
        if let Some(range) = range {
            request = request.header(header::RANGE, range);
        }
        let response = router
            .clone()
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        (parts.status, parts.headers, body)
    }

    /// The next server-sent event from `body` (`text` keeps what arrived after it).
    async fn next_event(body: &mut Body, text: &mut String) -> String {
        while !text.contains("\n\n") {
            let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
                .await
                .expect("an event within 10 s")
                .expect("stream open")
                .expect("frame");
            if let Ok(data) = frame.into_data() {
                text.push_str(std::str::from_utf8(&data).expect("utf-8"));
            }
        }
        let at = text.find("\n\n").expect("checked");
        text.drain(..at + 2).collect()
    }

    /// A state and round in which "5Honest" was scored with factors and "5Evil" failed.
    fn scored_round() -> (ScoreState, RoundReport) {
        let mut state = ScoreState::default();
        state.update("5Honest", Some(1), 0.8, 0.5, false);
        state.update("5Evil", Some(2), 0.0, 0.5, true);
        state.rounds = 3;
        state.record_history("5Honest", 3);
        state.record_history("5Evil", 3);
        if let Some(m) = state.miners.get_mut("5Honest") {
            m.last_breakdown = Some(serde_json::json!({
                "reward": 0.8,
                "factors": {"intelligibility": 0.9, "naturalness": 0.95, "activity": 1.0,
                            "rate": 1.0, "silence": 0.94, "pacing": 0.94, "reward": 0.8}
            }));
            m.model_name = Some("piper".into());
        }
        if let Some(m) = state.miners.get_mut("5Evil") {
            m.last_breakdown = Some(serde_json::json!({"failure": "status 500: <oops>"}));
            m.model_name = Some("<script>alert(1)</script>".into());
        }
        let report = RoundReport {
            round: 3,
            task: crate::tasks::Task::Speech,
            prompt: "Say \"hi\" & <go>".into(),
            results: vec![
                result("5Honest", Some((tone(), 16_000))),
                result("5Evil", Some((Arc::new(vec![f32::NAN; 10]), 16_000))),
            ],
            identical_audio: vec![],
        };
        (state, report)
    }

    #[test]
    fn a_music_reply_shows_its_factors_and_task_emas() {
        let mix: crate::tasks::TaskMix = "speech,music".parse().expect("mix");
        let mut state = ScoreState::default();
        state.update_task(
            crate::tasks::Task::Music,
            "5Band",
            Some(3),
            0.5,
            0.0,
            false,
            &mix,
        );
        if let Some(m) = state.miners.get_mut("5Band") {
            m.last_breakdown = Some(serde_json::json!({
                "task": "music", "reward": 0.5, "tempo": 1.0, "key": 0.5, "tempo_requested": 90.0,
                "key_requested": null, "duration": 1.0, "clap": 0.75
            }));
        }
        let snapshot = build(&state, &Memory::default(), None);
        let row = &snapshot.miners[0];
        assert_eq!(row.factors, None);
        assert_eq!(
            row.music_factors,
            Some(MusicFactorsView {
                tempo: Some(1.0),
                key: Some(0.5),
                duration: Some(1.0),
                clap: Some(0.75)
            })
        );
        assert_eq!(row.task_emas[&crate::tasks::Task::Music], 0.5);
        assert_eq!(row.ema, 0.25);
    }

    #[test]
    fn the_snapshot_carries_rows_factors_incentive_and_clips() {
        let (mut state, report) = scored_round();
        let dashboard = Dashboard::new();
        assert_eq!(dashboard.snapshot().seq, 0);
        let chain = ChainView {
            netuid: 7,
            metagraph_block: Some(120),
            incentive: [("5Honest".to_string(), 0.75)].into_iter().collect(),
            last_weights: None,
        };
        dashboard.publish(&state, Some(&report), Some(chain));
        let snap = dashboard.snapshot();
        assert_eq!((snap.seq, snap.round), (1, 3));
        assert_eq!(snap.prompt.as_deref(), Some("Say \"hi\" & <go>"));
        assert_eq!(snap.chain.as_ref().map(|c| c.netuid), Some(7));
        let names: Vec<&str> = snap.miners.iter().map(|r| r.hotkey.as_str()).collect();
        assert_eq!(names, ["5Honest", "5Evil"], "highest EMA first");
        let honest = &snap.miners[0];
        assert_eq!(honest.rank, 1);
        assert_eq!(honest.incentive, Some(0.75));
        assert_eq!(
            honest.factors,
            Some(FactorsView {
                intelligibility: 0.9,
                naturalness: 0.95,
                activity: 1.0,
                pacing: 0.94
            })
        );
        let clip = honest.clip.as_ref().expect("a clip for the scored tone");
        assert_eq!(clip.url, "audio/5Honest.wav?round=3");
        assert!((clip.duration_s - 0.1).abs() < 1e-9);
        let evil = &snap.miners[1];
        assert_eq!(evil.incentive, None, "not in the metagraph");
        assert!(evil.factors.is_none());
        assert_eq!(evil.failure.as_deref(), Some("status 500: <oops>"));
        assert!(evil.clip.is_none(), "NaN audio is not kept");

        // Offline: no chain, no incentive; a miner dropped from the state loses its clip.
        state.miners.remove("5Honest");
        dashboard.publish(&state, None, None);
        let snap = dashboard.snapshot();
        assert_eq!(snap.seq, 2);
        assert!(snap.chain.is_none() && snap.miners[0].incentive.is_none());
        assert_eq!(snap.prompt.as_deref(), Some("Say \"hi\" & <go>"), "kept");
        let memory = dashboard.shared.memory.lock().expect("lock");
        assert!(memory.clips.is_empty());
    }

    #[test]
    fn a_restarted_validator_shows_its_loaded_state_without_clips() {
        let (state, report) = scored_round();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        state.save(&path).expect("save");
        let first = Dashboard::new();
        first.publish(&state, Some(&report), None);
        let loaded = ScoreState::load(&path).expect("load");
        let restarted = Dashboard::new();
        restarted.publish(&loaded, None, None);
        let (a, b) = (first.snapshot(), restarted.snapshot());
        assert_eq!(b.round, 3);
        assert_eq!(b.prompt, None);
        let strip = |rows: &[Row]| -> Vec<Row> {
            rows.iter()
                .cloned()
                .map(|r| Row { clip: None, ..r })
                .collect()
        };
        assert_eq!(
            strip(&a.miners),
            strip(&b.miners),
            "same leaderboard and history"
        );
        assert!(b.miners.iter().all(|r| r.clip.is_none()));
    }

    #[test]
    fn byte_ranges() {
        assert_eq!(byte_range("bytes=0-", 10), Some((0, 9)));
        assert_eq!(byte_range("bytes=2-4", 10), Some((2, 4)));
        assert_eq!(byte_range("bytes=2-400", 10), Some((2, 9)));
        assert_eq!(byte_range("bytes=-3", 10), Some((7, 9)));
        assert_eq!(byte_range("bytes=-30", 10), Some((0, 9)));
        assert_eq!(byte_range("bytes=0-1, 5-6", 10), Some((0, 1)));
        assert_eq!(byte_range("bytes=10-", 10), None);
        assert_eq!(byte_range("bytes=5-2", 10), None);
        assert_eq!(byte_range("bytes=-0", 10), None);
        assert_eq!(byte_range("items=0-1", 10), None);
        assert_eq!(byte_range("bytes=0-", 0), None);
    }

    #[tokio::test]
    async fn routes_answer_with_their_content_types() {
        let (state, report) = scored_round();
        let dashboard = Dashboard::new();
        dashboard.publish(&state, Some(&report), None);
        let router = dashboard.router();

        let (status, headers, body) = get(&router, "/", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        let csp = headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        let html = std::str::from_utf8(&body).expect("utf-8");
        assert!(html.contains("id=\"leaderboard\""));
        assert!(
            !html.contains("src=\"http") && !html.contains("href=\"http"),
            "no external assets"
        );
        assert!(!html.contains(".innerHTML"), "miner strings go in as text");

        let (status, headers, body) = get(&router, "/api/snapshot", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(json["round"], 3);
        assert_eq!(json["miners"][1]["engine"], "<script>alert(1)</script>");
        assert_eq!(json["miners"][0]["factors"]["pacing"], 0.94);
        assert!(json["last_weights"].is_null());

        let (status, headers, body) = get(&router, "/audio/5Honest.wav?round=3", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "audio/wav");
        let wav = audiosubnet_audio::decode_wav(&body).expect("a WAV");
        assert_eq!((wav.sample_rate, wav.samples.len()), (16_000, 1600));

        let (status, headers, part) = get(&router, "/audio/5Honest.wav", Some("bytes=0-43")).await;
        assert_eq!(status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(&part[..], &body[..44]);
        assert_eq!(
            headers[header::CONTENT_RANGE],
            format!("bytes 0-43/{}", body.len()).as_str()
        );
        let (status, _, _) = get(&router, "/audio/5Honest.wav", Some("bytes=99999-")).await;
        assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);

        for unknown in [
            "/audio/5Nobody.wav",
            "/audio/5Evil.wav",
            "/audio/5Honest.mp3",
            "/audio/..%2Fstate.json",
            "/nothing",
        ] {
            let (status, _, _) = get(&router, unknown, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}");
        }
    }

    #[tokio::test]
    async fn events_send_the_current_snapshot_then_each_new_one() {
        let (state, report) = scored_round();
        let dashboard = Dashboard::new();
        dashboard.publish(&state, Some(&report), None);
        let response = dashboard
            .router()
            .oneshot(
                http::Request::get("/events")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/event-stream"
        );
        let mut body = response.into_body();
        let mut text = String::new();
        let first = next_event(&mut body, &mut text).await;
        assert!(first.contains("event: snapshot\n"), "{first}");
        assert!(first.contains("id: 1\n"), "{first}");
        dashboard.publish(&state, None, None);
        let second = next_event(&mut body, &mut text).await;
        assert!(second.contains("id: 2\n"), "{second}");
        let data = second
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .expect("data line");
        let json: serde_json::Value = serde_json::from_str(data).expect("json");
        assert_eq!(json["seq"], 2);
    }
}

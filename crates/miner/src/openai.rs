//! An OpenAI-compatible speech endpoint on the miner's [`SynthesisPool`], for operators and
//! tools that speak the OpenAI audio API (`POST /v1/audio/speech`).
//!
//! Request: `{"model": "...", "input": "...", "voice": "...", "response_format": "wav",
//! "speed": 1.0}`. `model` may be any OpenAI name (`tts-1`, …) or the engine this pool runs;
//! naming another of our engines is an error. `voice` and `instructions` are accepted and
//! ignored (each engine has one voice). `response_format` is `wav` (the default here; OpenAI's
//! is `mp3`, which this server does not encode) or `pcm` (raw 16-bit little-endian mono at
//! 24 kHz, like OpenAI's). `speed` must be 1.0 when given.
//!
//! Errors are OpenAI-style `{"error": {"message", "type", "param", "code"}}`: 400 for bad
//! requests, 413 for oversized bodies, 503 (with `Retry-After`) when the synthesis queue is full,
//! 504 on timeout, 500 when the engine fails, 401 when an API key is configured
//! ([`OpenAiConfig::api_key`]) and the request lacks `Authorization: Bearer <key>`. Without a
//! key there is no authentication: bind it to a private interface (the miner's default is
//! 127.0.0.1).
//!
//! Validators come first: OpenAI requests may hold only part of the synthesis pool (at most
//! [`OpenAiConfig::max_in_flight`] queued or running, and never the last
//! [`OpenAiConfig::reserved_queue`] queue slots), so a flood here cannot turn validators' synapse
//! requests into 503s. The endpoint is served with the axon's connection limits and deadlines.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use audiosubnet_axon::{ConnectionLimits, serve_with_limits};
use audiosubnet_tts::{ENGINE_NAMES, Speech, SynthesisPool};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::stats::RequestMetric;
use crate::{SynthesisError, run_synthesis};

/// Sample rate of `response_format: "pcm"` (OpenAI's).
pub const PCM_SAMPLE_RATE: u32 = 24_000;

/// A bearer key for the endpoint. Its `Debug` never shows it.
#[derive(Clone)]
pub struct ApiKey(Arc<str>);

impl ApiKey {
    /// Wraps `key`; `None` when it is blank (no authentication).
    pub fn new(key: &str) -> Option<Self> {
        let key = key.trim();
        (!key.is_empty()).then(|| ApiKey(Arc::from(key)))
    }

    /// Compares in time independent of where the keys differ (both are hashed first, so not
    /// of their lengths either).
    fn matches(&self, presented: &str) -> bool {
        use sha2::{Digest, Sha256};
        use subtle::ConstantTimeEq;
        let expected = Sha256::digest(self.0.as_bytes());
        let got = Sha256::digest(presented.as_bytes());
        expected.ct_eq(&got).into()
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Limits of the OpenAI endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// Largest request body accepted (413 above).
    pub max_body_bytes: usize,
    /// Longest a request may wait for its audio, queueing included (504 after).
    pub request_timeout: Duration,
    /// When set, requests must carry `Authorization: Bearer <key>` (401 otherwise).
    pub api_key: Option<ApiKey>,
    /// OpenAI requests queued or running at once; `None`: half the pool's workers plus queue
    /// slots (at least 1). Beyond it, 503.
    pub max_in_flight: Option<usize>,
    /// Queue slots OpenAI requests never take, kept for validators; `None`: half the queue.
    pub reserved_queue: Option<usize>,
    /// Connection limits and deadlines of [`serve_openai`].
    pub connections: ConnectionLimits,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(120),
            api_key: None,
            max_in_flight: None,
            reserved_queue: None,
            connections: ConnectionLimits::default(),
        }
    }
}

struct Shared {
    pool: Arc<SynthesisPool>,
    config: OpenAiConfig,
    /// OpenAI requests queued or running now.
    in_flight: AtomicUsize,
    max_in_flight: usize,
    reserved_queue: usize,
}

/// One OpenAI request's claim on the pool share; released when dropped (also when the client
/// disconnects and the handler is cancelled).
struct Share<'a>(&'a AtomicUsize);

impl Drop for Share<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Shared {
    /// Claims a place for one OpenAI request, or `None` when that would eat into the part of
    /// the pool reserved for validators.
    fn claim(&self) -> Option<Share<'_>> {
        let queue_room = self.pool.capacity().saturating_sub(self.reserved_queue);
        if self.pool.queue_depth() >= queue_room {
            return None;
        }
        let claimed = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_in_flight).then_some(n + 1)
            });
        claimed.ok().map(|_| Share(&self.in_flight))
    }
}

/// The endpoint's routes: `POST /v1/audio/speech` and `GET /v1/models`.
pub fn openai_router(pool: Arc<SynthesisPool>, config: OpenAiConfig) -> Router {
    let limit = config.max_body_bytes;
    let slots = pool.workers() + pool.capacity();
    let max_in_flight = config.max_in_flight.unwrap_or(slots / 2).max(1);
    let reserved_queue = config.reserved_queue.unwrap_or(pool.capacity() / 2);
    let shared = Arc::new(Shared {
        pool,
        config,
        in_flight: AtomicUsize::new(0),
        max_in_flight,
        reserved_queue,
    });
    Router::new()
        .route("/v1/audio/speech", post(speech))
        .route("/v1/models", get(models))
        // Checked before the body is read.
        .route_layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            authenticate,
        ))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(shared)
}

/// Serves [`openai_router`] on `listener` with [`OpenAiConfig::connections`] until `shutdown`
/// resolves.
pub async fn serve_openai(
    listener: tokio::net::TcpListener,
    pool: Arc<SynthesisPool>,
    config: OpenAiConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = config.connections.clone();
    serve_with_limits(listener, openai_router(pool, config), limits, shutdown).await
}

/// Binds the endpoint on `bind` (failing early when the port is taken, with the address in the
/// error) and serves it on a tokio task until `shutdown` resolves. Warns when it is reachable
/// off loopback without an API key.
pub async fn spawn_openai(
    bind: std::net::SocketAddr,
    pool: Arc<SynthesisPool>,
    config: OpenAiConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(bind).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("binding the OpenAI endpoint to {bind}: {e}"),
        )
    })?;
    if !bind.ip().is_loopback() && config.api_key.is_none() {
        tracing::warn!(
            %bind,
            "the OpenAI endpoint has no authentication (--openai.api_key) and is not on loopback"
        );
    }
    tracing::info!(
        engine = pool.engine_name(),
        "OpenAI-compatible speech on http://{bind}/v1/audio/speech"
    );
    Ok(tokio::spawn(async move {
        if let Err(e) = serve_openai(listener, pool, config, shutdown).await {
            tracing::error!("OpenAI endpoint stopped: {e}");
        }
    }))
}

/// Refuses requests without the configured bearer key, as OpenAI does (401,
/// `invalid_api_key`). The key is never logged.
async fn authenticate(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let Some(key) = &shared.config.api_key else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let message = match presented {
        Some(token) if key.matches(token) => return next.run(request).await,
        Some(_) => "Incorrect API key provided.",
        None => {
            "You didn't provide an API key. Send it in the Authorization header: \
             `Authorization: Bearer <key>`."
        }
    };
    tracing::debug!("openai request refused: bad or missing API key");
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        kind: "invalid_request_error",
        code: Some("invalid_api_key"),
        param: None,
        message: message.to_string(),
    }
    .into_response()
}

/// An OpenAI-style error response.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    code: Option<&'static str>,
    param: Option<&'static str>,
    message: String,
}

impl ApiError {
    fn invalid(param: Option<&'static str>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: None,
            param,
            message: message.into(),
        }
    }

    fn server(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind: "server_error",
            code: Some(code),
            param: None,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }});
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

#[derive(Debug, Deserialize)]
struct SpeechRequest {
    #[serde(default)]
    model: Option<String>,
    input: String,
    // `voice`, `instructions` and unknown fields are ignored: each engine has one voice.
    #[serde(default)]
    response_format: Option<String>,
    #[serde(default)]
    speed: Option<f64>,
    #[serde(default)]
    stream_format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Wav,
    Pcm,
}

fn parse_format(format: Option<&str>) -> Result<Format, ApiError> {
    match format.map(str::to_ascii_lowercase).as_deref() {
        None | Some("wav") => Ok(Format::Wav),
        Some("pcm") => Ok(Format::Pcm),
        Some(f @ ("mp3" | "opus" | "aac" | "flac")) => Err(ApiError::invalid(
            Some("response_format"),
            format!("response_format `{f}` is not supported by this server; use `wav` or `pcm`"),
        )),
        Some(f) => Err(ApiError::invalid(
            Some("response_format"),
            format!("unknown response_format `{f}`; use `wav` or `pcm`"),
        )),
    }
}

fn check_speed(speed: Option<f64>) -> Result<(), ApiError> {
    let Some(speed) = speed else { return Ok(()) };
    if !(0.25..=4.0).contains(&speed) {
        return Err(ApiError::invalid(
            Some("speed"),
            format!("speed {speed} is out of range; it must be between 0.25 and 4.0"),
        ));
    }
    if (speed - 1.0).abs() > 1e-6 {
        return Err(ApiError::invalid(
            Some("speed"),
            format!("speed {speed} is not supported by this server; only 1.0 is"),
        ));
    }
    Ok(())
}

/// Our own engine names (and aliases) that differ from the one this pool runs are refused; any
/// other name (`tts-1`, `gpt-4o-mini-tts`, …) means "whatever this server runs".
fn check_model(model: Option<&str>, engine: &str) -> Result<(), ApiError> {
    let Some(model) = model else { return Ok(()) };
    let canonical = match model {
        "en_US-joe-medium" => "piper",
        "espeak-ng" => "espeak",
        m => m,
    };
    let ours = ENGINE_NAMES.contains(&canonical);
    if ours && canonical != engine {
        return Err(ApiError::invalid(
            Some("model"),
            format!("model `{model}` is not served here; this server runs `{engine}`"),
        ));
    }
    Ok(())
}

fn parse_request(body: &[u8]) -> Result<SpeechRequest, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::invalid(None, format!("invalid request: {e}")),
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::invalid(None, format!("the request body is not valid JSON: {e}"))
            }
        }
    })
}

async fn speech(
    State(shared): State<Arc<Shared>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let metric = RequestMetric::start("openai");
    let response = match answer(&shared, body).await {
        Ok(response) => response,
        Err(e) => {
            tracing::debug!(status = e.status.as_u16(), error = %e.message, "openai speech refused");
            e.into_response()
        }
    };
    metric.finish(response.status().as_u16());
    response
}

async fn answer(
    shared: &Shared,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError {
                status,
                kind: "invalid_request_error",
                code: Some("request_too_large"),
                param: None,
                message: format!(
                    "the request body is larger than {} bytes",
                    shared.config.max_body_bytes
                ),
            }
        } else {
            ApiError::invalid(None, format!("cannot read the request body: {rejection}"))
        }
    })?;
    let request = parse_request(&body)?;
    let format = parse_format(request.response_format.as_deref())?;
    check_speed(request.speed)?;
    check_model(request.model.as_deref(), shared.pool.engine_name())?;
    if let Some(s) = request.stream_format.as_deref().filter(|s| *s != "audio") {
        return Err(ApiError::invalid(
            Some("stream_format"),
            format!("stream_format `{s}` is not supported; use `audio`"),
        ));
    }
    if request.input.trim().is_empty() {
        return Err(ApiError::invalid(Some("input"), "input is empty"));
    }

    let Some(_share) = shared.claim() else {
        return Err(ApiError::server(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "the server is busy (the OpenAI endpoint's share of the synthesis pool is in use); \
             retry shortly",
        ));
    };
    let speech = tokio::time::timeout(
        shared.config.request_timeout,
        run_synthesis(&shared.pool, request.input),
    )
    .await
    .map_err(|_| {
        ApiError::server(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!(
                "no audio within {} s",
                shared.config.request_timeout.as_secs_f64()
            ),
        )
    })?
    .map_err(|e| match e {
        SynthesisError::BadRequest(m) => ApiError::invalid(Some("input"), m),
        SynthesisError::Overloaded(m) => ApiError::server(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            format!("the server is busy ({m}); retry shortly"),
        ),
        SynthesisError::Internal(m) => {
            tracing::warn!(error = %m, "openai speech: synthesis failed");
            ApiError::server(
                StatusCode::INTERNAL_SERVER_ERROR,
                "synthesis_failed",
                "speech synthesis failed",
            )
        }
    })?;
    let engine = shared.pool.engine_name().to_owned();
    let (content_type, bytes) = encode(&speech, format)
        .map_err(|m| ApiError::server(StatusCode::INTERNAL_SERVER_ERROR, "encoding_failed", m))?;
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&engine) {
        headers.insert("x-audiosubnet-engine", v);
    }
    Ok(response)
}

fn encode(speech: &Speech, format: Format) -> Result<(&'static str, Vec<u8>), String> {
    match format {
        Format::Wav => speech
            .to_wav_bytes()
            .map(|b| ("audio/wav", b))
            .map_err(|e| e.to_string()),
        Format::Pcm => {
            let samples = resample(&speech.samples, speech.sample_rate, PCM_SAMPLE_RATE);
            Ok(("audio/pcm", audiosubnet_audio::encode_pcm16le(&samples)))
        }
    }
}

async fn models(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    Json(json!({
        "object": "list",
        "data": [{
            "id": shared.pool.engine_name(),
            "object": "model",
            "created": 0,
            "owned_by": "audiosubnet",
        }],
    }))
}

async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        kind: "invalid_request_error",
        code: Some("not_found"),
        param: None,
        message: "no such route; this server answers POST /v1/audio/speech and GET /v1/models"
            .to_owned(),
    }
}

/// Band-limited resampling (windowed sinc, polyphase) from `from` Hz to `to` Hz.
pub(crate) fn resample(samples: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || from == 0 || to == 0 || samples.is_empty() {
        return samples.to_vec();
    }
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let g = gcd(u64::from(from), u64::from(to));
    // Output sample j sits at input position j * m / l.
    let (l, m) = (u64::from(to) / g, u64::from(from) / g);
    // Low-pass at the lower Nyquist, with a little headroom.
    let cutoff = (f64::from(to) / f64::from(from)).min(1.0) * 0.95;
    const ZERO_CROSSINGS: f64 = 16.0;
    let half_width = ZERO_CROSSINGS / cutoff;
    let k = half_width.ceil() as i64;
    let taps = (2 * k) as usize;
    // One filter per fractional phase p / l; taps cover input offsets -k+1 ..= k.
    let table: Vec<f32> = (0..l)
        .flat_map(|p| {
            let frac = p as f64 / l as f64;
            (0..taps).map(move |t| {
                let x = (t as i64 - k + 1) as f64 - frac;
                if x.abs() >= half_width {
                    return 0.0;
                }
                let arg = std::f64::consts::PI * cutoff * x;
                let sinc = if arg.abs() < 1e-12 {
                    1.0
                } else {
                    arg.sin() / arg
                };
                let window = 0.5 + 0.5 * (std::f64::consts::PI * x / half_width).cos();
                (cutoff * sinc * window) as f32
            })
        })
        .collect();
    let out_len = (samples.len() as u64 * l).div_ceil(m) as usize;
    let n_in = samples.len() as i64;
    (0..out_len as u64)
        .map(|j| {
            let pos = j * m;
            let n = (pos / l) as i64;
            let phase = (pos % l) as usize;
            let filter = &table[phase * taps..(phase + 1) * taps];
            let first = n - k + 1;
            let lo = (-first).max(0) as usize;
            let hi = (n_in - first).clamp(0, taps as i64) as usize;
            let mut acc = 0.0f32;
            for t in lo..hi {
                acc += samples[(first + t as i64) as usize] * filter[t];
            }
            acc
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, rate: u32, secs: f32) -> Vec<f32> {
        let n = (rate as f32 * secs) as usize;
        (0..n)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    fn rms(s: &[f32]) -> f32 {
        (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt()
    }

    #[test]
    fn resampling_keeps_tones_and_drops_what_cannot_be_represented() {
        for from in [16_000, 22_050, 32_000] {
            let input = tone(440.0, from, 1.0);
            let out = resample(&input, from, PCM_SAMPLE_RATE);
            assert!(
                (out.len() as i64 - PCM_SAMPLE_RATE as i64).abs() <= 1,
                "{from}: {} samples",
                out.len()
            );
            // Away from the edges the 440 Hz tone is intact.
            let mid = &out[2_000..out.len() - 2_000];
            let expected = tone(440.0, PCM_SAMPLE_RATE, 1.0);
            let max_err = mid
                .iter()
                .zip(&expected[2_000..])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(max_err < 0.01, "{from}: max error {max_err}");
        }
        // 14 kHz fits at 32 kHz but not at 24 kHz: it is filtered out, not aliased to 10 kHz.
        let high = resample(&tone(14_000.0, 32_000, 0.5), 32_000, PCM_SAMPLE_RATE);
        assert!(rms(&high[1_000..high.len() - 1_000]) < 0.01);
        assert_eq!(resample(&[0.1, 0.2], 24_000, 24_000), vec![0.1, 0.2]);
        assert!(resample(&[], 22_050, 24_000).is_empty());
    }

    #[test]
    fn request_validation() {
        assert_eq!(parse_format(None).unwrap(), Format::Wav);
        assert_eq!(parse_format(Some("PCM")).unwrap(), Format::Pcm);
        let e = parse_format(Some("mp3")).unwrap_err();
        assert!(e.message.contains("not supported"), "{}", e.message);
        assert!(
            parse_format(Some("ogg"))
                .unwrap_err()
                .message
                .contains("unknown")
        );
        assert!(check_speed(None).is_ok());
        assert!(check_speed(Some(1.0)).is_ok());
        assert!(check_speed(Some(1.5)).is_err());
        assert!(check_speed(Some(0.0)).is_err());
        assert!(check_speed(Some(f64::NAN)).is_err());
        assert!(check_model(Some("tts-1"), "piper").is_ok());
        assert!(check_model(Some("en_US-joe-medium"), "piper").is_ok());
        assert!(check_model(Some("flite"), "piper").is_err());
        assert!(check_model(None, "espeak").is_ok());
        assert!(parse_request(b"{\"input\": 3}").is_err());
        assert!(
            parse_request(b"{\"model\":\"tts-1\",\"input\":\"hi\",\"voice\":{\"id\":\"x\"}}")
                .is_ok()
        );
    }
}

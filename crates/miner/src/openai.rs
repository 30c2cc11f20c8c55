//! An OpenAI-compatible speech endpoint on the miner's [`SynthesisPool`], for operators and
//! tools that speak the OpenAI audio API (`POST /v1/audio/speech`).
//!
//! Request: `{"model": "...", "input": "...", "voice": "...", "response_format": "wav",
//! "speed": 1.0}`. `model` may be any OpenAI name (`tts-1`, …) or the engine this pool runs;
//! naming another of our engines is an error. `voice` (a name, or `{"id": name}`) picks Kokoro's
//! voice: a Kokoro voice name or an OpenAI one mapped to a Kokoro voice
//! ([`audiosubnet_tts::kokoro::OPENAI_VOICES`]), anything else is a 400; engines with one voice
//! ignore it, as they ignore `instructions`. `response_format` is
//! one of OpenAI's: `mp3` (the default, as OpenAI's), `opus` (Ogg Opus), `flac`, `wav` or `pcm`
//! (raw 16-bit little-endian mono at 24 kHz); `aac` is refused with a 400 naming those (no
//! maintained encoder fits here). The
//! encoders are `audiosubnet_audio`'s. `speed` (0.25 to 4.0, default 1) time-stretches the audio
//! without changing its pitch ([`audiosubnet_audio::time_stretch`]).
//!
//! `GET /v1/models` lists the OpenAI model names this server answers to (`tts-1`, `tts-1-hd`,
//! `gpt-4o-mini-tts`) and the engine; `GET /v1/audio/voices` lists the voices a request may name
//! (`{"voices": [...]}`, as Kokoro-FastAPI answers).
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
use crate::{SynthesisError, run_synthesis_voice};

/// Sample rate of `response_format: "pcm"` (OpenAI's).
pub const PCM_SAMPLE_RATE: u32 = 24_000;

/// The `response_format`s this server encodes.
pub const RESPONSE_FORMATS: [&str; 5] = ["mp3", "opus", "flac", "wav", "pcm"];

/// OpenAI's speech model names, listed by `GET /v1/models`; any of them means "the engine this
/// server runs".
pub const OPENAI_MODELS: [&str; 3] = ["tts-1", "tts-1-hd", "gpt-4o-mini-tts"];

/// OpenAI's voice names. Engines with one voice accept each of them (and speak in their own).
pub const OPENAI_VOICES: [&str; 11] = [
    "alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse",
];

// The handler for `/tts` resamples with the same function.
pub(crate) use audiosubnet_audio::resample;

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

/// The endpoint's routes: `POST /v1/audio/speech`, `GET /v1/models` and `GET /v1/audio/voices`.
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
        .route("/v1/audio/voices", get(voices))
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
    // A name or `{"id": name}`; see `voice_name`. `instructions` and unknown fields are ignored.
    #[serde(default)]
    voice: Option<serde_json::Value>,
    #[serde(default)]
    response_format: Option<String>,
    #[serde(default)]
    speed: Option<f64>,
    #[serde(default)]
    stream_format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Mp3,
    Opus,
    Flac,
    Wav,
    Pcm,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Mp3 => "audio/mpeg",
            // RFC 7845's media type for Ogg Opus.
            Format::Opus => "audio/ogg",
            Format::Flac => "audio/flac",
            Format::Wav => "audio/wav",
            Format::Pcm => "audio/pcm",
        }
    }
}

fn parse_format(format: Option<&str>) -> Result<Format, ApiError> {
    let supported = RESPONSE_FORMATS.join(", ");
    match format.map(str::to_ascii_lowercase).as_deref() {
        // OpenAI's default.
        None | Some("mp3") => Ok(Format::Mp3),
        Some("opus") => Ok(Format::Opus),
        Some("flac") => Ok(Format::Flac),
        Some("wav") => Ok(Format::Wav),
        Some("pcm") => Ok(Format::Pcm),
        Some(f @ "aac") => Err(ApiError::invalid(
            Some("response_format"),
            format!(
                "response_format `{f}` is not supported by this server; use one of {supported}"
            ),
        )),
        Some(f) => Err(ApiError::invalid(
            Some("response_format"),
            format!("unknown response_format `{f}`; use one of {supported}"),
        )),
    }
}

/// The tempo factor to apply: `speed` when given (1.0 otherwise), in OpenAI's range.
fn check_speed(speed: Option<f64>) -> Result<f64, ApiError> {
    let Some(speed) = speed else { return Ok(1.0) };
    if !audiosubnet_audio::stretch::SPEED_RANGE.contains(&speed) {
        return Err(ApiError::invalid(
            Some("speed"),
            format!("speed {speed} is out of range; it must be between 0.25 and 4.0"),
        ));
    }
    Ok(speed)
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

/// The voice a request names: `"voice": "alloy"` or `"voice": {"id": "alloy"}`.
fn voice_name(request: &SpeechRequest) -> Option<&str> {
    match request.voice.as_ref()? {
        serde_json::Value::String(name) => Some(name),
        other => other.get("id")?.as_str(),
    }
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
    let speed = check_speed(request.speed)?;
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
    let voice = audiosubnet_tts::request_voice(shared.pool.engine_name(), voice_name(&request))
        .map_err(|e| ApiError::invalid(Some("voice"), e.to_string()))?;

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
        run_synthesis_voice(&shared.pool, request.input, voice),
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
    // Stretching and encoding take milliseconds per second of audio: off the async threads.
    let bytes = tokio::task::spawn_blocking(move || encode(&speech, format, speed))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r)
        .map_err(|m| {
            tracing::warn!(error = %m, ?format, "openai speech: encoding failed");
            ApiError::server(StatusCode::INTERNAL_SERVER_ERROR, "encoding_failed", m)
        })?;
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&engine) {
        headers.insert("x-audiosubnet-engine", v);
    }
    Ok(response)
}

/// `speech` at `speed` (time-stretched, same pitch) in `format`.
fn encode(speech: &Speech, format: Format, speed: f64) -> Result<Vec<u8>, String> {
    use audiosubnet_audio::encode;
    let rate = speech.sample_rate;
    let samples = audiosubnet_audio::time_stretch(&speech.samples, rate, speed);
    let encoded = match format {
        Format::Mp3 => encode::encode_mp3(&samples, rate),
        Format::Opus => encode::encode_ogg_opus(&samples, rate),
        Format::Flac => encode::encode_flac(&samples, rate),
        Format::Wav => audiosubnet_audio::encode_wav16(&samples, rate),
        Format::Pcm => Ok(audiosubnet_audio::encode_pcm16le(&resample(
            &samples,
            rate,
            PCM_SAMPLE_RATE,
        ))),
    };
    encoded.map_err(|e| e.to_string())
}

/// OpenAI's list shape: the OpenAI names, then the engine itself.
async fn models(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let data: Vec<_> = OPENAI_MODELS
        .iter()
        .copied()
        .chain([shared.pool.engine_name()])
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "audiosubnet"}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

/// The voices a request may name, as Kokoro-FastAPI lists them: `{"voices": [...]}`.
async fn voices(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    Json(json!({"voices": voice_names(shared.pool.engine_name())}))
}

/// An engine with voices of its own (Kokoro) lists them, then the OpenAI names it maps to them;
/// an engine with one voice lists OpenAI's names, which it accepts and speaks in its own voice.
fn voice_names(engine: &str) -> Vec<&'static str> {
    let own = audiosubnet_tts::engine_voices(engine);
    if own.is_empty() {
        return OPENAI_VOICES.to_vec();
    }
    let mapped = OPENAI_VOICES
        .iter()
        .copied()
        .filter(|v| audiosubnet_tts::request_voice(engine, Some(v)).is_ok());
    own.iter().copied().chain(mapped).collect()
}

async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        kind: "invalid_request_error",
        code: Some("not_found"),
        param: None,
        message: "no such route; this server answers POST /v1/audio/speech, GET /v1/models and \
                  GET /v1/audio/voices"
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_validation() {
        assert_eq!(parse_format(None).unwrap(), Format::Mp3);
        assert_eq!(parse_format(Some("PCM")).unwrap(), Format::Pcm);
        for (name, format) in RESPONSE_FORMATS.iter().zip([
            Format::Mp3,
            Format::Opus,
            Format::Flac,
            Format::Wav,
            Format::Pcm,
        ]) {
            assert_eq!(parse_format(Some(name)).unwrap(), format);
        }
        let e = parse_format(Some("aac")).unwrap_err();
        assert!(e.message.contains("not supported"), "{}", e.message);
        assert!(
            e.message.contains("mp3, opus, flac, wav, pcm"),
            "{}",
            e.message
        );
        assert!(
            parse_format(Some("ogg"))
                .unwrap_err()
                .message
                .contains("unknown")
        );
        assert_eq!(voice_names("espeak"), OPENAI_VOICES);
        let kokoro = voice_names("kokoro");
        assert!(
            kokoro.contains(&"af_heart") && kokoro.contains(&"alloy"),
            "{kokoro:?}"
        );
        for v in &kokoro {
            assert!(
                audiosubnet_tts::request_voice("kokoro", Some(v)).is_ok(),
                "{v}"
            );
        }
        assert_eq!(check_speed(None).unwrap(), 1.0);
        assert_eq!(check_speed(Some(1.5)).unwrap(), 1.5);
        assert_eq!(check_speed(Some(0.25)).unwrap(), 0.25);
        assert_eq!(check_speed(Some(4.0)).unwrap(), 4.0);
        assert!(check_speed(Some(4.01)).is_err());
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

//! The binary-audio routes for `btauth/1` callers (bittensor SDK 11), `POST /tts` and
//! `POST /music`: verify, blacklist, replay, admit, generate, answer with binary audio.
//!
//! Order: method → declared body size → header shape, receiver binding and freshness (cheap,
//! before any body is read) → body (bounded, under the deadline) → signature over the body →
//! blacklist (403) → replay store (written only now) → JSON request (400) → priority gate →
//! handler. Errors are `{"error": "..."}` and never echo header values, the signature or the
//! payload.

use crate::{AxonState, Caller, ForwardError};
use audiosubnet_protocol::BodyBinding;
use audiosubnet_protocol::btauth::{self, AuthError};
use audiosubnet_protocol::tts_http::{
    AudioEncoding, HEADER_ENCODING, HEADER_MODEL, HEADER_SAMPLE_RATE, MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE, MusicRequest, TtsRequest,
};
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use http::{HeaderValue, Method, StatusCode, header};
use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// Seconds a refused-for-capacity caller is told to wait.
const RETRY_AFTER_SECS: &str = "1";

/// Audio a `/tts` or `/music` handler produced, already encoded as the caller asked.
#[derive(Debug, Clone)]
pub struct TtsAudio {
    /// The body: a WAV file, or raw s16le samples ([`AudioEncoding`]).
    pub body: Bytes,
    /// Samples per second.
    pub sample_rate: u32,
    /// The engine's name (`X-Audio-Model`).
    pub model: String,
}

/// The work a checked request will do once admitted (futures are lazy: nothing runs before).
type Forward = BoxFuture<'static, Result<TtsAudio, ForwardError>>;

/// A binary-audio route with its request type erased.
pub(crate) trait AudioRoute: Send + Sync {
    /// The name the blacklist and priority hooks and the metrics see (`tts`, `music`).
    fn name(&self) -> &'static str;
    /// Parses and checks the JSON body (`Err`: the 400 message) and returns the handler's work.
    fn prepare(
        &self,
        caller: Caller,
        body: &[u8],
        encoding: AudioEncoding,
    ) -> Result<Forward, String>;
}

/// A preferred sample rate outside the bounds every endpoint honours.
fn check_sample_rate(rate: Option<u32>) -> Result<(), String> {
    match rate {
        Some(r) if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&r) => Err(format!(
            "sample_rate must be between {MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE}"
        )),
        _ => Ok(()),
    }
}

/// A request body of a binary-audio route.
pub(crate) trait AudioRequest: Sized + Send + 'static {
    /// The hook and metric name (`tts`, `music`).
    const NAME: &'static str;
    /// The JSON shape, for the 400 answer to a body that is not it.
    const SHAPE: &'static str;
    /// The body as this request, if it is one.
    fn parse(body: &[u8]) -> Option<Self>;
    /// The preferred sample rate, if the caller named one.
    fn sample_rate(&self) -> Option<u32>;
}

impl AudioRequest for TtsRequest {
    const NAME: &'static str = "tts";
    const SHAPE: &'static str = "{\"text\": string, \"voice\"?: string, \"sample_rate\"?: integer}";
    fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }
    fn sample_rate(&self) -> Option<u32> {
        self.sample_rate
    }
}

impl AudioRequest for MusicRequest {
    const NAME: &'static str = "music";
    const SHAPE: &'static str =
        "{\"text\": string, \"duration_seconds\"?: number, \"sample_rate\"?: integer}";
    fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }
    fn sample_rate(&self) -> Option<u32> {
        self.sample_rate
    }
}

/// A route that parses an `R` and hands it to `handler`.
pub(crate) struct TypedAudio<R, F> {
    handler: F,
    request: PhantomData<fn() -> R>,
}

impl<R, F> TypedAudio<R, F> {
    pub(crate) fn new(handler: F) -> Self {
        TypedAudio {
            handler,
            request: PhantomData,
        }
    }
}

impl<R, F, Fut> AudioRoute for TypedAudio<R, F>
where
    R: AudioRequest,
    F: Fn(Caller, R, AudioEncoding) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<TtsAudio, ForwardError>> + Send + 'static,
{
    fn name(&self) -> &'static str {
        R::NAME
    }

    fn prepare(
        &self,
        caller: Caller,
        body: &[u8],
        encoding: AudioEncoding,
    ) -> Result<Forward, String> {
        let request = R::parse(body).ok_or_else(|| format!("body must be JSON {}", R::SHAPE))?;
        check_sample_rate(request.sample_rate())?;
        Ok(Box::pin((self.handler)(caller, request, encoding)))
    }
}

/// The binary-audio route at `path`, if this axon serves one there.
pub(crate) fn route_for(state: &AxonState, path: &str) -> Option<Arc<dyn AudioRoute>> {
    state.audio_routes.get(path).cloned()
}

/// A `{"error": …}` reply.
fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        );
    }
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    response
}

fn unauthorized(e: &AuthError) -> Response {
    metrics::counter!("axon_btauth_refused_total", "reason" => e.kind()).increment(1);
    error(StatusCode::UNAUTHORIZED, &e.to_string())
}

pub(crate) async fn handle(
    state: Arc<AxonState>,
    route: Arc<dyn AudioRoute>,
    peer: SocketAddr,
    request: Request,
    started: Instant,
) -> Response {
    let (parts, body) = request.into_parts();
    if parts.method != Method::POST {
        return error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    }
    let limit = state.config.max_body_bytes;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("Request body exceeds {limit} bytes"),
        );
    }
    // Steps 1–3 need no body: a request that fails them is refused before it is read.
    let pairs = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
    let pending = match btauth::check_headers(
        pairs,
        &state.hotkey_ss58,
        &state.config.btauth,
        btauth::now_ns(),
    ) {
        Ok(p) => p,
        Err(e) => return unauthorized(&e),
    };

    let timeout = state.config.max_request_timeout;
    let deadline = started + timeout;
    let read = tokio::time::timeout_at(deadline.into(), axum::body::to_bytes(body, limit)).await;
    let body = match read {
        Ok(Ok(body)) => body,
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                "Request body did not arrive in time",
            );
        }
        Ok(Err(e)) => {
            let inner = e.into_inner();
            return if crate::server::is_body_timeout(inner.as_ref()) {
                error(
                    StatusCode::REQUEST_TIMEOUT,
                    "Request body did not arrive in time",
                )
            } else {
                error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("Request body exceeds {limit} bytes or could not be read"),
                )
            };
        }
    };

    // The request target exactly as sent: the path with its query.
    let target = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |p| p.as_str());
    let verified = match pending.verify(parts.method.as_str(), target, &body) {
        Ok(v) => v,
        Err(e) => return unauthorized(&e),
    };
    let caller = Caller {
        hotkey: verified.hotkey,
        hotkey_ss58: verified.hotkey_ss58,
        version: None,
        peer,
        binding: BodyBinding::Hashed,
        timeout,
    };
    if let Err(reason) = state.hooks.blacklist(route.name(), &caller) {
        tracing::debug!(hotkey = %caller.hotkey_ss58, %reason, "blacklisted (btauth)");
        return error(
            StatusCode::FORBIDDEN,
            &format!("Forbidden. Key is blacklisted: {reason}."),
        );
    }
    // Only a verified, welcome caller gets a nonce remembered.
    let replay = state
        .replay
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .check_and_store(&caller.hotkey, verified.nonce_ns, Instant::now());
    if let Err(e) = replay {
        return unauthorized(&e);
    }

    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let encoding = AudioEncoding::from_accept(accept);
    let priority = state.hooks.priority(route.name(), &caller);
    let forward = match route.prepare(caller, &body, encoding) {
        Ok(forward) => forward,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };

    let admitted = tokio::time::timeout_at(deadline.into(), state.gate.acquire(priority)).await;
    let _permit = match admitted {
        Ok(Ok(p)) => p,
        Ok(Err(_)) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service at capacity: request queue is full",
            );
        }
        Err(_) => {
            return error(
                StatusCode::GATEWAY_TIMEOUT,
                "Request timed out in the queue",
            );
        }
    };
    match tokio::time::timeout_at(deadline.into(), forward).await {
        Err(_) => error(StatusCode::GATEWAY_TIMEOUT, "Synthesis timed out"),
        Ok(Err(ForwardError::BadRequest(m))) => error(StatusCode::BAD_REQUEST, &m),
        Ok(Err(ForwardError::Overloaded(m))) => error(StatusCode::SERVICE_UNAVAILABLE, &m),
        Ok(Err(ForwardError::Internal(m))) => {
            let id = uuid::Uuid::new_v4().simple().to_string();
            tracing::error!(route = route.name(), error_id = %id, "btauth request failed: {m}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("Internal Server Error #{id}"),
            )
        }
        Ok(Ok(audio)) => audio_response(audio, encoding),
    }
}

fn audio_response(audio: TtsAudio, encoding: AudioEncoding) -> Response {
    let mut response = (StatusCode::OK, Body::from(audio.body)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    h.insert(HEADER_SAMPLE_RATE, HeaderValue::from(audio.sample_rate));
    h.insert(HEADER_ENCODING, HeaderValue::from_static(encoding.name()));
    // The engine name is ours, but keep the header valid whatever it holds.
    if let Ok(v) = HeaderValue::try_from(audio.model) {
        h.insert(HEADER_MODEL, v);
    }
    response
}

//! `POST /tts` for `btauth/1` callers (bittensor SDK 11): verify, blacklist, replay, admit,
//! synthesize, answer with binary audio.
//!
//! Order: method → declared body size → header shape, receiver binding and freshness (cheap,
//! before any body is read) → body (bounded, under the deadline) → signature over the body →
//! blacklist (403) → replay store (written only now) → JSON request → priority gate → handler.
//! Errors are `{"error": "..."}` and never echo header values, the signature or the payload.

use crate::{AxonState, Caller, ForwardError};
use audiosubnet_protocol::BodyBinding;
use audiosubnet_protocol::btauth::{self, AuthError};
use audiosubnet_protocol::tts_http::{
    AudioEncoding, HEADER_ENCODING, HEADER_MODEL, HEADER_SAMPLE_RATE, MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE, TTS_PATH, TtsRequest,
};
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use http::{HeaderValue, Method, StatusCode, header};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// Seconds a refused-for-capacity caller is told to wait.
const RETRY_AFTER_SECS: &str = "1";
/// The name the blacklist and priority hooks see for this route.
const HOOK_NAME: &str = "tts";

/// Audio a `/tts` handler produced, already encoded as the caller asked.
#[derive(Debug, Clone)]
pub struct TtsAudio {
    /// The body: a WAV file, or raw s16le samples ([`AudioEncoding`]).
    pub body: Bytes,
    /// Samples per second.
    pub sample_rate: u32,
    /// The engine's name (`X-Audio-Model`).
    pub model: String,
}

/// A `/tts` handler with its types erased.
pub(crate) trait TtsRoute: Send + Sync {
    fn call(
        &self,
        caller: Caller,
        request: TtsRequest,
        encoding: AudioEncoding,
    ) -> BoxFuture<'static, Result<TtsAudio, ForwardError>>;
}

pub(crate) struct TypedTts<F> {
    handler: F,
}

impl<F> TypedTts<F> {
    pub(crate) fn new(handler: F) -> Self {
        TypedTts { handler }
    }
}

impl<F, Fut> TtsRoute for TypedTts<F>
where
    F: Fn(Caller, TtsRequest, AudioEncoding) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<TtsAudio, ForwardError>> + Send + 'static,
{
    fn call(
        &self,
        caller: Caller,
        request: TtsRequest,
        encoding: AudioEncoding,
    ) -> BoxFuture<'static, Result<TtsAudio, ForwardError>> {
        Box::pin((self.handler)(caller, request, encoding))
    }
}

/// Whether `path` is the `btauth/1` TTS route of this axon.
pub(crate) fn is_tts(state: &AxonState, path: &str) -> bool {
    state.tts.is_some() && path == TTS_PATH
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
    tts: Arc<dyn TtsRoute>,
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
    if let Err(reason) = state.hooks.blacklist(HOOK_NAME, &caller) {
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

    let request: TtsRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "body must be JSON {\"text\": string, \"voice\"?: string, \"sample_rate\"?: integer}",
            );
        }
    };
    if request
        .sample_rate
        .is_some_and(|r| !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&r))
    {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("sample_rate must be between {MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE}"),
        );
    }
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let encoding = AudioEncoding::from_accept(accept);

    let priority = state.hooks.priority(HOOK_NAME, &caller);
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
    let forward = tts.call(caller, request, encoding);
    match tokio::time::timeout_at(deadline.into(), forward).await {
        Err(_) => error(StatusCode::GATEWAY_TIMEOUT, "Synthesis timed out"),
        Ok(Err(ForwardError::BadRequest(m))) => error(StatusCode::BAD_REQUEST, &m),
        Ok(Err(ForwardError::Overloaded(m))) => error(StatusCode::SERVICE_UNAVAILABLE, &m),
        Ok(Err(ForwardError::Internal(m))) => {
            let id = uuid::Uuid::new_v4().simple().to_string();
            tracing::error!(route = TTS_PATH, error_id = %id, "tts failed: {m}");
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

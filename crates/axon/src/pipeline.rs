//! The request pipeline and the HTTP responses it produces.

use crate::{AxonState, Caller, ForwardError};
use audiosubnet_protocol::{
    PROTOCOL_VERSION, ProtocolError, ResponseBody, Synapse, SynapseHeaders, TerminalInfo,
    check_body_hash, parse_signature, signature_message, split_request_body,
};
use audiosubnet_wallet::AccountId;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use serde_json::{Map, Value};
use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A route for one synapse type, with the type erased so routes can share a table.
pub(crate) trait ErasedRoute: Send + Sync {
    fn name(&self) -> &'static str;
    fn handle(&self, ctx: RequestContext, body: Bytes) -> BoxFuture<'static, Response>;
}

/// What the generic stages learned about a request.
pub(crate) struct RequestContext {
    state: Arc<AxonState>,
    headers: SynapseHeaders,
    caller: Caller,
    started: Instant,
}

pub(crate) struct TypedRoute<S, F> {
    handler: Arc<F>,
    _synapse: PhantomData<fn() -> S>,
}

impl<S, F> TypedRoute<S, F> {
    pub(crate) fn new(handler: F) -> Self {
        TypedRoute {
            handler: Arc::new(handler),
            _synapse: PhantomData,
        }
    }
}

impl<S, F, Fut> ErasedRoute for TypedRoute<S, F>
where
    S: Synapse,
    F: Fn(Caller, S) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<S, ForwardError>> + Send + 'static,
{
    fn name(&self) -> &'static str {
        S::NAME
    }

    fn handle(&self, ctx: RequestContext, body: Bytes) -> BoxFuture<'static, Response> {
        let handler = self.handler.clone();
        Box::pin(async move {
            let parsed = parse_body::<S>(&body, ctx.headers.computed_body_hash.as_deref());
            let (echo, request, binding) = match parsed {
                Ok(p) => p,
                Err((status, msg)) => return ctx.error(status, msg),
            };
            let mut ctx = ctx;
            ctx.caller.binding = binding;
            let priority = ctx.state.hooks.priority(S::NAME, &ctx.caller);
            let deadline = ctx.started + ctx.caller.timeout;
            let admitted =
                tokio::time::timeout_at(deadline.into(), ctx.state.gate.acquire(priority)).await;
            let _permit = match admitted {
                Ok(Ok(p)) => p,
                Ok(Err(_)) => {
                    return ctx.error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Service at capacity: request queue is full".into(),
                    );
                }
                Err(_) => return ctx.timeout_error(),
            };
            let forward = handler(ctx.caller.clone(), request);
            match tokio::time::timeout_at(deadline.into(), forward).await {
                Err(_) => ctx.timeout_error(),
                Ok(Err(ForwardError::BadRequest(m))) => ctx.error(StatusCode::BAD_REQUEST, m),
                Ok(Err(ForwardError::Overloaded(m))) => {
                    ctx.error(StatusCode::SERVICE_UNAVAILABLE, m)
                }
                Ok(Err(ForwardError::Internal(m))) => {
                    let id = uuid::Uuid::new_v4().simple().to_string();
                    tracing::error!(synapse = S::NAME, error_id = %id, "forward failed: {m}");
                    ctx.error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("Internal Server Error #{id}"),
                    )
                }
                Ok(Ok(response)) => ctx.success(&echo, &response),
            }
        })
    }
}

type ParsedBody<S> = (Map<String, Value>, S, audiosubnet_protocol::BodyBinding);

/// Body integrity and typing. Statuses follow the Python axon: a body that is not a JSON
/// object is 422 (FastAPI's request validation), a hash mismatch or invalid fields are 500.
fn parse_body<S: Synapse>(
    body: &[u8],
    signed_hash: Option<&str>,
) -> Result<ParsedBody<S>, (StatusCode, String)> {
    let map: Map<String, Value> = if body.is_empty() {
        Map::new()
    } else {
        serde_json::from_slice(body).map_err(|e| {
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                ProtocolError::InvalidBody(e.to_string()).to_string(),
            )
        })?
    };
    let internal = |e: ProtocolError| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let binding = check_body_hash::<S>(&map, signed_hash.unwrap_or_default()).map_err(internal)?;
    let (echo, synapse) = split_request_body::<S>(map).map_err(internal)?;
    Ok((echo, synapse, binding))
}

pub(crate) fn router(state: Arc<AxonState>) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

async fn dispatch(
    State(state): State<Arc<AxonState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let name = request.uri().path().trim_start_matches('/').to_string();
    let metric_name = if state.routes.contains_key(name.as_str()) {
        name.clone()
    } else if let Some(route) = crate::btauth_route::route_for(&state, request.uri().path()) {
        route.name().into()
    } else {
        "unknown".into()
    };
    let response = run_pipeline(state, peer, request, started).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("axon_requests_total", "synapse" => metric_name.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("axon_request_duration_seconds", "synapse" => metric_name)
        .record(started.elapsed().as_secs_f64());
    response
}

async fn run_pipeline(
    state: Arc<AxonState>,
    peer: SocketAddr,
    request: Request,
    started: Instant,
) -> Response {
    // `POST /tts` and `POST /music` are the btauth/1 routes; everything else is a Synapse route.
    if let Some(route) = crate::btauth_route::route_for(&state, request.uri().path()) {
        return crate::btauth_route::handle(state, route, peer, request, started).await;
    }
    let (parts, body) = request.into_parts();
    let name = parts.uri.path().trim_start_matches('/');
    let pairs = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
    let parsed_headers = SynapseHeaders::parse(pairs);

    let Some(route) = state.routes.get(name).cloned() else {
        let msg = format!(
            "Synapse name '{name}' not found. Available synapses {:?}",
            state.route_names
        );
        let headers = parsed_headers.unwrap_or_default();
        return error_response(&state, &headers, StatusCode::NOT_FOUND, msg, started);
    };
    if parts.method != Method::POST && parts.method != Method::GET {
        let headers = parsed_headers.unwrap_or_default();
        let msg = "Method Not Allowed".to_string();
        return error_response(
            &state,
            &headers,
            StatusCode::METHOD_NOT_ALLOWED,
            msg,
            started,
        );
    }
    let mut headers = match parsed_headers {
        Ok(h) => h,
        Err(e) => {
            // The Python axon answers 500 when the headers do not validate.
            let msg = format!("Synapse parsing error: {e}");
            let status = StatusCode::INTERNAL_SERVER_ERROR;
            return error_response(&state, &SynapseHeaders::default(), status, msg, started);
        }
    };
    // The socket is the truth about where the caller is.
    headers.dendrite.ip = Some(peer.ip().to_string());
    headers.dendrite.port = Some(i64::from(peer.port()));

    // A declared body over the limit is refused before any work: nothing of it is read, and
    // hyper closes the connection instead of draining it.
    let limit = state.config.max_body_bytes;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        let msg = format!("Request body exceeds {limit} bytes");
        return error_response(
            &state,
            &headers,
            StatusCode::PAYLOAD_TOO_LARGE,
            msg,
            started,
        );
    }

    let verified = match verify_signature(&state, &headers, peer) {
        Ok(c) => c,
        Err(msg) => {
            let msg = format!("Not Verified with error: {msg}");
            return error_response(&state, &headers, StatusCode::UNAUTHORIZED, msg, started);
        }
    };
    if let Err(reason) = state.hooks.blacklist(name, &verified.caller) {
        tracing::debug!(hotkey = %verified.caller.hotkey_ss58, %reason, "blacklisted");
        let msg = format!("Forbidden. Key is blacklisted: {reason}.");
        return error_response(&state, &headers, StatusCode::FORBIDDEN, msg, started);
    }
    // Only now, with the caller verified and welcome, is its nonce checked and remembered.
    if let Err(msg) = check_nonce(&state, &headers, &verified) {
        let msg = format!("Not Verified with error: {msg}");
        return error_response(&state, &headers, StatusCode::UNAUTHORIZED, msg, started);
    }
    let caller = verified.caller;

    let deadline = started + caller.timeout;
    let read = tokio::time::timeout_at(deadline.into(), axum::body::to_bytes(body, limit)).await;
    let body = match read {
        Ok(Ok(body)) => body,
        Err(_) => {
            let secs = caller.timeout.as_secs_f64();
            let msg = format!("Request timeout after {secs} seconds");
            return error_response(&state, &headers, StatusCode::REQUEST_TIMEOUT, msg, started);
        }
        Ok(Err(e)) => {
            let error = e.into_inner();
            let (status, msg) = if crate::server::is_body_timeout(error.as_ref()) {
                (
                    StatusCode::REQUEST_TIMEOUT,
                    "Request body did not arrive in time".to_string(),
                )
            } else {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("Request body exceeds {limit} bytes or could not be read"),
                )
            };
            return error_response(&state, &headers, status, msg, started);
        }
    };
    let ctx = RequestContext {
        state,
        headers,
        caller,
        started,
    };
    route.handle(ctx, body).await
}

/// A caller whose signature verified, with what the nonce check needs.
struct Verified {
    caller: Caller,
    nonce: i64,
    key: String,
}

/// The signature half of `Axon.default_verify` (the signature is always required). Stores
/// nothing: the nonce is checked by [`check_nonce`] once the blacklist accepted the caller.
fn verify_signature(
    state: &AxonState,
    h: &SynapseHeaders,
    peer: SocketAddr,
) -> Result<Verified, String> {
    let d = &h.dendrite;
    let hotkey_ss58 = d.hotkey.as_deref().ok_or("Missing Hotkey")?;
    let nonce = d.nonce.ok_or("Missing Nonce")?;
    let signature = d.signature.as_deref().ok_or("Missing Signature")?;
    let uuid = d.uuid.as_deref().unwrap_or("None");
    let body_hash = h.computed_body_hash.as_deref().unwrap_or("");
    let hotkey = AccountId::from_ss58(hotkey_ss58).map_err(|e| format!("Invalid hotkey: {e}"))?;
    let signature = parse_signature(signature).map_err(|e| e.to_string())?;
    let message = signature_message(nonce, hotkey_ss58, &state.hotkey_ss58, uuid, body_hash);
    if !hotkey.verify(message.as_bytes(), &signature) {
        return Err(format!("Signature mismatch with {message}"));
    }
    Ok(Verified {
        caller: Caller {
            hotkey,
            hotkey_ss58: hotkey_ss58.to_string(),
            version: d.version,
            peer,
            binding: audiosubnet_protocol::BodyBinding::Hashed,
            timeout: request_timeout(h.timeout, state.config.max_request_timeout),
        },
        nonce,
        key: format!("{hotkey_ss58}:{uuid}"),
    })
}

/// The nonce half of `Axon.default_verify`: replay and age rules, then the nonce is recorded.
fn check_nonce(state: &AxonState, h: &SynapseHeaders, v: &Verified) -> Result<(), String> {
    state
        .nonces
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .check_and_record(&v.key, v.nonce, v.caller.version, h.timeout, now_ns())
        .map_err(|e| e.to_string())
}

/// The caller's `timeout` header as a budget: capped by `max`; absent, NaN, infinite, zero or
/// negative values mean `max`. (Clamped before the conversion, which panics on huge values.)
fn request_timeout(header: Option<f64>, max: Duration) -> Duration {
    header
        .filter(|t| t.is_finite() && *t > 0.0)
        .map_or(max, |t| Duration::from_secs_f64(t.min(max.as_secs_f64())))
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl RequestContext {
    fn error(&self, status: StatusCode, message: String) -> Response {
        error_response(&self.state, &self.headers, status, message, self.started)
    }

    fn timeout_error(&self) -> Response {
        let secs = self.caller.timeout.as_secs_f64();
        self.error(
            StatusCode::REQUEST_TIMEOUT,
            format!("Request timeout after {secs} seconds"),
        )
    }

    fn success<S: Synapse>(&self, echo: &Map<String, Value>, response: &S) -> Response {
        let axon = axon_terminal(&self.state, StatusCode::OK, "Success", self.started);
        let body = ResponseBody {
            echo,
            dendrite: &self.headers.dendrite,
            axon: &axon,
            synapse: response,
        };
        match serde_json::to_vec(&body) {
            Ok(bytes) => {
                let headers = SynapseHeaders {
                    axon,
                    ..self.headers.clone()
                };
                with_headers(StatusCode::OK, &headers, Body::from(bytes))
            }
            Err(e) => {
                tracing::error!(synapse = S::NAME, "response does not serialize: {e}");
                self.error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Response serialization failed".into(),
                )
            }
        }
    }
}

fn axon_terminal(
    state: &AxonState,
    status: StatusCode,
    message: &str,
    started: Instant,
) -> TerminalInfo {
    TerminalInfo {
        status_code: Some(i64::from(status.as_u16())),
        status_message: Some(message.to_string()),
        process_time: Some(started.elapsed().as_secs_f64()),
        ip: state.config.external_ip.clone(),
        port: state.config.external_port.map(i64::from),
        version: Some(PROTOCOL_VERSION),
        nonce: Some(now_ns()),
        uuid: Some(state.uuid.clone()),
        hotkey: Some(state.hotkey_ss58.clone()),
        signature: None,
    }
}

/// An error reply as the Python axon sends it: `{"message": …}` and the full header set.
fn error_response(
    state: &AxonState,
    headers: &SynapseHeaders,
    status: StatusCode,
    message: String,
    started: Instant,
) -> Response {
    let axon = axon_terminal(state, status, &message, started);
    let body = serde_json::json!({ "message": message }).to_string();
    let headers = SynapseHeaders {
        axon,
        ..headers.clone()
    };
    with_headers(status, &headers, Body::from(body))
}

fn with_headers(status: StatusCode, headers: &SynapseHeaders, body: Body) -> Response {
    let mut response = (status, body).into_response();
    let map = response.headers_mut();
    map.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (k, v) in headers.to_pairs() {
        // Values from the caller that are not valid header text are dropped, not echoed.
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            map.insert(k, v);
        }
    }
    response
}

//! The Synapse HTTP client (a "dendrite"), wire-compatible with Python SDK axons (6.x–10.x).
//!
//! A [`Dendrite`] signs each request with its hotkey, sends it to one or many axons at once with
//! a per-call timeout over pooled keep-alive connections, and turns every outcome into a
//! [`SynapseResponse`] with the SDK's status codes: 200 success, the axon's own error status,
//! or client-side 408 (timeout), 503 (unreachable), 422 (unparseable reply).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use audiosubnet_dendrite::{AxonTarget, Dendrite};
//! use audiosubnet_protocol::TextToSpeech;
//! use audiosubnet_wallet::Keypair;
//! use std::time::Duration;
//!
//! let dendrite = Dendrite::new(Keypair::from_uri("//Alice")?);
//! let target: AxonTarget = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty@127.0.0.2:8091".parse()?;
//! let reply = dendrite
//!     .call(&target, &TextToSpeech::request("Hello."), Duration::from_secs(12))
//!     .await;
//! println!("{} {}", reply.status_code, reply.status_message);
//! # Ok(()) }
//! ```

mod btauth_client;
pub mod reply;
mod target;
pub mod transport;

pub use btauth_client::{AudioAsk, MAX_BTAUTH_REPLY_BYTES, Spoken};
pub use reply::{
    AxonStatus, MAX_MINER_TEXT_BYTES, MAX_TTS_REPLY_BYTES, Reply, TtsReply, bounded_text,
};
pub use target::{AxonTarget, TargetParseError};
pub use transport::{Transport, TransportCache, TransportMode};

use audiosubnet_protocol::{
    PROTOCOL_VERSION, RequestBody, Synapse, SynapseHeaders, TerminalInfo, format_signature,
    signature_message, synapse_body_hash,
};
use audiosubnet_wallet::Keypair;
use base64::Engine;
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Client limits.
#[derive(Debug, Clone)]
pub struct DendriteConfig {
    /// Largest response body read; larger replies count as unparseable (422) and are refused
    /// before parsing, so a hostile axon cannot exhaust the caller's memory. The default fits the
    /// longest clip the validator accepts ([`MAX_TTS_REPLY_BYTES`]).
    pub max_response_bytes: usize,
    /// Calls in flight at once during a fan-out.
    pub max_in_flight: usize,
    /// IP this dendrite reports as its own (`bt_header_dendrite_ip`).
    pub external_ip: String,
}

impl Default for DendriteConfig {
    fn default() -> Self {
        DendriteConfig {
            max_response_bytes: MAX_TTS_REPLY_BYTES,
            max_in_flight: 256,
            external_ip: "0.0.0.0".into(),
        }
    }
}

/// The outcome of one call: always a value, never an error, like the SDK's returned synapse.
#[derive(Debug, Clone)]
pub struct SynapseResponse<S> {
    /// The axon that was called.
    pub target: AxonTarget,
    /// The response synapse when the axon answered 200 with a parseable body.
    pub synapse: Option<S>,
    /// 200 on success; the axon's HTTP status; or 408/503/422/500 on the client side.
    pub status_code: u16,
    /// The axon's or the client's message, through [`bounded_text`].
    pub status_message: String,
    /// Seconds the axon reported spending.
    pub process_time: Option<f64>,
    /// Wall time of the call as seen by the client.
    pub elapsed: Duration,
    /// Bytes of the reply body read (0 when none was).
    pub body_bytes: usize,
}

impl<S> SynapseResponse<S> {
    /// True when the axon answered 200 and its reply parsed.
    pub fn is_success(&self) -> bool {
        self.status_code == 200 && self.synapse.is_some()
    }
}

/// A signing Synapse client. Cheap to share behind an `Arc`; one per process is typical.
pub struct Dendrite {
    keypair: Keypair,
    hotkey_ss58: String,
    uuid: String,
    config: DendriteConfig,
    client: Client<HttpConnector, Full<Bytes>>,
    last_nonce: AtomicI64,
    /// Per-hotkey transport detection ([`TransportMode::Auto`]).
    transports: std::sync::Mutex<TransportCache>,
}

impl Dendrite {
    /// A dendrite signing as `keypair` with default limits.
    pub fn new(keypair: Keypair) -> Self {
        Self::with_config(keypair, DendriteConfig::default())
    }

    /// A dendrite with explicit limits.
    pub fn with_config(keypair: Keypair, config: DendriteConfig) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Dendrite {
            hotkey_ss58: keypair.ss58(),
            keypair,
            uuid: uuid::Uuid::now_v1(&node_id()).to_string(),
            config,
            client,
            last_nonce: AtomicI64::new(0),
            transports: std::sync::Mutex::new(TransportCache::default()),
        }
    }

    /// The hotkey requests are signed with.
    pub fn hotkey(&self) -> &str {
        &self.hotkey_ss58
    }

    /// A fresh nonce: wall-clock nanoseconds, strictly increasing across concurrent calls so two
    /// requests from this instance never share one.
    fn next_nonce(&self) -> i64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        let mut last = self.last_nonce.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match self.last_nonce.compare_exchange_weak(
                last,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(actual) => last = actual,
            }
        }
    }

    /// Sends `synapse` to every target concurrently; results are in target order.
    pub async fn forward<S: Synapse>(
        &self,
        targets: &[AxonTarget],
        synapse: &S,
        timeout: Duration,
    ) -> Vec<SynapseResponse<S>> {
        self.forward_for::<S, S>(targets, synapse, timeout).await
    }

    /// As [`forward`](Self::forward), reading each reply as `R` (e.g. [`TtsReply`]: only the
    /// fields the validator scores).
    pub async fn forward_for<S: Synapse, R: Reply>(
        &self,
        targets: &[AxonTarget],
        synapse: &S,
        timeout: Duration,
    ) -> Vec<SynapseResponse<R>> {
        futures::stream::iter(
            targets
                .iter()
                .map(|t| self.call_for::<S, R>(t, synapse, timeout)),
        )
        .buffered(self.config.max_in_flight.max(1))
        .collect()
        .await
    }

    /// Sends `synapse` to one axon and waits at most `timeout` for the whole reply.
    pub async fn call<S: Synapse>(
        &self,
        target: &AxonTarget,
        synapse: &S,
        timeout: Duration,
    ) -> SynapseResponse<S> {
        self.call_for::<S, S>(target, synapse, timeout).await
    }

    /// As [`call`](Self::call), reading the reply as `R`.
    pub async fn call_for<S: Synapse, R: Reply>(
        &self,
        target: &AxonTarget,
        synapse: &S,
        timeout: Duration,
    ) -> SynapseResponse<R> {
        let request = self.build_request(target, synapse, timeout);
        timed_call(target, S::NAME, timeout, request, |r| self.exchange::<R>(r)).await
    }

    fn build_request<S: Synapse>(
        &self,
        target: &AxonTarget,
        synapse: &S,
        timeout: Duration,
    ) -> Result<http::Request<Full<Bytes>>, String> {
        let nonce = self.next_nonce();
        let body_hash = synapse_body_hash(synapse);
        let message = signature_message(
            nonce,
            &self.hotkey_ss58,
            &target.hotkey,
            &self.uuid,
            &body_hash,
        );
        let signature = format_signature(&self.keypair.sign(message.as_bytes()));
        let dendrite = TerminalInfo {
            ip: Some(self.config.external_ip.clone()),
            version: Some(PROTOCOL_VERSION),
            nonce: Some(nonce),
            uuid: Some(self.uuid.clone()),
            hotkey: Some(self.hotkey_ss58.clone()),
            signature: Some(signature),
            ..Default::default()
        };
        let axon = TerminalInfo {
            ip: Some(target.ip.to_string()),
            port: Some(i64::from(target.port)),
            hotkey: Some(target.hotkey.clone()),
            ..Default::default()
        };
        let timeout_secs = timeout.as_secs_f64();
        let headers = SynapseHeaders {
            name: Some(S::NAME.to_string()),
            timeout: Some(timeout_secs),
            dendrite: dendrite.clone(),
            axon: axon.clone(),
            computed_body_hash: Some(body_hash),
            input_objects: placeholders::<S>(),
        };
        let body = RequestBody {
            name: S::NAME,
            timeout: timeout_secs,
            total_size: 0,
            header_size: 0,
            dendrite: &dendrite,
            axon: &axon,
            computed_body_hash: "",
            required_hash_fields: S::HASH_FIELDS,
            synapse,
        };
        let body =
            serde_json::to_vec(&body).map_err(|e| format!("request does not serialize: {e}"))?;
        let mut builder = http::Request::post(target.url(S::NAME))
            .header(http::header::CONTENT_TYPE, "application/json");
        for (k, v) in headers.to_pairs() {
            builder = builder.header(k, v);
        }
        builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("request: {e}"))
    }

    async fn exchange<R: Reply>(&self, request: http::Request<Full<Bytes>>) -> Outcome<R> {
        let response = match self.client.request(request).await {
            Ok(r) => r,
            Err(e) => return Outcome::transport_failed(&e),
        };
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
        let header_status =
            header("bt_header_axon_status_code").and_then(|v| v.trim().parse::<u16>().ok());
        let header_message = header("bt_header_axon_status_message").map(bounded_text);
        let header_process_time =
            header("bt_header_axon_process_time").and_then(|v| v.trim().parse::<f64>().ok());
        if status != 200 {
            // An error needs a message, not megabytes: read a little, and fall back to the
            // header when the body is too long or not the SDK's `{"message": …}`.
            let message = match read_body(response.into_body(), MAX_ERROR_BODY_BYTES).await {
                Ok(body) => serde_json::from_slice::<ErrorBody>(&body)
                    .ok()
                    .and_then(|b| b.message),
                Err(_) => None,
            };
            let message = message
                .or(header_message)
                .unwrap_or_else(|| format!("HTTP {status}"));
            return Outcome::failed(status, message);
        }
        let limit = self.config.max_response_bytes;
        let body = match read_body(response.into_body(), limit).await {
            Ok(b) => b,
            Err(BodyError::TooLong) => {
                return Outcome::failed(
                    422,
                    format!("Failed to parse response: body exceeds {limit} bytes"),
                );
            }
            Err(BodyError::Read(e)) => {
                return Outcome::failed(422, format!("Response body could not be read: {e}"));
            }
        };
        let body_bytes = body.len();
        let (mut reply, body) = match parse_reply::<R>(body, limit).await {
            Ok(parsed) => parsed,
            Err(e) => return Outcome::failed(422, format!("Failed to parse response: {e}")),
        };
        // The status headers are authoritative (the SDK merges them over the body); the body's
        // `axon` object counts only when they are absent.
        let axon = match header_status {
            Some(code) => AxonStatus {
                status_code: Some(i64::from(code)),
                status_message: header_message,
                process_time: header_process_time,
            },
            None => match reply.take_axon() {
                Some(axon) => axon,
                // A reply type that does not read the terminal: a second, small pass.
                None => match body.as_deref().map(serde_json::from_slice::<BodyAxon>) {
                    Some(Ok(t)) => t.axon.unwrap_or_default(),
                    Some(Err(e)) => {
                        return Outcome::failed(422, format!("Failed to parse response: {e}"));
                    }
                    None => AxonStatus::default(),
                },
            },
        };
        drop(body);
        let axon_status = axon.status_code.and_then(|c| u16::try_from(c).ok());
        match axon_status {
            Some(200) => Outcome {
                synapse: Some(reply),
                status_code: 200,
                status_message: axon.status_message.unwrap_or_else(|| "Success".into()),
                process_time: axon.process_time,
                body_bytes,
            },
            // The SDK treats a reply without an axon status as a failure.
            other => Outcome {
                synapse: None,
                status_code: other.unwrap_or(422),
                status_message: axon
                    .status_message
                    .unwrap_or_else(|| "Response carries no axon status".into()),
                process_time: axon.process_time,
                body_bytes,
            },
        }
    }
}

/// Most of an error reply read for its message.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Replies past this size are parsed on the blocking pool, off the async workers.
const INLINE_PARSE_BYTES: usize = 256 * 1024;

/// The SDK's error body.
#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
}

/// The `axon` terminal alone, for reply types that do not read it.
#[derive(serde::Deserialize)]
struct BodyAxon {
    #[serde(default)]
    axon: Option<AxonStatus>,
}

enum BodyError {
    TooLong,
    Read(hyper::Error),
}

/// Reads a body into one buffer of at most `limit` bytes, refusing a larger body as soon as its
/// declared length or the bytes received pass the limit (nothing is parsed before that).
async fn read_body(mut body: hyper::body::Incoming, limit: usize) -> Result<Vec<u8>, BodyError> {
    use hyper::body::Body as _;
    let declared = body.size_hint().exact();
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLong);
    }
    // One buffer sized from the declared length (already bounded), so it is not regrown.
    let mut out = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BodyError::Read)?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(BodyError::TooLong);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// Parses `body` as `R` (on the blocking pool when large). The body comes back only when `R`
/// needs a second pass for the axon terminal; otherwise it is freed right after parsing.
async fn parse_reply<R: Reply>(
    body: Vec<u8>,
    limit: usize,
) -> Result<(R, Option<Vec<u8>>), String> {
    let inline = body.len() <= INLINE_PARSE_BYTES;
    let parse = move || {
        let reply: R = reply::parse_body(&body, limit)?;
        Ok((reply, (!R::READS_AXON).then_some(body)))
    };
    if inline {
        return parse();
    }
    tokio::task::spawn_blocking(parse)
        .await
        .map_err(|e| format!("parser task failed: {e}"))?
}

/// Runs one exchange under `timeout` and turns its outcome into the caller's response; shared
/// by both transports so they time, log and bound miner text the same way.
async fn timed_call<R, Fut>(
    target: &AxonTarget,
    label: &str,
    timeout: Duration,
    request: Result<http::Request<Full<Bytes>>, String>,
    exchange: impl FnOnce(http::Request<Full<Bytes>>) -> Fut,
) -> SynapseResponse<R>
where
    Fut: std::future::Future<Output = Outcome<R>>,
{
    let started = Instant::now();
    let outcome = match request {
        Ok(request) => match tokio::time::timeout(timeout, exchange(request)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::failed(
                408,
                format!("Request timeout after {} seconds", timeout.as_secs_f64()),
            ),
        },
        Err(msg) => Outcome::failed(500, msg),
    };
    tracing::debug!(
        axon = %target, status = outcome.status_code, elapsed_ms = started.elapsed().as_millis() as u64,
        "{label} call"
    );
    SynapseResponse {
        target: target.clone(),
        synapse: outcome.synapse,
        status_code: outcome.status_code,
        // The one place miner text enters: bounded before anyone logs or stores it.
        status_message: bounded_text(&outcome.status_message),
        process_time: outcome.process_time,
        elapsed: started.elapsed(),
        body_bytes: outcome.body_bytes,
    }
}

struct Outcome<S> {
    synapse: Option<S>,
    status_code: u16,
    status_message: String,
    process_time: Option<f64>,
    body_bytes: usize,
}

impl<S> Outcome<S> {
    fn failed(status_code: u16, status_message: String) -> Self {
        Outcome {
            synapse: None,
            status_code,
            status_message,
            process_time: None,
            body_bytes: 0,
        }
    }

    /// No HTTP answer: 503 when the axon could not be reached, 500 when the exchange broke
    /// off. The message names the cause, not just hyper's outer "client error (SendRequest)".
    fn transport_failed(error: &hyper_util::client::legacy::Error) -> Self {
        let status = if error.is_connect() { 503 } else { 500 };
        let mut message = format!("Service unavailable: {error}");
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Outcome::failed(status, message)
    }
}

fn placeholders<S: Synapse>() -> Vec<(String, String)> {
    S::REQUIRED_FIELDS
        .iter()
        .map(|(field, default_json)| (field.to_string(), encode_placeholder(default_json)))
        .chain(
            // Python axons whose class requires `text_input` (BittAudio) need this header; axons
            // whose class does not ignore it.
            S::HASH_FIELDS
                .iter()
                .filter(|f| !S::REQUIRED_FIELDS.iter().any(|(r, _)| r == *f))
                .map(|f| (f.to_string(), encode_placeholder("\"\""))),
        )
        .collect()
}

fn node_id() -> [u8; 6] {
    let mut id = [0u8; 6];
    id.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..6]);
    id[0] |= 0x01; // multicast bit: a random node id, as RFC 4122 asks
    id
}

/// `bt_header_input_obj_*` carries base64 of the JSON of a type's default value.
fn encode_placeholder(default_json: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(default_json)
}

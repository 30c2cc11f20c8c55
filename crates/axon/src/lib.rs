//! The Synapse HTTP server (an "axon"), wire-compatible with the Python SDK's axon.
//!
//! Every request goes through one pipeline: route by synapse name → parse headers → verify the
//! sr25519 signature with this axon's own hotkey and the caller's nonce → the blacklist hook →
//! body integrity (the signed body hash) → the priority gate (bounded concurrency, bounded
//! queue, highest priority first) → the forward handler under a timeout. The caller's identity
//! comes only from verified headers, never from the body's unauthenticated `dendrite` copy.
//! Nothing is stored for a caller (its nonce) before the blacklist has accepted it.
//!
//! The same axon, on the same port, also serves `POST /tts` and `POST /music` to SDK 11 callers
//! that sign with `btauth/1` ([`AxonBuilder::attach_tts`], [`AxonBuilder::attach_music`]):
//! binary audio (WAV or raw s16le) instead of a JSON list of floats, behind the same blacklist
//! hook, priority gate and limits. There the body is
//! read before the signature is checked (`btauth/1` signs its sha256), but only after the
//! header shape, receiver and freshness checks passed; the nonce is recorded after the
//! blacklist accepted the caller.
//!
//! [`Axon::serve`] runs its own HTTP/1.1 accept loop ([`serve_with_limits`]) with connection
//! limits, a header-read deadline that also closes idle keep-alive connections, and a body
//! deadline ([`ConnectionLimits`]), so slow or idle clients cannot starve validators.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use audiosubnet_axon::{Axon, AxonConfig, Caller, ForwardError};
//! use audiosubnet_protocol::TextToSpeech;
//! use audiosubnet_wallet::Keypair;
//!
//! let axon = Axon::builder(Keypair::from_uri("//Bob")?, AxonConfig::default())
//!     .attach(|_caller: Caller, mut req: TextToSpeech| async move {
//!         req.speech_output = Some(vec![0.0; 16_000]);
//!         req.sample_rate = Some(16_000);
//!         Ok::<_, ForwardError>(req)
//!     })
//!     .build();
//! let listener = tokio::net::TcpListener::bind("127.0.0.2:8091").await?;
//! axon.serve(listener, std::future::pending()).await?;
//! # Ok(()) }
//! ```

mod btauth_route;
mod gate;
mod pipeline;
mod server;

pub use audiosubnet_protocol::tts_http::{AudioEncoding, MusicRequest, TtsRequest};
pub use btauth_route::TtsAudio;

pub use server::{BodyTimeout, ConnectionLimits, serve_with_limits};

use audiosubnet_protocol::btauth::{ReplayStore, VerifyConfig};
use audiosubnet_protocol::tts_http::{MUSIC_PATH, TTS_PATH};
use audiosubnet_protocol::{BodyBinding, NonceConfig, NonceTracker, Ping, Synapse};
use audiosubnet_wallet::{AccountId, Keypair};
use axum::Router;
use gate::PriorityGate;
use pipeline::{ErasedRoute, TypedRoute};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Limits and identity of an axon.
#[derive(Debug, Clone)]
pub struct AxonConfig {
    /// Largest request body accepted (413 above).
    pub max_body_bytes: usize,
    /// Forwards running at once.
    pub max_concurrency: usize,
    /// Requests waiting for a slot before new ones get 503 at once.
    pub max_queue: usize,
    /// Upper bound on the per-request timeout; the caller's `timeout` header is capped by it.
    pub max_request_timeout: Duration,
    /// Nonce window and memory limits.
    pub nonce: NonceConfig,
    /// IP reported in `bt_header_axon_ip` (the external address).
    pub external_ip: Option<String>,
    /// Port reported in `bt_header_axon_port`.
    pub external_port: Option<u16>,
    /// Connection limits and deadlines of [`Axon::serve`].
    pub connections: ConnectionLimits,
    /// `btauth/1` freshness window and receiver binding (the SDK's defaults: 10 s, 2 s, bound).
    pub btauth: VerifyConfig,
    /// `btauth/1` nonces remembered at most (each for 60 s).
    pub btauth_replay_capacity: usize,
}

impl Default for AxonConfig {
    fn default() -> Self {
        AxonConfig {
            max_body_bytes: 4 * 1024 * 1024,
            max_concurrency: 8,
            max_queue: 64,
            max_request_timeout: Duration::from_secs(120),
            nonce: NonceConfig::default(),
            external_ip: None,
            external_port: None,
            connections: ConnectionLimits::default(),
            btauth: VerifyConfig::default(),
            btauth_replay_capacity: audiosubnet_protocol::btauth::DEFAULT_REPLAY_CAPACITY,
        }
    }
}

/// The verified caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's hotkey; its signature over this request verified.
    pub hotkey: AccountId,
    /// Same, as SS58.
    pub hotkey_ss58: String,
    /// SDK version the caller declared (`None` for clients that send none).
    pub version: Option<i64>,
    /// Socket peer address.
    pub peer: SocketAddr,
    /// How the body is bound to the signature.
    pub binding: BodyBinding,
    /// The time budget for this request (caller's timeout, capped).
    pub timeout: Duration,
}

/// Decisions the miner supplies: who may call, and in which order waiting requests run.
pub trait AxonHooks: Send + Sync + 'static {
    /// `Err(reason)` refuses the caller with 403 "Forbidden. Key is blacklisted: {reason}.".
    fn blacklist(&self, synapse: &str, caller: &Caller) -> Result<(), String> {
        let _ = (synapse, caller);
        Ok(())
    }
    /// Higher runs first when requests queue (the SDK template uses the caller's stake).
    fn priority(&self, synapse: &str, caller: &Caller) -> f64 {
        let _ = (synapse, caller);
        0.0
    }
}

/// Serves every correctly signed request (no blacklist, equal priority).
#[derive(Debug, Default, Clone, Copy)]
pub struct AllowAll;
impl AxonHooks for AllowAll {}

/// Why a forward handler did not produce a response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardError {
    /// The request is well-formed but cannot be served (e.g. empty prompt): 400.
    #[error("{0}")]
    BadRequest(String),
    /// The handler's own capacity is exhausted: 503.
    #[error("{0}")]
    Overloaded(String),
    /// The handler failed: 500. The message is logged, not sent.
    #[error("{0}")]
    Internal(String),
}

/// Errors starting or running the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AxonError {
    /// The listener failed.
    #[error("axon server: {0}")]
    Io(#[from] std::io::Error),
}

pub(crate) struct AxonState {
    pub(crate) hotkey_ss58: String,
    pub(crate) uuid: String,
    pub(crate) config: AxonConfig,
    pub(crate) hooks: Arc<dyn AxonHooks>,
    pub(crate) routes: HashMap<&'static str, Arc<dyn ErasedRoute>>,
    pub(crate) route_names: Vec<&'static str>,
    pub(crate) nonces: Mutex<NonceTracker>,
    pub(crate) gate: Arc<PriorityGate>,
    /// The `btauth/1` binary-audio routes by path (`/tts`, `/music`).
    pub(crate) audio_routes: HashMap<&'static str, Arc<dyn btauth_route::AudioRoute>>,
    pub(crate) replay: Mutex<ReplayStore>,
}

/// Builds an [`Axon`].
pub struct AxonBuilder {
    keypair: Keypair,
    config: AxonConfig,
    hooks: Arc<dyn AxonHooks>,
    routes: Vec<Arc<dyn ErasedRoute>>,
    serve_synapse: bool,
    audio_routes: HashMap<&'static str, Arc<dyn btauth_route::AudioRoute>>,
}

impl AxonBuilder {
    /// Serves `POST /tts` to `btauth/1` callers with `handler`, which runs after verification,
    /// blacklist and admission and returns the audio already encoded as asked.
    pub fn attach_tts<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Caller, TtsRequest, AudioEncoding) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<TtsAudio, ForwardError>> + Send + 'static,
    {
        let route = Arc::new(btauth_route::TypedAudio::<TtsRequest, _>::new(handler));
        self.audio_routes.insert(TTS_PATH, route);
        self
    }

    /// Serves `POST /music` to `btauth/1` callers with `handler`, which runs after verification,
    /// blacklist and admission (hook name `music`) and returns the audio already encoded as
    /// asked.
    pub fn attach_music<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Caller, MusicRequest, AudioEncoding) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<TtsAudio, ForwardError>> + Send + 'static,
    {
        let route = Arc::new(btauth_route::TypedAudio::<MusicRequest, _>::new(handler));
        self.audio_routes.insert(MUSIC_PATH, route);
        self
    }

    /// Whether to serve the Synapse routes (default true). Without them every path but the
    /// `btauth/1` ones is 404.
    pub fn synapse(mut self, enabled: bool) -> Self {
        self.serve_synapse = enabled;
        self
    }

    /// Serves synapse `S` with `handler`. The handler runs after verification, blacklist and
    /// admission; it gets the verified caller and the typed request and returns the response.
    pub fn attach<S, F, Fut>(mut self, handler: F) -> Self
    where
        S: Synapse,
        F: Fn(Caller, S) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<S, ForwardError>> + Send + 'static,
    {
        self.routes.push(Arc::new(TypedRoute::new(handler)));
        self
    }

    /// Installs the blacklist and priority hooks.
    pub fn hooks(mut self, hooks: Arc<dyn AxonHooks>) -> Self {
        self.hooks = hooks;
        self
    }

    /// Finishes the axon. The base `Synapse` route (a ping) is always served.
    pub fn build(self) -> Axon {
        let mut routes: HashMap<&'static str, Arc<dyn ErasedRoute>> = HashMap::new();
        let ping: Arc<dyn ErasedRoute> =
            Arc::new(TypedRoute::new(|_c: Caller, p: Ping| async move { Ok(p) }));
        routes.insert(Ping::NAME, ping);
        for r in self.routes {
            routes.insert(r.name(), r);
        }
        if !self.serve_synapse {
            routes.clear();
        }
        let mut route_names: Vec<&'static str> = routes.keys().copied().collect();
        route_names.sort_unstable();
        let hotkey_ss58 = self.keypair.ss58();
        let replay_capacity = self.config.btauth_replay_capacity;
        let state = AxonState {
            hotkey_ss58,
            uuid: uuid::Uuid::new_v4().to_string(),
            nonces: Mutex::new(NonceTracker::new(self.config.nonce.clone())),
            gate: PriorityGate::new(self.config.max_concurrency, self.config.max_queue),
            config: self.config,
            hooks: self.hooks,
            routes,
            route_names,
            audio_routes: self.audio_routes,
            replay: Mutex::new(ReplayStore::new(
                audiosubnet_protocol::btauth::DEFAULT_RETENTION,
                replay_capacity,
            )),
        };
        Axon {
            state: Arc::new(state),
        }
    }
}

/// A configured Synapse server. Cheap to clone.
#[derive(Clone)]
pub struct Axon {
    state: Arc<AxonState>,
}

impl Axon {
    /// Starts building an axon that serves `keypair`'s hotkey: callers must sign for it. (SDK 7+
    /// axons do not sign responses, so only the public half is kept.)
    pub fn builder(keypair: Keypair, config: AxonConfig) -> AxonBuilder {
        AxonBuilder {
            keypair,
            config,
            hooks: Arc::new(AllowAll),
            routes: Vec::new(),
            serve_synapse: true,
            audio_routes: HashMap::new(),
        }
    }

    /// The hotkey callers must sign for.
    pub fn hotkey(&self) -> &str {
        &self.state.hotkey_ss58
    }

    /// Requests currently waiting for a forward slot.
    pub fn queue_depth(&self) -> usize {
        self.state.gate.waiting()
    }

    /// The axum router (for tests and for embedding; serve it with connect info).
    pub fn router(&self) -> Router {
        pipeline::router(self.state.clone())
    }

    /// Callers whose nonces are remembered (bounded by [`NonceConfig::max_callers`]).
    pub fn nonce_callers(&self) -> usize {
        self.state
            .nonces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .callers()
    }

    /// Serves on `listener` with [`AxonConfig::connections`] until `shutdown` resolves, then
    /// drains in-flight requests.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AxonError> {
        let limits = self.state.config.connections.clone();
        serve_with_limits(listener, self.router(), limits, shutdown).await?;
        Ok(())
    }
}

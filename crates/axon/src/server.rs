//! The HTTP/1.1 accept loop shared by the axon and the miner's OpenAI endpoint, with the limits
//! `axum::serve` lacks: a cap on open connections (in all and per client IP), a deadline for
//! each request head (which also closes idle keep-alive connections), a deadline for each
//! request body, a bound on header bytes and on requests per connection. A slowloris client
//! therefore holds a slot for at most [`ConnectionLimits::header_timeout`], and one host can
//! never take every slot.
//!
//! Shutdown drains: once the shutdown future resolves, requests already accepted run to the
//! end (bounded by [`ConnectionLimits::shutdown_grace`]) while new ones, on new or kept-alive
//! connections, get an immediate 503 so callers go elsewhere instead of waiting on a server that
//! is leaving.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, header};
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

/// Connection-level limits of a server. The defaults suit a public miner: validators make a
/// few requests at a time from one address each.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Open connections in all; beyond this new connections are closed at once.
    pub max_connections: usize,
    /// Open connections from one IP address.
    pub max_connections_per_ip: usize,
    /// Longest wait for a complete request head, from the connection's start or the end of
    /// the previous response; an idle keep-alive connection is closed after it too.
    pub header_timeout: Duration,
    /// Longest a request body may take to arrive, from the end of its head.
    pub body_timeout: Duration,
    /// Requests served on one connection before it is closed (`Connection: close`).
    pub max_requests_per_connection: usize,
    /// Largest request head (request line and headers), in bytes (at least 8 KiB).
    pub max_header_bytes: usize,
    /// Longest wait for in-flight requests at shutdown (the drain).
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 2048,
            max_connections_per_ip: 256,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_requests_per_connection: 1000,
            max_header_bytes: 64 * 1024,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Open connections, in all and per IP.
#[derive(Debug, Default)]
struct Slots {
    total: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection's claim on [`Slots`]; released when dropped.
struct Slot {
    slots: Arc<Slots>,
    ip: IpAddr,
}

impl Slots {
    fn try_claim(self: &Arc<Self>, ip: IpAddr, limits: &ConnectionLimits) -> Option<Slot> {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if self.total.load(Ordering::Acquire) >= limits.max_connections.max(1) {
            return None;
        }
        let n = per_ip.entry(ip).or_insert(0);
        if *n >= limits.max_connections_per_ip.max(1) {
            return None;
        }
        *n += 1;
        self.total.fetch_add(1, Ordering::AcqRel);
        Some(Slot {
            slots: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per_ip = self.slots.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
        self.slots.total.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Requests being served (and connections still waiting for their first request), and
/// whether the server is draining.
#[derive(Debug, Default)]
struct Drain {
    draining: AtomicBool,
    in_flight: AtomicUsize,
}

/// One request's claim on [`Drain::in_flight`]; released when the handler has answered.
struct InFlight(Arc<Drain>);

impl InFlight {
    fn start(drain: &Arc<Drain>) -> Self {
        drain.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(drain.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The answer to a request that arrives while the server drains.
fn draining_response() -> Response<Body> {
    let mut response = Response::new(Body::from(
        r#"{"message":"the server is shutting down; try another"}"#,
    ));
    *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The request body did not arrive within [`ConnectionLimits::body_timeout`].
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimeout(pub Duration);

/// A request body that fails with [`BodyTimeout`] once its deadline passes, so a handler
/// reading it never waits on a client that stopped sending.
struct DeadlineBody {
    inner: Incoming,
    sleep: Pin<Box<Sleep>>,
    limit: Duration,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout(self.limit))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `router` on `listener` with `limits` until `shutdown` resolves, then drains: requests
/// in flight are finished (for up to [`ConnectionLimits::shutdown_grace`]) while new ones get
/// 503. Handlers get the peer address as `ConnectInfo<SocketAddr>`.
pub async fn serve_with_limits(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = Arc::new(limits);
    let slots = Arc::new(Slots::default());
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    let drain = Arc::new(Drain::default());
    let accept = |stream: tokio::net::TcpStream, peer: SocketAddr| {
        let Some(slot) = slots.try_claim(peer.ip(), &limits) else {
            metrics::counter!("axon_connections_refused_total").increment(1);
            tracing::debug!(%peer, "connection refused: connection limit reached");
            return;
        };
        let _ = stream.set_nodelay(true);
        // A new connection counts as work in flight until its first request is read (at most
        // the header timeout): otherwise a request on its way as the last answer goes out
        // would meet a connection closed under it instead of its 503.
        let awaiting_first = InFlight::start(&drain);
        let service = connection_service(
            router.clone(),
            peer,
            limits.clone(),
            drain.clone(),
            awaiting_first,
        );
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = conn.await {
                tracing::trace!(%peer, "connection ended: {e}");
            }
        });
    };
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => accept(stream, peer),
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: keep
                    // serving the connections we have, and retry shortly.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    // The drain: keep the port open so that callers get a fast 503 rather than a refused
    // connection, until what was accepted is answered.
    drain.draining.store(true, Ordering::Release);
    let deadline = Instant::now() + limits.shutdown_grace;
    let waiting = drain.in_flight.load(Ordering::Acquire);
    if waiting > 0 {
        tracing::info!(
            in_flight = waiting,
            grace = ?limits.shutdown_grace,
            "draining: finishing accepted requests, refusing new ones with 503"
        );
    }
    while drain.in_flight.load(Ordering::Acquire) > 0 {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, peer)) = accepted {
                    accept(stream, peer);
                }
            }
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
            () = tokio::time::sleep_until(deadline) => {
                tracing::warn!(
                    in_flight = drain.in_flight.load(Ordering::Acquire),
                    "shutdown: requests still running after the grace period are abandoned"
                );
                break;
            }
        }
    }
    drop(listener);
    // Responses still streaming and idle keep-alive connections: what is left of the grace.
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_secs(1));
    if tokio::time::timeout(left, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: connections still open after the grace period");
    }
    Ok(())
}

/// The per-connection service: adds `ConnectInfo`, the body deadline, and `Connection: close`
/// once the connection has served its share of requests.
fn connection_service(
    router: Router,
    peer: SocketAddr,
    limits: Arc<ConnectionLimits>,
    drain: Arc<Drain>,
    awaiting_first: InFlight,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Body>, Infallible>> + Send,
> + Clone {
    let served = Arc::new(AtomicUsize::new(0));
    // Released by the first request, or with the service when the connection ends.
    let awaiting_first = Arc::new(Mutex::new(Some(awaiting_first)));
    hyper::service::service_fn(move |request: Request<Incoming>| {
        // Checked before the claim: a request counted in flight is always finished.
        let in_flight = (!drain.draining.load(Ordering::Acquire)).then(|| InFlight::start(&drain));
        drop(
            awaiting_first
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        let n = served.fetch_add(1, Ordering::AcqRel) + 1;
        let last = n >= limits.max_requests_per_connection.max(1);
        let body_timeout = limits.body_timeout;
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(ConnectInfo(peer));
        let body = DeadlineBody {
            inner: body,
            sleep: Box::pin(tokio::time::sleep_until(Instant::now() + body_timeout)),
            limit: body_timeout,
        };
        let request = Request::from_parts(parts, Body::new(body));
        let router = router.clone();
        let drain_for_reply = drain.clone();
        async move {
            let Some(_in_flight) = in_flight else {
                metrics::counter!("axon_draining_refused_total").increment(1);
                return Ok(draining_response());
            };
            let mut response = router.oneshot(request).await?;
            // Once the server drains, nobody should send another request on this connection.
            if last || drain_for_reply.draining.load(Ordering::Acquire) {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(response)
        }
    })
}

/// True when `error` (from reading a request body) is a [`BodyTimeout`].
pub(crate) fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if e.is::<BodyTimeout>() {
            return true;
        }
        current = e.source();
    }
    false
}

//! Hostile callers: identity before any stored state, bounded and unechoed headers, sane
//! timeouts, bodies refused before they are read in full, and slow or idle connections closed.

mod common;

use audiosubnet_axon::{Axon, AxonConfig, AxonHooks, Caller, ConnectionLimits};
use audiosubnet_protocol::{
    PROTOCOL_VERSION, TextToSpeech, format_signature, signature_message, synapse_body_hash,
};
use audiosubnet_wallet::Keypair;
use axum::body::Body;
use axum::extract::ConnectInfo;
use common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .expect("clock after 1970")
}

/// A signed `TextToSpeech` request as raw header pairs and body, with caller-chosen fields.
struct Signed {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn signed(uri: &str, nonce: i64, uuid: &str, timeout: &str, text: &str) -> Signed {
    let key = Keypair::from_uri(uri).expect("dev uri");
    let synapse = TextToSpeech::request(text);
    let hash = synapse_body_hash(&synapse);
    let message = signature_message(nonce, &key.ss58(), BOB, uuid, &hash);
    let signature = format_signature(&key.sign(message.as_bytes()));
    let headers = vec![
        ("name", "TextToSpeech".to_string()),
        ("timeout", timeout.to_string()),
        ("bt_header_dendrite_version", PROTOCOL_VERSION.to_string()),
        ("bt_header_dendrite_nonce", nonce.to_string()),
        ("bt_header_dendrite_uuid", uuid.to_string()),
        ("bt_header_dendrite_hotkey", key.ss58()),
        ("bt_header_dendrite_signature", signature),
        ("bt_header_axon_hotkey", BOB.to_string()),
        ("computed_body_hash", hash),
        ("content-type", "application/json".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let body = serde_json::to_vec(&synapse).expect("serializes");
    Signed { headers, body }
}

impl Signed {
    fn request(&self) -> http::Request<Body> {
        let mut req = http::Request::post("/TextToSpeech");
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let mut req = req.body(Body::from(self.body.clone())).expect("request");
        req.extensions_mut()
            .insert(ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 9))));
        req
    }

    /// The request as HTTP/1.1 bytes, head only when `with_body` is false.
    fn head(&self, content_length: Option<usize>, chunked: bool) -> Vec<u8> {
        let mut out = b"POST /TextToSpeech HTTP/1.1\r\nhost: x\r\n".to_vec();
        for (k, v) in &self.headers {
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        if let Some(n) = content_length {
            out.extend_from_slice(format!("content-length: {n}\r\n").as_bytes());
        }
        if chunked {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

fn bob_axon(config: AxonConfig, hooks: Option<Arc<dyn AxonHooks>>) -> Axon {
    let mut b =
        Axon::builder(Keypair::from_uri("//Bob").expect("dev uri"), config).attach(tone_handler);
    if let Some(h) = hooks {
        b = b.hooks(h);
    }
    b.build()
}

/// Refuses the first call, then lets everyone in: a caller that was blacklisted once.
struct RefuseOnce(AtomicBool);
impl AxonHooks for RefuseOnce {
    fn blacklist(&self, _synapse: &str, _caller: &Caller) -> Result<(), String> {
        if self.0.swap(false, Ordering::SeqCst) {
            Err("not yet".into())
        } else {
            Ok(())
        }
    }
}

#[tokio::test]
async fn a_blacklisted_request_leaves_no_nonce_behind() {
    let hooks: Arc<dyn AxonHooks> = Arc::new(RefuseOnce(AtomicBool::new(true)));
    let axon = bob_axon(AxonConfig::default(), Some(hooks));
    let req = signed("//Alice", now_ns(), "u-1", "12.0", "hello");
    let first = axon
        .router()
        .oneshot(req.request())
        .await
        .expect("infallible");
    assert_eq!(first.status(), 403);
    // The same signed request once the blacklist accepts the caller: its nonce was never
    // recorded, because the caller had not been accepted when it first arrived.
    let again = axon
        .router()
        .oneshot(req.request())
        .await
        .expect("infallible");
    assert_eq!(again.status(), 200);
}

#[tokio::test]
async fn absurd_timeouts_are_clamped_not_a_panic() {
    let axon = bob_axon(AxonConfig::default(), None);
    for (i, timeout) in ["1e20", "1e400", "nan", "inf", "-inf", "-1.0", "0"]
        .iter()
        .enumerate()
    {
        let req = signed("//Alice", now_ns(), &format!("u-{i}"), timeout, "hello");
        let resp = axon
            .router()
            .oneshot(req.request())
            .await
            .expect("infallible");
        assert_eq!(resp.status(), 200, "timeout {timeout}");
    }
}

#[tokio::test]
async fn an_oversized_uuid_is_refused_and_never_echoed() {
    let axon = bob_axon(AxonConfig::default(), None);
    let uuid = "u".repeat(4096);
    let req = signed("//Alice", now_ns(), &uuid, "12.0", "hello");
    let resp = axon
        .router()
        .oneshot(req.request())
        .await
        .expect("infallible");
    assert_eq!(
        resp.status(),
        500,
        "a malformed header, as the Python axon answers"
    );
    let header_bytes: usize = resp
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    assert!(header_bytes < 2048, "{header_bytes} header bytes echoed");
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    assert!(body.len() < 1024, "{} body bytes", body.len());
    assert!(!String::from_utf8_lossy(&body).contains("uuuuuuuu"));
}

/// Reads until the server closes the connection; returns what it sent, or `None` when it
/// did not close within `within`.
async fn closed_within(sock: &mut tokio::net::TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, sock.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

fn status_of(reply: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(reply);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

#[tokio::test]
async fn a_declared_oversized_body_is_refused_before_it_is_sent() {
    let config = AxonConfig {
        max_body_bytes: 64 * 1024,
        ..Default::default()
    };
    let (addr, stop, _h) = start_axon("//Bob", config, None, None).await;
    let req = signed("//Alice", now_ns(), "u-big", "12.0", "hello");
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    sock.write_all(&req.head(Some(1 << 30), false))
        .await
        .expect("head");
    // No body byte is sent: the answer must not wait for it, and the connection must not stay
    // open to drain a gigabyte.
    let reply = closed_within(&mut sock, Duration::from_secs(5))
        .await
        .expect("answered and closed without reading the body");
    assert_eq!(status_of(&reply), Some(413));
    let _ = stop.send(());
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_cut_off() {
    let config = AxonConfig {
        max_body_bytes: 64 * 1024,
        ..Default::default()
    };
    let (addr, stop, _h) = start_axon("//Bob", config, None, None).await;
    let req = signed("//Alice", now_ns(), "u-chunk", "12.0", "hello");
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    sock.write_all(&req.head(None, true)).await.expect("head");
    let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, "a".repeat(16 * 1024));
    let started = Instant::now();
    let mut sent = 0usize;
    // Keep sending (up to 64 MiB) until the server answers and stops reading.
    while sent < 64 << 20 && started.elapsed() < Duration::from_secs(10) {
        if sock.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
        sent += 16 * 1024;
        let mut buf = [0u8; 1];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::ZERO, sock.peek(&mut buf)).await
            && n > 0
        {
            break;
        }
    }
    assert!(sent < 4 << 20, "{sent} bytes accepted before the refusal");
    let reply = closed_within(&mut sock, Duration::from_secs(5)).await;
    if let Some(reply) = reply.filter(|r| !r.is_empty()) {
        assert_eq!(status_of(&reply), Some(413));
    }
    let _ = stop.send(());
}

fn quick_limits() -> AxonConfig {
    AxonConfig {
        connections: ConnectionLimits {
            header_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(1),
            max_connections_per_ip: 4,
            max_requests_per_connection: 2,
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn idle_and_trickling_connections_are_closed_after_the_header_timeout() {
    let (addr, stop, _h) = start_axon("//Bob", quick_limits(), None, None).await;
    let mut idle = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut trickle = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let started = Instant::now();
    let trickler = tokio::spawn(async move {
        for b in b"POST /TextToSpeech HTTP/1.1\r\nhost: x\r\nname: TextToSpeech\r\n".iter() {
            if trickle.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        trickle
    });
    assert!(
        closed_within(&mut idle, Duration::from_secs(4))
            .await
            .is_some(),
        "idle connection still open after 4 s"
    );
    let mut trickle = trickler.await.expect("task");
    assert!(
        closed_within(&mut trickle, Duration::from_secs(1))
            .await
            .is_some(),
        "trickling connection still open"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let _ = stop.send(());
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let (addr, stop, _h) = start_axon("//Bob", quick_limits(), None, None).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The fifth from the same address is closed at once.
    let mut fifth = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let closed = closed_within(&mut fifth, Duration::from_millis(500)).await;
    assert_eq!(closed, Some(Vec::new()), "fifth connection was served");
    // Another address still gets in.
    let other = tokio::net::TcpSocket::new_v4().expect("socket");
    other
        .bind("127.0.0.3:0".parse().expect("addr"))
        .expect("bind 127.0.0.3");
    let mut other = other.connect(addr).await.expect("connect");
    let req = signed("//Alice", now_ns(), "u-other", "12.0", "hello");
    other
        .write_all(&req.head(Some(req.body.len()), false))
        .await
        .expect("head");
    other.write_all(&req.body).await.expect("body");
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), other.read(&mut buf))
        .await
        .expect("answer")
        .expect("read");
    assert_eq!(status_of(&buf[..n]), Some(200));
    drop(held);
    let _ = stop.send(());
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_408_and_the_connection_is_closed() {
    let (addr, stop, _h) = start_axon("//Bob", quick_limits(), None, None).await;
    let req = signed("//Alice", now_ns(), "u-stall", "12.0", "hello");
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    sock.write_all(&req.head(Some(req.body.len()), false))
        .await
        .expect("head");
    sock.write_all(&req.body[..req.body.len() / 2])
        .await
        .expect("half the body");
    let started = Instant::now();
    let reply = closed_within(&mut sock, Duration::from_secs(4))
        .await
        .expect("closed");
    assert_eq!(status_of(&reply), Some(408));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let _ = stop.send(());
}

#[tokio::test]
async fn keep_alive_ends_after_the_request_budget() {
    let (addr, stop, _h) = start_axon("//Bob", quick_limits(), None, None).await;
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    for i in 0..2 {
        let req = signed("//Alice", now_ns(), "u-ka", "12.0", "hi");
        sock.write_all(&req.head(Some(req.body.len()), false))
            .await
            .expect("head");
        sock.write_all(&req.body).await.expect("body");
        if i == 0 {
            let mut buf = vec![0u8; 1 << 20];
            let n = sock.read(&mut buf).await.expect("read");
            assert_eq!(status_of(&buf[..n]), Some(200));
            // Drain the rest of the first reply before sending the second request.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut rest = vec![0u8; 1 << 20];
            let _ = tokio::time::timeout(Duration::from_millis(100), sock.read(&mut rest)).await;
        }
    }
    let reply = closed_within(&mut sock, Duration::from_secs(3))
        .await
        .expect("closed after the second request");
    let text = String::from_utf8_lossy(&reply).to_ascii_lowercase();
    assert!(text.contains("connection: close"), "{text:.300}");
    let _ = stop.send(());
}

mod verify_fuzz {
    //! The verify path with validly signed requests whose caller-chosen values are hostile:
    //! uuids of any length and content (they are signed), odd timeouts and versions (they are
    //! not), and extra headers. Never a panic; only the statuses the pipeline defines; nothing
    //! oversized echoed.
    use super::*;
    use proptest::prelude::*;

    fn odd_value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ -~]{0,40}",
            Just("1e20".to_string()),
            Just("nan".to_string()),
            Just("-inf".to_string()),
            Just("-1".to_string()),
            Just("9223372036854775808".to_string()),
            Just("1_000".to_string()),
            (100usize..6000).prop_map(|n| "9".repeat(n)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn signed_requests_with_hostile_values_get_a_clean_status(
            uuid in prop_oneof!["[ -~]{0,64}", (100usize..5000).prop_map(|n| "u".repeat(n))],
            timeout in odd_value(),
            version in odd_value(),
            extra in proptest::collection::vec(("bt_header_(dendrite|axon|input_obj)_[a-z_]{0,20}", odd_value()), 0..4),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                let axon = bob_axon(AxonConfig::default(), None);
                let mut req = signed("//Alice", now_ns(), &uuid, &timeout, "hello");
                req.headers.retain(|(k, _)| k != "bt_header_dendrite_version");
                req.headers.push(("bt_header_dendrite_version".into(), version.clone()));
                for (k, v) in &extra {
                    if !k.ends_with("_signature") && !k.ends_with("_hotkey") && !k.ends_with("_nonce") && !k.ends_with("_uuid") {
                        req.headers.push((k.clone(), v.clone()));
                    }
                }
                // Values that are not valid header text never reach the axon over HTTP.
                if req.headers.iter().any(|(k, v)| {
                    http::HeaderName::try_from(k.as_str()).is_err()
                        || http::HeaderValue::try_from(v.as_str()).is_err()
                }) {
                    return Ok(());
                }
                let resp = axon.router().oneshot(req.request()).await.expect("infallible");
                let status = resp.status().as_u16();
                prop_assert!([200, 401, 500].contains(&status), "status {status}");
                let echoed: usize = resp.headers().iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
                prop_assert!(echoed < 4096, "{echoed} header bytes");
                Ok(())
            })?;
        }
    }
}

/// A connection opened while the axon drains, whose request arrives only as the last accepted
/// request is answered, still gets its 503: the drain waits for connections that have not yet
/// sent their first request (up to the header timeout) instead of closing them unanswered.
#[tokio::test]
async fn a_connection_whose_request_comes_late_in_the_drain_gets_503() {
    let (addr, stop, handle) = start_axon(
        "//Bob",
        AxonConfig::default(),
        None,
        Some(Duration::from_millis(800)),
    )
    .await;
    let busy = signed("//Alice", now_ns(), "u-busy", "12.0", "in flight");
    let mut busy_sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    busy_sock
        .write_all(&busy.head(Some(busy.body.len()), false))
        .await
        .expect("head");
    busy_sock.write_all(&busy.body).await.expect("body");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = stop.send(());
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Connected during the drain; the request goes out after the busy one has been answered.
    let mut late = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let answered = closed_within(&mut busy_sock, Duration::from_secs(5))
        .await
        .expect("the busy request is answered");
    assert_eq!(status_of(&answered), Some(200));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let req = signed("//Alice", now_ns(), "u-late", "12.0", "too late");
    let sent = async {
        late.write_all(&req.head(Some(req.body.len()), false))
            .await?;
        late.write_all(&req.body).await
    }
    .await;
    let reply = closed_within(&mut late, Duration::from_secs(5)).await;
    assert!(
        sent.is_ok() && reply.as_deref().and_then(status_of) == Some(503),
        "sent: {sent:?}, reply: {:?}",
        reply.map(|r| String::from_utf8_lossy(&r).into_owned())
    );
    handle.await.expect("axon stops");
}

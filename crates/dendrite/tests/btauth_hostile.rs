//! The `/tts` client against hostile servers (raw TCP on loopback): an oversized declared body is
//! refused before it is read, an endless one is cut at the cap, a long or control-laden error
//! body comes back bounded, garbage audio is a 422, and a 404 under `auto` falls back to Synapse
//! and is remembered.

use audiosubnet_dendrite::{
    AxonTarget, Dendrite, MAX_BTAUTH_REPLY_BYTES, MAX_MINER_TEXT_BYTES, Transport, TransportMode,
};
use audiosubnet_protocol::tts_http::TtsRequest;
use audiosubnet_wallet::Keypair;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

/// A server that reads a request head and answers `head` followed by `body_len` bytes of 'x'
/// (written in chunks, so a client that stops reading is noticed).
async fn server(head: String, body_len: usize) -> AxonTarget {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let head = head.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = s.read(&mut buf).await;
                if s.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'x'; 64 * 1024];
                let mut left = body_len;
                while left > 0 {
                    let n = left.min(chunk.len());
                    if s.write_all(&chunk[..n]).await.is_err() {
                        return;
                    }
                    left -= n;
                }
            });
        }
    });
    format!("{BOB}@{addr}").parse().expect("target")
}

fn request() -> TtsRequest {
    TtsRequest {
        text: "Hello.".into(),
        voice: None,
        sample_rate: None,
    }
}

fn dendrite() -> Dendrite {
    Dendrite::new(Keypair::from_uri("//Alice").expect("dev uri"))
}

#[tokio::test]
async fn an_oversized_declared_body_is_refused_before_it_is_read() {
    let huge = 1usize << 40;
    let t = server(
        format!("HTTP/1.1 200 OK\r\ncontent-type: audio/wav\r\ncontent-length: {huge}\r\n\r\n"),
        1 << 20,
    )
    .await;
    let started = Instant::now();
    let r = dendrite()
        .call_tts(&t, &request(), Duration::from_secs(10))
        .await;
    assert_eq!(r.status_code, 422, "{}", r.status_message);
    assert!(r.status_message.contains("exceeds"), "{}", r.status_message);
    assert_eq!(r.body_bytes, 0);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn an_endless_body_is_cut_at_the_cap() {
    let t = server(
        "HTTP/1.1 200 OK\r\ncontent-type: audio/wav\r\ntransfer-encoding: identity\r\nconnection: close\r\n\r\n".into(),
        MAX_BTAUTH_REPLY_BYTES * 4,
    )
    .await;
    let r = dendrite()
        .call_tts(&t, &request(), Duration::from_secs(20))
        .await;
    assert_eq!(r.status_code, 422, "{}", r.status_message);
    assert!(r.status_message.contains("exceeds"), "{}", r.status_message);
}

#[tokio::test]
async fn error_bodies_are_read_a_little_and_bounded() {
    let message = format!("{}\u{1b}[2J\nforged log line", "é".repeat(2000));
    let body = serde_json::json!({ "error": message }).to_string();
    let t = server(
        format!(
            "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        ),
        0,
    )
    .await;
    let r = dendrite()
        .call_tts(&t, &request(), Duration::from_secs(10))
        .await;
    assert_eq!(r.status_code, 403);
    assert!(r.status_message.len() <= MAX_MINER_TEXT_BYTES);
    assert!(!r.status_message.chars().any(char::is_control));
    // Too long to read for its message (over the small cap): the status alone.
    let long = serde_json::json!({ "error": "a".repeat(100_000) }).to_string();
    let t = server(
        format!(
            "HTTP/1.1 401 Unauthorized\r\ncontent-length: {}\r\n\r\n{long}",
            long.len()
        ),
        0,
    )
    .await;
    let r = dendrite()
        .call_tts(&t, &request(), Duration::from_secs(10))
        .await;
    assert_eq!(
        (r.status_code, r.status_message.as_str()),
        (401, "HTTP 401")
    );
}

#[tokio::test]
async fn garbage_audio_is_unparseable() {
    let t = server(
        "HTTP/1.1 200 OK\r\ncontent-type: audio/wav\r\ncontent-length: 1000\r\n\r\n".into(),
        1000,
    )
    .await;
    let r = dendrite()
        .call_tts(&t, &request(), Duration::from_secs(10))
        .await;
    assert_eq!(r.status_code, 422, "{}", r.status_message);
    assert!(r.synapse.is_none());
    assert_eq!(r.body_bytes, 1000);
}

#[tokio::test]
async fn a_404_under_auto_falls_back_to_synapse_once() {
    let t = server(
        "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
            .into(),
        0,
    )
    .await;
    let d = dendrite();
    let spoken = d
        .speak(&t, "Hello.", Duration::from_secs(10), TransportMode::Auto)
        .await;
    // The fallback went to the Synapse route (this server answers 404 there too).
    assert_eq!(spoken.transport, Transport::Synapse);
    assert_eq!(spoken.response.status_code, 404);
    assert_eq!(d.known_transport(BOB), Some(Transport::Synapse));
    // Forced btauth still asks /tts and does not touch the cache.
    let spoken = d
        .speak(&t, "Hello.", Duration::from_secs(10), TransportMode::Btauth)
        .await;
    assert_eq!(spoken.transport, Transport::Btauth);
    assert_eq!(d.known_transport(BOB), Some(Transport::Synapse));
}

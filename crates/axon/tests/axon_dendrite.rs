//! Our dendrite against our axon: success, every failure status, backpressure, and a property
//! test that no header or body input makes the axon panic.

mod common;

use audiosubnet_axon::{AxonConfig, AxonHooks, Caller};
use audiosubnet_dendrite::{AxonTarget, Dendrite};
use audiosubnet_protocol::{Ping, TextToSpeech};
use audiosubnet_wallet::Keypair;
use common::*;
use std::sync::Arc;
use std::time::Duration;

const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const CHARLIE: &str = "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y";
const T: Duration = Duration::from_secs(10);

fn alice() -> Dendrite {
    Dendrite::new(Keypair::from_uri("//Alice").expect("dev uri"))
}

fn target(hotkey: &str, addr: std::net::SocketAddr) -> AxonTarget {
    format!("{hotkey}@{addr}").parse().expect("target")
}

#[tokio::test]
async fn round_trip_and_signature_binding() {
    let (addr, stop, _h) = start_axon("//Bob", AxonConfig::default(), None, None).await;
    let d = alice();
    let reply = d
        .call(&target(BOB, addr), &TextToSpeech::request("hello"), T)
        .await;
    assert!(
        reply.is_success(),
        "{} {}",
        reply.status_code,
        reply.status_message
    );
    let s = reply.synapse.expect("synapse");
    assert_eq!(s.speech_output.expect("audio"), tone_for("hello"));
    assert_eq!(s.sample_rate, Some(22_050));
    assert!(reply.process_time.is_some());

    let ping = d.call(&target(BOB, addr), &Ping {}, T).await;
    assert_eq!(ping.status_code, 200, "{}", ping.status_message);

    // Signed for another hotkey: 401.
    let wrong = d
        .call(&target(CHARLIE, addr), &TextToSpeech::request("hello"), T)
        .await;
    assert_eq!(wrong.status_code, 401, "{}", wrong.status_message);
    // The handler's own refusal: 400 with its message.
    let empty = d
        .call(&target(BOB, addr), &TextToSpeech::request("  "), T)
        .await;
    assert_eq!(empty.status_code, 400);
    assert!(empty.status_message.contains("empty"));
    let _ = stop.send(());
}

#[tokio::test]
async fn concurrent_calls_never_collide_on_nonces() {
    let (addr, stop, _h) = start_axon("//Bob", AxonConfig::default(), None, None).await;
    let d = alice();
    let targets = vec![target(BOB, addr); 64];
    let replies = d.forward(&targets, &TextToSpeech::request("hi"), T).await;
    assert_eq!(replies.len(), 64);
    assert!(
        replies.iter().all(|r| r.status_code == 200),
        "{:?}",
        replies
            .iter()
            .filter(|r| r.status_code != 200)
            .map(|r| &r.status_message)
            .collect::<Vec<_>>()
    );
    let _ = stop.send(());
}

struct DenyCharlieCaller;
impl AxonHooks for DenyCharlieCaller {
    fn blacklist(&self, _synapse: &str, caller: &Caller) -> Result<(), String> {
        if caller.hotkey_ss58 == CHARLIE {
            Err("not a validator".into())
        } else {
            Ok(())
        }
    }
}

#[tokio::test]
async fn blacklist_hook_refuses_with_403() {
    let hooks: Arc<dyn AxonHooks> = Arc::new(DenyCharlieCaller);
    let (addr, stop, _h) = start_axon("//Bob", AxonConfig::default(), Some(hooks), None).await;
    let charlie = Dendrite::new(Keypair::from_uri("//Charlie").expect("dev uri"));
    let r = charlie
        .call(&target(BOB, addr), &TextToSpeech::request("hi"), T)
        .await;
    assert_eq!(r.status_code, 403);
    assert_eq!(
        r.status_message,
        "Forbidden. Key is blacklisted: not a validator."
    );
    let ok = alice()
        .call(&target(BOB, addr), &TextToSpeech::request("hi"), T)
        .await;
    assert_eq!(ok.status_code, 200);
    let _ = stop.send(());
}

#[tokio::test]
async fn full_queue_answers_503_at_once_and_slow_forwards_time_out() {
    let config = AxonConfig {
        max_concurrency: 1,
        max_queue: 1,
        ..Default::default()
    };
    let slow = Some(Duration::from_millis(1500));
    let (addr, stop, _h) = start_axon("//Bob", config, None, slow).await;
    let d = alice();
    let targets = vec![target(BOB, addr); 6];
    let started = std::time::Instant::now();
    let replies = d.forward(&targets, &TextToSpeech::request("hi"), T).await;
    let ok = replies.iter().filter(|r| r.status_code == 200).count();
    let busy: Vec<_> = replies.iter().filter(|r| r.status_code == 503).collect();
    assert_eq!(ok + busy.len(), 6, "only 200 or 503");
    assert!(ok >= 1 && busy.len() >= 3, "ok {ok}, busy {}", busy.len());
    assert!(
        busy.iter().all(|r| r.elapsed < Duration::from_millis(1000)),
        "503s are immediate"
    );
    assert!(started.elapsed() < Duration::from_secs(8));

    // Client timeout shorter than the forward: 408 on the client side.
    let r = d
        .call(
            &target(BOB, addr),
            &TextToSpeech::request("hi"),
            Duration::from_millis(300),
        )
        .await;
    assert_eq!(r.status_code, 408);
    let _ = stop.send(());
}

#[tokio::test]
async fn oversized_unreachable_and_garbage_replies() {
    let config = AxonConfig {
        max_body_bytes: 2048,
        ..Default::default()
    };
    let (addr, stop, _h) = start_axon("//Bob", config, None, None).await;
    let d = alice();
    let big = TextToSpeech::request("x".repeat(10_000));
    let r = d.call(&target(BOB, addr), &big, T).await;
    assert_eq!(r.status_code, 413, "{}", r.status_message);
    let _ = stop.send(());

    // Nobody listens: 503.
    let closed = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let r = d
        .call(&target(BOB, closed), &TextToSpeech::request("hi"), T)
        .await;
    assert_eq!(r.status_code, 503, "{}", r.status_message);

    // A server that answers 200 with text: 422, as the SDK dendrite does.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let garbage_addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 65536];
            let _ = sock.read(&mut buf).await;
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nhello")
                .await;
        }
    });
    let r = d
        .call(&target(BOB, garbage_addr), &TextToSpeech::request("hi"), T)
        .await;
    assert_eq!(r.status_code, 422, "{}", r.status_message);
}

mod fuzz {
    use super::*;
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use proptest::prelude::*;
    use tower::ServiceExt;

    fn header_name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("bt_header_dendrite_nonce".to_string()),
            Just("bt_header_dendrite_version".to_string()),
            Just("bt_header_dendrite_hotkey".to_string()),
            Just("bt_header_dendrite_signature".to_string()),
            Just("bt_header_dendrite_uuid".to_string()),
            Just("bt_header_axon_port".to_string()),
            Just("timeout".to_string()),
            Just("computed_body_hash".to_string()),
            Just("total_size".to_string()),
            "[a-z_]{1,24}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        #[test]
        fn any_headers_and_body_get_a_status_not_a_panic(
            headers in proptest::collection::vec((header_name(), "[ -~]{0,80}"), 0..8),
            body in proptest::collection::vec(any::<u8>(), 0..512),
            path in prop_oneof![Just("/TextToSpeech".to_string()), Just("/Synapse".to_string()), "/[A-Za-z]{0,12}"],
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                let axon = audiosubnet_axon::Axon::builder(
                    Keypair::from_uri("//Bob").expect("dev uri"),
                    AxonConfig::default(),
                ).attach(tone_handler).build();
                let mut req = http::Request::post(path.as_str());
                for (k, v) in &headers {
                    req = req.header(k.as_str(), v.as_str());
                }
                let mut req = req.body(Body::from(body.clone())).expect("request");
                req.extensions_mut().insert(ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 9))));
                let resp = axon.router().oneshot(req).await.expect("infallible");
                let status = resp.status().as_u16();
                prop_assert!([200, 401, 404, 413, 422, 500].contains(&status), "status {status}");
                prop_assert_eq!(
                    resp.headers().get("content-type").and_then(|v| v.to_str().ok()),
                    Some("application/json")
                );
                Ok(())
            })?;
        }
    }
}

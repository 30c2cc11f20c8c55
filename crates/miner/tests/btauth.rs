//! The miner's `POST /tts` (`btauth/1`, SDK 11) beside the Synapse route: real espeak-ng audio
//! as a WAV, a preferred sample rate, and `--axon.transports` choosing what is served.

mod common;

use audiosubnet_axon::{AllowAll, AxonConfig};
use audiosubnet_miner::{Transports, build_axon, build_axon_with};
use audiosubnet_protocol::btauth;
use audiosubnet_wallet::Keypair;
use common::{Reply, listener, tone_pool};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Signs and sends `POST target` with `body` as //Alice to //Bob; reads the whole reply.
async fn signed_post(addr: SocketAddr, target: &str, body: &[u8], accept: Option<&str>) -> Reply {
    let alice = Keypair::from_uri("//Alice").expect("dev uri");
    let bob = Keypair::from_uri("//Bob").expect("dev uri").ss58();
    let mut head = format!(
        "POST {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in btauth::sign(&alice, "POST", target, body, Some(&bob), None) {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(a) = accept {
        head.push_str(&format!("Accept: {a}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    common::parse_reply(&raw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn espeak_speaks_a_wav_over_btauth() {
    let pool = Arc::new(common::espeak_pool(4));
    let bob = Keypair::from_uri("//Bob").expect("dev uri");
    let axon = build_axon(bob, AxonConfig::default(), pool, Arc::new(AllowAll));
    let (l, addr) = listener().await;
    tokio::spawn(axon.serve(l, std::future::pending()));

    let body = br#"{"text":"The quick brown fox jumps over the lazy dog."}"#;
    let reply = signed_post(addr, "/tts", body, None).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.header("content-type"), Some("audio/wav"));
    assert_eq!(reply.header("x-audio-model"), Some("espeak"));
    let wav = hound::WavReader::new(reply.body.as_slice()).expect("a WAV");
    let spec = wav.spec();
    assert_eq!((spec.channels, spec.bits_per_sample), (1, 16));
    assert_eq!(
        reply.header("x-audio-sample-rate"),
        Some(spec.sample_rate.to_string().as_str())
    );
    let secs = wav.duration() as f64 / f64::from(spec.sample_rate);
    assert!(secs > 1.0, "{secs} s");
    eprintln!("{secs:.2} s of espeak: {} bytes of WAV", reply.body.len());

    // A preferred rate is honoured; raw s16le on request.
    let body = br#"{"text":"Hello there.","sample_rate":16000}"#;
    let reply = signed_post(addr, "/tts", body, Some("application/octet-stream")).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.header("x-audio-sample-rate"), Some("16000"));
    assert_eq!(reply.header("x-audio-encoding"), Some("s16le"));
    assert!(reply.body.len() > 16_000 && reply.body.len() % 2 == 0);

    // A blank prompt is the miner's 400.
    let reply = signed_post(addr, "/tts", br#"{"text":"  "}"#, None).await;
    assert_eq!(reply.status, 400);
}

#[tokio::test]
async fn transports_choose_the_routes() {
    assert_eq!(
        "synapse,btauth".parse::<Transports>(),
        Ok(Transports::default())
    );
    assert!("".parse::<Transports>().is_err());
    assert!("synapse,grpc".parse::<Transports>().is_err());
    for (spec, tts_status, synapse_status) in [("btauth", 200, 404), ("synapse", 404, 401)] {
        let transports: Transports = spec.parse().expect("transports");
        let pool = Arc::new(tone_pool(Duration::ZERO, 4));
        let bob = Keypair::from_uri("//Bob").expect("dev uri");
        let axon = build_axon_with(
            bob,
            AxonConfig::default(),
            pool,
            Arc::new(AllowAll),
            transports,
        );
        let (l, addr) = listener().await;
        tokio::spawn(axon.serve(l, std::future::pending()));
        let reply = signed_post(addr, "/tts", br#"{"text":"Hi."}"#, None).await;
        assert_eq!(reply.status, tts_status, "{spec} /tts");
        // An unsigned Synapse request: 401 when the route exists, 404 when it does not.
        let reply = common::http(addr, "POST", "/TextToSpeech", b"{}").await;
        assert!(
            reply.status == synapse_status || (synapse_status == 401 && reply.status == 500),
            "{spec} /TextToSpeech: {}",
            reply.status
        );
    }
}

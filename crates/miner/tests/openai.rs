//! The OpenAI-compatible `POST /v1/audio/speech` endpoint over real TCP: audio for good requests,
//! OpenAI-style JSON errors (never a panic or a hang) for bad ones.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use audiosubnet_miner::{OpenAiConfig, serve_openai};
use audiosubnet_tts::SynthesisPool;
use common::{Reply, http, listener, tone_pool};

async fn start(pool: SynthesisPool, config: OpenAiConfig) -> std::net::SocketAddr {
    let (l, addr) = listener().await;
    tokio::spawn(serve_openai(
        l,
        Arc::new(pool),
        config,
        std::future::pending(),
    ));
    addr
}

async fn post(addr: std::net::SocketAddr, body: &str) -> Reply {
    http(addr, "POST", "/v1/audio/speech", body.as_bytes()).await
}

fn decode_wav(bytes: &[u8]) -> (u32, Vec<f32>) {
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes)).expect("a WAV file");
    let spec = reader.spec();
    assert_eq!(spec.channels, 1);
    assert_eq!(spec.bits_per_sample, 16);
    let samples = reader
        .into_samples::<i16>()
        .map(|s| f32::from(s.expect("sample")) / 32768.0)
        .collect();
    (spec.sample_rate, samples)
}

fn rms(s: &[f32]) -> f32 {
    (s.iter().map(|x| x * x).sum::<f32>() / s.len().max(1) as f32).sqrt()
}

#[tokio::test]
async fn bad_requests_get_openai_errors() {
    let addr = start(
        tone_pool(Duration::ZERO, 4),
        OpenAiConfig {
            max_body_bytes: 1024,
            ..Default::default()
        },
    )
    .await;

    let cases: &[(&str, u16, &str)] = &[
        (
            r#"{"model":"tts-1","input":"","voice":"alloy"}"#,
            400,
            "input is empty",
        ),
        (
            r#"{"model":"tts-1","input":"   \n ","voice":"alloy"}"#,
            400,
            "input is empty",
        ),
        (
            r#"{"model":"tts-1","voice":"alloy"}"#,
            400,
            "missing field `input`",
        ),
        (r#"{"model":"tts-1","input":42}"#, 400, "invalid request"),
        (r#"{"model":"tts-1","input":"hi","#, 400, "not valid JSON"),
        ("not json at all", 400, "not valid JSON"),
        ("", 400, "not valid JSON"),
        (
            r#"{"input":"hi","response_format":"aac"}"#,
            400,
            "`aac` is not supported by this server; use one of mp3, opus, flac, wav, pcm",
        ),
        (
            r#"{"input":"hi","response_format":"ogg"}"#,
            400,
            "unknown response_format `ogg`",
        ),
        (r#"{"input":"hi","speed":9.0}"#, 400, "between 0.25 and 4.0"),
        (r#"{"input":"hi","speed":0.1}"#, 400, "between 0.25 and 4.0"),
        (r#"{"input":"hi","speed":"fast"}"#, 400, "invalid request"),
        (
            r#"{"input":"hi","model":"flite"}"#,
            400,
            "this server runs `tone`",
        ),
        (
            r#"{"input":"hi","stream_format":"sse"}"#,
            400,
            "stream_format",
        ),
    ];
    for (body, status, needle) in cases {
        let reply = post(addr, body).await;
        assert_eq!(reply.status, *status, "{body}: {reply:?}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
        let msg = reply.error_message();
        assert!(msg.contains(needle), "{body}: `{msg}` lacks `{needle}`");
        assert_eq!(reply.json()["error"]["type"], "invalid_request_error");
    }

    // Over the body limit: 413, still JSON.
    let big = format!(r#"{{"input":"{}"}}"#, "a".repeat(4000));
    let reply = post(addr, &big).await;
    assert_eq!(reply.status, 413, "{reply:?}");
    assert!(reply.error_message().contains("larger than 1024 bytes"));

    // Over the engine's prompt limit (the body limit allows it): 400.
    let addr_long = start(tone_pool(Duration::ZERO, 4), OpenAiConfig::default()).await;
    let long = format!(r#"{{"input":"{}"}}"#, "word ".repeat(300));
    let reply = post(addr_long, &long).await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.error_message().contains("limit is 1000"));

    // Other routes and methods.
    let reply = http(addr, "POST", "/v1/audio/transcriptions", b"{}").await;
    assert_eq!(reply.status, 404);
    assert!(reply.error_message().contains("/v1/audio/speech"));
    let reply = http(addr, "GET", "/v1/audio/speech", b"").await;
    assert_eq!(reply.status, 405);
    // The server is still fine after all that.
    let reply = post(
        addr,
        r#"{"model":"tts-1","input":"hello","voice":"alloy","response_format":"wav"}"#,
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("content-type"), Some("audio/wav"));
    let (rate, samples) = decode_wav(&reply.body);
    assert_eq!((rate, samples.len()), (16_000, 5 * 800));
}

#[tokio::test]
async fn listings_have_openai_shapes() {
    let addr = start(tone_pool(Duration::ZERO, 4), OpenAiConfig::default()).await;
    let reply = http(addr, "GET", "/v1/models", b"").await;
    assert_eq!(reply.status, 200);
    let models = reply.json();
    assert_eq!(models["object"], "list");
    let ids: Vec<&str> = models["data"]
        .as_array()
        .expect("a data array")
        .iter()
        .map(|m| {
            assert_eq!(m["object"], "model");
            m["id"].as_str().expect("an id")
        })
        .collect();
    assert_eq!(ids, ["tts-1", "tts-1-hd", "gpt-4o-mini-tts", "tone"]);
    let reply = http(addr, "GET", "/v1/audio/voices", b"").await;
    assert_eq!(reply.status, 200);
    let voices = reply.json();
    let voices = voices["voices"].as_array().expect("a voices array");
    assert!(voices.iter().any(|v| v == "alloy"), "{voices:?}");
}

/// Every format with the right content type and magic, mp3 by default, and `speed` changing the
/// length (the tone engine speaks 800 samples at 16 kHz per character).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_and_speed() {
    let addr = start(tone_pool(Duration::ZERO, 4), OpenAiConfig::default()).await;
    let request = |extra: serde_json::Value| {
        let mut body = serde_json::json!({"model": "tts-1", "input": "one two three four five",
            "voice": "alloy"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        body.to_string()
    };
    let reply = post(addr, &request(serde_json::json!({}))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("content-type"), Some("audio/mpeg"));
    assert_eq!(
        (reply.body[0], reply.body[1] & 0xE0),
        (0xFF, 0xE0),
        "mp3 frame sync"
    );
    for (format, content_type, magic) in [
        ("mp3", "audio/mpeg", &[0xFFu8][..]),
        ("opus", "audio/ogg", b"OggS"),
        ("flac", "audio/flac", b"fLaC"),
        ("wav", "audio/wav", b"RIFF"),
    ] {
        let reply = post(
            addr,
            &request(serde_json::json!({"response_format": format})),
        )
        .await;
        assert_eq!(reply.status, 200, "{format}: {reply:?}");
        assert_eq!(reply.header("content-type"), Some(content_type), "{format}");
        assert!(
            reply.body.starts_with(magic),
            "{format}: {:?}",
            &reply.body[..8]
        );
    }
    let opus = post(
        addr,
        &request(serde_json::json!({"response_format": "opus"})),
    )
    .await;
    assert_eq!(&opus.body[28..36], b"OpusHead");

    for (speed, samples) in [(1.0, 18_400), (2.0, 9_200), (0.5, 36_800), (1.5, 12_267)] {
        let reply = post(
            addr,
            &request(serde_json::json!({"response_format": "wav", "speed": speed})),
        )
        .await;
        assert_eq!(reply.status, 200, "{speed}: {reply:?}");
        let (rate, audio) = decode_wav(&reply.body);
        assert_eq!((rate, audio.len()), (16_000, samples), "speed {speed}");
        // Same level: stretched, not faded or doubled.
        assert!(
            (rms(&audio) - 0.354).abs() < 0.05,
            "{speed}: rms {}",
            rms(&audio)
        );
        let reply = post(
            addr,
            &request(serde_json::json!({"response_format": "pcm", "speed": speed})),
        )
        .await;
        assert_eq!(reply.header("content-type"), Some("audio/pcm"));
        // 24 kHz, 16-bit.
        let expected = samples * 3 / 2;
        assert!(
            (reply.body.len() as i64 / 2 - expected as i64).abs() <= 1,
            "pcm at speed {speed}: {} bytes",
            reply.body.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_is_a_fast_503() {
    // One slow worker, one queue slot: of 8 concurrent requests at most 2 are served.
    let addr = start(
        tone_pool(Duration::from_millis(1500), 1),
        OpenAiConfig::default(),
    )
    .await;
    let started = Instant::now();
    let calls = (0..8).map(|_| {
        tokio::spawn(async move {
            let t = Instant::now();
            let r = post(addr, r#"{"model":"tts-1","input":"busy"}"#).await;
            (r, t.elapsed())
        })
    });
    let mut ok = 0;
    let mut busy = 0;
    for call in calls.collect::<Vec<_>>() {
        let (reply, took) = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("nothing hangs")
            .expect("task");
        match reply.status {
            200 => ok += 1,
            503 => {
                busy += 1;
                // Well before the first synthesis (1.5 s) could have finished.
                assert!(took < Duration::from_millis(1000), "slow 503: {took:?}");
                assert_eq!(reply.header("retry-after"), Some("1"));
                assert_eq!(reply.json()["error"]["code"], "overloaded");
            }
            s => panic!("unexpected {s}: {reply:?}"),
        }
    }
    assert!((1..=2).contains(&ok), "{ok} served");
    assert_eq!(ok + busy, 8);
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_synthesis_times_out_with_504() {
    let addr = start(
        tone_pool(Duration::from_millis(1500), 2),
        OpenAiConfig {
            request_timeout: Duration::from_millis(200),
            ..Default::default()
        },
    )
    .await;
    let reply = post(addr, r#"{"input":"slow"}"#).await;
    assert_eq!(reply.status, 504, "{reply:?}");
    assert_eq!(reply.json()["error"]["code"], "timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs libespeak-ng; run scripts/test"]
async fn espeak_answers_wav_mp3_and_pcm() {
    let pool = common::espeak_pool(4);
    let addr = start(pool, OpenAiConfig::default()).await;
    let text = "The quick brown fox jumps over the lazy dog. It was not amused.";

    let reply = post(
        addr,
        &serde_json::json!({"model": "tts-1", "input": text, "voice": "alloy",
            "response_format": "wav", "speed": 1.0})
        .to_string(),
    )
    .await;
    assert_eq!(
        reply.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.header("content-type"), Some("audio/wav"));
    assert_eq!(reply.header("x-audiosubnet-engine"), Some("espeak"));
    let (rate, samples) = decode_wav(&reply.body);
    assert_eq!(rate, 22_050);
    let secs = samples.len() as f64 / f64::from(rate);
    assert!((1.5..10.0).contains(&secs), "{secs} s for 13 words");
    assert!(rms(&samples) > 0.02, "too quiet: {}", rms(&samples));

    // Default format is mp3, as OpenAI's; the model may name the engine.
    let reply = post(
        addr,
        &serde_json::json!({"model": "espeak", "input": text}).to_string(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("audio/mpeg"));

    // Raw PCM: 16-bit little-endian at 24 kHz, the same length of audio.
    let reply = post(
        addr,
        &serde_json::json!({"model": "tts-1", "input": text, "response_format": "pcm"}).to_string(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("audio/pcm"));
    assert_eq!(reply.body.len() % 2, 0);
    let pcm: Vec<f32> = reply
        .body
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    let pcm_secs = pcm.len() as f64 / 24_000.0;
    assert!((pcm_secs - secs).abs() < 0.01, "{pcm_secs} vs {secs}");
    assert!(rms(&pcm) > 0.02);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openai_flood_leaves_room_for_validators() {
    use audiosubnet_axon::Caller;
    use audiosubnet_protocol::{BodyBinding, TextToSpeech};
    // One worker, four queue slots, 400 ms per prompt.
    let pool = Arc::new(tone_pool(Duration::from_millis(400), 4));
    let (l, addr) = listener().await;
    tokio::spawn(serve_openai(
        l,
        pool.clone(),
        OpenAiConfig::default(),
        std::future::pending(),
    ));
    let flood: Vec<_> = (0..12)
        .map(|_| {
            tokio::spawn(async move { post(addr, r#"{"input":"flooding the pool"}"#).await.status })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let alice = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    let caller = Caller {
        hotkey: audiosubnet_wallet::AccountId::from_ss58(alice).expect("ss58"),
        hotkey_ss58: alice.to_string(),
        version: None,
        peer: std::net::SocketAddr::from(([127, 0, 0, 1], 9)),
        binding: BodyBinding::Hashed,
        timeout: Duration::from_secs(10),
    };
    let validator = audiosubnet_miner::synthesize(
        pool.clone(),
        caller,
        TextToSpeech::request("A validator's prompt."),
    )
    .await;
    assert!(
        validator.as_ref().is_ok_and(|r| r.speech_output.is_some()),
        "the validator was refused: {:?}",
        validator.err()
    );
    let mut statuses = Vec::new();
    for call in flood {
        statuses.push(call.await.expect("task"));
    }
    assert!(
        statuses.iter().all(|s| [200, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&503),
        "the flood was never limited: {statuses:?}"
    );
}

#[tokio::test]
async fn an_api_key_is_required_when_configured() {
    let config = OpenAiConfig {
        api_key: audiosubnet_miner::ApiKey::new("s3cret-key"),
        ..Default::default()
    };
    assert!(
        !format!("{config:?}").contains("s3cret"),
        "Debug shows the key"
    );
    let pool = tone_pool(Duration::ZERO, 4);
    let (l, addr) = listener().await;
    tokio::spawn(serve_openai(
        l,
        Arc::new(pool),
        config,
        std::future::pending(),
    ));
    let body = r#"{"model":"tts-1","input":"hi"}"#;
    let send = |auth: Option<&'static str>| async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             {auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream.write_all(head.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read");
        String::from_utf8_lossy(&raw).into_owned()
    };
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic s3cret-key"),
        Some("Bearer s3cret-keyX"),
    ] {
        let reply = send(auth).await;
        assert!(reply.starts_with("HTTP/1.1 401"), "{auth:?}: {reply:.200}");
        assert!(reply.contains("invalid_api_key"), "{reply:.400}");
        assert!(!reply.contains("s3cret"), "the key is echoed");
    }
    let ok = send(Some("Bearer s3cret-key")).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok:.300}");
}

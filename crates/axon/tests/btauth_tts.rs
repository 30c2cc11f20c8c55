//! `POST /tts` (and `POST /music`) for `btauth/1` callers: audio as WAV or s16le, every refusal
//! with its status, and the Synapse route beside it unchanged.

use audiosubnet_axon::{
    AudioEncoding, Axon, AxonConfig, AxonHooks, Caller, ForwardError, MusicRequest, TtsAudio,
    TtsRequest,
};
use audiosubnet_protocol::btauth::{self, HEADER_HOTKEY, HEADER_RECEIVER, HEADER_VERSION};
use audiosubnet_protocol::tts_http::pcm16le;
use audiosubnet_wallet::Keypair;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tower::ServiceExt;

const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

/// A mono 16-bit PCM WAV file (the miner writes through the tts crate; tests need no engine).
fn wav(samples: &[f32], rate: u32) -> Vec<u8> {
    let data = pcm16le(samples);
    let mut out = Vec::with_capacity(44 + data.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    out
}

/// 0.1 s of tone per character, at the requested rate or 16 kHz.
async fn tone_tts(
    _c: Caller,
    req: TtsRequest,
    enc: AudioEncoding,
) -> Result<TtsAudio, ForwardError> {
    if req.text.trim().is_empty() {
        return Err(ForwardError::BadRequest("text is empty".into()));
    }
    let rate = req.sample_rate.unwrap_or(16_000);
    let n = rate as usize / 10 * req.text.chars().count();
    let samples: Vec<f32> = (0..n)
        .map(|i| 0.3 * (i as f32 * 2.0 * std::f32::consts::PI * 220.0 / rate as f32).sin())
        .collect();
    let body = match enc {
        AudioEncoding::Wav => wav(&samples, rate),
        AudioEncoding::S16le => pcm16le(&samples),
    };
    Ok(TtsAudio {
        body: body.into(),
        sample_rate: rate,
        model: "test-tone".into(),
    })
}

struct Toggle(AtomicBool);
impl AxonHooks for Toggle {
    fn blacklist(&self, _s: &str, caller: &Caller) -> Result<(), String> {
        if self.0.load(Ordering::SeqCst) {
            Err(format!("{} is not welcome", caller.hotkey_ss58))
        } else {
            Ok(())
        }
    }
}

fn axon_with(config: AxonConfig, hooks: Option<Arc<dyn AxonHooks>>) -> Axon {
    let mut b =
        Axon::builder(Keypair::from_uri("//Bob").expect("dev uri"), config).attach_tts(tone_tts);
    if let Some(h) = hooks {
        b = b.hooks(h);
    }
    b.build()
}

fn alice() -> Keypair {
    Keypair::from_uri("//Alice").expect("dev uri")
}

/// A signed request: `target` is what is signed, `sent_target` what is sent.
struct Req {
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    target: String,
    extra: Vec<(&'static str, String)>,
}

impl Req {
    fn new(text: &str) -> Req {
        Req::signed(
            &serde_json::to_vec(&serde_json::json!({ "text": text })).expect("json"),
            "/tts",
            Some(BOB),
            None,
        )
    }

    fn signed(body: &[u8], target: &str, receiver: Option<&str>, nonce: Option<i128>) -> Req {
        Req {
            headers: btauth::sign(&alice(), "POST", target, body, receiver, nonce),
            body: body.to_vec(),
            target: target.to_string(),
            extra: Vec::new(),
        }
    }

    fn set(mut self, name: &'static str, value: Option<&str>) -> Req {
        self.headers.retain(|(k, _)| *k != name);
        if let Some(v) = value {
            self.headers.push((name, v.to_string()));
        }
        self
    }

    fn request(&self) -> http::Request<Body> {
        let mut r = http::Request::post(&self.target);
        for (k, v) in self.headers.iter().chain(&self.extra) {
            r = r.header(*k, v);
        }
        let mut req = r.body(Body::from(self.body.clone())).expect("request");
        req.extensions_mut()
            .insert(ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 9))));
        req
    }
}

async fn send(axon: &Axon, req: http::Request<Body>) -> (Response<()>, Vec<u8>) {
    let resp = axon.router().oneshot(req).await.expect("infallible");
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("body");
    (Response::from_parts(parts, ()), bytes.to_vec())
}

fn error_of(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).expect("json error body");
    v["error"].as_str().expect("error string").to_string()
}

#[tokio::test]
async fn signed_request_gets_a_wav() {
    let axon = axon_with(AxonConfig::default(), None);
    let text = "Hello there.";
    let (resp, body) = send(&axon, Req::new(text).request()).await;
    assert_eq!(resp.status(), 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(resp.headers()["content-type"], "audio/wav");
    assert_eq!(resp.headers()["x-audio-sample-rate"], "16000");
    assert_eq!(resp.headers()["x-audio-model"], "test-tone");
    assert_eq!(&body[..4], b"RIFF");
    assert_eq!(&body[8..12], b"WAVE");
    assert_eq!(body.len(), 44 + 2 * 1600 * text.len());
}

#[tokio::test]
async fn accept_l16_gets_raw_pcm_at_the_preferred_rate() {
    let axon = axon_with(AxonConfig::default(), None);
    let body = br#"{"text":"Hi.","sample_rate":24000}"#;
    let mut req = Req::signed(body, "/tts", Some(BOB), None);
    req.extra.push(("accept", "audio/L16; rate=24000".into()));
    let (resp, out) = send(&axon, req.request()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/octet-stream");
    assert_eq!(resp.headers()["x-audio-encoding"], "s16le");
    assert_eq!(resp.headers()["x-audio-sample-rate"], "24000");
    assert_eq!(out.len(), 2 * 2400 * 3);
}

#[tokio::test]
async fn five_seconds_is_a_fraction_of_the_synapse_reply() {
    let axon = axon_with(AxonConfig::default(), None);
    // 50 characters at 0.1 s each: 5 s at 16 kHz.
    let (resp, body) = send(&axon, Req::new(&"a".repeat(50)).request()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body.len(), 44 + 160_000);
    // The Synapse reply carries a clip as a JSON list of floats: 5 s of the same tone at the
    // same rate is over four times larger (Python peers write ~18 digits a float: ~2.3 MB).
    let json_size = |rate: usize| {
        let mut synapse = audiosubnet_protocol::TextToSpeech::request("a");
        synapse.speech_output = Some(
            (0..5 * rate)
                .map(|i| 0.3 * (i as f32 * 2.0 * std::f32::consts::PI * 220.0 / rate as f32).sin())
                .collect(),
        );
        serde_json::to_vec(&synapse).expect("json").len()
    };
    let (at_16k, at_22k) = (json_size(16_000), json_size(22_050));
    eprintln!(
        "5 s clip: /tts WAV {} B; Synapse JSON {at_16k} B at 16 kHz, {at_22k} B at 22.05 kHz",
        body.len()
    );
    assert!(at_16k > 4 * body.len(), "{at_16k} vs {}", body.len());
}

#[tokio::test]
async fn blacklisted_is_403_and_leaves_no_nonce() {
    let toggle = Arc::new(Toggle(AtomicBool::new(true)));
    let axon = axon_with(AxonConfig::default(), Some(toggle.clone()));
    let req = Req::new("Hello.");
    let (resp, body) = send(&axon, req.request()).await;
    assert_eq!(resp.status(), 403);
    assert!(error_of(&body).starts_with("Forbidden. Key is blacklisted"));
    toggle.0.store(false, Ordering::SeqCst);
    let (resp, _) = send(&axon, req.request()).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn each_auth_failure_is_401() {
    let axon = axon_with(AxonConfig::default(), None);
    let body = br#"{"text":"Hello."}"#.to_vec();
    let now = btauth::now_ns();
    let s = 1_000_000_000i128;
    let cases: Vec<(&str, Req)> = vec![
        (
            "malformed",
            Req::signed(&body, "/tts", Some(BOB), None).set(HEADER_VERSION, None),
        ),
        (
            "malformed",
            Req::signed(&body, "/tts", Some(BOB), None).set(HEADER_HOTKEY, Some("5xyz")),
        ),
        (
            "stale",
            Req::signed(&body, "/tts", Some(BOB), Some(now - 11 * s)),
        ),
        (
            "stale",
            Req::signed(&body, "/tts", Some(BOB), Some(now + 5 * s)),
        ),
        (
            "wrong receiver",
            Req::signed(&body, "/tts", Some(&alice().ss58()), None),
        ),
        ("wrong receiver", Req::signed(&body, "/tts", None, None)),
        (
            "wrong receiver",
            Req::signed(&body, "/tts", Some(BOB), None).set(HEADER_RECEIVER, None),
        ),
        (
            "bad signature",
            Req::signed(&body, "/tts", Some(BOB), None).set(
                HEADER_HOTKEY,
                Some(&Keypair::from_uri("//Eve").unwrap().ss58()),
            ),
        ),
        (
            "bad signature",
            Req::signed(&body, "/tts", Some(BOB), None).set(btauth::HEADER_CRYPTO, Some("ed25519")),
        ),
    ];
    for (what, req) in cases {
        let (resp, out) = send(&axon, req.request()).await;
        assert_eq!(
            resp.status(),
            401,
            "{what}: {}",
            String::from_utf8_lossy(&out)
        );
        let msg = error_of(&out);
        assert!(msg.contains(what), "{what}: {msg}");
        assert!(!msg.contains("0x"), "no signature echoed: {msg}");
    }
}

#[tokio::test]
async fn tampering_is_401() {
    let axon = axon_with(AxonConfig::default(), None);
    // Body changed after signing.
    let mut req = Req::new("Hello.");
    req.body = br#"{"text":"Goodbye."}"#.to_vec();
    let (resp, out) = send(&axon, req.request()).await;
    assert_eq!(resp.status(), 401);
    assert!(error_of(&out).contains("bad signature"));
    // Signed for one query, sent with another; signed without a query, sent with one.
    let body = br#"{"text":"Hello."}"#;
    let mut req = Req::signed(body, "/tts?voice=a", Some(BOB), None);
    req.target = "/tts?voice=b".into();
    assert_eq!(send(&axon, req.request()).await.0.status(), 401);
    let mut req = Req::signed(body, "/tts", Some(BOB), None);
    req.target = "/tts?x=1".into();
    assert_eq!(send(&axon, req.request()).await.0.status(), 401);
    // Signed for another path, sent to /tts.
    let mut req = Req::signed(body, "/generate", Some(BOB), None);
    req.target = "/tts".into();
    assert_eq!(send(&axon, req.request()).await.0.status(), 401);
    // The signed query is served.
    let req = Req::signed(body, "/tts?voice=a", Some(BOB), None);
    assert_eq!(send(&axon, req.request()).await.0.status(), 200);
}

#[tokio::test]
async fn replay_is_401_and_a_forgery_does_not_burn_the_nonce() {
    let axon = axon_with(AxonConfig::default(), None);
    let req = Req::new("Hello.");
    // A forgery with the same hotkey and nonce first: refused, and not remembered.
    let mut forged = Req::new("Hello.");
    forged.headers = req.headers.clone();
    forged.body = br#"{"text":"Other."}"#.to_vec();
    assert_eq!(send(&axon, forged.request()).await.0.status(), 401);
    assert_eq!(send(&axon, req.request()).await.0.status(), 200);
    let (resp, out) = send(&axon, req.request()).await;
    assert_eq!(resp.status(), 401);
    assert!(error_of(&out).contains("replayed"));
}

#[tokio::test]
async fn oversized_body_is_413() {
    let config = AxonConfig {
        max_body_bytes: 1024,
        ..Default::default()
    };
    let axon = axon_with(config, None);
    let text = "x".repeat(2000);
    // Declared too large: refused before anything is read.
    let (resp, out) = send(&axon, Req::new(&text).request()).await;
    assert_eq!(resp.status(), 413);
    assert!(error_of(&out).contains("exceeds 1024"));
    // Not declared (streamed): refused once the limit is passed.
    let req = Req::new(&text);
    let mut http = req.request();
    http.headers_mut().remove("content-length");
    let stream = futures::stream::iter(
        req.body
            .chunks(100)
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    *http.body_mut() = Body::from_stream(stream);
    assert_eq!(send(&axon, http).await.0.status(), 413);
}

#[tokio::test]
async fn bad_requests_are_400_and_wrong_method_405() {
    let axon = axon_with(AxonConfig::default(), None);
    for body in [
        b"not json".as_slice(),
        br#"{"voice":"a"}"#,
        br#"{"text":"   "}"#,
        br#"{"text":"a","sample_rate":100}"#,
    ] {
        let req = Req::signed(body, "/tts", Some(BOB), None);
        let (resp, out) = send(&axon, req.request()).await;
        assert_eq!(resp.status(), 400, "{}", String::from_utf8_lossy(body));
        assert!(!error_of(&out).is_empty());
    }
    let req = http::Request::get("/tts")
        .extension(ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 9))))
        .body(Body::empty())
        .expect("request");
    let (resp, _) = send(&axon, req).await;
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
}

#[tokio::test]
async fn synapse_routes_are_unchanged_beside_tts_and_can_be_turned_off() {
    let unsigned = || {
        http::Request::post("/TextToSpeech")
            .extension(ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 9))))
            .body(Body::from("{}"))
            .expect("request")
    };
    let axon = axon_with(AxonConfig::default(), None);
    let (resp, out) = send(&axon, unsigned()).await;
    // The Synapse route answers in its own dialect (`message`, bt_header_axon_*).
    assert_eq!(resp.status(), 404, "no TextToSpeech handler attached here");
    let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
    assert!(
        v["message"]
            .as_str()
            .expect("message")
            .contains("not found")
    );
    assert!(resp.headers().contains_key("bt_header_axon_status_code"));

    let only_btauth = Axon::builder(Keypair::from_uri("//Bob").unwrap(), AxonConfig::default())
        .attach_tts(tone_tts)
        .synapse(false)
        .build();
    let ping = http::Request::post("/Synapse")
        .extension(ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 9))))
        .body(Body::empty())
        .expect("request");
    assert_eq!(send(&only_btauth, ping).await.0.status(), 404);
    assert_eq!(
        send(&only_btauth, Req::new("Hi.").request())
            .await
            .0
            .status(),
        200
    );
}

#[tokio::test]
async fn a_full_queue_is_503_with_retry_after() {
    let config = AxonConfig {
        max_concurrency: 1,
        max_queue: 0,
        ..Default::default()
    };
    let axon = Axon::builder(Keypair::from_uri("//Bob").unwrap(), config)
        .attach_tts(|c, r, e| async move {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            tone_tts(c, r, e).await
        })
        .build();
    let first = tokio::spawn({
        let axon = axon.clone();
        async move { send(&axon, Req::new("Hi.").request()).await.0.status() }
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let (resp, out) = send(&axon, Req::new("Hi.").request()).await;
    assert_eq!(resp.status(), 503, "{}", String::from_utf8_lossy(&out));
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(first.await.expect("task"), 200);
}

#[tokio::test]
async fn a_body_that_does_not_arrive_is_408_over_a_real_socket() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = AxonConfig {
        connections: audiosubnet_axon::ConnectionLimits {
            body_timeout: std::time::Duration::from_millis(300),
            ..Default::default()
        },
        ..Default::default()
    };
    let axon = axon_with(config, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(axon.serve(listener, std::future::pending()));
    // Correct headers for a 100-byte body, of which 10 bytes ever arrive.
    let body = vec![b' '; 100];
    let req = Req::signed(&body, "/tts", Some(BOB), None);
    let mut head = String::from("POST /tts HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n");
    for (k, v) in &req.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(&body[..10]).await.expect("some body");
    let mut reply = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut reply),
    )
    .await;
    assert!(read.is_ok(), "the axon closes the connection");
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("did not arrive in time"), "{text}");
}

/// `duration_seconds` of a 440 Hz tone; an empty prompt is a 400 from the handler.
async fn tone_music(
    _c: Caller,
    req: MusicRequest,
    enc: AudioEncoding,
) -> Result<TtsAudio, ForwardError> {
    if req.text.trim().is_empty() {
        return Err(ForwardError::BadRequest("text is empty".into()));
    }
    let rate = req.sample_rate.unwrap_or(32_000);
    let n = (req.seconds() * f64::from(rate)) as usize;
    let samples: Vec<f32> = (0..n)
        .map(|i| 0.3 * (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / rate as f32).sin())
        .collect();
    let body = match enc {
        AudioEncoding::Wav => wav(&samples, rate),
        AudioEncoding::S16le => pcm16le(&samples),
    };
    Ok(TtsAudio {
        body: body.into(),
        sample_rate: rate,
        model: "test-music".into(),
    })
}

#[tokio::test]
async fn music_is_served_beside_tts_with_its_own_hook_name() {
    struct MusicOnlyForAlice;
    impl AxonHooks for MusicOnlyForAlice {
        fn blacklist(&self, synapse: &str, caller: &Caller) -> Result<(), String> {
            match synapse {
                "music" if caller.hotkey_ss58 != ALICE => Err("music is for Alice".into()),
                _ => Ok(()),
            }
        }
    }
    const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    let axon = Axon::builder(
        Keypair::from_uri("//Bob").expect("dev uri"),
        AxonConfig::default(),
    )
    .attach_tts(tone_tts)
    .attach_music(tone_music)
    .hooks(Arc::new(MusicOnlyForAlice))
    .build();
    let music = |body: &[u8]| Req::signed(body, "/music", Some(BOB), None);

    let (resp, out) = send(
        &axon,
        music(br#"{"text":"jazz","duration_seconds":0.5}"#).request(),
    )
    .await;
    assert_eq!(resp.status(), 200, "{}", String::from_utf8_lossy(&out));
    assert_eq!(resp.headers()["x-audio-model"], "test-music");
    assert_eq!(resp.headers()["x-audio-sample-rate"], "32000");
    assert_eq!(out.len(), 44 + 2 * 16_000);
    // The speech route is unchanged beside it.
    let (resp, _) = send(&axon, Req::new("Hi.").request()).await;
    assert_eq!(resp.status(), 200);

    // Bad bodies are 400 before any work, naming the fields; so is the handler's refusal.
    for body in [
        &br#"{"duration_seconds":3}"#[..],
        b"not json",
        br#"{"text":"x","sample_rate":1}"#,
    ] {
        let (resp, out) = send(&axon, music(body).request()).await;
        assert_eq!(resp.status(), 400, "{}", String::from_utf8_lossy(body));
        assert!(!error_of(&out).is_empty());
    }
    let (resp, out) = send(&axon, music(br#"{"text":"  "}"#).request()).await;
    assert_eq!(
        (resp.status().as_u16(), error_of(&out).as_str()),
        (400, "text is empty")
    );

    // The hooks see `music`: a caller refused there is 403 on /music only.
    let charlie = Keypair::from_uri("//Charlie").expect("dev uri");
    for (target, want) in [("/music", 403), ("/tts", 200)] {
        let body = br#"{"text":"Hi."}"#;
        let req = Req {
            headers: btauth::sign(&charlie, "POST", target, body, Some(BOB), None),
            body: body.to_vec(),
            target: target.to_string(),
            extra: Vec::new(),
        };
        let (resp, _) = send(&axon, req.request()).await;
        assert_eq!(resp.status(), want, "{target}");
    }

    // An axon without music answers /music as an unknown route.
    let speech_only = axon_with(AxonConfig::default(), None);
    let (resp, _) = send(&speech_only, music(br#"{"text":"jazz"}"#).request()).await;
    assert_eq!(resp.status(), 404);
}

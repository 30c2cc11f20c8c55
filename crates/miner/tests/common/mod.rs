//! Helpers shared by the miner's integration tests: a deterministic engine and a minimal
//! HTTP/1.1 client (one request per connection).

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use audiosubnet_tts::{PoolConfig, Speech, SpeechEngine, SynthesisPool, TtsError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A 220 Hz tone, 50 ms per character, produced after `delay`.
pub struct Tone {
    pub delay: Duration,
}

impl SpeechEngine for Tone {
    fn name(&self) -> &str {
        "tone"
    }
    fn sample_rate(&self) -> u32 {
        16_000
    }
    fn synthesize(&mut self, text: &str) -> Result<Speech, TtsError> {
        if text.trim().is_empty() {
            return Err(TtsError::EmptyText);
        }
        if text.chars().count() > 1000 {
            return Err(TtsError::TextTooLong {
                chars: text.chars().count(),
                max: 1000,
            });
        }
        std::thread::sleep(self.delay);
        let n = text.chars().count() * 800;
        Ok(Speech {
            samples: (0..n)
                .map(|i| 0.5 * (i as f32 * 2.0 * std::f32::consts::PI * 220.0 / 16_000.0).sin())
                .collect(),
            sample_rate: 16_000,
        })
    }
}

pub fn tone_pool(delay: Duration, queue_capacity: usize) -> SynthesisPool {
    SynthesisPool::start_with(
        PoolConfig {
            workers: 1,
            queue_capacity,
            warmup_text: String::new(),
        },
        move |_| Ok(Box::new(Tone { delay }) as Box<dyn SpeechEngine>),
    )
    .expect("tone pool")
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The OpenAI error's message, checking the envelope's shape.
    pub fn error_message(&self) -> String {
        let v = self.json();
        let err = &v["error"];
        assert!(err["type"].is_string(), "no error.type: {v}");
        err["message"].as_str().expect("error.message").to_owned()
    }
}

/// Sends one request and reads the whole reply (the server closes the connection).
pub async fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    // A server may answer (413) before reading everything; the reply still counts.
    let _ = stream.write_all(&request).await;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read reply");
    parse_reply(&raw)
}

pub fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_str = String::from_utf8_lossy(&data[..eol]);
        let size = usize::from_str_radix(size_str.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
}

/// Binds 127.0.0.1 on a free port.
pub async fn listener() -> (tokio::net::TcpListener, SocketAddr) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    (l, addr)
}

/// A real espeak-ng pool: one worker, `queue_capacity` waiting prompts.
pub fn espeak_pool(queue_capacity: usize) -> SynthesisPool {
    SynthesisPool::start(
        "espeak",
        &audiosubnet_tts::EngineOptions::default(),
        PoolConfig {
            workers: 1,
            queue_capacity,
            ..Default::default()
        },
    )
    .expect("espeak pool (needs libespeak-ng)")
}

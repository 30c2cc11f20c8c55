//! `audiosubnet validator --offline` as a process against hostile miners (issue #10): an honest
//! espeak-ng miner (the real `audiosubnet miner` process); a miner that answers honestly three
//! times (through a real espeak-ng miner behind it) and then refuses with 403; one that wraps
//! real speech in ~60 MiB of `"clone_input":[[],[],…]`; one that answers 500 with a 20 MB
//! message; and one that drips its reply one byte a second. The validator finishes all six
//! rounds, its peak RSS stays under 1 GB, the refusing miner ends below half the honest miner's
//! EMA, and no stored or logged string is longer than 1 KB.
//!
//! The hostile miners are plain threads on 127.0.0.2+ in this test (they are the adversary).

mod common;

use common::{Guard, bin, free_port, hotkey, regen};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One HTTP/1.1 message (request or response) with a `content-length` body: (head, body).
fn read_message(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}

/// What a hostile miner does with the `n`th request (0-based) it gets.
type Behaviour = Arc<dyn Fn(usize, &str, &[u8], &mut TcpStream) + Send + Sync>;

/// Serves `behaviour` on `ip` (any free port); returns the port.
fn hostile(ip: &str, behaviour: Behaviour) -> u16 {
    let listener = TcpListener::bind((ip, 0)).expect("bind a hostile miner");
    let port = listener.local_addr().expect("addr").port();
    let served = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let (behaviour, served) = (behaviour.clone(), served.clone());
            std::thread::spawn(move || {
                while let Some((head, body)) = read_message(&mut stream) {
                    let n = served.fetch_add(1, Ordering::SeqCst);
                    behaviour(n, &head, &body, &mut stream);
                }
            });
        }
    });
    port
}

/// Sends the request on to the real miner at `backend` and returns its reply.
fn forward(backend: u16, head: &str, body: &[u8]) -> Option<(String, Vec<u8>)> {
    let mut up = TcpStream::connect(("127.0.0.1", backend)).ok()?;
    up.write_all(head.as_bytes()).ok()?;
    up.write_all(body).ok()?;
    read_message(&mut up)
}

fn with_length(head: &str, len: usize) -> String {
    let lines: Vec<&str> = head
        .trim_end()
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("content-length:"))
        .collect();
    format!("{}\r\ncontent-length: {len}\r\n\r\n", lines.join("\r\n"))
}

fn respond(stream: &mut TcpStream, status: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

const PROMPTS: &str = "Please open the window before you leave the house.
My brother likes to read books about the ocean.
Can you help me carry these boxes to the car?
The children played in the garden all afternoon.
";

/// Every string in `v`, with the key it is under.
fn strings<'a>(v: &'a serde_json::Value, key: &'a str, out: &mut Vec<(&'a str, &'a str)>) {
    match v {
        serde_json::Value::String(s) => out.push((key, s)),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, key, out)),
        serde_json::Value::Object(m) => m.iter().for_each(|(k, x)| strings(x, k, out)),
        _ => {}
    }
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[test]
#[ignore = "needs espeak-ng and the scoring models; run scripts/test"]
fn validator_survives_hostile_miners_with_bounded_memory_and_text() {
    let home = tempfile::tempdir().expect("tempdir");
    let dir = home.path();
    let wallets = dir.join("wallets");
    for (name, uri) in [
        ("validator", "//Alice"),
        ("honest", "//Bob"),
        ("refuser", "//Charlie"),
        ("padder", "//Dave"),
        ("shouter", "//Eve"),
        ("dripper", "//Ferdie"),
    ] {
        regen(&wallets, name, uri);
    }
    std::fs::write(dir.join("prompts.txt"), PROMPTS).expect("prompts file");
    let (p_honest, p_refuser, p_padder) = (free_port(), free_port(), free_port());
    let _honest = common::start_miner(&wallets, "honest", "espeak", p_honest, &[]);
    // The real engines behind the two miners that start out honest (same hotkeys, so the
    // validator's signatures verify there).
    let _refuser_backend = common::start_miner(&wallets, "refuser", "espeak", p_refuser, &[]);
    let _padder_backend = common::start_miner(&wallets, "padder", "espeak", p_padder, &[]);

    let refuser = hostile(
        "127.0.0.2",
        Arc::new(move |n, head, body, stream| {
            if n < 3
                && let Some((h, b)) = forward(p_refuser, head, body)
            {
                let _ = stream.write_all(h.as_bytes());
                let _ = stream.write_all(&b);
            } else {
                respond(stream, "403 Forbidden", br#"{"message":"Forbidden"}"#);
            }
        }),
    );
    let padder = hostile(
        "127.0.0.3",
        Arc::new(move |_, head, body, stream| {
            let Some((h, b)) = forward(p_padder, head, body) else {
                return;
            };
            // Valid speech, behind ~60 MiB of empty lists.
            let pad = 20 * 1024 * 1024;
            let mut out = Vec::with_capacity(3 * pad + b.len() + 32);
            out.extend_from_slice(b"{\"clone_input\":[");
            for i in 0..pad {
                out.extend_from_slice(if i + 1 == pad { b"[]" } else { b"[]," });
            }
            out.extend_from_slice(b"],");
            out.extend_from_slice(b.get(1..).unwrap_or_default());
            let _ = stream.write_all(with_length(&h, out.len()).as_bytes());
            let _ = stream.write_all(&out);
        }),
    );
    let message = serde_json::to_vec(&serde_json::json!({
        "message": "\u{1b}[31mERROR\u{1b}[0m forged\n".repeat(20_000_000 / 27),
    }))
    .expect("json");
    let shouter = hostile(
        "127.0.0.4",
        Arc::new(move |_, _, _, stream| respond(stream, "500 Internal Server Error", &message)),
    );
    let dripper = hostile(
        "127.0.0.5",
        Arc::new(|_, _, _, stream| {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n{");
            for _ in 0..600 {
                std::thread::sleep(Duration::from_secs(1));
                if stream.write_all(b" ").is_err() {
                    return;
                }
            }
        }),
    );

    let keys: Vec<String> = ["honest", "refuser", "padder", "shouter", "dripper"]
        .iter()
        .map(|n| hotkey(&wallets, n))
        .collect();
    let axons = [
        format!("{}@127.0.0.1:{p_honest}", keys[0]),
        format!("{}@127.0.0.2:{refuser}", keys[1]),
        format!("{}@127.0.0.3:{padder}", keys[2]),
        format!("{}@127.0.0.4:{shouter}", keys[3]),
        format!("{}@127.0.0.5:{dripper}", keys[4]),
    ]
    .join(",");
    let log = std::fs::File::create(dir.join("validator.log")).expect("log file");
    let mut validator = Guard(
        Command::new(bin())
            .args(["validator", "--offline", "--wallet.name", "validator"])
            .args(["--axons", &axons, "--rounds", "6"])
            .args(["--neuron.round_interval", "0", "--neuron.timeout", "8"])
            .arg("--prompts.file")
            .arg(dir.join("prompts.txt"))
            .arg("--wallet.path")
            .arg(&wallets)
            .arg("--state.path")
            .arg(dir.join("state.json"))
            .arg("--scores.out")
            .arg(dir.join("scores.json"))
            .arg("--report.dir")
            .arg(dir.join("report"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("validator starts"),
    );
    let pid = validator.0.id();
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut peak_kib = 0;
    let status = loop {
        if let Some(kib) = vm_hwm_kib(pid) {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = validator.0.try_wait().expect("status") {
            break status;
        }
        assert!(Instant::now() < deadline, "six rounds took over 900 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = std::fs::read_to_string(dir.join("validator.log")).expect("log");
    assert!(status.success(), "validator failed: {log:.4000}");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("state.json")).expect("state"))
            .expect("state JSON");
    let ema = |k: &str| state["miners"][k]["ema"].as_f64().unwrap_or(0.0);
    let emas: Vec<f64> = keys.iter().map(|k| ema(k)).collect();
    println!(
        "peak RSS {:.0} MiB; EMAs honest {:.4} refuser {:.4} padder {:.4} shouter {:.4} dripper {:.4}",
        peak_kib as f64 / 1024.0,
        emas[0],
        emas[1],
        emas[2],
        emas[3],
        emas[4]
    );
    assert_eq!(state["rounds"].as_u64(), Some(6), "every round finished");
    assert!(
        peak_kib > 0 && peak_kib < 1024 * 1024,
        "peak RSS {peak_kib} KiB"
    );
    assert!(emas[0] > 0.0, "the honest miner is scored: {}", emas[0]);
    assert!(
        emas[1] < 0.5 * emas[0],
        "the refuser kept {} against the honest {}",
        emas[1],
        emas[0]
    );
    for k in &keys[2..] {
        assert_eq!(state["miners"][k]["failures"].as_u64(), Some(6), "{k}");
    }
    let scores: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("scores.json")).expect("scores"))
            .expect("scores JSON");
    let latest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report/latest.json")).expect("latest"))
            .expect("latest JSON");
    let mut all = Vec::new();
    strings(&state, "", &mut all);
    strings(&scores, "", &mut all);
    strings(&latest, "", &mut all);
    for (key, s) in all {
        // Fingerprints are the validator's own hex, not miner text.
        if key != "fingerprint" {
            assert!(s.len() <= 1024, "a stored {key:?} is {} bytes", s.len());
        }
    }
    let html = std::fs::read_to_string(dir.join("report/index.html")).expect("report");
    assert!(
        !html.contains('\u{1b}'),
        "a terminal escape reached the report"
    );
    let longest = log.lines().map(str::len).max().unwrap_or(0);
    assert!(longest <= 1024, "a log line is {longest} bytes");
    assert!(
        !log.contains("\u{1b}[31mERROR\u{1b}[0m forged"),
        "the miner's terminal escapes reached the log"
    );
}

//! Hostile load on a real miner process: the built `audiosubnet` binary serves offline with
//! espeak-ng while this test runs, at once, 1,000 slowloris sockets (one header byte every
//! 5 s), 20,000 signed requests from a hotkey the miner does not serve (half with 4 KiB uuids,
//! half with a fresh uuid each, which used to grow the nonce table), and 200 oversized bodies
//! (declared and chunked). A permitted validator (our dendrite) queries once a second
//! throughout. Every validator query must get audio within its timeout, the miner's RSS must
//! stay under 150 MiB, and the slowloris sockets must be closed by the miner within 30 s.

mod common;

use common::{Guard, bin, regen};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use audiosubnet_dendrite::{AxonTarget, Dendrite};
use audiosubnet_protocol::{
    PROTOCOL_VERSION, TextToSpeech, format_signature, signature_message, synapse_body_hash,
};
use audiosubnet_wallet::Keypair;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const SLOWLORIS: usize = 1_000;
const FLOOD: usize = 20_000;
const FLOOD_CONNECTIONS: usize = 16;
const OVERSIZED: usize = 200;
const VALIDATOR_TIMEOUT: Duration = Duration::from_secs(12);
const MAX_RSS_KIB: u64 = 150 * 1024;

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// A loopback source address, so connections can come from many "hosts".
fn source(n: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 1, n)), 0)
}

async fn connect_from(src: SocketAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(src)?;
    socket.connect(to).await
}

/// A signed `TextToSpeech` request as HTTP/1.1 bytes: head and body.
fn signed_request(
    key: &Keypair,
    nonce: i64,
    uuid: &str,
    body_len: Option<&str>,
) -> (String, Vec<u8>) {
    let synapse = TextToSpeech::request("Let me in.");
    let hash = synapse_body_hash(&synapse);
    let message = signature_message(nonce, &key.ss58(), BOB, uuid, &hash);
    let signature = format_signature(&key.sign(message.as_bytes()));
    let body = serde_json::to_vec(&synapse).expect("serializes");
    let length = body_len.map_or_else(
        || format!("content-length: {}\r\n", body.len()),
        str::to_string,
    );
    let head = format!(
        "POST /TextToSpeech HTTP/1.1\r\nhost: miner\r\nname: TextToSpeech\r\ntimeout: 12.0\r\n\
         bt_header_dendrite_version: {PROTOCOL_VERSION}\r\nbt_header_dendrite_nonce: {nonce}\r\n\
         bt_header_dendrite_uuid: {uuid}\r\nbt_header_dendrite_hotkey: {}\r\n\
         bt_header_dendrite_signature: {signature}\r\nbt_header_axon_hotkey: {BOB}\r\n\
         computed_body_hash: {hash}\r\ncontent-type: application/json\r\n{length}\r\n",
        key.ss58()
    );
    (head, body)
}

/// Reads one response; returns its status and whether the server keeps the connection.
async fn read_response(reader: &mut BufReader<TcpStream>) -> Option<(u16, bool)> {
    let mut line = String::new();
    reader.read_line(&mut line).await.ok()?;
    let status: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut length = 0usize;
    let mut keep = true;
    loop {
        line.clear();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let l = line.trim_end().to_ascii_lowercase();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l.strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
        if l == "connection: close" {
            keep = false;
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await.ok()?;
    Some((status, keep))
}

#[derive(Default)]
struct Counts {
    answered: AtomicUsize,
    forbidden: AtomicUsize,
    malformed: AtomicUsize,
    other: AtomicUsize,
    reconnects: AtomicUsize,
}

/// Sends `n` signed requests from a hotkey the miner does not serve, over keep-alive
/// connections (reconnecting when the miner closes one).
async fn flood(addr: SocketAddr, src: SocketAddr, n: usize, counts: Arc<Counts>) {
    let attacker = Keypair::from_uri("//Charlie").expect("dev uri");
    let big_uuid = "u".repeat(4096);
    let mut conn: Option<BufReader<TcpStream>> = None;
    let mut sent = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while sent < n && Instant::now() < deadline {
        let mut reader = match conn.take() {
            Some(r) => r,
            None => match connect_from(src, addr).await {
                Ok(s) => {
                    counts.reconnects.fetch_add(1, Ordering::Relaxed);
                    BufReader::new(s)
                }
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let uuid = if sent % 2 == 0 {
            big_uuid.clone()
        } else {
            format!("{:032x}", rand_u128())
        };
        let (head, body) = signed_request(&attacker, now_ns(), &uuid, None);
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&body);
        sent += 1;
        if reader.get_mut().write_all(&bytes).await.is_err() {
            continue;
        }
        if let Some((status, keep)) = read_response(&mut reader).await {
            counts.answered.fetch_add(1, Ordering::Relaxed);
            let bucket = match status {
                403 => &counts.forbidden,
                500 => &counts.malformed,
                _ => &counts.other,
            };
            bucket.fetch_add(1, Ordering::Relaxed);
            if keep {
                conn = Some(reader);
            }
        }
    }
}

fn rand_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(now_ns());
    (u128::from(h.finish()) << 64) | u128::from(h.finish().rotate_left(17))
}

/// One oversized body: declared (`content-length` far over the limit) or chunked and endless.
/// Returns the status the miner answered (0 if it only closed) and the bytes it let through.
async fn oversized(addr: SocketAddr, src: SocketAddr, chunked: bool, i: usize) -> (u16, usize) {
    // Declared bodies come from the unserved hotkey; chunked ones from the permitted validator
    // (a separate uuid per body), so they pass verification and hit the body limit itself.
    let key = Keypair::from_uri(if chunked { "//Alice" } else { "//Charlie" }).expect("dev uri");
    let uuid = format!("oversized-{i}");
    let framing = if chunked {
        "transfer-encoding: chunked\r\n"
    } else {
        "content-length: 1073741824\r\n"
    };
    let (head, _) = signed_request(&key, now_ns(), &uuid, Some(framing));
    let Ok(stream) = connect_from(src, addr).await else {
        return (0, 0);
    };
    let (read_half, mut write_half) = stream.into_split();
    let writer = tokio::spawn(async move {
        let mut sent = 0usize;
        if write_half.write_all(head.as_bytes()).await.is_err() {
            return sent;
        }
        let chunk = if chunked {
            let mut c = format!("{:x}\r\n", 64 * 1024).into_bytes();
            c.extend(std::iter::repeat_n(b'a', 64 * 1024));
            c.extend_from_slice(b"\r\n");
            c
        } else {
            vec![b'a'; 64 * 1024]
        };
        // At most 64 MiB; the miner should stop reading long before.
        while sent < 64 << 20 {
            if write_half.write_all(&chunk).await.is_err() {
                break;
            }
            sent += 64 * 1024;
        }
        sent
    });
    let mut reader = BufReader::new(read_half);
    let mut line = String::new();
    let status = tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line))
        .await
        .ok()
        .and_then(Result::ok)
        .and_then(|_| line.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    // Drop our read side; the writer ends when the miner closes or resets the connection.
    drop(reader);
    let sent = tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(usize::MAX);
    (status, sent)
}

/// A slowloris socket: one header byte every 5 s. Returns how long the miner let it live, or
/// `None` when it was still open after `give_up`.
async fn slowloris(
    addr: SocketAddr,
    src: SocketAddr,
    give_up: Duration,
) -> Result<Option<Duration>, ()> {
    let mut stream = connect_from(src, addr).await.map_err(|_| ())?;
    let started = Instant::now();
    let head = b"POST /TextToSpeech HTTP/1.1\r\nhost: miner\r\nname: TextToSpeech\r\n";
    let mut buf = [0u8; 1024];
    for byte in head.iter().cycle() {
        if stream.write_all(&[*byte]).await.is_err() {
            return Ok(Some(started.elapsed()));
        }
        let left = give_up.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Ok(None);
        }
        match tokio::time::timeout(left.min(Duration::from_secs(5)), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(Some(started.elapsed())),
            Ok(Ok(_)) => {} // an error reply; the close follows
            Err(_) => {}    // 5 s passed: next byte
        }
    }
    Ok(None)
}

fn raise_fd_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
    let now = getrlimit(Resource::Nofile).current;
    assert!(
        now.is_none_or(|n| n >= 2_000),
        "this test needs about 1,300 open files; the limit is {now:?}"
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[test]
#[ignore = "needs libespeak-ng; run scripts/test"]
fn a_miner_under_hostile_load_keeps_serving_its_validator() {
    raise_fd_limit();
    let home = tempfile::tempdir().expect("tempdir");
    let wallets = home.path().join("wallets");
    regen(&wallets, "miner", "//Bob");

    let port = std::net::TcpListener::bind("127.0.0.2:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.2");
    let addr = SocketAddr::from(([127, 0, 0, 2], port));
    let miner = Command::new(bin())
        .args(["miner", "--offline", "--model", "espeak"])
        .args(["--wallet.name", "miner"])
        .arg("--wallet.path")
        .arg(&wallets)
        .args(["--axon.ip", "127.0.0.2", "--axon.port", &port.to_string()])
        .args(["--blacklist.allowed_hotkeys", ALICE])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("miner starts");
    let mut miner = Guard(miner);
    let pid = miner.0.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "miner did not listen in 60 s");
        assert!(
            miner.0.try_wait().expect("status").is_none(),
            "miner exited early"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let rss_idle = rss_kib(pid).unwrap_or(0);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let started = Instant::now();
        let attacking = Arc::new(AtomicBool::new(true));

        // RSS sampler.
        let sampling = attacking.clone();
        let sampler = tokio::spawn(async move {
            let mut max = 0;
            while sampling.load(Ordering::Relaxed) {
                max = max.max(rss_kib(pid).unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            max
        });

        // The validator: one query a second while the attack lasts.
        let querying = attacking.clone();
        let validator = tokio::spawn(async move {
            let dendrite = Dendrite::new(Keypair::from_uri("//Alice").expect("dev uri"));
            let target: AxonTarget = format!("{BOB}@{addr}").parse().expect("target");
            let mut results = Vec::new();
            let mut n = 0;
            while querying.load(Ordering::Relaxed) {
                let tick = Instant::now();
                n += 1;
                let prompt = TextToSpeech::request(format!("Validator query number {n}."));
                let reply = dendrite.call(&target, &prompt, VALIDATOR_TIMEOUT).await;
                let audio = reply
                    .synapse
                    .as_ref()
                    .and_then(|s| s.speech_output.as_ref())
                    .map_or(0, Vec::len);
                results.push((reply.status_code, reply.status_message.clone(), audio, reply.elapsed));
                tokio::time::sleep(Duration::from_secs(1).saturating_sub(tick.elapsed())).await;
            }
            results
        });

        // 1,000 slowloris sockets from 20 addresses (50 each, under the per-IP cap, so they
        // are accepted and must be timed out).
        let slow: Vec<_> = (0..SLOWLORIS)
            .map(|i| {
                let src = source(10 + (i % 20) as u8);
                tokio::spawn(slowloris(addr, src, Duration::from_secs(40)))
            })
            .collect();

        // 20,000 signed requests from the unserved hotkey.
        let counts = Arc::new(Counts::default());
        let floods: Vec<_> = (0..FLOOD_CONNECTIONS)
            .map(|i| {
                let src = source(100 + (i % 8) as u8);
                tokio::spawn(flood(addr, src, FLOOD / FLOOD_CONNECTIONS, counts.clone()))
            })
            .collect();

        // 200 oversized bodies, 4 at a time.
        let big = tokio::spawn(async move {
            let mut results = Vec::new();
            for batch in 0..OVERSIZED / 4 {
                let calls: Vec<_> = (0..4)
                    .map(|j| {
                        let i = batch * 4 + j;
                        tokio::spawn(oversized(addr, source(200 + (i % 4) as u8), i % 2 == 1, i))
                    })
                    .collect();
                for c in calls {
                    results.push(c.await.expect("task"));
                }
            }
            results
        });

        let flood_started = Instant::now();
        for f in floods {
            f.await.expect("flood task");
        }
        let flood_secs = flood_started.elapsed().as_secs_f64();
        let big = big.await.expect("oversized task");
        let mut lifetimes = Vec::new();
        let mut still_open = 0;
        let mut not_connected = 0;
        for s in slow {
            match s.await.expect("slowloris task") {
                Ok(Some(d)) => lifetimes.push(d),
                Ok(None) => still_open += 1,
                Err(()) => not_connected += 1,
            }
        }
        // Keep the validator going a few more seconds after the attack, then stop.
        tokio::time::sleep(Duration::from_secs(2)).await;
        attacking.store(false, Ordering::Relaxed);
        let queries = validator.await.expect("validator task");
        let max_rss = sampler.await.expect("sampler task").max(rss_kib(pid).unwrap_or(0));

        lifetimes.sort();
        let mut latencies: Vec<Duration> = queries.iter().map(|q| q.3).collect();
        latencies.sort();
        let big_413 = big.iter().filter(|(s, _)| *s == 413).count();
        let big_max_sent = big.iter().map(|(_, n)| *n).max().unwrap_or(0);
        eprintln!("hostile load on pid {pid}, {:.1} s in all", started.elapsed().as_secs_f64());
        eprintln!(
            "  RSS: idle {} MiB, max during the attack {:.1} MiB (limit {} MiB)",
            rss_idle / 1024,
            max_rss as f64 / 1024.0,
            MAX_RSS_KIB / 1024
        );
        eprintln!(
            "  validator: {} queries, {} with audio; latency min {:?} p50 {:?} p95 {:?} max {:?}",
            queries.len(),
            queries.iter().filter(|q| q.0 == 200 && q.2 > 0).count(),
            percentile(&latencies, 0.0),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.95),
            percentile(&latencies, 1.0),
        );
        eprintln!(
            "  slowloris: {} closed by the miner after min {:?} p50 {:?} max {:?}; {} still open; {} not connected",
            lifetimes.len(),
            percentile(&lifetimes, 0.0),
            percentile(&lifetimes, 0.5),
            percentile(&lifetimes, 1.0),
            still_open,
            not_connected
        );
        eprintln!(
            "  flood: {} answered in {flood_secs:.1} s ({} 403, {} 500 malformed, {} other), {} connections",
            counts.answered.load(Ordering::Relaxed),
            counts.forbidden.load(Ordering::Relaxed),
            counts.malformed.load(Ordering::Relaxed),
            counts.other.load(Ordering::Relaxed),
            counts.reconnects.load(Ordering::Relaxed),
        );
        eprintln!(
            "  oversized: {} of {} answered 413; at most {} KiB written before the miner stopped reading",
            big_413,
            big.len(),
            big_max_sent / 1024
        );

        assert!(queries.len() >= 10, "only {} validator queries", queries.len());
        for (status, message, audio, elapsed) in &queries {
            assert!(
                *status == 200 && *audio > 0 && *elapsed < VALIDATOR_TIMEOUT,
                "validator query failed: {status} {message} ({audio} samples, {elapsed:?})"
            );
        }
        assert!(max_rss < MAX_RSS_KIB, "miner RSS reached {max_rss} KiB");
        assert_eq!(still_open, 0, "slowloris sockets still open after 40 s");
        assert_eq!(not_connected, 0, "slowloris sockets refused at connect");
        assert!(
            percentile(&lifetimes, 1.0) < Duration::from_secs(30),
            "slowloris lived {:?}",
            percentile(&lifetimes, 1.0)
        );
        assert_eq!(counts.other.load(Ordering::Relaxed), 0, "the flood got something other than 403/500");
        assert!(counts.answered.load(Ordering::Relaxed) >= FLOOD * 9 / 10, "flood mostly unanswered");
        assert!(big_413 >= OVERSIZED * 9 / 10, "{big_413} of {OVERSIZED} oversized bodies got 413");
        // The client gives up at 64 MiB; socket buffers on loopback hold ~10 MiB unread.
        assert!(big_max_sent < 48 << 20, "an oversized body was drained: {big_max_sent} bytes");
    });
    drop(miner);
}

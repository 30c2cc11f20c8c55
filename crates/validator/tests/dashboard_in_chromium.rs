//! The validator's live dashboard in a real browser: five rounds of three miners (real espeak-ng
//! speech where the engine loads) are published to a dashboard served on 127.0.0.1:0, headless
//! Chromium opens it, and the test drives the page over the DevTools protocol: the leaderboard
//! fills in EMA order with the factors and on-chain incentive, the chart has a line per miner,
//! miner and prompt strings stay text, an audio player actually plays its clip (its
//! `currentTime` advances), and a sixth round published afterwards reaches the page without a
//! reload.
//!
//! Needs Debian `chromium` (`scripts/test` installs it); `AUDIOSUBNET_TEST_CHROMIUM` overrides
//! its path.

mod common;

use audiosubnet_validator::dashboard::Dashboard;
use audiosubnet_validator::network::{ChainView, WeightsEvent};
use common::{ALICE, BOB, CHARLIE, PROMPTS, Rounds};
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// A hostile engine name: markup that would run script if it became HTML.
const EVIL_ENGINE: &str = "<img src=x onerror=\"document.title='pwned'\">";

#[test]
#[ignore = "needs Debian chromium; run scripts/test"]
fn dashboard_fills_plays_and_updates_in_headless_chromium() {
    let chromium = common::chromium();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dashboard = Dashboard::new();
    let addr = runtime
        .block_on(dashboard.serve(([127, 0, 0, 1], 0).into()))
        .expect("serve");

    let mut rounds = Rounds::new();
    for _ in 0..PROMPTS.len() {
        let report = rounds.play();
        if let Some(m) = rounds.state.miners.get_mut(CHARLIE) {
            m.model_name = Some(EVIL_ENGINE.into());
        }
        rounds.state.last_weights_block = Some(40);
        dashboard.publish(&rounds.state, Some(&report), Some(chain_view(42)));
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let stdout = dir.path().join("chromium.out");
    let mut child = common::spawn_chromium(
        &chromium,
        dir.path(),
        &[
            "--remote-debugging-port=0",
            "--autoplay-policy=no-user-gesture-required",
            "--window-size=1200,1400",
        ],
        &format!("http://{addr}/"),
        &stdout,
    );
    let _browser = Browser(&mut child);
    let mut page = Cdp::connect(&page_socket(dir.path(), &stdout));

    // 1. The page loads and the table fills from the first server-sent event.
    wait_for(
        &mut page,
        "document.querySelectorAll('#leaderboard tbody tr').length === 3",
        "the leaderboard's three rows",
    );
    let rows = page.eval(
        "[...document.querySelectorAll('#leaderboard tbody tr')].map(tr => ({
            hotkey: tr.dataset.hotkey,
            ema: tr.querySelector('.ema').textContent,
            intelligibility: tr.querySelector('.intelligibility')?.textContent ?? null,
            failure: tr.querySelector('.fail')?.textContent ?? null,
            incentive: tr.querySelector('.incentive').textContent,
            engine: tr.children[3].textContent,
        }))",
    );
    let rows = rows.as_array().expect("rows");
    let hotkeys: Vec<&str> = rows.iter().filter_map(|r| r["hotkey"].as_str()).collect();
    assert_eq!(hotkeys, [ALICE, BOB, CHARLIE], "highest EMA first");
    for row in rows {
        let hotkey = row["hotkey"].as_str().expect("hotkey");
        let ema = rounds.state.miners[hotkey].ema;
        assert_eq!(row["ema"], format!("{ema:.4}"), "{hotkey}");
    }
    // Round 5: Alice scored 0.92 (intelligibility √0.92), Charlie failed.
    assert_eq!(rows[0]["intelligibility"], format!("{:.3}", 0.92f64.sqrt()));
    assert_eq!(rows[0]["incentive"], "0.6000");
    assert_eq!(rows[1]["incentive"], "0.3000");
    assert_eq!(rows[2]["incentive"], "—", "Charlie is not in the metagraph");
    assert_eq!(
        rows[2]["failure"], "failed: status 500: engine crashed",
        "{rows:?}"
    );
    assert_eq!(
        rows[2]["engine"],
        format!("{EVIL_ENGINE} "),
        "shown as text"
    );

    let header = page.eval(
        "({round: document.getElementById('round').textContent,
           status: document.getElementById('status').textContent,
           weights: document.getElementById('weights').textContent,
           chain: document.getElementById('chain').textContent,
           prompt: document.getElementById('prompt').textContent,
           series: [...document.querySelectorAll('#ema-chart polyline.series')]
               .map(p => p.getAttribute('points').trim().split(/\\s+/).length),
           markup: document.querySelectorAll('img, #prompt b, #clips b').length,
           title: document.title})",
    );
    assert_eq!(header["round"], "5");
    assert_eq!(header["status"], "live", "{header}");
    let weights = header["weights"].as_str().expect("weights");
    assert!(
        weights.starts_with("block 42 · included · 2 miners"),
        "{weights}"
    );
    assert_eq!(header["chain"], "netuid 7 · metagraph at block 45");
    assert_eq!(header["prompt"], PROMPTS[4], "the prompt's markup is text");
    assert_eq!(header["series"], json!([5, 5, 5]), "one line per miner");
    assert_eq!(
        header["markup"], 0,
        "no miner or prompt string became markup"
    );
    assert_eq!(header["title"], "audiosubnet validator");

    // 2. An audio player plays its clip: Alice's round-5 speech, fetched from /audio/.
    let clips = page.eval(
        "[...document.querySelectorAll('#clips .clip')].map(c => ({
            hotkey: c.dataset.hotkey, src: c.querySelector('audio').getAttribute('src'),
            transcript: c.querySelector('.transcript').textContent}))",
    );
    let clips = clips.as_array().expect("clips");
    assert_eq!(clips.len(), 3, "every miner has a latest clip: {clips:?}");
    assert_eq!(clips[0]["hotkey"], ALICE);
    assert_eq!(
        clips[0]["src"],
        format!("audio/{ALICE}.wav?round=5"),
        "{clips:?}"
    );
    assert_eq!(clips[0]["transcript"], PROMPTS[4].to_lowercase());
    // Charlie failed round 5: his round-4 clip is still there.
    assert_eq!(
        clips[2]["src"],
        format!("audio/{CHARLIE}.wav?round=4"),
        "{clips:?}"
    );
    let played = page.eval(&format!(
        "(async () => {{
            const a = document.querySelector('.clip[data-hotkey=\"{ALICE}\"] audio');
            await a.play();
            const start = performance.now();
            while (a.currentTime < 0.3 && !a.ended && performance.now() - start < 20000) {{
                await new Promise(r => setTimeout(r, 50));
            }}
            a.pause();
            return {{currentTime: a.currentTime, ended: a.ended, duration: a.duration,
                     error: a.error && a.error.code}};
        }})()"
    ));
    eprintln!("Alice's clip in the browser: {played}");
    assert!(played["error"].is_null(), "{played}");
    let current = played["currentTime"].as_f64().expect("currentTime");
    assert!(
        current >= 0.3 || played["ended"] == true,
        "the clip did not play: {played}"
    );
    let duration = played["duration"].as_f64().expect("duration");
    assert!(duration > 0.5, "{played}");

    // 3. A sixth round arrives without a reload: a marker set on the page survives it.
    page.eval("window.notReloaded = true");
    let report = rounds.play();
    dashboard.publish(&rounds.state, Some(&report), Some(chain_view(52)));
    wait_for(
        &mut page,
        "document.getElementById('round').textContent === '6'",
        "round 6 on the page",
    );
    let after = page.eval(&format!(
        "({{notReloaded: window.notReloaded === true,
            prompt: document.getElementById('prompt').textContent,
            weights: document.getElementById('weights').textContent,
            src: document.querySelector('.clip[data-hotkey=\"{ALICE}\"] audio').getAttribute('src'),
            points: document.querySelector('#ema-chart polyline.series')
                .getAttribute('points').trim().split(/\\s+/).length}})"
    ));
    assert_eq!(after["notReloaded"], true, "the page reloaded: {after}");
    assert_eq!(after["prompt"], PROMPTS[0]);
    assert!(
        after["weights"]
            .as_str()
            .is_some_and(|w| w.starts_with("block 52")),
        "{after}"
    );
    assert_eq!(after["src"], format!("audio/{ALICE}.wav?round=6"));
    assert_eq!(after["points"], 6);
}

/// The chain as a `ChainNetwork` would report it: Alice and Bob registered with incentive, the
/// last weights included at `block`.
fn chain_view(block: u64) -> ChainView {
    ChainView {
        netuid: 7,
        metagraph_block: Some(block + 3),
        incentive: [(ALICE.to_string(), 0.6), (BOB.to_string(), 0.3)]
            .into_iter()
            .collect(),
        last_weights: Some(WeightsEvent {
            at_unix: 1_700_000_000,
            ok: true,
            block: Some(block),
            miners: 2,
            version_key: Some(0),
            reveal_round: None,
            error: None,
        }),
    }
}

/// Kills the browser when the test ends, also when it fails.
struct Browser<'a>(&'a mut Child);

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        common::kill_chromium(self.0);
    }
}

/// Evaluates `condition` until it is true (60 s at most).
fn wait_for(page: &mut Cdp, condition: &str, what: &str) {
    let started = Instant::now();
    loop {
        if page.eval(condition) == true {
            return;
        }
        let state = page.eval(
            "({status: document.getElementById('status')?.textContent,
               round: document.getElementById('round')?.textContent})",
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "waited 60 s for {what}; page: {state}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The DevTools WebSocket of the page Chromium opened: the port comes from the profile's
/// `DevToolsActivePort`, the page from `/json/list`.
fn page_socket(profile: &Path, stdout: &Path) -> String {
    let started = Instant::now();
    let port = loop {
        if let Ok(text) = std::fs::read_to_string(profile.join("DevToolsActivePort"))
            && let Some(port) = text
                .lines()
                .next()
                .and_then(|l| l.trim().parse::<u16>().ok())
        {
            break port;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "Chromium wrote no DevToolsActivePort in 60 s; stderr:\n{}",
            common::stderr_tail(stdout)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    loop {
        let body = http_get(port, "/json/list");
        let targets: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let page = targets.as_array().into_iter().flatten().find(|t| {
            t["type"] == "page" && t["url"].as_str().is_some_and(|u| u.starts_with("http"))
        });
        if let Some(socket) = page.and_then(|p| p["webSocketDebuggerUrl"].as_str()) {
            return socket.to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no page target in 60 s: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The body of `GET path` from 127.0.0.1:`port` (read by its Content-Length: the DevTools
/// server need not close the connection).
fn http_get(port: u16, path: &str) -> String {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("DevTools HTTP");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    write!(
        writer,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut reader = BufReader::new(stream);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("response header");
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().expect("Content-Length");
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).expect("response body");
    String::from_utf8(body).expect("UTF-8 body")
}

/// Just enough of a DevTools protocol client: one page, commands over a WebSocket (RFC 6455
/// text frames, masked as a client must), replies matched by id, events skipped.
struct Cdp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_id: u64,
}

impl Cdp {
    fn connect(url: &str) -> Self {
        let rest = url.strip_prefix("ws://").expect("a ws:// URL");
        let (host, path) = rest.split_once('/').expect("a path");
        let mut writer = TcpStream::connect(host).expect("DevTools WebSocket");
        writer
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        write!(
            writer,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )
        .expect("handshake");
        let mut reader = BufReader::new(writer.try_clone().expect("clone"));
        let mut status = String::new();
        reader.read_line(&mut status).expect("handshake reply");
        assert!(status.starts_with("HTTP/1.1 101"), "handshake: {status}");
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("handshake headers");
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        Cdp {
            reader,
            writer,
            next_id: 1,
        }
    }

    fn send_text(&mut self, text: &str) {
        let payload = text.as_bytes();
        let mut frame = vec![0x81];
        let mask = [0x5a, 0x13, 0xc4, 0x7e];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.writer.write_all(&frame).expect("send");
    }

    /// The next text message (fragments joined; pings answered).
    fn recv_text(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let mut head = [0u8; 2];
            self.reader.read_exact(&mut head).expect("frame header");
            let (fin, opcode) = (head[0] & 0x80 != 0, head[0] & 0x0f);
            let len = match head[1] & 0x7f {
                126 => {
                    let mut b = [0u8; 2];
                    self.reader.read_exact(&mut b).expect("length");
                    u64::from(u16::from_be_bytes(b))
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.reader.read_exact(&mut b).expect("length");
                    u64::from_be_bytes(b)
                }
                n => u64::from(n),
            };
            let mut payload = vec![0u8; usize::try_from(len).expect("frame size")];
            self.reader.read_exact(&mut payload).expect("payload");
            match opcode {
                0x0 | 0x1 => {
                    message.extend_from_slice(&payload);
                    if fin {
                        return String::from_utf8(message).expect("UTF-8 message");
                    }
                }
                0x8 => panic!("DevTools closed the connection"),
                0x9 => {
                    // Pong with the same payload (short, control frame).
                    let mut pong = vec![0x8a, 0x80 | payload.len() as u8, 0, 0, 0, 0];
                    pong.extend_from_slice(&payload);
                    self.writer.write_all(&pong).expect("pong");
                }
                _ => {}
            }
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"id": id, "method": method, "params": params});
        self.send_text(&request.to_string());
        loop {
            let message: Value = serde_json::from_str(&self.recv_text()).expect("JSON message");
            if message["id"] == id {
                assert!(message["error"].is_null(), "{method}: {message}");
                return message["result"].clone();
            }
        }
    }

    /// The value of a JavaScript expression in the page (promises awaited, as a user gesture).
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true,
                   "userGesture": true}),
        );
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression}\nthrew: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }
}

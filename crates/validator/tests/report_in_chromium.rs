//! The validator's HTML report in a real browser: five rounds of three miners are written with
//! `report::write` (real espeak-ng speech where the engine loads), then headless Chromium loads
//! `index.html` twice: once dumping the DOM (leaderboard rows, one chart polyline per miner with
//! points, audio players whose files are real WAVs) and once taking a screenshot, which must show
//! each miner's chart colour drawn as a line. The screenshot is kept at
//! `target/test-artifacts/report.png`.
//!
//! Needs Debian `chromium` (`scripts/test` installs it); `AUDIOSUBNET_TEST_CHROMIUM` overrides
//! its path.

mod common;

use audiosubnet_validator::report;
use audiosubnet_validator::state::ScoreState;
use common::{ALICE, BOB, CHARLIE, PROMPTS, Rounds};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

/// The first three colours of report.rs's palette, given to miners in hotkey order.
const PALETTE: [(&str, [u8; 3]); 3] = [
    ("#1f77b4", [0x1f, 0x77, 0xb4]),
    ("#d62728", [0xd6, 0x27, 0x28]),
    ("#2ca02c", [0x2c, 0xa0, 0x2c]),
];

const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
#[ignore = "needs Debian chromium; run scripts/test"]
fn report_loads_renders_and_plays_in_headless_chromium() {
    let chromium = common::chromium();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("report");
    let state = write_rounds(&out);

    // The hotkey → colour assignment of report.rs: palette order over the sorted hotkeys.
    let colors: BTreeMap<&str, (&str, [u8; 3])> = state
        .miners
        .keys()
        .map(String::as_str)
        .zip(PALETTE)
        .collect();
    assert_eq!(colors.len(), 3);

    let url = file_url(&out.join("index.html"));

    // 1. The DOM as Chromium parsed it.
    let dom_path = dir.path().join("dom.html");
    run_chromium(
        &chromium,
        dir.path(),
        &["--dump-dom"],
        &url,
        &dom_path,
        "dump-dom",
    );
    let dom = std::fs::read_to_string(&dom_path).expect("dumped DOM");
    assert!(dom.contains("</html>"), "no DOM dumped:\n{dom}");
    check_dom(&dom, &out, &state, &colors);

    // 2. The rendered page.
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("target/test-artifacts");
    let shot = artifacts.join("report.png");
    let _ = std::fs::remove_file(&shot);
    run_chromium(
        &chromium,
        dir.path(),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1000,1200",
            "--hide-scrollbars",
            "--force-color-profile=srgb",
        ],
        &url,
        &dir.path().join("screenshot.out"),
        "screenshot",
    );
    check_screenshot(&shot, &colors);
    let kept = shot.canonicalize().unwrap_or(shot);
    eprintln!("screenshot kept at {}", kept.display());
}

/// Five rounds of score updates, each followed by `report::write` as the validator does.
fn write_rounds(out: &Path) -> ScoreState {
    let mut rounds = Rounds::new();
    for _ in 0..PROMPTS.len() {
        let report = rounds.play();
        report::write(out, &rounds.state, &report).expect("report::write");
    }
    rounds.state
}

fn file_url(path: &Path) -> String {
    let path = path.to_str().expect("UTF-8 temp path");
    let mut url = String::from("file://");
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// Runs headless Chromium on `url` with stdout into `stdout`; kills it (and its children) when it
/// hangs. Its stderr (dbus and GPU complaints are normal) is only shown when it fails.
fn run_chromium(chromium: &Path, tmp: &Path, extra: &[&str], url: &str, stdout: &Path, what: &str) {
    let profile = tempfile::tempdir_in(tmp).expect("profile dir");
    let mut child = common::spawn_chromium(chromium, profile.path(), extra, url, stdout);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for chromium") {
            break Some(status);
        }
        if started.elapsed() > CHROMIUM_TIMEOUT {
            common::kill_chromium(&mut child);
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let tail = common::stderr_tail(stdout);
    match status {
        Some(s) if s.success() => eprintln!("chromium {what}: done in {:.1?}", started.elapsed()),
        Some(s) => panic!("chromium {what} failed ({s}); stderr:\n{tail}"),
        None => panic!("chromium {what} hung for {CHROMIUM_TIMEOUT:?}; stderr:\n{tail}"),
    }
}

/// The text between the start of `open` and the following `close`.
fn section<'a>(html: &'a str, open: &str, close: &str) -> &'a str {
    let start = html
        .find(open)
        .unwrap_or_else(|| panic!("no {open} in the DOM:\n{html}"));
    let len = html[start..]
        .find(close)
        .unwrap_or_else(|| panic!("{open} is not closed"));
    &html[start..start + len]
}

/// The start tags `<name …>` in `html`.
fn tags<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}");
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(&open) {
        let tail = &rest[at..];
        let next = tail.as_bytes().get(open.len()).copied();
        let end = tail.find('>').expect("unterminated tag");
        if matches!(next, Some(b' ' | b'>' | b'\t' | b'\n' | b'/')) {
            found.push(&tail[..=end]);
        }
        rest = &tail[end + 1..];
    }
    found
}

/// The value of attribute `name` in start tag `tag`.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

fn check_dom(dom: &str, out: &Path, state: &ScoreState, colors: &BTreeMap<&str, (&str, [u8; 3])>) {
    // Leaderboard: a header row and one row per miner, best EMA first.
    let table = section(dom, "<table id=\"leaderboard\"", "</table>");
    let rows = tags(table, "tr");
    assert_eq!(rows.len(), 4, "header + 3 miners:\n{table}");
    let mut by_ema: Vec<(&String, f64)> = state.miners.iter().map(|(h, m)| (h, m.ema)).collect();
    by_ema.sort_by(|a, b| b.1.total_cmp(&a.1));
    assert_eq!(
        by_ema.iter().map(|(h, _)| h.as_str()).collect::<Vec<_>>(),
        [ALICE, BOB, CHARLIE],
        "the rewards make Alice > Bob > Charlie"
    );
    let positions: Vec<usize> = by_ema
        .iter()
        .map(|(h, _)| table.find(h.as_str()).expect("hotkey in the leaderboard"))
        .collect();
    assert!(
        positions.is_sorted(),
        "leaderboard not ordered by EMA:\n{table}"
    );
    for (hotkey, ema) in &by_ema {
        assert!(
            table.contains(&format!("{ema:.4}")),
            "{hotkey}'s EMA {ema:.4} missing"
        );
    }

    // Chart: one polyline per miner in its colour, one point per round, inside the viewBox.
    let svg = section(dom, "<svg id=\"ema-chart\"", "</svg>");
    let series: Vec<&str> = tags(svg, "polyline")
        .into_iter()
        .filter(|t| attr(t, "class") == Some("series"))
        .collect();
    assert_eq!(series.len(), 3, "one series per miner:\n{svg}");
    let mut strokes = Vec::new();
    for line in &series {
        let points = attr(line, "points").expect("points");
        let xy: Vec<(f64, f64)> = points
            .split_whitespace()
            .map(|p| {
                let (x, y) = p.split_once(',').expect("x,y");
                (
                    x.parse().expect("x is a number"),
                    y.parse().expect("y is a number"),
                )
            })
            .collect();
        assert_eq!(xy.len(), PROMPTS.len(), "one point per round: {line}");
        assert!(
            xy.iter()
                .all(|&(x, y)| (0.0..=720.0).contains(&x) && (0.0..=280.0).contains(&y)),
            "points outside the chart: {line}"
        );
        assert!(
            xy.windows(2).all(|w| w[0].0 < w[1].0),
            "x not increasing: {line}"
        );
        assert!(
            xy.iter().any(|&(_, y)| (y - xy[0].1).abs() > 1.0),
            "a flat line; the EMAs vary: {line}"
        );
        strokes.push(attr(line, "stroke").expect("stroke"));
    }
    strokes.sort_unstable();
    let mut expected: Vec<&str> = colors.values().map(|(hex, _)| *hex).collect();
    expected.sort_unstable();
    assert_eq!(strokes, expected, "series colours");

    // Players: one per miner, each pointing at a real WAV file next to index.html.
    let players = tags(dom, "audio");
    assert_eq!(players.len(), 3, "one player per miner");
    for player in players {
        assert!(
            player.contains(" controls"),
            "player without controls: {player}"
        );
        let src = attr(player, "src").expect("audio src");
        assert!(src.starts_with("audio/") && src.ends_with(".wav"), "{src}");
        let wav = hound::WavReader::open(out.join(src))
            .unwrap_or_else(|e| panic!("{src} is not a readable WAV: {e}"));
        let spec = wav.spec();
        assert_eq!((spec.channels, spec.bits_per_sample), (1, 16), "{src}");
        let secs = f64::from(wav.duration()) / f64::from(spec.sample_rate);
        assert!(secs > 0.3, "{src} is {secs:.2} s");
    }
    // Charlie failed the last round: his player is still there, with the round-4 sample.
    let charlie = section(dom, &format!("<code>{CHARLIE}</code> · round"), "</div>");
    assert!(charlie.contains("round 4"), "{charlie}");

    // Miner-supplied and prompt text stays text in the browser.
    assert!(!dom.contains("<b>"), "a prompt's markup became an element");
    assert!(
        dom.contains("&lt;b&gt;bold&lt;/b&gt;"),
        "escaped prompt missing"
    );
}

fn check_screenshot(shot: &Path, colors: &BTreeMap<&str, (&str, [u8; 3])>) {
    let size = std::fs::metadata(shot)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", shot.display()))
        .len();
    assert!(size > 10_000, "screenshot is only {size} bytes");
    let mut decoder = png::Decoder::new(std::io::BufReader::new(
        File::open(shot).expect("open screenshot"),
    ));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("PNG size")];
    let frame = reader.next_frame(&mut buf).expect("PNG data");
    let channels = match frame.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    let (width, height) = (frame.width as usize, frame.height as usize);
    assert_eq!((width, height), (1000, 1200), "--window-size");
    let pixels = &buf[..frame.buffer_size()];

    for (hotkey, (hex, rgb)) in colors {
        // Pixels of this colour (small tolerance for anti-aliasing); the leaderboard swatch is
        // 10×10, so a wide spread of many pixels can only be the chart's line.
        let mut count = 0usize;
        let (mut min_x, mut max_x) = (usize::MAX, 0usize);
        for (i, px) in pixels.chunks_exact(channels).enumerate() {
            let close = px[..3].iter().zip(rgb).all(|(a, b)| a.abs_diff(*b) <= 6);
            if close {
                count += 1;
                min_x = min_x.min(i % width);
                max_x = max_x.max(i % width);
            }
        }
        let span = max_x.saturating_sub(min_x);
        eprintln!("{hex} ({hotkey}): {count} pixels over x {min_x}..{max_x}");
        assert!(
            count > 300 && span > 400,
            "{hotkey}'s series ({hex}) is not drawn: {count} pixels spanning {span} px"
        );
    }
}

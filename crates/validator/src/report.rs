//! The HTML report (`--report.dir`), rewritten after every round: a self-contained page with the
//! leaderboard (the combined EMA and one per task), each miner's EMA over rounds as an inline
//! SVG chart, and an audio player for each miner's latest sample of each task with its prompt
//! and transcript. Miner-supplied strings are escaped.

use crate::round::RoundReport;
use crate::state::ScoreState;
use crate::tasks::Task;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The latest sample of one miner, kept across rounds in `latest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LatestSample {
    /// Round it was heard in.
    pub round: u64,
    /// The prompt.
    pub prompt: String,
    /// Whisper's transcript, when scored.
    pub transcript: Option<String>,
    /// The reward it got.
    pub reward: Option<f64>,
    /// File under `audio/`.
    pub wav: String,
    /// The task it answered.
    #[serde(default)]
    pub task: Task,
}

/// Where a miner's latest sample of `task` is kept in `latest.json` (speech under the bare
/// hotkey, as before tasks existed).
fn latest_key(hotkey: &str, task: Task) -> String {
    match task {
        Task::Speech => hotkey.to_owned(),
        other => format!("{hotkey}/{other}"),
    }
}

const PALETTE: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// Writes `index.html`, `latest.json` and this round's WAV files into `dir`.
pub fn write(dir: &Path, state: &ScoreState, report: &RoundReport) -> std::io::Result<()> {
    let audio_dir = dir.join("audio");
    std::fs::create_dir_all(&audio_dir)?;
    let latest_path = dir.join("latest.json");
    let mut latest: BTreeMap<String, LatestSample> = std::fs::read(&latest_path)
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or_default();
    for r in &report.results {
        let Some((samples, rate)) = &r.audio else {
            continue;
        };
        let wav = match report.task {
            Task::Speech => format!("{}.wav", sanitize(&r.hotkey)),
            other => format!("{}-{other}.wav", sanitize(&r.hotkey)),
        };
        if write_wav(&audio_dir.join(&wav), samples, *rate).is_ok() {
            latest.insert(
                latest_key(&r.hotkey, report.task),
                LatestSample {
                    round: report.round,
                    prompt: report.prompt.clone(),
                    transcript: r.transcript.clone(),
                    reward: r.reward,
                    wav,
                    task: report.task,
                },
            );
        }
    }
    latest.retain(|key, _| {
        let hotkey = key.split('/').next().unwrap_or(key);
        state.miners.contains_key(hotkey)
    });
    atomic_write(&latest_path, &serde_json::to_vec_pretty(&latest)?)?;
    atomic_write(&dir.join("index.html"), render(state, &latest).as_bytes())
}

fn atomic_write(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

/// Hotkeys are SS58 (alphanumeric), but never trust a string that names a file.
fn sanitize(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .take(64)
        .collect()
}

/// 16-bit PCM WAV of audio that is finite and at an ordinary rate; anything else is skipped.
/// Written whole (temporary file and rename).
fn write_wav(path: &Path, samples: &[f32], rate: u32) -> std::io::Result<()> {
    let data =
        playable_wav(samples, rate).ok_or_else(|| std::io::Error::other("not playable audio"))?;
    atomic_write(path, &data)
}

/// A 16-bit PCM WAV file (the workspace's one conversion rule) of audio that is finite and at an
/// ordinary rate; `None` for anything a browser should not be handed. Shared with the dashboard.
pub(crate) fn playable_wav(samples: &[f32], rate: u32) -> Option<Vec<u8>> {
    if samples.is_empty()
        || !(4_000..=192_000).contains(&rate)
        || samples.iter().any(|s| !s.is_finite())
    {
        return None;
    }
    // Integer PCM sent as numbers (the original miners' int32) is scaled to fit.
    let peak = samples.iter().fold(0f32, |m, s| m.max(s.abs()));
    let scale = if peak > 1.5 { 1.0 / peak } else { 1.0 };
    let scaled: Vec<f32> = samples.iter().map(|s| s * scale).collect();
    audiosubnet_audio::encode_wav16(&scaled, rate).ok()
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `5GrwvaEF…NoHGKutQY`: enough to tell hotkeys apart, short enough for the table.
fn abbreviate(hotkey: &str) -> String {
    let chars: Vec<char> = hotkey.chars().collect();
    if chars.len() <= 18 {
        return hotkey.to_owned();
    }
    let head: String = chars[..8].iter().collect();
    let tail: String = chars[chars.len() - 8..].iter().collect();
    format!("{head}…{tail}")
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.digits$}"))
}

fn render(state: &ScoreState, latest: &BTreeMap<String, LatestSample>) -> String {
    let mut miners: Vec<(&String, &crate::state::MinerScore)> = state.miners.iter().collect();
    miners.sort_by(|a, b| b.1.ema.total_cmp(&a.1.ema));
    let color: BTreeMap<&str, &str> = state
        .miners
        .keys()
        .enumerate()
        .map(|(i, h)| (h.as_str(), PALETTE[i % PALETTE.len()]))
        .collect();

    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>audiosubnet validator report</title><style>\
         body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}\
         table{{border-collapse:collapse}}td,th{{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}}\
         td.l,th.l{{text-align:left}}.sw{{display:inline-block;width:10px;height:10px;margin-right:6px}}\
         .sample{{margin:1em 0;padding:.5em 1em;border-left:4px solid #ccc}}code{{font-size:90%}}\
         </style></head><body><h1>Validator report</h1>\
         <p>After round {} · {} miners · last weights at block {}</p>",
        state.rounds,
        state.miners.len(),
        state
            .last_weights_block
            .map_or("–".into(), |b| b.to_string())
    );

    // A column per task any miner has been asked for.
    let tasks: Vec<Task> = Task::ALL
        .into_iter()
        .filter(|t| state.miners.values().any(|m| m.tasks.contains_key(t)))
        .collect();
    let task_heads: String = tasks
        .iter()
        .map(|t| format!("<th class=\"task-{t}\">{t} EMA</th>"))
        .collect();
    let _ = write!(
        html,
        "<h2>Leaderboard</h2><table id=\"leaderboard\"><tr><th>#</th><th>uid</th>\
         <th class=\"l\">hotkey</th><th class=\"l\">engine (transport)</th><th>EMA</th>{task_heads}<th>last reward</th>\
         <th>mean WER</th><th>mean MOS</th><th>responses</th><th>failures</th></tr>",
    );
    for (rank, (hotkey, m)) in miners.iter().enumerate() {
        let task_cells: String = tasks
            .iter()
            .map(|t| {
                let ema = m.tasks.get(t).map(|s| s.ema);
                format!("<td class=\"task-{t}\">{}</td>", opt(ema, 4))
            })
            .collect();
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td class=\"l\" style=\"white-space:nowrap\">\
             <span class=\"sw\" style=\"background:{}\"></span><code title=\"{}\">{}</code></td><td class=\"l\">{} <small>{}</small></td><td>{:.4}</td>{task_cells}<td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td></tr>",
            rank + 1,
            m.uid.map_or("–".into(), |u| u.to_string()),
            color.get(hotkey.as_str()).copied().unwrap_or("#000"),
            esc(hotkey),
            esc(&abbreviate(hotkey)),
            esc(m.model_name.as_deref().unwrap_or("–")),
            m.transport.map_or("", |t| t.name()),
            m.ema,
            opt(m.last_reward, 3),
            opt(m.mean_wer, 3),
            opt(m.mean_mos, 2),
            m.responses,
            m.failures
        );
    }
    html.push_str("</table>");

    html.push_str("<h2>EMA over rounds</h2>");
    html.push_str(&chart(state, &color));

    html.push_str("<h2>Latest samples</h2>");
    for (hotkey, _) in &miners {
        for task in Task::ALL {
            let Some(s) = latest.get(&latest_key(hotkey, task)) else {
                continue;
            };
            let label = match task {
                Task::Speech => String::new(),
                other => format!(" · {other}"),
            };
            let transcript = match task {
                Task::Speech => format!(
                    "<p>Transcript: {}</p>",
                    esc(s.transcript.as_deref().unwrap_or("–"))
                ),
                Task::Music => String::new(),
            };
            let _ = write!(
                html,
                "<div class=\"sample task-{task}\"><p><code>{}</code> · round {} · reward {}{label}</p>\
                 <p>Prompt: {}</p>{transcript}\
                 <audio controls preload=\"none\" src=\"audio/{}\"></audio></div>",
                esc(hotkey),
                s.round,
                opt(s.reward, 3),
                esc(&s.prompt),
                esc(&s.wav)
            );
        }
    }
    html.push_str("</body></html>\n");
    html
}

/// Inline SVG: one polyline per miner, rounds on x, EMA (0–1) on y.
fn chart(state: &ScoreState, color: &BTreeMap<&str, &str>) -> String {
    let (w, h, pad) = (720.0, 280.0, 36.0);
    let first = state
        .miners
        .values()
        .filter_map(|m| m.history.front().map(|p| p.0))
        .min()
        .unwrap_or(0);
    let last = state.rounds.max(first + 1);
    let x = |round: u64| pad + (round - first) as f64 / (last - first) as f64 * (w - 2.0 * pad);
    let y = |v: f64| h - pad - v.clamp(0.0, 1.0) * (h - 2.0 * pad);
    let mut svg = format!(
        "<svg id=\"ema-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"EMA per miner over rounds\">\
         <rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>"
    );
    for tick in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let ty = y(tick);
        let _ = write!(
            svg,
            "<line x1=\"{pad}\" x2=\"{}\" y1=\"{ty:.1}\" y2=\"{ty:.1}\" stroke=\"#eee\"/>\
             <text x=\"4\" y=\"{:.1}\" font-size=\"10\">{tick:.2}</text>",
            w - pad,
            ty + 3.0,
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{pad}\" y=\"{}\" font-size=\"10\">round {first}</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">round {last}</text>",
        h - 8.0,
        w - pad,
        h - 8.0
    );
    for (hotkey, m) in &state.miners {
        if m.history.is_empty() {
            continue;
        }
        let points: Vec<String> = m
            .history
            .iter()
            .map(|(r, v)| format!("{:.1},{:.1}", x(*r), y(*v)))
            .collect();
        let _ = write!(
            svg,
            "<polyline class=\"series\" fill=\"none\" stroke-width=\"2\" stroke=\"{}\" points=\"{}\">\
             <title>{}</title></polyline>",
            color.get(hotkey.as_str()).copied().unwrap_or("#000"),
            points.join(" "),
            esc(hotkey)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::round::MinerResult;
    use std::sync::Arc;

    #[test]
    fn report_escapes_miner_strings_and_writes_playable_audio() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut state = ScoreState::default();
        state.update("5Honest", Some(1), 0.8, 0.5, false);
        state.update("5Evil", Some(2), 0.1, 0.5, true);
        state.rounds = 1;
        state.record_history("5Honest", 1);
        state.record_history("5Evil", 1);
        if let Some(m) = state.miners.get_mut("5Evil") {
            m.model_name = Some("<script>alert(1)</script>".into());
        }
        let result = |hotkey: &str, audio: Option<(Arc<Vec<f32>>, u32)>| MinerResult {
            hotkey: hotkey.into(),
            uid: None,
            status: 200,
            reward: Some(0.5),
            failed: false,
            validator_fault: false,
            judged: true,
            reason: None,
            breakdown: None,
            latency_s: 0.1,
            model_name: None,
            transport: audiosubnet_dendrite::Transport::Btauth,
            audio,
            transcript: Some("hello <b>".into()),
        };
        let tone: Vec<f32> = (0..1600).map(|i| (i as f32 * 0.1).sin() * 0.5).collect();
        let report = RoundReport {
            round: 1,
            task: crate::tasks::Task::Speech,
            prompt: "Say \"hi\" & <go>".into(),
            results: vec![
                result("5Honest", Some((Arc::new(tone), 16_000))),
                result("5Evil", Some((Arc::new(vec![f32::NAN; 10]), 16_000))),
            ],
            identical_audio: vec![],
        };
        write(dir.path(), &state, &report).expect("report");
        let html = std::fs::read_to_string(dir.path().join("index.html")).expect("html");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("Say &quot;hi&quot; &amp; &lt;go&gt;"));
        assert!(html.contains("<polyline"));
        assert!(html.contains("src=\"audio/5Honest.wav\""));
        assert!(
            !html.contains("audio/5Evil.wav"),
            "NaN audio gets no player"
        );
        let wav = audiosubnet_audio::read_wav(&dir.path().join("audio/5Honest.wav")).expect("wav");
        assert_eq!(wav.sample_rate, 16_000);
        assert_eq!(wav.samples.len(), 1600);
    }
}

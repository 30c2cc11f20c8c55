//! Real-time factor of every engine on 20 fixed sentences, next to Python `piper-tts` running the
//! same voice in the same run, and the time to first audio of a 200-character prompt.
//!
//! ```text
//! source scripts/lib.sh; ensure_tts_deps
//! export AUDIOSUBNET_BENCH_PYTHON_PIPER=$(ensure_piper_venv)   # optional: the Python column
//! cargo bench -p audiosubnet-tts --bench rtf
//! ```
//!
//! RTF = synthesis time / audio duration (lower is faster), summed over the 20 sentences, each
//! synthesised as its own request on a warm engine; the best of `AUDIOSUBNET_BENCH_PASSES`
//! (default 3) passes is reported. Engines are not streaming: a request returns when all its
//! sentences are done. "First audio" is therefore the synthesis time of the prompt's first
//! sentence as the engines split it (`text::prepare`), i.e. the latency a sentence-streaming
//! front end would have; Python's is the time to its generator's first chunk, which is the same
//! thing. Other knobs: `AUDIOSUBNET_BENCH_ENGINES` (comma-separated, default all four) and
//! `AUDIOSUBNET_BENCH_INTRA_THREADS` (ONNX Runtime intra-op threads for both Pipers; 0 = ONNX
//! Runtime's default, one per core).

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Instant;

use audiosubnet_tts::{EngineOptions, SpeechEngine, load_engine, text};

const SENTENCES: [&str; 20] = [
    "The quick brown fox jumps over the lazy dog.",
    "Validators score each miner by transcribing the audio and comparing it with the prompt.",
    "A gentle breeze carried the scent of rain across the quiet valley.",
    "Please remember to bring your identification card to the appointment on Tuesday.",
    "The museum opens at nine in the morning and closes at five in the evening.",
    "She poured a cup of tea and watched the sun set behind the hills.",
    "Our quarterly revenue grew by twelve percent compared with last year.",
    "The train to Boston departs from platform four in ten minutes.",
    "He carefully folded the letter and placed it inside the envelope.",
    "Scientists discovered a new species of frog in the rainforest.",
    "Turn left at the second intersection and continue for two miles.",
    "The library will be closed for renovations until the end of the month.",
    "Children laughed as they chased each other around the playground.",
    "Dr. Smith paid $3.50 for coffee on March 3, 2024.",
    "The orchestra rehearsed the symphony for three hours without a break.",
    "Fresh vegetables from the local market make the best soup.",
    "Our flight was delayed because of heavy snow at the airport.",
    "The software update fixes several bugs and improves battery life.",
    "Every evening the old lighthouse keeper climbed the spiral staircase.",
    "Thank you for calling; a representative will be with you shortly.",
];

/// 200 characters, three sentences.
const PROMPT: &str = "Welcome back to the evening news. Heavy rain is expected across the \
    northern valleys tonight, so drivers should leave early and take care on the roads. \
    We will have more on the storms after the break.";

#[derive(Debug, Default, Clone)]
struct Row {
    engine: String,
    audio: f64,
    synth: f64,
    median: f64,
    max: f64,
    first_chars: usize,
    first_audio: f64,
    whole_prompt: f64,
}

impl Row {
    fn rtf(&self) -> f64 {
        self.synth / self.audio
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn bench_engine(name: &str, opts: &EngineOptions, passes: usize) -> Result<Row, String> {
    let mut engine: Box<dyn SpeechEngine> = load_engine(name, opts).map_err(|e| e.to_string())?;
    let mut synth = |t: &str| engine.synthesize(t).map_err(|e| e.to_string());
    synth("Warming up.")?;
    synth(SENTENCES[0])?;

    let mut best: Option<Row> = None;
    for _ in 0..passes {
        let mut row = Row {
            engine: name.to_owned(),
            ..Row::default()
        };
        let mut rtfs = Vec::with_capacity(SENTENCES.len());
        for s in SENTENCES {
            let t = Instant::now();
            let speech = synth(s)?;
            let secs = t.elapsed().as_secs_f64();
            row.synth += secs;
            row.audio += speech.duration_secs();
            rtfs.push(secs / speech.duration_secs());
        }
        rtfs.sort_by(f64::total_cmp);
        row.median = rtfs[rtfs.len() / 2];
        row.max = rtfs[rtfs.len() - 1];
        if best.as_ref().is_none_or(|b| row.rtf() < b.rtf()) {
            best = Some(row);
        }
    }
    let mut row = best.ok_or("no passes")?;

    // First audio: the prompt's first sentence, as the engines split it.
    let sentences = text::prepare(PROMPT, text::DEFAULT_MAX_CHARS).map_err(|e| e.to_string())?;
    let first = &sentences[0];
    row.first_chars = first.chars().count();
    row.first_audio = f64::INFINITY;
    row.whole_prompt = f64::INFINITY;
    for _ in 0..passes {
        let t = Instant::now();
        synth(first)?;
        row.first_audio = row.first_audio.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        synth(PROMPT)?;
        row.whole_prompt = row.whole_prompt.min(t.elapsed().as_secs_f64());
    }
    Ok(row)
}

const PYTHON: &str = r#"
import json, os, sys, time
import onnxruntime
from piper import PiperVoice
req = json.load(sys.stdin)
voice = PiperVoice.load(req["model"], config_path=req["config"])
if req["intra_threads"] > 0:
    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = req["intra_threads"]
    voice.session = onnxruntime.InferenceSession(req["model"], sess_options=so,
                                                 providers=["CPUExecutionProvider"])
def synth(text):
    chunks = list(voice.synthesize(text))
    return sum(len(c.audio_float_array) for c in chunks) / chunks[0].sample_rate
synth("Warming up.")
synth(req["sentences"][0])
best = None
for _ in range(req["passes"]):
    audio = total = 0.0
    for s in req["sentences"]:
        t = time.perf_counter()
        audio += synth(s)
        total += time.perf_counter() - t
    if best is None or total / audio < best[1] / best[0]:
        best = (audio, total)
first = whole = float("inf")
for _ in range(req["passes"]):
    t = time.perf_counter()
    it = voice.synthesize(req["prompt"])
    next(it)
    first = min(first, time.perf_counter() - t)
    for _ in it:
        pass
    whole = min(whole, time.perf_counter() - t)
print(json.dumps({"audio": best[0], "synth": best[1], "first_audio": first, "whole_prompt": whole,
                  "onnxruntime": onnxruntime.__version__}))
"#;

fn bench_python(
    python: &str,
    passes: usize,
    intra_threads: usize,
) -> Result<(Row, String), String> {
    let store = audiosubnet_models::ModelStore::from_env().map_err(|e| e.to_string())?;
    let voice = store.require("piper-joe").map_err(|e| e.to_string())?;
    let request = serde_json::json!({
        "model": voice.file("en_US-joe-medium.onnx"),
        "config": voice.file("en_US-joe-medium.onnx.json"),
        "sentences": SENTENCES,
        "prompt": PROMPT,
        "passes": passes,
        "intra_threads": intra_threads,
    });
    let mut child = Command::new(python)
        .args(["-c", PYTHON])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(request.to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "{python} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("bad output: {e}"))?;
    let num = |k: &str| v[k].as_f64().ok_or(format!("no `{k}` in {v}"));
    let row = Row {
        engine: "python piper-tts".to_owned(),
        audio: num("audio")?,
        synth: num("synth")?,
        first_audio: num("first_audio")?,
        whole_prompt: num("whole_prompt")?,
        ..Row::default()
    };
    Ok((row, v["onnxruntime"].as_str().unwrap_or("?").to_owned()))
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let passes = env_usize("AUDIOSUBNET_BENCH_PASSES", 3).max(1);
    let opts = EngineOptions {
        intra_threads: env_usize("AUDIOSUBNET_BENCH_INTRA_THREADS", 0),
        ..EngineOptions::default()
    };
    let engines = std::env::var("AUDIOSUBNET_BENCH_ENGINES")
        .unwrap_or_else(|_| "piper,festival,flite,espeak".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "RTF on {} sentences, best of {passes} passes, {cores} CPUs; Piper intra_threads={}",
        SENTENCES.len(),
        opts.intra_threads
    );

    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for name in engines.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match bench_engine(name, &opts, passes) {
            Ok(row) => rows.push(row),
            Err(e) => notes.push(format!("{name}: skipped ({e})")),
        }
    }
    let python = match std::env::var("AUDIOSUBNET_BENCH_PYTHON_PIPER") {
        Ok(py) if !py.is_empty() => match bench_python(&py, passes, opts.intra_threads) {
            Ok((row, ort)) => {
                notes.push(format!("python piper-tts: onnxruntime {ort} ({py})"));
                Some(row)
            }
            Err(e) => {
                notes.push(format!("python piper-tts: skipped ({e})"));
                None
            }
        },
        _ => {
            notes.push(
                "python piper-tts: skipped (set AUDIOSUBNET_BENCH_PYTHON_PIPER to the python of \
                 `ensure_piper_venv` in scripts/lib.sh)"
                    .to_owned(),
            );
            None
        }
    };

    println!();
    println!(
        "{:<18} {:>8} {:>8} {:>7} {:>7} {:>7} {:>10}",
        "engine", "audio s", "synth s", "RTF", "median", "max", "vs python"
    );
    for row in rows.iter().chain(python.iter()) {
        let vs = match (&python, row.engine.as_str()) {
            (Some(py), "piper") => format!("{:.2}x", py.rtf() / row.rtf()),
            _ => "-".to_owned(),
        };
        let (median, max) = if row.median > 0.0 {
            (format!("{:.4}", row.median), format!("{:.4}", row.max))
        } else {
            ("-".to_owned(), "-".to_owned())
        };
        println!(
            "{:<18} {:>8.2} {:>8.3} {:>7.4} {:>7} {:>7} {:>10}",
            row.engine,
            row.audio,
            row.synth,
            row.rtf(),
            median,
            max,
            vs
        );
    }
    println!();
    println!(
        "First audio of a {}-character prompt (its first sentence; engines do not stream):",
        PROMPT.chars().count()
    );
    println!(
        "{:<18} {:>12} {:>14} {:>14}",
        "engine", "first chars", "first audio s", "whole prompt s"
    );
    for row in rows.iter().chain(python.iter()) {
        let chars = if row.first_chars > 0 {
            row.first_chars.to_string()
        } else {
            "-".to_owned()
        };
        println!(
            "{:<18} {:>12} {:>14.3} {:>14.3}",
            row.engine, chars, row.first_audio, row.whole_prompt
        );
    }
    if let (Some(py), Some(ours)) = (&python, rows.iter().find(|r| r.engine == "piper")) {
        println!();
        println!(
            "piper vs python piper-tts: RTF {:.4} vs {:.4} ({:.2}x), first audio {:.3} s vs {:.3} s",
            ours.rtf(),
            py.rtf(),
            py.rtf() / ours.rtf(),
            ours.first_audio,
            py.first_audio
        );
    }
    for note in notes {
        println!("note: {note}");
    }
}

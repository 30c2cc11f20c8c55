//! Kokoro-82M: real-time factor and first-audio latency of our engine next to Python
//! `kokoro-onnx` 0.6.1 on the same model file, vocabulary, voice and sentences, in one run.
//!
//! ```text
//! source scripts/lib.sh; ensure_tts_deps
//! export AUDIOSUBNET_BENCH_PYTHON_KOKORO=$(ensure_kokoro_venv)   # optional: the Python row
//! cargo bench -p audiosubnet-tts --bench kokoro
//! ```
//!
//! RTF = synthesis time / audio duration (lower is faster), summed over the 20 sentences of the
//! `rtf` bench, each its own request on a warm engine; the best of `AUDIOSUBNET_BENCH_PASSES`
//! (default 3) passes. "First audio" is the time until the first chunk of a 200-character,
//! three-sentence prompt exists: ours makes one sentence at a time
//! ([`KokoroEngine::synthesize_each`]); kokoro-onnx's `create_stream` makes batches of up to 510
//! phonemes, so for this prompt its first chunk is the whole prompt. Both run ONNX Runtime 1.31.1
//! with its default threads (one per core) unless `AUDIOSUBNET_BENCH_INTRA_THREADS` is set (ours
//! only). `AUDIOSUBNET_BENCH_VOICE` picks the voice (default `af_heart`).

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Instant;

use audiosubnet_tts::{EngineOptions, KokoroEngine};

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
    // The `rtf` bench's "Dr. Smith paid $3.50 …" spelled out: kokoro-onnx has no normaliser.
    "Doctor Smith paid three dollars and fifty cents for coffee on March third.",
    "The orchestra rehearsed the symphony for three hours without a break.",
    "Fresh vegetables from the local market make the best soup.",
    "Our flight was delayed because of heavy snow at the airport.",
    "The software update fixes several bugs and improves battery life.",
    "Every evening the old lighthouse keeper climbed the spiral staircase.",
    "Thank you for calling; a representative will be with you shortly.",
];

/// 200 characters, three sentences (the `rtf` bench's prompt).
const PROMPT: &str = "Welcome back to the evening news. Heavy rain is expected across the \
    northern valleys tonight, so drivers should leave early and take care on the roads. \
    We will have more on the storms after the break.";

const PEER: &str = include_str!("kokoro_peer.py");

#[derive(Debug, Default, Clone)]
struct Row {
    engine: String,
    load: f64,
    audio: f64,
    synth: f64,
    median: f64,
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

fn bench_ours(voice: &str, passes: usize, intra_threads: usize) -> Result<Row, String> {
    let opts = EngineOptions {
        intra_threads,
        voice: Some(voice.to_owned()),
        ..EngineOptions::default()
    };
    let t = Instant::now();
    let mut engine = KokoroEngine::load(&opts).map_err(|e| e.to_string())?;
    let load = t.elapsed().as_secs_f64();
    let mut synth = |text: &str| {
        engine
            .synthesize_each(text, None, |_| {})
            .map_err(|e| e.to_string())
    };
    synth("Warming up.")?;
    synth(SENTENCES[0])?;
    let mut best: Option<Row> = None;
    for _ in 0..passes {
        let mut row = Row {
            engine: "kokoro (ours)".to_owned(),
            load,
            ..Row::default()
        };
        let mut rtfs = Vec::new();
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
        if best.as_ref().is_none_or(|b| row.rtf() < b.rtf()) {
            best = Some(row);
        }
    }
    let mut row = best.ok_or("no passes")?;
    row.first_audio = f64::INFINITY;
    row.whole_prompt = f64::INFINITY;
    for _ in 0..passes {
        let t = Instant::now();
        let mut first = None;
        engine
            .synthesize_each(PROMPT, None, |_| {
                first.get_or_insert_with(|| t.elapsed().as_secs_f64());
            })
            .map_err(|e| e.to_string())?;
        row.whole_prompt = row.whole_prompt.min(t.elapsed().as_secs_f64());
        row.first_audio = row.first_audio.min(first.ok_or("no audio")?);
    }
    Ok(row)
}

fn bench_python(python: &str, voice: &str, passes: usize) -> Result<(Row, String), String> {
    let store = audiosubnet_models::ModelStore::from_env().map_err(|e| e.to_string())?;
    let files = store.require("kokoro").map_err(|e| e.to_string())?;
    let request = serde_json::json!({
        "dir": files.dir,
        "voice": voice,
        "sentences": SENTENCES,
        "prompt": PROMPT,
        "passes": passes,
    });
    let mut child = Command::new(python)
        .args(["-c", PEER])
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
        engine: "python kokoro-onnx".to_owned(),
        load: num("load")?,
        audio: num("audio")?,
        synth: num("synth")?,
        first_audio: num("first_audio")?,
        whole_prompt: num("whole_prompt")?,
        ..Row::default()
    };
    Ok((row, v["onnxruntime"].as_str().unwrap_or("?").to_owned()))
}

fn main() {
    let passes = env_usize("AUDIOSUBNET_BENCH_PASSES", 3).max(1);
    let intra_threads = env_usize("AUDIOSUBNET_BENCH_INTRA_THREADS", 0);
    let voice = std::env::var("AUDIOSUBNET_BENCH_VOICE").unwrap_or_else(|_| "af_heart".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "Kokoro-82M int8, voice {voice}: {} sentences, best of {passes} passes, {cores} CPUs, \
         intra_threads={intra_threads}",
        SENTENCES.len()
    );
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    match bench_ours(&voice, passes, intra_threads) {
        Ok(row) => rows.push(row),
        Err(e) => notes.push(format!("kokoro (ours): skipped ({e})")),
    }
    match std::env::var("AUDIOSUBNET_BENCH_PYTHON_KOKORO") {
        Ok(py) if !py.is_empty() => match bench_python(&py, &voice, passes) {
            Ok((row, ort)) => {
                notes.push(format!(
                    "python kokoro-onnx 0.6.1: onnxruntime {ort} ({py})"
                ));
                rows.push(row);
            }
            Err(e) => notes.push(format!("python kokoro-onnx: skipped ({e})")),
        },
        _ => notes.push(
            "python kokoro-onnx: skipped (set AUDIOSUBNET_BENCH_PYTHON_KOKORO to the python of \
             `ensure_kokoro_venv` in scripts/lib.sh)"
                .to_owned(),
        ),
    }
    println!();
    println!(
        "{:<20} {:>7} {:>8} {:>8} {:>7} {:>7} {:>13} {:>14}",
        "engine",
        "load s",
        "audio s",
        "synth s",
        "RTF",
        "median",
        "first audio s",
        "whole prompt s"
    );
    for row in &rows {
        let median = if row.median > 0.0 {
            format!("{:.3}", row.median)
        } else {
            "-".to_owned()
        };
        println!(
            "{:<20} {:>7.2} {:>8.2} {:>8.2} {:>7.3} {:>7} {:>13.3} {:>14.3}",
            row.engine,
            row.load,
            row.audio,
            row.synth,
            row.rtf(),
            median,
            row.first_audio,
            row.whole_prompt
        );
    }
    if let [ours, py] = rows.as_slice() {
        println!();
        println!(
            "ours vs kokoro-onnx: RTF {:.3} vs {:.3} ({:.2}x), first audio {:.3} s vs {:.3} s \
             ({:.2}x)",
            ours.rtf(),
            py.rtf(),
            py.rtf() / ours.rtf(),
            ours.first_audio,
            py.first_audio,
            py.first_audio / ours.first_audio
        );
    }
    for note in notes {
        println!("note: {note}");
    }
}

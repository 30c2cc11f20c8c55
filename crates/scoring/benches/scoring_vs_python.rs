//! Scoring time per response (checks + resample + Whisper + DNSMOS + VAD) on 20 Piper clips, next
//! to the same pipeline in Python (`benches/scoring_python.py`: faster-whisper on the same
//! CTranslate2 weights, onnxruntime DNSMOS and Silero VAD, soxr) in the same run, for each Whisper
//! checkpoint (tiny.en, base) and each faster-whisper `compute_type` (int8, what a Python
//! validator picks on a CPU, and float32), with the resident memory of every side. A benchmark,
//! not a test: it asserts nothing.
//!
//! ```text
//! source scripts/lib.sh; ensure_tts_deps; ensure_scoring_deps
//! export AUDIOSUBNET_BENCH_PYTHON_SCORING=$(ensure_scoring_bench_venv)   # optional: Python columns
//! cargo bench -p audiosubnet-scoring --bench scoring_vs_python
//! ```
//!
//! Settings (environment): `AUDIOSUBNET_BENCH_ASR` (default `tiny.en,base`: the checkpoints, each
//! needs its model directory), `AUDIOSUBNET_BENCH_COMPUTE` (default `int8,float32`: the
//! faster-whisper compute types), `AUDIOSUBNET_BENCH_PASSES` (default 3).
//!
//! The 20 prompts are synthesised once by Piper (default options) in a child process (this same
//! binary) and written as 16-bit WAVs to a temporary directory; every side reads those files.
//! Every side runs in its own resident child process — ours is this same binary again, Python's is
//! `scoring_python.py` — so each one's RSS and peak RSS are its scoring stack's alone. Each loads
//! its models (reported separately) and scores one warm-up response; then the passes over the
//! clips alternate between the sides of one checkpoint (ours, Python int8, Python float32, …), so
//! a drifting machine load hits all alike. Stage times are per response, over all passes.
//! Threads: ONNX Runtime runs with 1 intra-op thread on both sides (as the validator does); candle
//! uses all cores and faster-whisper gets `cpu_threads` = the core count. Python has no
//! fingerprint or checks in "prepare"; WAV reading is timed separately and is not part of the
//! total on either side.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use audiosubnet_scoring::{AsrModel, Samples, ScorerConfig, ScoringModels};

const PROMPTS: [&str; 20] = [
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
    "The doctor paid three dollars and fifty cents for a coffee on Monday.",
    "The orchestra rehearsed the symphony for three hours without a break.",
    "Fresh vegetables from the local market make the best soup.",
    "Our flight was delayed because of heavy snow at the airport.",
    "The software update fixes several bugs and improves battery life.",
    "Every evening the old lighthouse keeper climbed the spiral staircase.",
    "Thank you for calling; a representative will be with you shortly.",
];

const STAGES: [&str; 6] = ["read", "prepare", "whisper", "dnsmos", "vad", "total"];
/// Child modes of this binary: synthesise the clips into a directory, or be our scoring side.
const SYNTH_ENV: &str = "AUDIOSUBNET_BENCH_SYNTH_DIR";
const OURS_ENV: &str = "AUDIOSUBNET_BENCH_OURS_CHILD";

fn wav_path(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("{i:02}.wav"))
}

/// Child process: synthesise the prompts with Piper into `dir`.
fn synth_child(dir: &Path) -> Result<(), String> {
    let opts = audiosubnet_tts::EngineOptions::default();
    let mut engine = audiosubnet_tts::load_engine("piper", &opts).map_err(|e| e.to_string())?;
    for (i, p) in PROMPTS.iter().enumerate() {
        let speech = engine.synthesize(p).map_err(|e| e.to_string())?;
        speech
            .write_wav(&wav_path(dir, i))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn synthesise(dir: &Path) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let status = Command::new(exe)
        .env(SYNTH_ENV, dir)
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("Piper child failed ({status})"))
    }
}

fn read_wav(path: &Path) -> Result<(Vec<f32>, u32), String> {
    let wav = audiosubnet_audio::read_wav(path).map_err(|e| e.to_string())?;
    if wav.channels != 1 {
        return Err(format!("{}: expected mono audio", path.display()));
    }
    Ok((wav.samples, wav.sample_rate))
}

/// VmRSS and VmHWM of this process, kB (the units `scoring_python.py` reports).
fn memory_kb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (kb("VmRSS:"), kb("VmHWM:"))
}

/// Child process: our pipeline, speaking `scoring_python.py`'s line protocol on stdin/stdout.
fn ours_child() -> Result<(), String> {
    let mut stdin = std::io::stdin().lock();
    let mut line = String::new();
    stdin.read_line(&mut line).map_err(|e| e.to_string())?;
    let req: serde_json::Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
    let asr: AsrModel = req["asr"]
        .as_str()
        .unwrap_or("tiny.en")
        .parse()
        .map_err(|e: audiosubnet_scoring::UnknownAsrModel| e.to_string())?;
    let files: Vec<(PathBuf, String)> = req["files"]
        .as_array()
        .ok_or("no files")?
        .iter()
        .map(|f| {
            (
                PathBuf::from(f["wav"].as_str().unwrap_or("")),
                f["prompt"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let say = |v: serde_json::Value| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{v}").and_then(|()| out.flush());
    };
    let t = Instant::now();
    let cfg = ScorerConfig {
        asr,
        ..ScorerConfig::default()
    };
    let mut models = ScoringModels::load(&cfg).map_err(|e| e.to_string())?;
    let load_ms = t.elapsed().as_secs_f64() * 1000.0;
    let mut score = |(wav, prompt): &(PathBuf, String)| -> Result<serde_json::Value, String> {
        let t = Instant::now();
        let (samples, rate) = read_wav(wav)?;
        let read_ms = t.elapsed().as_secs_f64() * 1000.0;
        let b = models
            .score(prompt, &Samples::F32(samples), rate)
            .map_err(|e| format!("{}: {e}", wav.display()))?;
        let t = b.timings;
        Ok(serde_json::json!({
            "read_ms": read_ms, "prepare_ms": t.prepare_ms, "whisper_ms": t.whisper_ms,
            "mos_ms": t.dnsmos_ms + t.distill_mos_ms, "vad_ms": t.vad_ms, "total_ms": t.total_ms,
            "transcript": b.transcript, "mos": b.mos,
            "speech_fraction": b.speech_fraction,
        }))
    };
    score(files.first().ok_or("no files")?)?; // warm-up
    let (rss, hwm) = memory_kb();
    say(serde_json::json!({"kind": "load", "load_ms": load_ms, "rss_kb": rss, "hwm_kb": hwm}));
    for (pass, _) in stdin.lines().enumerate() {
        for (i, f) in files.iter().enumerate() {
            let mut row = score(f)?;
            row["kind"] = "file".into();
            row["pass"] = pass.into();
            row["index"] = i.into();
            say(row);
        }
        say(serde_json::json!({"kind": "pass_done", "pass": pass}));
    }
    let (rss, hwm) = memory_kb();
    say(serde_json::json!({
        "kind": "done", "rss_kb": rss, "hwm_kb": hwm,
        "candle_threads": candle_core::utils::get_num_threads(),
    }));
    Ok(())
}

/// One side's results.
#[derive(Debug, Default)]
struct Side {
    load_ms: f64,
    /// Per stage, every scored response.
    times: [Vec<f64>; STAGES.len()],
    /// RSS and peak after loading and after scoring, MB.
    rss_loaded: (f64, f64),
    rss_scored: (f64, f64),
    /// Per clip (first pass): transcript, DNSMOS overall, speech fraction.
    outputs: Vec<(String, f64, f64)>,
    /// Library versions (Python sides).
    versions: String,
}

impl Side {
    fn push(&mut self, ms: [f64; STAGES.len()]) {
        for (v, t) in self.times.iter_mut().zip(ms) {
            v.push(t);
        }
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// One side in a resident child process (ours or `scoring_python.py`), loaded and warmed up,
/// scoring a pass over the clips whenever asked (so passes interleave across sides).
struct Worker {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    side: Side,
}

impl Worker {
    fn start(name: String, mut cmd: Command, request: &serde_json::Value) -> Result<Self, String> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut w = Self {
            name,
            child,
            stdin: Some(stdin),
            stdout,
            side: Side::default(),
        };
        w.send(&request.to_string())?;
        w.read_until("load")?;
        Ok(w)
    }

    fn send(&mut self, line: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("{} stopped: {e}", self.name))
    }

    /// Reads and records lines until one of `kind`.
    fn read_until(&mut self, kind: &str) -> Result<(), String> {
        let mb = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN) / 1024.0;
        let mut line = String::new();
        loop {
            line.clear();
            let n = self
                .stdout
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err(format!("{} ended before `{kind}`", self.name));
            }
            let v: serde_json::Value =
                serde_json::from_str(&line).map_err(|e| format!("bad line {line:?}: {e}"))?;
            let this = v["kind"].as_str().unwrap_or("");
            match this {
                "load" => {
                    self.side.load_ms = v["load_ms"].as_f64().unwrap_or(f64::NAN);
                    self.side.rss_loaded = (mb(&v, "rss_kb"), mb(&v, "hwm_kb"));
                }
                "file" => {
                    let ms = STAGES.map(|s| v[format!("{s}_ms")].as_f64().unwrap_or(f64::NAN));
                    self.side.push(ms);
                    if v["pass"].as_u64() == Some(0) {
                        self.side.outputs.push((
                            v["transcript"].as_str().unwrap_or("").to_owned(),
                            v["ovrl"].as_f64().unwrap_or(f64::NAN),
                            v["speech_fraction"].as_f64().unwrap_or(f64::NAN),
                        ));
                    }
                }
                "done" => {
                    self.side.rss_scored = (mb(&v, "rss_kb"), mb(&v, "hwm_kb"));
                    if v.get("faster_whisper").is_some() {
                        let s = |k: &str| v[k].as_str().unwrap_or("?").to_owned();
                        self.side.versions = format!(
                            "faster-whisper {}, ctranslate2 {}, onnxruntime {}, soxr {}, numpy {}",
                            s("faster_whisper"),
                            s("ctranslate2"),
                            s("onnxruntime"),
                            s("soxr"),
                            s("numpy")
                        );
                    }
                }
                _ => {}
            }
            if this == kind {
                return Ok(());
            }
        }
    }

    fn pass(&mut self) -> Result<(), String> {
        self.send("pass")?;
        self.read_until("pass_done")
    }

    fn finish(mut self) -> Result<Side, String> {
        self.stdin.take();
        self.read_until("done")?;
        let status = self.child.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("{} exited with {status}", self.name));
        }
        Ok(std::mem::take(&mut self.side))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.wait();
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}

/// The comma-separated list in `var`, or `default`.
fn list(var: &str, default: &str) -> Vec<String> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Starts our side and the Python sides for one checkpoint, runs the interleaved passes and
/// returns each side's results (by name), with notes on what was skipped or failed.
fn run_checkpoint(
    asr: AsrModel,
    dir: &Path,
    passes: usize,
    cores: usize,
    python: Option<&str>,
    computes: &[String],
    notes: &mut Vec<String>,
) -> Vec<(String, Side)> {
    let files: Vec<_> = PROMPTS
        .iter()
        .enumerate()
        .map(|(i, p)| serde_json::json!({"wav": wav_path(dir, i), "prompt": p}))
        .collect();
    let mut workers = Vec::new();
    let exe = std::env::current_exe().expect("bench binary path");
    let mut ours = Command::new(exe);
    ours.env(OURS_ENV, "1");
    let request = serde_json::json!({"files": files, "asr": asr.as_str()});
    match Worker::start("ours".to_owned(), ours, &request) {
        Ok(w) => workers.push(w),
        Err(e) => {
            notes.push(format!(
                "{asr}: ours skipped ({e}); fetch the models: `audiosubnet models fetch {} dnsmos \
                 silero-vad onnxruntime`",
                asr.model_name()
            ));
            return Vec::new();
        }
    }
    if let Some(py) = python {
        let store = audiosubnet_models::ModelStore::from_env().expect("model store");
        let paths = (|| {
            Ok::<_, audiosubnet_models::ModelError>((
                store.require(asr.model_name())?.dir,
                store.require("dnsmos")?.file("sig_bak_ovr.onnx"),
                store
                    .require("silero-vad")?
                    .file("silero_vad_op18_ifless.onnx"),
            ))
        })();
        match paths {
            Ok((whisper_dir, dnsmos, vad)) => {
                for compute in computes {
                    let request = serde_json::json!({
                        "files": files,
                        "whisper_dir": whisper_dir,
                        "dnsmos": dnsmos,
                        "vad": vad,
                        "cpu_threads": cores,
                        "intra_threads": 1,
                        "compute_type": compute,
                    });
                    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/scoring_python.py");
                    let mut cmd = Command::new(py);
                    cmd.arg(script);
                    match Worker::start(format!("py {compute}"), cmd, &request) {
                        Ok(w) => workers.push(w),
                        Err(e) => notes.push(format!("{asr}: python {compute} skipped ({e})")),
                    }
                }
            }
            Err(e) => notes.push(format!("{asr}: python skipped ({e})")),
        }
    }
    // Passes alternate between the sides, so a drifting machine load hits all alike.
    for _ in 0..passes {
        let mut i = 0;
        while i < workers.len() {
            if let Err(e) = workers[i].pass() {
                notes.push(format!("{asr}: {} stopped ({e})", workers[i].name));
                workers.remove(i);
            } else {
                i += 1;
            }
        }
    }
    let mut sides = Vec::new();
    for w in workers {
        let name = w.name.clone();
        match w.finish() {
            Ok(side) => {
                if !side.versions.is_empty() {
                    notes.push(format!("{asr}: {name}: {}", side.versions));
                }
                sides.push((name, side));
            }
            Err(e) => notes.push(format!("{asr}: {name} failed ({e})")),
        }
    }
    sides
}

fn report(asr: AsrModel, sides: &[(String, Side)]) {
    let Some((_, ours)) = sides.first() else {
        return;
    };
    println!();
    println!("== Whisper {asr} ({}) ==", asr.model_name());
    let mut header = format!("{:<10}", "ms/resp");
    for (name, _) in sides {
        header += &format!(
            " {:>12} {:>12}",
            format!("{name} mean"),
            format!("{name} med")
        );
    }
    for (name, _) in &sides[1..] {
        header += &format!(" {:>14}", format!("ours/{name}"));
    }
    println!("{header}");
    for (k, stage) in STAGES.iter().enumerate() {
        let mut row = format!("{stage:<10}");
        for (_, s) in sides {
            row += &format!(" {:>12.1} {:>12.1}", mean(&s.times[k]), median(&s.times[k]));
        }
        for (_, s) in &sides[1..] {
            row += &format!(
                " {:>14}",
                format!("{:.2}x", median(&ours.times[k]) / median(&s.times[k]))
            );
        }
        println!("{row}");
    }
    println!(
        "(medians over responses; total = prepare + whisper + dnsmos + vad; read is not in it)"
    );
    println!(
        "{:<10} {:>10} {:>14} {:>14} {:>14} {:>14}",
        "", "load ms", "RSS loaded MB", "HWM loaded MB", "RSS scored MB", "HWM scored MB"
    );
    for (name, s) in sides {
        println!(
            "{:<10} {:>10.0} {:>14.0} {:>14.0} {:>14.0} {:>14.0}",
            name, s.load_ms, s.rss_loaded.0, s.rss_loaded.1, s.rss_scored.0, s.rss_scored.1
        );
    }
    for (name, p) in &sides[1..] {
        let same = ours
            .outputs
            .iter()
            .zip(&p.outputs)
            .filter(|(a, b)| a.0 == b.0)
            .count();
        let max_diff = |f: fn(&(String, f64, f64)) -> f64| {
            ours.outputs
                .iter()
                .zip(&p.outputs)
                .map(|(a, b)| (f(a) - f(b)).abs())
                .fold(0.0, f64::max)
        };
        println!(
            "ours vs {name}: identical transcripts {same}/{}, max |DNSMOS ovrl diff| {:.3}, max \
             |speech fraction diff| {:.3}",
            ours.outputs.len().min(p.outputs.len()),
            max_diff(|o| o.1),
            max_diff(|o| o.2)
        );
        for (i, (a, b)) in ours.outputs.iter().zip(&p.outputs).enumerate() {
            if a.0 != b.0 {
                println!("  clip {i:02}: ours {:?} / {name} {:?}", a.0, b.0);
            }
        }
    }
}

fn main() {
    if let Some(dir) = std::env::var_os(SYNTH_ENV) {
        if let Err(e) = synth_child(Path::new(&dir)) {
            eprintln!("piper: {e}");
            std::process::exit(1);
        }
        return;
    }
    if std::env::var_os(OURS_ENV).is_some() {
        if let Err(e) = ours_child() {
            eprintln!("ours: {e}");
            std::process::exit(1);
        }
        return;
    }
    let passes = std::env::var("AUDIOSUBNET_BENCH_PASSES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(3)
        .max(1);
    let asrs: Vec<AsrModel> = list("AUDIOSUBNET_BENCH_ASR", "tiny.en,base")
        .iter()
        .map(|s| {
            s.parse().unwrap_or_else(|e| {
                eprintln!("AUDIOSUBNET_BENCH_ASR: {e}");
                std::process::exit(2);
            })
        })
        .collect();
    let computes = list("AUDIOSUBNET_BENCH_COMPUTE", "int8,float32");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let dir = tempfile::tempdir().expect("temp dir");
    if let Err(e) = synthesise(dir.path()) {
        eprintln!(
            "cannot synthesise the clips ({e}); run `source scripts/lib.sh; ensure_tts_deps`"
        );
        std::process::exit(1);
    }
    let audio_s: f64 = (0..PROMPTS.len())
        .filter_map(|i| read_wav(&wav_path(dir.path(), i)).ok())
        .map(|(s, r)| s.len() as f64 / f64::from(r))
        .sum();
    println!(
        "Scoring {} Piper clips ({:.1} s of audio, mean {:.2} s), {passes} passes after a warm-up; \
         {cores} CPUs, load average {}",
        PROMPTS.len(),
        audio_s,
        audio_s / PROMPTS.len() as f64,
        loadavg()
    );
    println!(
        "threads: ONNX Runtime intra-op 1 / inter-op 1 (every side); candle {cores} (ours), \
         faster-whisper cpu_threads {cores} (python, compute_type {})",
        computes.join(" and ")
    );
    let mut notes = Vec::new();
    let python = std::env::var("AUDIOSUBNET_BENCH_PYTHON_SCORING")
        .ok()
        .filter(|p| !p.is_empty());
    match &python {
        Some(py) => notes.push(format!("python: {py}")),
        None => notes.push(
            "python: skipped (set AUDIOSUBNET_BENCH_PYTHON_SCORING to the python of \
             `ensure_scoring_bench_venv` in scripts/lib.sh)"
                .to_owned(),
        ),
    }
    for asr in asrs {
        let sides = run_checkpoint(
            asr,
            dir.path(),
            passes,
            cores,
            python.as_deref(),
            &computes,
            &mut notes,
        );
        report(asr, &sides);
    }
    println!();
    println!("load average at the end: {}", loadavg());
    for n in notes {
        println!("note: {n}");
    }
}

//! Scoring time per response (checks + resample + Whisper + DNSMOS + VAD) on 20 Piper clips, next
//! to the same pipeline in Python (`benches/scoring_python.py`: faster-whisper on the same
//! CTranslate2 weights, onnxruntime DNSMOS and Silero VAD, soxr) in the same run, with the
//! resident memory of both. A benchmark, not a test: it asserts nothing.
//!
//! ```text
//! source scripts/lib.sh; ensure_tts_deps; ensure_scoring_deps
//! export AUDIOSUBNET_BENCH_PYTHON_SCORING=$(ensure_scoring_bench_venv)   # optional: Python column
//! cargo bench -p audiosubnet-scoring --bench scoring_vs_python
//! ```
//!
//! The 20 prompts are synthesised once by Piper (default options) in a child process (this same
//! binary), so this process's RSS is the scoring stack's alone, and written as 16-bit WAVs to a
//! temporary directory; both sides read those files. Each side loads its models (reported
//! separately) and scores one warm-up response; then `AUDIOSUBNET_BENCH_PASSES` (default 3) passes
//! over the clips alternate between ours and Python's (a resident child process), so a drifting
//! machine load hits both alike. Stage times are mean and median over all scored responses. Threads: ONNX Runtime
//! runs with 1 intra-op thread on both sides (as the validator does); candle uses all cores and
//! faster-whisper gets `cpu_threads` = the core count. Python runs Whisper in float32 (the CPU
//! cannot compute in float16, and float32 is what candle does), so the comparison is like for
//! like. Python has no fingerprint or checks in "prepare"; WAV reading is timed separately and not
//! part of the total on either side.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use audiosubnet_scoring::{Samples, ScoreBreakdown, ScorerConfig, ScoringModels};

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
const SYNTH_ENV: &str = "AUDIOSUBNET_BENCH_SYNTH_DIR";

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

/// VmRSS and VmHWM of this process, MB.
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
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

/// Our pipeline, loaded and warmed up.
struct Ours {
    models: ScoringModels,
    side: Side,
}

impl Ours {
    fn start(dir: &Path) -> Result<Self, String> {
        let mut side = Side::default();
        let t = Instant::now();
        let models = ScoringModels::load(&ScorerConfig::default()).map_err(|e| e.to_string())?;
        side.load_ms = t.elapsed().as_secs_f64() * 1000.0;
        side.rss_loaded = memory();
        let mut ours = Self { models, side };
        ours.score(dir, 0)?; // warm-up
        Ok(ours)
    }

    fn score(&mut self, dir: &Path, i: usize) -> Result<(f64, ScoreBreakdown), String> {
        let t = Instant::now();
        let (samples, rate) = read_wav(&wav_path(dir, i))?;
        let read_ms = t.elapsed().as_secs_f64() * 1000.0;
        let b = self
            .models
            .score(PROMPTS[i], &Samples::F32(samples), rate)
            .map_err(|e| format!("clip {i}: {e}"))?;
        Ok((read_ms, b))
    }

    fn pass(&mut self, dir: &Path, first: bool) -> Result<(), String> {
        for i in 0..PROMPTS.len() {
            let (read_ms, b) = self.score(dir, i)?;
            let t = b.timings;
            self.side.push([
                read_ms,
                t.prepare_ms,
                t.whisper_ms,
                t.dnsmos_ms,
                t.vad_ms,
                t.total_ms,
            ]);
            if first {
                self.side
                    .outputs
                    .push((b.transcript, b.dnsmos.ovrl, b.speech_fraction));
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Side {
        self.side.rss_scored = memory();
        self.side
    }
}

/// `benches/scoring_python.py` in a child process, loaded and warmed up, scoring a pass over the
/// clips whenever asked (so its passes interleave with ours on a machine whose load drifts).
struct Python {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    side: Side,
    versions: String,
}

impl Python {
    fn start(python: &str, dir: &Path, threads: usize) -> Result<Self, String> {
        let store = audiosubnet_models::ModelStore::from_env().map_err(|e| e.to_string())?;
        let model = |name: &str| store.require(name).map_err(|e| e.to_string());
        let files: Vec<_> = PROMPTS
            .iter()
            .enumerate()
            .map(|(i, p)| serde_json::json!({"wav": wav_path(dir, i), "prompt": p}))
            .collect();
        let request = serde_json::json!({
            "files": files,
            "whisper_dir": model("whisper-tiny-en")?.dir,
            "dnsmos": model("dnsmos")?.file("sig_bak_ovr.onnx"),
            "vad": model("silero-vad")?.file("silero_vad_op18_ifless.onnx"),
            "cpu_threads": threads,
            "intra_threads": 1,
        });
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/scoring_python.py");
        let mut child = Command::new(python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot run {python}: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut py = Self {
            child,
            stdin: Some(stdin),
            stdout,
            side: Side::default(),
            versions: String::new(),
        };
        py.send(&request.to_string())?;
        py.read_until("load")?;
        Ok(py)
    }

    fn send(&mut self, line: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("python stopped: {e}"))
    }

    /// Reads and records lines until one of `kind` (or the end of output for `done`).
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
                return Err(format!("python ended before `{kind}`"));
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
                    let s = |k: &str| v[k].as_str().unwrap_or("?").to_owned();
                    self.versions = format!(
                        "faster-whisper {}, ctranslate2 {}, onnxruntime {}, soxr {}, numpy {}",
                        s("faster_whisper"),
                        s("ctranslate2"),
                        s("onnxruntime"),
                        s("soxr"),
                        s("numpy")
                    );
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

    fn finish(mut self) -> Result<(Side, String), String> {
        self.stdin.take();
        self.read_until("done")?;
        let status = self.child.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("python exited with {status}"));
        }
        Ok((
            std::mem::take(&mut self.side),
            std::mem::take(&mut self.versions),
        ))
    }
}

impl Drop for Python {
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

fn main() {
    if let Some(dir) = std::env::var_os(SYNTH_ENV) {
        if let Err(e) = synth_child(Path::new(&dir)) {
            eprintln!("piper: {e}");
            std::process::exit(1);
        }
        return;
    }
    let passes = std::env::var("AUDIOSUBNET_BENCH_PASSES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(3)
        .max(1);
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
        "threads: ONNX Runtime intra-op 1 / inter-op 1 (both sides); candle {} (ours), \
         faster-whisper cpu_threads {cores} (python, compute_type float32)",
        candle_core::utils::get_num_threads()
    );

    let fail = |e: String| -> ! {
        eprintln!("scoring failed: {e}; run `source scripts/lib.sh; ensure_scoring_deps`");
        std::process::exit(1);
    };
    let mut ours = Ours::start(dir.path()).unwrap_or_else(|e| fail(e));
    let mut notes = Vec::new();
    let mut python = match std::env::var("AUDIOSUBNET_BENCH_PYTHON_SCORING") {
        Ok(py) if !py.is_empty() => match Python::start(&py, dir.path(), cores) {
            Ok(p) => {
                notes.push(format!("python: {py}"));
                Some(p)
            }
            Err(e) => {
                notes.push(format!("python: skipped ({e})"));
                None
            }
        },
        _ => {
            notes.push(
                "python: skipped (set AUDIOSUBNET_BENCH_PYTHON_SCORING to the python of \
                 `ensure_scoring_bench_venv` in scripts/lib.sh)"
                    .to_owned(),
            );
            None
        }
    };
    // Passes alternate between the two sides, so a drifting machine load hits both alike.
    for pass in 0..passes {
        ours.pass(dir.path(), pass == 0).unwrap_or_else(|e| fail(e));
        if let Some(p) = python.as_mut()
            && let Err(e) = p.pass()
        {
            notes.push(format!("python: stopped ({e})"));
            python = None;
        }
    }
    let ours = ours.finish();
    let python = match python.map(Python::finish) {
        Some(Ok((side, versions))) => {
            notes.push(format!("python: {versions}"));
            Some(side)
        }
        Some(Err(e)) => {
            notes.push(format!("python: failed ({e})"));
            None
        }
        None => None,
    };

    println!();
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "ms/resp", "ours mean", "ours med", "py mean", "py med", "ours/py med"
    );
    for (k, stage) in STAGES.iter().enumerate() {
        let o = &ours.times[k];
        let (pm, pd, ratio) = match &python {
            Some(p) => {
                let (pm, pd) = (mean(&p.times[k]), median(&p.times[k]));
                (
                    format!("{pm:.1}"),
                    format!("{pd:.1}"),
                    format!("{:.2}x", median(o) / pd),
                )
            }
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "{:<10} {:>10.1} {:>10.1} {:>10} {:>10} {:>12}",
            stage,
            mean(o),
            median(o),
            pm,
            pd,
            ratio
        );
    }
    println!("(total = prepare + whisper + dnsmos + vad; read is not in it)");
    println!();
    println!(
        "{:<10} {:>10} {:>14} {:>14} {:>14} {:>14}",
        "", "load ms", "RSS loaded MB", "HWM loaded MB", "RSS scored MB", "HWM scored MB"
    );
    for (name, s) in std::iter::once(("ours", &ours)).chain(python.iter().map(|p| ("python", p))) {
        println!(
            "{:<10} {:>10.0} {:>14.0} {:>14.0} {:>14.0} {:>14.0}",
            name, s.load_ms, s.rss_loaded.0, s.rss_loaded.1, s.rss_scored.0, s.rss_scored.1
        );
    }
    if let Some(p) = &python {
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
        println!();
        println!(
            "outputs: identical transcripts {same}/{}, max |DNSMOS ovrl diff| {:.3}, max |speech \
             fraction diff| {:.3}",
            ours.outputs.len().min(p.outputs.len()),
            max_diff(|o| o.1),
            max_diff(|o| o.2)
        );
        for (i, (a, b)) in ours.outputs.iter().zip(&p.outputs).enumerate() {
            if a.0 != b.0 {
                println!("  clip {i:02}: ours {:?} / python {:?}", a.0, b.0);
            }
        }
    }
    println!("load average at the end: {}", loadavg());
    for n in notes {
        println!("note: {n}");
    }
}

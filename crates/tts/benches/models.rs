//! CPU cost of the candle models (MMS-TTS/VITS, SpeechT5 + HiFi-GAN, Bark) per second of audio,
//! next to Python transformers running the same checkpoints on the same texts in the same run.
//!
//! ```text
//! cargo bench -p audiosubnet-tts --bench models
//! # full-size random checkpoints (made once by the fixture scripts, see their docstrings):
//! #   fixtures/vits/make_fixtures.py --full-size DIR/vits
//! #   fixtures/speecht5/make_fixtures.py --full-size DIR/speecht5
//! #   fixtures/bark/make_fixtures.py --full-size DIR/bark-small small
//! AUDIOSUBNET_BENCH_CHECKPOINTS=vits=DIR/vits,speecht5=DIR/speecht5,bark=DIR/bark-small \
//! AUDIOSUBNET_BENCH_PYTHON_TRANSFORMERS=.cache/venv/vits-fixtures/bin/python \
//!   cargo bench -p audiosubnet-tts --bench models
//! ```
//!
//! The tiny parity fixtures committed under `crates/{vits,speecht5,bark}/tests/fixtures` are
//! always measured; `AUDIOSUBNET_BENCH_CHECKPOINTS` adds `model=DIR` entries (a SpeechT5 DIR
//! holds `tts/`, `vocoder/` and `speaker.f32`, the layout of its fixture script). Random
//! weights say nothing about quality, only about cost, so the settings fix the amount of work:
//! VITS without noise, SpeechT5 running to `maxlenratio` 4 (about 64 ms of audio per token),
//! Bark greedy (a random semantic GPT runs to its 768-token limit, about 15 s of audio). Both
//! sides see the same settings, so they make the same number of samples.
//!
//! Reported per checkpoint: load time, and over the texts (the first `AUDIOSUBNET_BENCH_TEXTS`,
//! default all 3; timed after one warm-up synthesis, best of `AUDIOSUBNET_BENCH_PASSES`, default 2) the CPU seconds per second of audio (every thread of
//! the process: /proc/self/stat here, `time.process_time` in Python) and the real-time factor
//! (wall seconds per second of audio). Both sides use the same thread count:
//! `RAYON_NUM_THREADS` for candle (default: one per core), passed on to `torch.set_num_threads`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use audiosubnet_bark::{Bark, GenerationOptions as BarkOptions};
use audiosubnet_speecht5::{GenerationOptions as SpeechT5Options, SpeakerEmbedding, SpeechT5};
use audiosubnet_vits::{SynthesisOptions, Vits};
use candle_core::Device;

const TEXTS: [&str; 3] = [
    "The quick brown fox jumps over the lazy dog.",
    "Validators score each miner by transcribing the audio and comparing it with the prompt.",
    "Please remember to bring your identification card to the appointment on Tuesday.",
];

/// Run once before timing, on every side.
const WARM_UP: &str = "Hello there.";

/// SpeechT5 steps are `tokens * MAXLENRATIO / reduction_factor`, each of `reduction_factor`
/// 16 ms frames: 4 gives about 64 ms of audio per character token, a normal speaking rate.
const SPEECHT5_MAXLENRATIO: f64 = 4.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Model {
    Vits,
    SpeechT5,
    Bark,
}

impl Model {
    fn parse(name: &str) -> Result<Self, String> {
        match name {
            "vits" => Ok(Self::Vits),
            "speecht5" => Ok(Self::SpeechT5),
            "bark" => Ok(Self::Bark),
            other => Err(format!("unknown model {other:?} (vits, speecht5, bark)")),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Vits => "vits",
            Self::SpeechT5 => "speecht5",
            Self::Bark => "bark",
        }
    }
}

/// One measured text: seconds of wall and CPU time, samples made.
#[derive(Debug, Clone, Copy)]
struct Timing {
    wall: f64,
    cpu: f64,
    samples: usize,
}

/// One side's measurement of a checkpoint.
#[derive(Debug)]
struct Measured {
    load: f64,
    sample_rate: u32,
    texts: Vec<Timing>,
}

impl Measured {
    fn audio_secs(&self) -> f64 {
        self.texts.iter().map(|t| t.samples).sum::<usize>() as f64 / f64::from(self.sample_rate)
    }

    fn cpu_per_audio(&self) -> f64 {
        self.texts.iter().map(|t| t.cpu).sum::<f64>() / self.audio_secs()
    }

    fn rtf(&self) -> f64 {
        self.texts.iter().map(|t| t.wall).sum::<f64>() / self.audio_secs()
    }
}

/// CPU seconds this process has used, all threads (utime + stime of /proc/self/stat, in the
/// kernel's fixed 100 Hz USER_HZ).
fn process_cpu_secs() -> Result<f64, String> {
    let stat = std::fs::read_to_string("/proc/self/stat").map_err(|e| e.to_string())?;
    // Fields after the parenthesised command name, which may itself contain spaces.
    let rest = stat.rsplit_once(')').ok_or("bad /proc/self/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64, String> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .ok_or_else(|| "bad /proc/self/stat".to_owned())
    };
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

fn timed<T>(f: impl FnOnce() -> Result<T, String>) -> Result<(T, f64, f64), String> {
    let (wall, cpu) = (Instant::now(), process_cpu_secs()?);
    let out = f()?;
    Ok((out, wall.elapsed().as_secs_f64(), process_cpu_secs()? - cpu))
}

/// A loaded model as a text-to-samples function.
type Synthesize = Box<dyn FnMut(&str) -> Result<(usize, u32), String>>;

fn load(model: Model, dir: &Path) -> Result<Synthesize, String> {
    let device = Device::Cpu;
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", dir.display());
    Ok(match model {
        Model::Vits => {
            let vits = Vits::load(dir, &device).map_err(|e| err(&e))?;
            let options = SynthesisOptions::deterministic();
            Box::new(move |text| {
                let (samples, rate) = vits
                    .synthesize_with(text, &options)
                    .map_err(|e| e.to_string())?;
                Ok((samples.len(), rate))
            })
        }
        Model::SpeechT5 => {
            let tts = SpeechT5::load(dir.join("tts"), dir.join("vocoder"), &device)
                .map_err(|e| err(&e))?;
            let speaker =
                SpeakerEmbedding::from_file(&dir.join("speaker.f32")).map_err(|e| err(&e))?;
            let options = SpeechT5Options {
                threshold: 100.0,
                minlenratio: 0.0,
                maxlenratio: SPEECHT5_MAXLENRATIO,
                seed: 0,
            };
            Box::new(move |text| {
                let (samples, rate) = tts
                    .synthesize_with(text, &speaker, &options)
                    .map_err(|e| e.to_string())?;
                Ok((samples.len(), rate))
            })
        }
        Model::Bark => {
            let bark = Bark::load(dir, &device).map_err(|e| err(&e))?;
            let options = BarkOptions::greedy();
            Box::new(move |text| {
                let (samples, rate) = bark
                    .synthesize(text, None, &options)
                    .map_err(|e| e.to_string())?;
                Ok((samples.len(), rate))
            })
        }
    })
}

fn measure_ours(model: Model, dir: &Path, count: usize, passes: usize) -> Result<Measured, String> {
    let (mut synthesize, load, _) = timed(|| load(model, dir))?;
    let (_, sample_rate) = synthesize(WARM_UP)?;
    let mut texts = Vec::new();
    for text in &TEXTS[..count] {
        let mut best: Option<Timing> = None;
        for _ in 0..passes {
            let ((samples, _), wall, cpu) = timed(|| synthesize(text))?;
            if best.is_none_or(|b| wall < b.wall) {
                best = Some(Timing { wall, cpu, samples });
            }
        }
        texts.push(best.ok_or("no passes")?);
    }
    Ok(Measured {
        load,
        sample_rate,
        texts,
    })
}

fn measure_python(
    python: &str,
    model: Model,
    dir: &Path,
    count: usize,
    passes: usize,
    threads: usize,
    sample_rate: u32,
) -> Result<Measured, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/models_peer.py");
    let mut spec = serde_json::json!({
        "model": model.name(),
        "dir": dir,
        "texts": &TEXTS[..count],
        "warm_up": WARM_UP,
        "passes": passes,
        "threads": threads,
    });
    if model == Model::SpeechT5 {
        spec["dir"] = serde_json::json!(dir.join("tts"));
        spec["vocoder_dir"] = serde_json::json!(dir.join("vocoder"));
        spec["speaker"] = serde_json::json!(dir.join("speaker.f32"));
        spec["maxlenratio"] = serde_json::json!(SPEECHT5_MAXLENRATIO);
    }
    let out = Command::new(python)
        .arg(&script)
        .arg(spec.to_string())
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{python} failed ({}): {}",
            out.status,
            stderr.lines().last().unwrap_or("")
        ));
    }
    let reply: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("peer output: {e}"))?;
    let number = |v: &serde_json::Value, key: &str| {
        v[key]
            .as_f64()
            .ok_or_else(|| format!("peer output lacks {key}"))
    };
    let texts = reply["texts"]
        .as_array()
        .ok_or("peer output lacks texts")?
        .iter()
        .map(|t| {
            Ok(Timing {
                wall: number(t, "wall")?,
                cpu: number(t, "cpu")?,
                samples: number(t, "samples")? as usize,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Measured {
        load: number(&reply, "load")?,
        sample_rate,
        texts,
    })
}

fn fixture(crate_dir: &str, sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(crate_dir)
        .join("tests/fixtures")
        .join(sub)
}

fn main() -> Result<(), String> {
    let env_count = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
            .max(1)
    };
    let passes = env_count("AUDIOSUBNET_BENCH_PASSES", 2);
    let count = env_count("AUDIOSUBNET_BENCH_TEXTS", TEXTS.len()).min(TEXTS.len());
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1);
    let python = std::env::var("AUDIOSUBNET_BENCH_PYTHON_TRANSFORMERS").ok();

    let mut checkpoints = vec![
        ("tiny".to_owned(), Model::Vits, fixture("vits", "tiny")),
        ("tiny".to_owned(), Model::SpeechT5, fixture("speecht5", "")),
        ("tiny".to_owned(), Model::Bark, fixture("bark", "tiny")),
    ];
    for entry in std::env::var("AUDIOSUBNET_BENCH_CHECKPOINTS")
        .unwrap_or_default()
        .split(',')
        .filter(|e| !e.is_empty())
    {
        let (model, dir) = entry
            .split_once('=')
            .ok_or_else(|| format!("{entry:?}: expected model=DIR"))?;
        let dir = PathBuf::from(dir);
        let label = dir
            .file_name()
            .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into());
        checkpoints.push((label, Model::parse(model)?, dir));
    }

    println!(
        "{count} texts, best of {passes} passes, {threads} threads; CPU = CPU s per s of audio, \
         RTF = wall s per s of audio (lower is faster)\n"
    );
    println!(
        "{:<9} {:<12} {:>7} {:>7} {:>7} {:>7} | {:>7} {:>7} {:>7} | {:>10}",
        "model",
        "checkpoint",
        "audio s",
        "load s",
        "CPU",
        "RTF",
        "py load",
        "py CPU",
        "py RTF",
        "CPU ratio"
    );
    for (label, model, dir) in &checkpoints {
        let ours = match measure_ours(*model, dir, count, passes) {
            Ok(m) => m,
            Err(e) => {
                println!("{:<9} {label:<12} failed: {e}", model.name());
                continue;
            }
        };
        let mut line = format!(
            "{:<9} {label:<12} {:>7.2} {:>7.2} {:>7.3} {:>7.3} |",
            model.name(),
            ours.audio_secs(),
            ours.load,
            ours.cpu_per_audio(),
            ours.rtf()
        );
        match python
            .as_deref()
            .map(|py| measure_python(py, *model, dir, count, passes, threads, ours.sample_rate))
        {
            None => line.push_str(&format!("{:>25} |", "(no peer)")),
            Some(Err(e)) => line.push_str(&format!(" peer failed: {e}")),
            Some(Ok(py)) => {
                let same = py.texts.iter().map(|t| t.samples).collect::<Vec<_>>()
                    == ours.texts.iter().map(|t| t.samples).collect::<Vec<_>>();
                line.push_str(&format!(
                    " {:>7.2} {:>7.3} {:>7.3} | {:>9.2}x{}",
                    py.load,
                    py.cpu_per_audio(),
                    py.rtf(),
                    ours.cpu_per_audio() / py.cpu_per_audio(),
                    if same { "" } else { " (lengths differ)" }
                ));
            }
        }
        println!("{line}");
    }
    Ok(())
}

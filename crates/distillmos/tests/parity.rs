//! Distill-MOS in candle against the `distillmos` Python package, on real speech.
//!
//! The clips are made here, deterministically: espeak-ng speech (libespeak-ng through
//! audiosubnet-tts) resampled to 16 kHz and cut to 1 s, 5 s, one window, 10 s, 20 s; the same
//! speech with seeded white noise at 5 and 15 dB SNR; a quiet copy; a tenth of a second; silence.
//! fixtures/distillmos/reference.json holds the package's MOS for each (made by
//! fixtures/distillmos/make_reference.py from the WAVs [`write_clips`] writes) and the sha256 of
//! the samples it scored.
//!
//! Needs the model (`$AUDIOSUBNET_HOME/models/distill-mos/distill_mos_v7.pt`, from
//! `audiosubnet models fetch distill-mos`) and libespeak-ng: run with
//! `cargo test -p audiosubnet-distillmos -- --include-ignored`. With
//! `AUDIOSUBNET_TEST_PYTHON_DISTILLMOS` set to the python of the venv `ensure_distillmos_venv`
//! (scripts/lib.sh) makes, the package also scores the clips live and both sides are timed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use audiosubnet_distillmos::{DistillMos, Error, MAX_SAMPLES, WEIGHTS_FILE, WINDOW};
use audiosubnet_tts::{EngineOptions, load_engine};
use sha2::{Digest, Sha256};

/// Worst accepted |MOS(candle) − MOS(torch)|.
const TOLERANCE: f64 = 0.01;
const RATE: usize = 16_000;

/// Said by espeak-ng, about 30 s: long enough for the 20 s crop-and-average clip.
const PARAGRAPH: &str = "The validators of this subnet send a short text to every miner and \
    listen to the speech that comes back. They transcribe it, compare the words with the prompt, \
    and ask a small network how natural the voice sounds. A good reply is clear, complete and \
    pleasant to hear. A poor one mumbles, skips words, or hides the speech under noise. The \
    miners with the best replies earn the largest share of the rewards, so every engine is \
    pushed to sound a little more human than the one before it.";
const SHORT: &str = "Good morning, how are you today?";

fn model_path() -> PathBuf {
    let home = std::env::var_os("AUDIOSUBNET_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("audiosubnet"))
        })
        .expect("AUDIOSUBNET_HOME or HOME");
    home.join("models").join("distill-mos").join(WEIGHTS_FILE)
}

fn model() -> &'static DistillMos {
    static MODEL: OnceLock<DistillMos> = OnceLock::new();
    MODEL.get_or_init(|| {
        let path = model_path();
        DistillMos::load(&path).unwrap_or_else(|e| {
            panic!("{e}: run scripts/test or `audiosubnet models fetch distill-mos`")
        })
    })
}

/// espeak-ng speech of `text`, at 16 kHz, as 16-bit samples.
fn espeak_16k(text: &str) -> Vec<i16> {
    // The pause between sentences is part of the clips: pinned here, not taken from the
    // engines' defaults.
    let opts = EngineOptions {
        sentence_pause: std::time::Duration::from_millis(200),
        max_chars: 2_000,
        ..EngineOptions::default()
    };
    let mut engine = load_engine("espeak", &opts).expect("espeak-ng loads");
    let speech = engine.synthesize(text).expect("espeak-ng speaks");
    let y = resample(&speech.samples, speech.sample_rate as usize, RATE);
    y.iter().map(|&s| quantize(s)).collect()
}

fn quantize(s: f64) -> i16 {
    (s.clamp(-1.0, 1.0) * 32_767.0).round() as i16
}

/// Band-limited resampling (Hann-windowed sinc, 32 taps each side, cutoff 0.9 × the lower
/// Nyquist), in f64. Any fixed rule does: both sides score the samples written here.
fn resample(x: &[f32], from: usize, to: usize) -> Vec<f64> {
    const HALF: isize = 32;
    let ratio = from as f64 / to as f64;
    let cutoff = 0.9 * (to.min(from) as f64 / from as f64);
    let n_out = x.len() * to / from;
    (0..n_out)
        .map(|n| {
            let t = n as f64 * ratio;
            let centre = t.floor() as isize;
            let mut acc = 0.0;
            for k in centre - HALF + 1..=centre + HALF {
                if k < 0 || k as usize >= x.len() {
                    continue;
                }
                let d = t - k as f64;
                let w = 0.5 + 0.5 * (std::f64::consts::PI * d / HALF as f64).cos();
                let a = std::f64::consts::PI * cutoff * d;
                let sinc = if a.abs() < 1e-12 { 1.0 } else { a.sin() / a };
                acc += f64::from(x[k as usize]) * cutoff * sinc * w;
            }
            acc
        })
        .collect()
}

/// splitmix64: a seeded generator with nothing but integer arithmetic, the same everywhere.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Roughly Gaussian (sum of four uniforms, centred, unit variance).
    fn noise(&mut self) -> f64 {
        let sum: f64 = (0..4)
            .map(|_| (self.next() >> 11) as f64 / (1u64 << 53) as f64)
            .sum();
        (sum - 2.0) * 3f64.sqrt()
    }
}

/// 10^(-5/10) and 10^(-15/10): noise power over speech power at 5 and 15 dB SNR (constants,
/// so no libm rounding enters the clips).
const SNR_5DB: f64 = 0.316_227_766_016_837_94;
const SNR_15DB: f64 = 0.031_622_776_601_683_79;

/// `speech` plus seeded white noise with `ratio` times the speech's power.
fn add_noise(speech: &[i16], ratio: f64, seed: u64) -> Vec<i16> {
    let power = speech.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / speech.len() as f64;
    let sigma = (power * ratio).sqrt();
    let mut rng = SplitMix(seed);
    speech
        .iter()
        .map(|&s| {
            let v = f64::from(s) + sigma * rng.noise();
            v.clamp(-32_768.0, 32_767.0).round() as i16
        })
        .collect()
}

/// The clips, by name (the WAV file names without `.wav`).
fn clips() -> &'static BTreeMap<&'static str, Vec<i16>> {
    static CLIPS: OnceLock<BTreeMap<&'static str, Vec<i16>>> = OnceLock::new();
    CLIPS.get_or_init(|| {
        let long = espeak_16k(PARAGRAPH);
        assert!(long.len() >= 20 * RATE, "{} samples of speech", long.len());
        let cut = |n: usize| long[..n].to_vec();
        let five = cut(5 * RATE);
        let mut m = BTreeMap::new();
        m.insert("speech_short", espeak_16k(SHORT));
        m.insert("speech_0.1s", long[RATE..RATE + RATE / 10].to_vec());
        m.insert("speech_5s", five.clone());
        m.insert("speech_window", cut(WINDOW));
        m.insert("speech_10s", cut(10 * RATE));
        m.insert("speech_20s", cut(20 * RATE));
        m.insert("noisy_5s_snr5", add_noise(&five, SNR_5DB, 1));
        m.insert("noisy_12s_snr15", add_noise(&cut(12 * RATE), SNR_15DB, 2));
        m.insert("quiet_5s", five.iter().map(|&s| s / 64).collect());
        m.insert("silence_2s", vec![0; 2 * RATE]);
        m
    })
}

fn to_f32(pcm: &[i16]) -> Vec<f32> {
    pcm.iter()
        .map(|&s| audiosubnet_audio::i16_to_f32(s))
        .collect()
}

fn sha256(pcm: &[i16]) -> String {
    let mut h = Sha256::new();
    for s in pcm {
        h.update(s.to_le_bytes());
    }
    hex::encode(h.finalize())
}

fn write_wavs(dir: &Path) {
    std::fs::create_dir_all(dir).expect("clips dir");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE as u32,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    for (name, pcm) in clips() {
        let path = dir.join(format!("{name}.wav"));
        let mut w = hound::WavWriter::create(&path, spec).expect("wav");
        for &s in pcm {
            w.write_sample(s).expect("sample");
        }
        w.finalize().expect("wav written");
    }
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("reference JSON")
}

/// Scores every clip (best of `repeat` timed runs) and compares with `reference`'s `clips`;
/// returns the worst |Δ|.
fn compare(reference: &serde_json::Value, label: &str, repeat: usize) -> f64 {
    let expected = reference["clips"].as_object().expect("clips");
    let mut worst = 0f64;
    let mut failures = Vec::new();
    eprintln!("{label}: clip, seconds, MOS candle, MOS torch, |Δ|, candle ms, torch ms");
    for (name, pcm) in clips() {
        let want = &expected
            .get(*name)
            .unwrap_or_else(|| panic!("{name} missing from the reference: remake it"));
        let samples = to_f32(pcm);
        let mut best = f64::INFINITY;
        let mut mos = 0f32;
        for _ in 0..repeat.max(1) {
            let start = Instant::now();
            mos = model().score(&samples).expect("scores");
            best = best.min(start.elapsed().as_secs_f64());
        }
        let torch = want["mos"].as_f64().expect("mos");
        let diff = (f64::from(mos) - torch).abs();
        let same_clip = want["pcm_sha256"].as_str() == Some(sha256(pcm).as_str());
        eprintln!(
            "  {name:<18} {:6.2} {mos:8.5} {torch:8.5} {diff:.6} {:8.1} {:8.1}{}",
            pcm.len() as f64 / RATE as f64,
            best * 1e3,
            want["seconds"].as_f64().unwrap_or(f64::NAN) * 1e3,
            if same_clip {
                ""
            } else {
                "  (clip differs from the reference's)"
            },
        );
        worst = worst.max(diff);
        if diff >= TOLERANCE {
            failures.push(if same_clip {
                format!("{name}: candle {mos}, torch {torch}")
            } else {
                format!(
                    "{name}: candle {mos}, torch {torch}, but this clip is not the one the \
                     reference scored (another espeak-ng?): remake it with \
                     fixtures/distillmos/make_reference.py"
                )
            });
        }
    }
    eprintln!("{label}: worst |ΔMOS| {worst:.6}");
    assert!(failures.is_empty(), "over {TOLERANCE}: {failures:#?}");
    worst
}

#[test]
#[ignore = "helper: writes the clips for make_reference.py when DISTILLMOS_CLIPS_DIR is set"]
fn write_clips() {
    let Some(dir) = std::env::var_os("DISTILLMOS_CLIPS_DIR") else {
        return;
    };
    write_wavs(Path::new(&dir));
}

#[test]
#[ignore = "needs the distill-mos model and libespeak-ng; run scripts/test"]
fn matches_the_python_reference() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/distillmos/reference.json");
    let reference = read_json(&path);
    let versions = &reference["versions"];
    eprintln!("reference: {versions}");
    compare(&reference, "reference.json", 1);
}

#[test]
#[ignore = "needs the distill-mos model, libespeak-ng and AUDIOSUBNET_TEST_PYTHON_DISTILLMOS"]
fn matches_the_python_package_live() {
    let Some(python) = std::env::var_os("AUDIOSUBNET_TEST_PYTHON_DISTILLMOS") else {
        eprintln!("AUDIOSUBNET_TEST_PYTHON_DISTILLMOS not set: the live comparison is skipped");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    write_wavs(dir.path());
    let out = dir.path().join("live.json");
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/distillmos/make_reference.py");
    let status = std::process::Command::new(python)
        .arg(script)
        .arg(dir.path())
        .arg("--out")
        .arg(&out)
        .args(["--repeat", "3"])
        .status()
        .expect("python runs");
    assert!(status.success(), "make_reference.py failed");
    let live = read_json(&out);
    // Warm the model, then time candle the same way (best of three).
    model().score(&[0.0; 16]).expect("warm-up");
    compare(&live, "live", 3);
}

#[test]
#[ignore = "needs the distill-mos model; run scripts/test"]
fn deterministic_and_refuses_bad_input() {
    let m = model();
    let clip = to_f32(&clips()["speech_10s"]);
    let a = m.score(&clip).expect("scores");
    let b = m.score(&clip).expect("scores");
    assert_eq!(a.to_bits(), b.to_bits());
    assert!((1.0..=5.0).contains(&a), "{a}");

    assert!(matches!(m.score(&[]), Err(Error::Empty)));
    let mut nan = clip.clone();
    nan[1234] = f32::NAN;
    assert!(matches!(
        m.score(&nan),
        Err(Error::NonFinite { index: 1234, .. })
    ));
    nan[1234] = f32::INFINITY;
    assert!(matches!(
        m.score(&nan),
        Err(Error::NonFinite { index: 1234, .. })
    ));
    let huge = vec![0.0f32; MAX_SAMPLES + 1];
    let err = m.score(&huge).expect_err("too long");
    assert!(matches!(err, Error::TooLong { .. }), "{err}");
    // Loud input is only rescaled: the level does not matter beyond rounding.
    let loud: Vec<f32> = clip.iter().map(|s| s * 1e6).collect();
    let c = m.score(&loud).expect("scores");
    assert!((c - a).abs() < 1e-3, "{a} vs {c}");
}

#[test]
fn bad_checkpoints_are_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("absent.pt");
    assert!(matches!(DistillMos::load(&missing), Err(Error::Io { .. })));
    let garbage = dir.path().join("garbage.pt");
    std::fs::write(&garbage, b"not a zip file at all").expect("write");
    let err = DistillMos::load(&garbage).expect_err("garbage");
    assert!(matches!(err, Error::Weights { .. }), "{err}");
}

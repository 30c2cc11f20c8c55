//! Real synthesis with every engine: the audio must look like speech for the text given.
//! Needs the Debian packages and the models (`scripts/test` installs both through
//! `ensure_tts_deps`).

use std::time::{Duration, Instant};

use audiosubnet_tts::{
    Device, EngineOptions, PoolConfig, Speech, SynthesisPool, TtsError, load_engine,
};

const SENTENCE: &str = "The quick brown fox jumps over the lazy dog near the river bank.";
const PARAGRAPH: &str = "Dr. Smith paid $3.50 for coffee on March 3, 2024. \
    That is 15% more than in 1999! Validators score each miner by transcribing the audio.";

fn words(text: &str) -> f64 {
    audiosubnet_tts::text::normalize(text)
        .split_whitespace()
        .count() as f64
}

/// Fraction of 20 ms frames louder than -40 dBFS.
fn active_fraction(speech: &Speech) -> f64 {
    let frame = (speech.sample_rate / 50) as usize;
    let frames: Vec<f32> = speech
        .samples
        .chunks(frame)
        .map(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32).sqrt())
        .collect();
    frames.iter().filter(|&&r| r > 0.01).count() as f64 / frames.len() as f64
}

/// Longest run of near-silence, in seconds.
fn longest_silence(speech: &Speech) -> f64 {
    let frame = (speech.sample_rate / 100) as usize;
    let mut best = 0usize;
    let mut run = 0usize;
    for c in speech.samples.chunks(frame) {
        let peak = c.iter().fold(0f32, |m, s| m.max(s.abs()));
        if peak < 0.01 {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best as f64 / 100.0
}

fn assert_speech(engine: &str, speech: &Speech, text: &str, rate: u32) {
    assert_eq!(speech.sample_rate, rate, "{engine}: sample rate");
    assert!(
        speech
            .samples
            .iter()
            .all(|s| s.is_finite() && s.abs() <= 1.0),
        "{engine}: NaN or out of range"
    );
    let secs = speech.duration_secs();
    let n = words(text);
    // Conversational speech is 2-4 words per second; allow slow synthesisers and pauses.
    let (lo, hi) = (n / 6.0, n / 1.2 + 1.5);
    assert!(
        (lo..=hi).contains(&secs),
        "{engine}: {secs:.2} s for {n} words is implausible (expected {lo:.1}..{hi:.1})"
    );
    let rms = speech.rms();
    assert!(rms > 0.02, "{engine}: RMS {rms} is too quiet");
    let active = active_fraction(speech);
    assert!(
        active > 0.5,
        "{engine}: only {active:.2} of frames are voiced"
    );
    eprintln!("{engine}: {secs:.2} s, rms {rms:.3}, active {active:.2}, {n} words");
}

fn check_engine(name: &str, rate: u32) {
    let opts = EngineOptions::default();
    let mut engine = load_engine(name, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(engine.sample_rate(), rate);

    let one = engine.synthesize(SENTENCE).expect("one sentence");
    assert_speech(name, &one, SENTENCE, rate);

    // Three sentences: longer, with the inter-sentence pause.
    let many = engine.synthesize(PARAGRAPH).expect("paragraph");
    assert_speech(name, &many, PARAGRAPH, rate);
    assert!(many.duration_secs() > one.duration_secs());
    assert!(
        longest_silence(&many) >= 0.15,
        "{name}: no sentence pause ({:.2} s)",
        longest_silence(&many)
    );

    // Non-ASCII input is spoken, never a panic.
    let accents = engine
        .synthesize("Café déjà vu — naïve Zürich “quotes” 🦀.")
        .expect("non-ASCII text");
    assert!(accents.duration_secs() > 0.5);

    assert!(matches!(
        engine.synthesize("  \n"),
        Err(TtsError::EmptyText)
    ));
    assert!(matches!(
        engine.synthesize(&"word ".repeat(300)),
        Err(TtsError::TextTooLong { .. })
    ));
}

#[test]
#[ignore = "needs models/apt packages; run scripts/test"]
fn espeak_speaks() {
    check_engine("espeak", 22_050);
}

#[test]
#[ignore = "needs models/apt packages; run scripts/test"]
fn flite_speaks() {
    check_engine("flite", 16_000);
}

#[test]
#[ignore = "needs models/apt packages; run scripts/test"]
fn festival_speaks() {
    check_engine("festival", 32_000);
}

#[test]
#[ignore = "needs models/apt packages; run scripts/test"]
fn piper_speaks() {
    check_engine("piper", 22_050);
    // The alias loads the same voice.
    assert_eq!(
        load_engine("en_US-joe-medium", &EngineOptions::default())
            .unwrap()
            .name(),
        "piper"
    );
}

#[test]
#[ignore = "needs models/apt packages; run scripts/test"]
fn piper_is_deterministic_without_noise() {
    let opts = EngineOptions {
        piper: audiosubnet_tts::PiperScales {
            noise_scale: 0.0,
            length_scale: 1.0,
            noise_w: 0.0,
        },
        ..EngineOptions::default()
    };
    let mut engine = load_engine("piper", &opts).unwrap();
    let a = engine.synthesize("Same words, same audio.").unwrap();
    let b = engine.synthesize("Same words, same audio.").unwrap();
    assert_eq!(a.samples.len(), b.samples.len());
    let diff = a
        .samples
        .iter()
        .zip(&b.samples)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(diff < 1e-3, "max diff {diff}");

    // A slower length scale gives longer audio.
    let slow_opts = EngineOptions {
        piper: audiosubnet_tts::PiperScales {
            length_scale: 1.5,
            ..opts.piper
        },
        ..opts
    };
    let slow = load_engine("piper", &slow_opts)
        .unwrap()
        .synthesize("Same words, same audio.")
        .unwrap();
    assert!(slow.duration_secs() > a.duration_secs() * 1.3);
}

#[test]
#[ignore = "needs models/apt packages; run scripts/test"]
fn piper_cuda_fails_clearly_with_the_cpu_runtime() {
    // The pinned onnxruntime wheel is the CPU build: asking for CUDA must be a clear error, not
    // a silent fall back to the CPU.
    let opts = EngineOptions {
        device: Device::Cuda,
        ..EngineOptions::default()
    };
    let err = load_engine("piper", &opts)
        .err()
        .expect("CUDA must not load");
    // Either the GPU runtime is not fetched, or it (or the CPU runtime another test loaded
    // first) cannot register CUDA here; both errors name what to do.
    assert!(
        matches!(err, TtsError::DeviceUnavailable { .. } | TtsError::Model(_)),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("onnxruntime-gpu"), "{msg}");
}

#[tokio::test]
#[ignore = "needs models/apt packages; run scripts/test"]
async fn pool_of_real_engines_refuses_when_full() {
    let pool = SynthesisPool::start(
        "espeak",
        &EngineOptions::default(),
        PoolConfig {
            workers: 1,
            queue_capacity: 1,
            warmup_text: "Warming up.".to_owned(),
        },
    )
    .unwrap();
    assert_eq!(pool.engine_name(), "espeak");
    // Long, but within the default limit once spelled out (680 typed characters would speak
    // as 1040).
    let long = PARAGRAPH.repeat(4);
    let t0 = Instant::now();
    let mut accepted = Vec::new();
    let mut refused = 0;
    for _ in 0..20 {
        match pool.try_submit(long.clone()) {
            Ok(rx) => accepted.push(rx),
            Err(_) => refused += 1,
        }
    }
    assert!(
        t0.elapsed() < Duration::from_millis(50),
        "try_submit blocked"
    );
    assert!(refused >= 17, "only {refused} refused");
    for rx in accepted {
        let speech = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .expect("no hang")
            .expect("worker alive")
            .expect("synthesis ok");
        assert_speech("espeak pool", &speech, &long, 22_050);
    }
}

#[tokio::test]
#[ignore = "needs models/apt packages; run scripts/test"]
async fn piper_pool_serves_concurrent_requests() {
    let pool = SynthesisPool::start(
        "piper",
        &EngineOptions {
            intra_threads: 1,
            ..EngineOptions::default()
        },
        PoolConfig {
            workers: 2,
            queue_capacity: 4,
            warmup_text: "Warming up.".to_owned(),
        },
    )
    .unwrap();
    let rxs: Vec<_> = (0..4)
        .map(|i| pool.try_submit(format!("{SENTENCE} Request {i}.")).unwrap())
        .collect();
    for rx in rxs {
        let speech = tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_speech("piper pool", &speech, SENTENCE, 22_050);
    }
}

/// The MMS engine through `--model.path`, on the tiny random VITS checkpoint that
/// `audiosubnet-vits` proves against transformers: the engine loads it, runs the text pipeline
/// (numbers to words, sentences joined with a pause) and returns finite audio at the
/// checkpoint's rate, the same for the same prompt. (A random checkpoint does not speak, so
/// nothing here judges the sound.)
#[test]
fn vits_checkpoint_from_model_path_synthesizes() {
    let tiny = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../vits/tests/fixtures/tiny");
    let opts = EngineOptions {
        model_path: Some(tiny),
        ..EngineOptions::default()
    };
    let mut engine = load_engine("vits", &opts).expect("tiny checkpoint loads");
    assert_eq!(engine.name(), "vits");
    assert_eq!(engine.sample_rate(), 16_000);
    let one = engine.synthesize("Hello world.").expect("one sentence");
    let two = engine
        .synthesize("Hello world. It is 5 past 3.")
        .expect("two sentences");
    for s in [&one, &two] {
        assert_eq!(s.sample_rate, 16_000);
        assert!(s.samples.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
    }
    // The second prompt holds the first sentence, a 200 ms pause, then more.
    assert!(
        two.samples.len() > one.samples.len() + 3_200,
        "{} vs {}",
        two.samples.len(),
        one.samples.len()
    );
    assert_eq!(two.samples[..one.samples.len()], one.samples[..]);
    let again = engine.synthesize("Hello world.").expect("again");
    assert_eq!(
        again.samples, one.samples,
        "seeded noise: same prompt, same audio"
    );
    let err = load_engine("vits", &EngineOptions::default())
        .err()
        .expect("no path");
    assert!(matches!(err, TtsError::EngineUnavailable { .. }), "{err}");
}

/// SpeechT5 through `--model.path`, `--model.vocoder_path` and `--model.speaker`, on the tiny
/// random checkpoints `audiosubnet-speecht5` proves against transformers: finite audio at the
/// vocoder's rate, reproducible, and a voice file of the wrong size is refused at load.
#[test]
fn speecht5_checkpoint_from_model_paths_synthesizes() {
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../speecht5/tests/fixtures");
    let opts = EngineOptions {
        model_path: Some(fixtures.join("tts")),
        vocoder_path: Some(fixtures.join("vocoder")),
        speaker_path: Some(fixtures.join("speaker.npy")),
        ..EngineOptions::default()
    };
    let mut engine = load_engine("microsoft/speecht5_tts", &opts).expect("tiny checkpoints load");
    let rate = engine.sample_rate();
    let one = engine.synthesize("Hello world.").expect("speech");
    assert_eq!(one.sample_rate, rate);
    assert!(!one.samples.is_empty());
    assert!(one.samples.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
    let again = engine.synthesize("Hello world.").expect("again");
    assert_eq!(
        again.samples, one.samples,
        "seeded dropout: same prompt, same audio"
    );

    let bad_voice = tempfile::NamedTempFile::new().expect("tempfile");
    std::fs::write(bad_voice.path(), [0u8; 12]).expect("write");
    let opts = EngineOptions {
        speaker_path: Some(bad_voice.path().to_owned()),
        ..opts
    };
    let err = load_engine("microsoft/speecht5_tts", &opts)
        .err()
        .expect("3-value voice");
    assert!(matches!(err, TtsError::EngineUnavailable { .. }), "{err}");
}

/// Bark through `--model.path` and a preset `.npz` (`--model.speaker`), on the tiny random
/// checkpoint `audiosubnet-bark` proves against transformers: finite audio at the codec's rate,
/// the same for the same prompt (seeded sampling), and a missing preset name is refused.
#[test]
fn bark_checkpoint_with_a_voice_preset_synthesizes() {
    let tiny = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bark/tests/fixtures/tiny");
    let opts = EngineOptions {
        model_path: Some(tiny.clone()),
        speaker_path: Some(tiny.join("speaker.npz")),
        ..EngineOptions::default()
    };
    let mut engine = load_engine("suno/bark-small", &opts).expect("tiny checkpoint loads");
    let one = engine.synthesize("Hello world.").expect("speech");
    assert_eq!(one.sample_rate, engine.sample_rate());
    assert!(!one.samples.is_empty());
    assert!(one.samples.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
    let again = engine.synthesize("Hello world.").expect("again");
    assert_eq!(
        again.samples, one.samples,
        "seeded sampling: same prompt, same audio"
    );

    let opts = EngineOptions {
        speaker_path: Some("v2/en_speaker_42".into()),
        ..opts
    };
    let err = load_engine("suno/bark-small", &opts)
        .err()
        .expect("no such preset");
    assert!(matches!(err, TtsError::EngineUnavailable { .. }), "{err}");
}

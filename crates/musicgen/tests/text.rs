//! Text to music on the tiny checkpoint: its `tokenizer.json` gives the ids `T5TokenizerFast`
//! gives (EOS last), greedy generation from them gives transformers' codes exactly, and
//! `generate_for_text` / `MusicGenEngine` make exactly the asked length.

use std::path::{Path, PathBuf};

use audiosubnet_music::{MusicEngine, MusicError};
use audiosubnet_musicgen::{MusicGen, MusicGenEngine, MusicGenOptions, Sampling, is_musicgen_name};
use candle_core::{DType, Device};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny")
}

fn model() -> MusicGen {
    MusicGen::load(&fixture(), &Device::Cpu).expect("load the tiny checkpoint")
}

fn reference_text() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture().join("reference.json")).expect("reference.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    json["text"].clone()
}

fn reference_codes(key: &str) -> Vec<u32> {
    let tensors =
        candle_core::safetensors::load(fixture().join("reference.safetensors"), &Device::Cpu)
            .expect("reference.safetensors");
    tensors
        .get(key)
        .unwrap_or_else(|| panic!("reference has no {key}"))
        .flatten_all()
        .and_then(|t| t.to_dtype(DType::I64))
        .and_then(|t| t.to_vec1::<i64>())
        .expect("codes")
        .into_iter()
        .map(|v| u32::try_from(v).expect("non-negative code"))
        .collect()
}

#[test]
fn tokenizer_matches_t5_tokenizer_fast_with_eos() {
    let reference = reference_text();
    let want: Vec<u32> = reference["input_ids"]
        .as_array()
        .expect("input_ids")
        .iter()
        .map(|v| v.as_u64().expect("id") as u32)
        .collect();
    let model = model();
    assert!(model.has_tokenizer());
    let got = model
        .tokenize(reference["prompt"].as_str().expect("prompt"))
        .expect("tokenize");
    assert_eq!(got, want);
    assert_eq!(got.last(), Some(&1), "ends with EOS");
}

#[test]
fn text_to_codes_matches_transformers_greedy_generate() {
    let reference = reference_text();
    let model = model();
    let ids = model
        .tokenize(reference["prompt"].as_str().expect("prompt"))
        .expect("tokenize");
    let max_new_tokens = reference["max_new_tokens"].as_u64().expect("tokens") as usize;
    let guidance = reference["guidance"].as_f64().expect("guidance");
    let (codes, frames) = model
        .generate_codes(&ids, max_new_tokens, guidance, Sampling::Greedy)
        .expect("generate");
    assert_eq!(frames, max_new_tokens + 1 - 4);
    assert_eq!(codes, reference_codes("text.g3.codes"));
}

#[test]
fn generate_for_text_makes_exactly_the_asked_length() {
    let model = model();
    // 16 samples a frame at 32 kHz: 0.01 s is 320 samples, 20 frames, 23 tokens.
    assert_eq!(model.max_new_tokens_for(0.01).expect("tokens"), 23);
    assert!(model.max_new_tokens_for(0.0).is_err());
    assert!(model.max_new_tokens_for(f32::NAN).is_err());
    for seconds in [0.01f32, 0.0123, 0.05] {
        let a = model
            .generate_for_text("calm piano", seconds, 7)
            .expect("generate");
        let want = (f64::from(seconds) * 32_000.0).round() as usize;
        assert_eq!(a.len(), want, "{seconds} s");
        assert!(a.iter().all(|s| s.is_finite()));
        let b = model
            .generate_for_text("calm piano", seconds, 7)
            .expect("generate");
        assert_eq!(a, b, "same seed, same samples");
    }
    let mut seen = Vec::new();
    model
        .generate_for_text_with_progress("calm piano", 0.01, 1, &mut |s| seen.push(s))
        .expect("generate");
    assert_eq!(seen.len(), 23);
    assert!(
        (seen.last().copied().unwrap_or(0.0) - 0.01).abs() < 1e-6,
        "{seen:?}"
    );
    let greedy = model
        .text_to_audio("calm piano", 0.01, 3.0, Sampling::Greedy, &mut |_| {})
        .expect("greedy");
    assert_eq!(greedy.len(), 320);
}

#[test]
fn musicgen_engine_loads_by_name_and_runs_behind_the_trait() {
    for name in [
        "facebook/musicgen-small",
        "musicgen-small",
        "facebook/musicgen-medium",
        "musicgen-large",
    ] {
        assert!(is_musicgen_name(name), "{name}");
    }
    assert!(!is_musicgen_name("soundfont"));
    assert!(!is_musicgen_name("facebook/musicgen-huge"));
    let options = MusicGenOptions {
        path: Some(fixture()),
        ..Default::default()
    };
    let mut engines =
        MusicGenEngine::load_many("musicgen-small", &options, 2).expect("tiny checkpoint loads");
    assert_eq!(engines.len(), 2);
    let engine: &mut dyn MusicEngine = engines[1].as_mut();
    assert_eq!(engine.name(), "facebook/musicgen-small");
    assert_eq!(engine.sample_rate(), 32_000);
    let audio = engine
        .generate("a calm piano tune", 0.02, 3)
        .expect("audio");
    assert_eq!(audio.sample_rate, 32_000);
    assert_eq!(audio.samples.len(), 640);
    assert!(matches!(
        engine.generate("a calm piano tune", 0.0, 3),
        Err(MusicError::Duration(_))
    ));
}

#[test]
fn unknown_names_and_missing_checkpoints_say_what_to_do() {
    let err = MusicGenEngine::load("facebook/musicgen-huge", &MusicGenOptions::default())
        .expect_err("unknown");
    assert!(err.to_string().contains("facebook/musicgen-small"), "{err}");
    let empty = std::env::temp_dir().join(format!("musicgen-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).expect("temp dir");
    let err = MusicGenEngine::load(
        "facebook/musicgen-small",
        &MusicGenOptions {
            path: Some(empty.clone()),
            ..Default::default()
        },
    )
    .expect_err("no checkpoint");
    let msg = err.to_string();
    assert!(msg.contains("--music.model.path"), "{msg}");
    assert!(msg.contains("config.json"), "{msg}");
    let _ = std::fs::remove_dir(&empty);
}

//! Parity with transformers' `ClapModel` and `ClapFeatureExtractor` on the tiny random checkpoint
//! made by `fixtures/clap/make_fixtures.py`, loaded by `ClapModel::load` (the loader real
//! checkpoints go through): the log-mel features of synthetic clips (one needing "repeatpad",
//! one at 44.1 kHz resampled to 48 kHz, one exactly the maximum length, one 2.5 times it, cut
//! into the crate's deterministic windows), their audio embeddings, the token ids and text
//! embeddings of three prompts, and the text-audio similarity matrix.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use audiosubnet_clap::{ClapModel, similarity, window_starts};
use candle_core::{DType, Device, Tensor};

/// Tolerance on embeddings and similarities (unit vectors of 16 values): both sides compute in
/// f32 with different accumulation orders (observed: up to 3e-7); a real mistake (a missing
/// bias, a wrong window shift or mask, a misplaced fold of the spectrogram) moves them by 1e-2 or
/// more (dropping the shifted-window mask: 0.26).
const EMBED_TOL: f32 = 1e-5;

/// Tolerance on log-mel features, in dB (values from -100 to about +20): both sides run the STFT
/// in f64 and round to f32 at the end (observed: identical); the margin covers another FFT's
/// last bits.
const FEATURE_TOL: f32 = 1e-4;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny")
}

struct Reference {
    tensors: HashMap<String, Tensor>,
    json: serde_json::Value,
}

impl Reference {
    fn load() -> Self {
        let dir = fixture();
        let tensors =
            candle_core::safetensors::load(dir.join("reference.safetensors"), &Device::Cpu)
                .expect("reference.safetensors");
        let text = std::fs::read_to_string(dir.join("reference.json")).expect("reference.json");
        Self {
            tensors,
            json: serde_json::from_str(&text).expect("json"),
        }
    }

    fn tensor(&self, key: &str) -> &Tensor {
        self.tensors
            .get(key)
            .unwrap_or_else(|| panic!("reference has no {key}"))
    }

    fn floats(&self, key: &str) -> Vec<f32> {
        self.tensor(key)
            .flatten_all()
            .and_then(|t| t.to_dtype(DType::F32))
            .and_then(|t| t.to_vec1::<f32>())
            .expect("floats")
    }

    fn ids(&self, key: &str) -> Vec<u32> {
        self.tensor(key)
            .to_dtype(DType::I64)
            .and_then(|t| t.to_vec1::<i64>())
            .expect("ids")
            .into_iter()
            .map(|v| u32::try_from(v).expect("non-negative id"))
            .collect()
    }
}

/// One synthetic clip as make_fixtures.py's `clip` makes it: triangle waves plus LCG noise, with
/// IEEE-exact operations only, so both sides hold the same f32 samples.
struct Clip {
    name: String,
    rate: u32,
    samples: Vec<f32>,
    sum: f64,
    starts: Vec<usize>,
    resampled_len: usize,
}

fn clip(spec: &serde_json::Value) -> Clip {
    let rate = spec["rate"].as_u64().expect("rate") as u32;
    let len = spec["samples"].as_u64().expect("samples") as usize;
    let floats = |key: &str| -> Vec<f64> {
        spec[key]
            .as_array()
            .expect(key)
            .iter()
            .map(|v| v.as_f64().expect("number"))
            .collect()
    };
    let (freqs, amps) = (floats("freqs"), floats("amps"));
    let mut x = vec![0f64; len];
    for (f, a) in freqs.iter().zip(&amps) {
        for (n, v) in x.iter_mut().enumerate() {
            let phase = n as f64 * f / f64::from(rate);
            let phase = phase - phase.floor();
            *v += a * (4.0 * (phase - 0.5).abs() - 1.0);
        }
    }
    let mut state = spec["seed"].as_u64().expect("seed");
    for v in &mut x {
        state = (1_664_525 * state + 1_013_904_223) % (1 << 32);
        *v += 0.05 * ((state >> 8) as f64 / f64::from(1u32 << 24) * 2.0 - 1.0);
    }
    Clip {
        name: spec["name"].as_str().expect("name").to_owned(),
        rate,
        samples: x.into_iter().map(|v| v as f32).collect(),
        sum: spec["sum"].as_f64().expect("sum"),
        starts: spec["starts"]
            .as_array()
            .expect("starts")
            .iter()
            .map(|v| v.as_u64().expect("start") as usize)
            .collect(),
        resampled_len: spec["resampled_len"].as_u64().expect("resampled_len") as usize,
    }
}

fn clips(reference: &Reference) -> Vec<Clip> {
    reference.json["clips"]
        .as_array()
        .expect("clips")
        .iter()
        .map(clip)
        .collect()
}

fn model() -> ClapModel {
    ClapModel::load(&fixture(), &Device::Cpu).expect("load the tiny checkpoint")
}

fn max_abs_diff(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len(), "lengths differ");
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

#[test]
fn synthetic_clips_match_the_python_generator() {
    let reference = Reference::load();
    for c in clips(&reference) {
        let sum: f64 = c.samples.iter().map(|&s| f64::from(s)).sum();
        assert!(
            (sum - c.sum).abs() < 1e-9,
            "{}: samples sum to {sum}, python's to {}",
            c.name,
            c.sum
        );
    }
}

#[test]
fn features_match_clap_feature_extractor() {
    let reference = Reference::load();
    let model = model();
    let fx = model.feature_extractor();
    let window = fx.config().max_samples();
    for c in clips(&reference) {
        let audio = audiosubnet_audio::resample(&c.samples, c.rate, model.sample_rate());
        assert_eq!(audio.len(), c.resampled_len, "{}", c.name);
        let starts = window_starts(audio.len(), window, 3);
        assert_eq!(starts, c.starts, "{}", c.name);
        let got: Vec<f32> = starts
            .iter()
            .flat_map(|&s| {
                fx.log_mel(&audio[s..(s + window).min(audio.len())])
                    .expect("features")
            })
            .collect();
        let want = reference.floats(&format!("audio.{}.features", c.name));
        let diff = max_abs_diff(&got, &want);
        eprintln!("features {}: max |diff| {diff:e} dB", c.name);
        assert!(diff <= FEATURE_TOL, "{}: features differ by {diff}", c.name);
    }
}

#[test]
fn audio_embeddings_match_get_audio_features() {
    let reference = Reference::load();
    let model = model();
    for c in clips(&reference) {
        let got = model
            .audio_embedding(&c.samples, c.rate)
            .expect("audio embedding");
        let want = reference.floats(&format!("audio.{}.embeds", c.name));
        let diff = max_abs_diff(&got, &want);
        eprintln!("audio embeds {}: max |diff| {diff:e}", c.name);
        assert!(diff <= EMBED_TOL, "{}: embeddings differ by {diff}", c.name);
        let norm: f32 = got.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{}: norm {norm}", c.name);
    }
}

#[test]
fn audio_embeddings_from_reference_features_match() {
    // The encoder alone, fed transformers' own features: isolates HTSAT from the extractor.
    let reference = Reference::load();
    let model = model();
    for c in clips(&reference).iter().filter(|c| c.starts.len() == 1) {
        let features = reference.floats(&format!("audio.{}.features", c.name));
        let got = model
            .audio_embeddings_for_features(&[features])
            .expect("embedding");
        let want = reference.floats(&format!("audio.{}.embeds", c.name));
        let diff = max_abs_diff(&got[0], &want);
        eprintln!(
            "audio embeds from reference features {}: max |diff| {diff:e}",
            c.name
        );
        assert!(diff <= EMBED_TOL, "{}: embeddings differ by {diff}", c.name);
    }
}

#[test]
fn token_ids_match_roberta_tokenizer_fast() {
    let reference = Reference::load();
    let model = model();
    for (i, t) in reference.json["texts"]
        .as_array()
        .expect("texts")
        .iter()
        .enumerate()
    {
        let prompt = t["prompt"].as_str().expect("prompt");
        let got = model.tokenize(prompt).expect("tokenize");
        assert_eq!(got, reference.ids(&format!("text.{i}.ids")), "{prompt}");
        assert_eq!(got.first(), Some(&0), "starts with <s>");
        assert_eq!(got.last(), Some(&2), "ends with </s>");
    }
}

#[test]
fn text_embeddings_match_get_text_features() {
    let reference = Reference::load();
    let model = model();
    for (i, t) in reference.json["texts"]
        .as_array()
        .expect("texts")
        .iter()
        .enumerate()
    {
        let got = model
            .text_embedding(t["prompt"].as_str().expect("prompt"))
            .expect("text embedding");
        let want = reference.floats(&format!("text.{i}.embeds"));
        let diff = max_abs_diff(&got, &want);
        eprintln!("text embeds {i}: max |diff| {diff:e}");
        assert!(diff <= EMBED_TOL, "prompt {i}: embeddings differ by {diff}");
    }
}

#[test]
fn similarities_match_the_reference_matrix() {
    let reference = Reference::load();
    let model = model();
    let texts: Vec<Vec<f32>> = reference.json["texts"]
        .as_array()
        .expect("texts")
        .iter()
        .map(|t| {
            model
                .text_embedding(t["prompt"].as_str().expect("prompt"))
                .expect("text embedding")
        })
        .collect();
    let audio: Vec<Vec<f32>> = clips(&reference)
        .iter()
        .map(|c| model.audio_embedding(&c.samples, c.rate).expect("audio"))
        .collect();
    let got: Vec<f32> = texts
        .iter()
        .flat_map(|t| audio.iter().map(|a| similarity(t, a)))
        .collect();
    let want = reference.floats("similarity");
    let diff = max_abs_diff(&got, &want);
    eprintln!("similarity: max |diff| {diff:e}");
    assert!(diff <= EMBED_TOL, "similarities differ by {diff}");
}

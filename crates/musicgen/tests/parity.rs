//! Parity with transformers' `MusicgenForConditionalGeneration` on the tiny random checkpoint
//! made by `fixtures/musicgen/make_fixtures.py`, loaded by `MusicGen::load` (the loader real
//! checkpoints go through): for each case the T5 encoder's hidden states, the teacher-forced
//! decoder logits, the codes of greedy `generate` without (guidance 1) and with (guidance 3)
//! classifier-free guidance, exactly, and the decoded waveform.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use audiosubnet_musicgen::{MusicGen, Sampling};
use candle_core::{DType, Device, Tensor};

/// Tolerance on floats: |rust - torch| <= TOL * (1 + |torch|). Both sides compute in f32 with
/// different accumulation orders and transcendental implementations (a few ulps per operation);
/// a real mistake (a missing bias, a wrong mask, a shifted position) moves values by 1e-2 or more.
const TOL: f32 = 1e-5;

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

    fn ids(&self, key: &str) -> Vec<u32> {
        self.tensor(key)
            .flatten_all()
            .and_then(|t| t.to_dtype(DType::I64))
            .and_then(|t| t.to_vec1::<i64>())
            .expect("ids")
            .into_iter()
            .map(|v| u32::try_from(v).expect("non-negative id"))
            .collect()
    }

    fn floats(&self, key: &str) -> Vec<f32> {
        self.tensor(key)
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .expect("floats")
    }

    fn cases(&self) -> Vec<(String, usize, Vec<u64>)> {
        self.json["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().expect("name").to_owned(),
                    c["max_new_tokens"].as_u64().expect("max_new_tokens") as usize,
                    c["guidance"]
                        .as_array()
                        .expect("guidance")
                        .iter()
                        .map(|g| g.as_u64().expect("guidance scale"))
                        .collect(),
                )
            })
            .collect()
    }
}

fn model() -> MusicGen {
    MusicGen::load(&fixture(), &Device::Cpu).expect("load the tiny checkpoint")
}

/// Largest |got - want|, after asserting the tolerance element-wise.
fn assert_close(what: &str, got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = 0f32;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let diff = (g - w).abs();
        assert!(diff <= TOL * (1.0 + w.abs()), "{what}[{i}]: {g} vs {w}");
        worst = worst.max(diff);
    }
    eprintln!("{what}: max abs diff {worst:e}");
    worst
}

#[test]
fn text_encoder_matches_transformers() {
    let reference = Reference::load();
    let model = model();
    for (case, _, _) in reference.cases() {
        let ids = reference.ids(&format!("{case}.input_ids"));
        let got = model
            .encode_text(&ids)
            .and_then(|t| Ok(t.flatten_all()?.to_vec1::<f32>()?))
            .expect("encode");
        assert_close(
            &format!("{case}.encoder"),
            &got,
            &reference.floats(&format!("{case}.encoder")),
        );
    }
}

#[test]
fn decoder_logits_match_transformers() {
    let reference = Reference::load();
    let model = model();
    for (case, _, _) in reference.cases() {
        let ids = reference.ids(&format!("{case}.input_ids"));
        let codes = reference.ids(&format!("{case}.decoder_input_ids"));
        let got = model
            .decoder_logits(&ids, &codes)
            .and_then(|t| Ok(t.flatten_all()?.to_vec1::<f32>()?))
            .expect("logits");
        assert_close(
            &format!("{case}.logits"),
            &got,
            &reference.floats(&format!("{case}.logits")),
        );
    }
}

#[test]
fn greedy_generation_matches_transformers() {
    let reference = Reference::load();
    let model = model();
    for (case, max_new_tokens, guidance) in reference.cases() {
        let ids = reference.ids(&format!("{case}.input_ids"));
        for g in guidance {
            let key = format!("{case}.g{g}");
            let (codes, frames) = model
                .generate_codes(&ids, max_new_tokens, g as f64, Sampling::Greedy)
                .expect("generate");
            let want = reference.ids(&format!("{key}.codes"));
            assert_eq!(frames, max_new_tokens + 1 - 4, "{key}: frames");
            assert_eq!(codes, want, "{key}: codes");
            let audio = model.decode_codes(&codes, frames).expect("decode");
            assert_close(
                &format!("{key}.audio"),
                &audio,
                &reference.floats(&format!("{key}.audio")),
            );
            // The one-call API gives the same waveform.
            let direct = model
                .generate(&ids, max_new_tokens, g as f64, None)
                .expect("generate audio");
            assert_eq!(
                direct, audio,
                "{key}: generate vs generate_codes + decode_codes"
            );
        }
    }
}

#[test]
fn sampling_is_seeded_and_bad_requests_are_errors() {
    let model = model();
    let ids = [5, 17, 42, 1];
    let a = model
        .generate_codes(
            &ids,
            10,
            3.0,
            Sampling::TopK {
                top_k: 5,
                temperature: 1.0,
                seed: 9,
            },
        )
        .expect("sample");
    let b = model
        .generate_codes(
            &ids,
            10,
            3.0,
            Sampling::TopK {
                top_k: 5,
                temperature: 1.0,
                seed: 9,
            },
        )
        .expect("sample");
    assert_eq!(a, b);
    assert_eq!(a.1, 7);
    assert!(model.generate(&[], 10, 1.0, None).is_err());
    assert!(model.generate(&[1000], 10, 1.0, None).is_err());
    assert!(model.generate(&ids, 3, 1.0, None).is_err());
    assert!(model.generate(&ids, 10, 1.0, Some((5, 0.0, 1))).is_err());
    assert_eq!(model.sample_rate(), 32_000);
}

#[test]
fn top_1_sampling_is_greedy() {
    let reference = Reference::load();
    let model = model();
    let ids = reference.ids("long.input_ids");
    let want = reference.ids("long.g3.codes");
    let (codes, _) = model
        .generate_codes(
            &ids,
            20,
            3.0,
            Sampling::TopK {
                top_k: 1,
                temperature: 0.7,
                seed: 3,
            },
        )
        .expect("sample");
    assert_eq!(codes, want);
}

#[test]
fn configs_read_with_transformers_defaults() {
    let model = model();
    let config = model.config();
    assert_eq!(config.decoder.num_codebooks, 4);
    assert_eq!(config.decoder.pad_token_id, 32);
    assert!(config.projects_encoder());
    assert_eq!(
        config.text_encoder.feed_forward().expect("ff"),
        ("relu".to_owned(), false)
    );
    let generation = model.generation_config();
    assert!(generation.do_sample);
    assert_eq!(generation.top_k, 250);
    assert_eq!(generation.guidance_scale, Some(3.0));
    assert_eq!(generation.temperature, 1.0);
    let a = model
        .generate_default(&[5, 17], 9, 4)
        .expect("default generation");
    assert_eq!(a.len(), (9 + 1 - 4) * 16);
    assert_eq!(
        a,
        model
            .generate(&[5, 17], 9, 3.0, Some((250, 1.0, 4)))
            .expect("explicit")
    );

    // A config.json naming only the sub-models gets musicgen-small-like defaults.
    let dir = std::env::temp_dir().join(format!("musicgen-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("config.json");
    std::fs::write(
        &path,
        r#"{"text_encoder": {"d_model": 768, "feed_forward_proj": "gated-gelu"},
            "audio_encoder": {"sampling_rate": 32000, "upsampling_ratios": [8, 5, 4, 4],
                              "codebook_size": 2048, "chunk_length_s": null},
            "decoder": {"hidden_size": 1024}}"#,
    )
    .expect("write");
    let config = audiosubnet_musicgen::MusicGenConfig::from_file(&path).expect("config");
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(config.decoder.vocab_size, 2048);
    assert_eq!(config.decoder.num_attention_heads, 16);
    assert_eq!(config.text_encoder.num_heads, 8);
    assert_eq!(
        config.text_encoder.feed_forward().expect("ff"),
        ("gelu_new".to_owned(), true)
    );
    assert_eq!(config.audio_encoder.hop_length(), 640);
    assert!(config.projects_encoder());
}

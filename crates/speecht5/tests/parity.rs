//! Parity with transformers' `SpeechT5ForTextToSpeech.generate_speech` and `SpeechT5HifiGan` on
//! the tiny random checkpoints made by `fixtures/speecht5/make_fixtures.py`: token ids and the
//! number of generated frames must match exactly, every float stage within a small tolerance.
//! The checkpoints are loaded by `SpeechT5::load` / `Vocoder::load`, the loaders real checkpoints
//! go through.
//!
//! Fixtures (tests/fixtures/): `tts/` (acoustic model + character sentencepiece tokenizer),
//! `vocoder/` (safetensors), `vocoder-bin/` (the same vocoder as pytorch_model.bin),
//! `speaker.npy` / `speaker.f32` (one random 512-value embedding in both formats), and
//! `reference.safetensors` / `reference.json`. The prenet dropout masks transformers drew are
//! replayed, so the whole loop is deterministic.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use audiosubnet_speecht5::{
    CheckpointError, GenerationOptions, SpeakerEmbedding, SpeechT5, SpeechT5Error,
    SpeechT5Tokenizer, Vocoder,
};
use candle_core::{DType, Device, Tensor};

/// Tolerance on float stages: |rust - torch| <= TOL * (1 + |torch|).
///
/// Both sides compute in f32, but matrix products, layer norms, softmax, erf-GELU, sigmoid, tanh,
/// sin/cos of the position tables and the convolutions are implemented differently (blocking,
/// accumulation order, SIMD approximations), which leaves a few f32 ulps per operation. Through
/// the encoder, up to 25 autoregressive decoder steps (each feeding its output back in), the
/// postnet and the vocoder, the worst stage error seen is 1.6e-6 (relative to 1 + |value|; each
/// check prints its own with --nocapture); 2e-5 leaves a margin of over ten while any real
/// mistake (a wrong scaling, mask, position or padding) shows up at 1e-2 or more.
const TOL: f32 = 2e-5;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

struct Reference {
    tensors: HashMap<String, Tensor>,
    json: serde_json::Value,
}

impl Reference {
    fn load() -> Self {
        Self::load_from(&fixture(""))
    }

    fn load_from(dir: &Path) -> Self {
        let tensors =
            candle_core::safetensors::load(dir.join("reference.safetensors"), &Device::Cpu)
                .expect("reference.safetensors");
        let text = std::fs::read_to_string(dir.join("reference.json")).expect("reference.json");
        Self {
            tensors,
            json: serde_json::from_str(&text).expect("json"),
        }
    }

    fn tensor(&self, key: &str) -> Tensor {
        self.tensors
            .get(key)
            .unwrap_or_else(|| panic!("no {key}"))
            .clone()
    }

    fn ints(&self, key: &str) -> Vec<u32> {
        self.tensor(key)
            .flatten_all()
            .expect("flatten")
            .to_dtype(DType::I64)
            .expect("i64")
            .to_vec1::<i64>()
            .expect("vec")
            .into_iter()
            .map(|v| u32::try_from(v).expect("u32"))
            .collect()
    }

    fn case(&self, name: &str) -> &serde_json::Value {
        self.json["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no case {name}"))
    }

    fn options(&self, name: &str) -> GenerationOptions {
        let c = self.case(name);
        GenerationOptions {
            threshold: c["threshold"].as_f64().expect("threshold"),
            minlenratio: c["minlenratio"].as_f64().expect("minlenratio"),
            maxlenratio: c["maxlenratio"].as_f64().expect("maxlenratio"),
            seed: 0,
        }
    }
}

fn assert_close(what: &str, got: &Tensor, want: &Tensor) {
    assert_eq!(got.dims(), want.dims(), "{what}: shape");
    let g = got
        .flatten_all()
        .expect("flatten")
        .to_vec1::<f32>()
        .expect("vec");
    let w = want
        .flatten_all()
        .expect("flatten")
        .to_vec1::<f32>()
        .expect("vec");
    let mut worst = (0.0f32, 0usize);
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        let err = (a - b).abs() / (1.0 + b.abs());
        assert!(err.is_finite(), "{what}[{i}]: {a} vs {b}");
        if err > worst.0 {
            worst = (err, i);
        }
    }
    eprintln!(
        "{what}: worst relative error {:.2e} at {}",
        worst.0, worst.1
    );
    assert!(
        worst.0 <= TOL,
        "{what}[{}]: {} vs {} (error {:.2e} > {TOL:.0e})",
        worst.1,
        g[worst.1],
        w[worst.1],
        worst.0
    );
}

fn load() -> SpeechT5 {
    SpeechT5::load(fixture("tts"), fixture("vocoder"), &Device::Cpu).expect("load")
}

fn speaker() -> SpeakerEmbedding {
    SpeakerEmbedding::from_file(&fixture("speaker.npy")).expect("speaker")
}

fn check_case(model: &SpeechT5, reference: &Reference, case: &str) {
    check_case_with(model, reference, case, &speaker());
}

fn check_case_with(
    model: &SpeechT5,
    reference: &Reference,
    case: &str,
    speaker: &SpeakerEmbedding,
) {
    let text = reference.case(case)["text"].as_str().expect("text");
    let ids = model.tokenizer().encode(text);
    assert_eq!(
        ids,
        reference.ints(&format!("{case}.input_ids")),
        "{case}: ids"
    );
    let masks = reference.tensor(&format!("{case}.dropout_masks"));
    let generation = model
        .generate(&ids, speaker, &reference.options(case), Some(&masks))
        .expect("generate");
    let stage = |s: &str| format!("{case}.{s}");

    assert_close(
        &stage("encoder_hidden_states"),
        &generation.encoder_hidden_states,
        &reference.tensor(&stage("encoder_hidden_states")),
    );
    // Exact: the same number of steps, so the same number of frames.
    let want_steps = masks.dim(0).expect("steps");
    assert_eq!(
        generation.stop_probabilities.dim(0).expect("steps"),
        want_steps,
        "{case}: steps"
    );
    assert_close(
        &stage("stop_probabilities"),
        &generation.stop_probabilities,
        &reference.tensor(&stage("stop_probabilities")),
    );
    assert_close(
        &stage("spectrum_before_postnet"),
        &generation.spectrum_before_postnet,
        &reference.tensor(&stage("spectrum_before_postnet")),
    );
    assert_close(
        &stage("spectrogram"),
        &generation.spectrogram,
        &reference.tensor(&stage("spectrogram")),
    );
    let waveform = model
        .vocoder()
        .forward(&generation.spectrogram)
        .expect("vocoder");
    assert_close(
        &stage("waveform"),
        &waveform,
        &reference.tensor(&stage("waveform")),
    );
}

#[test]
fn tokenizer_matches_transformers() {
    let tokenizer = SpeechT5Tokenizer::from_dir(&fixture("tts")).expect("tokenizer");
    let reference = Reference::load();
    let cases = reference.json["tokenizer"].as_array().expect("cases");
    assert!(cases.len() >= 10);
    for case in cases {
        let text = case["text"].as_str().expect("text");
        let want: Vec<u32> = case["input_ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|v| u32::try_from(v.as_u64().expect("id")).expect("u32"))
            .collect();
        assert_eq!(tokenizer.encode(text), want, "{text:?}");
    }
}

#[test]
fn generation_stops_on_the_threshold_like_transformers() {
    check_case(&load(), &Reference::load(), "hello");
}

#[test]
fn generation_stops_at_maxlen_with_clipped_relative_positions() {
    check_case(&load(), &Reference::load(), "long");
}

#[test]
fn generation_runs_at_least_minlen_steps() {
    check_case(&load(), &Reference::load(), "minlen");
}

#[test]
fn padding_tokens_are_masked_out_of_attention() {
    let model = load();
    let reference = Reference::load();
    assert!(
        reference.ints("pad.input_ids").contains(&1),
        "the case must contain <pad>"
    );
    check_case(&model, &reference, "pad");
}

#[test]
fn vocoder_matches_transformers_from_safetensors_and_pytorch_bin() {
    let reference = Reference::load();
    let spec = reference.tensor("vocoder.spectrogram");
    let want = reference.tensor("vocoder.waveform");
    for dir in ["vocoder", "vocoder-bin"] {
        let vocoder = Vocoder::load(fixture(dir), &Device::Cpu).expect("load");
        assert_eq!(vocoder.config().sampling_rate, 16_000);
        let got = vocoder.forward(&spec).expect("forward");
        assert_close(&format!("{dir}/waveform"), &got, &want);
    }
}

#[test]
fn speaker_files_npy_and_raw_agree() {
    let npy = speaker();
    let raw = SpeakerEmbedding::from_file(&fixture("speaker.f32")).expect("raw");
    assert_eq!(npy, raw);
    assert_eq!(npy.values().len(), 512);
    let reference = Reference::load();
    let want = reference
        .tensor("speaker_embedding")
        .to_vec1::<f32>()
        .expect("vec");
    assert_eq!(npy.values(), want.as_slice());
}

#[test]
fn synthesize_is_seeded_and_reproducible() {
    let model = load();
    let speaker = speaker();
    let options = GenerationOptions {
        maxlenratio: 2.0,
        ..GenerationOptions::default()
    };
    let (a, rate) = model
        .synthesize_with("hello world.", &speaker, &options)
        .expect("synthesize");
    assert_eq!(rate, 16_000);
    let (b, _) = model
        .synthesize_with("hello world.", &speaker, &options)
        .expect("synthesize");
    assert_eq!(a, b);
    let hop = model.vocoder().config().hop_length() * model.config().reduction_factor;
    assert!(!a.is_empty() && a.len() % hop == 0);
    assert!(a.iter().all(|s| s.is_finite() && s.abs() <= 1.0));
    let other = GenerationOptions { seed: 7, ..options };
    let (c, _) = model
        .synthesize_with("hello world.", &speaker, &other)
        .expect("synthesize");
    assert_ne!(a, c);
    // A zero speaker embedding is accepted, as in transformers.
    let zero = SpeakerEmbedding::zeros(512);
    model
        .synthesize_with("hello", &zero, &options)
        .expect("zero speaker");
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let model = load();
    let speaker = speaker();
    let options = GenerationOptions::default();
    assert!(matches!(
        model.synthesize("", &speaker),
        Err(SpeechT5Error::EmptyInput)
    ));
    assert!(matches!(
        model.synthesize("<pad></s>", &speaker),
        Err(SpeechT5Error::EmptyInput)
    ));
    assert!(matches!(
        model.generate(&[], &speaker, &options, None),
        Err(SpeechT5Error::EmptyInput)
    ));
    assert!(matches!(
        model.generate(&[4, 999, 2], &speaker, &options, None),
        Err(SpeechT5Error::InvalidInput(_))
    ));
    assert!(matches!(
        model.synthesize("hello", &SpeakerEmbedding::zeros(16)),
        Err(SpeechT5Error::Speaker(_))
    ));
    assert!(SpeakerEmbedding::new(vec![f32::NAN; 512]).is_err());
    let bad = GenerationOptions {
        maxlenratio: f64::NAN,
        ..options
    };
    assert!(matches!(
        model.synthesize_with("hello", &speaker, &bad),
        Err(SpeechT5Error::InvalidInput(_))
    ));
    // Never stopping: runs into the end of the position table (600 steps in the tiny model).
    let long = GenerationOptions {
        threshold: 10.0,
        maxlenratio: 1e6,
        ..options
    };
    assert!(matches!(
        model.synthesize_with("hello", &speaker, &long),
        Err(SpeechT5Error::InvalidInput(_))
    ));
    // Masks of the wrong shape, or too few of them.
    let masks = Tensor::ones((2, 3, 24), DType::F32, &Device::Cpu).expect("t");
    assert!(matches!(
        model.generate(&[4, 5, 2], &speaker, &options, Some(&masks)),
        Err(SpeechT5Error::InvalidInput(_))
    ));
    let masks = Tensor::ones((1, 2, 24), DType::F32, &Device::Cpu).expect("t");
    let never_stop = GenerationOptions {
        threshold: 10.0,
        ..options
    };
    assert!(matches!(
        model.generate(&[4, 5, 2], &speaker, &never_stop, Some(&masks)),
        Err(SpeechT5Error::InvalidInput(_))
    ));
    let vocoder = model.vocoder();
    let wrong = Tensor::zeros((4, 3), DType::F32, &Device::Cpu).expect("t");
    assert!(matches!(
        vocoder.forward(&wrong),
        Err(SpeechT5Error::InvalidInput(_))
    ));
    // Files that are not speaker embeddings: a ragged raw file, an npy of the wrong dtype.
    let dir = tempfile::tempdir().expect("tempdir");
    let ragged = dir.path().join("ragged.f32");
    std::fs::write(&ragged, [0u8; 6]).expect("write");
    assert!(matches!(
        SpeakerEmbedding::from_file(&ragged),
        Err(SpeechT5Error::Speaker(_))
    ));
    let mut npy = std::fs::read(fixture("speaker.npy")).expect("read");
    let at = npy.windows(3).position(|w| w == b"<f4").expect("descr");
    npy[at + 2] = b'8';
    let f64_npy = dir.path().join("f64.npy");
    std::fs::write(&f64_npy, npy).expect("write");
    assert!(matches!(
        SpeakerEmbedding::from_file(&f64_npy),
        Err(SpeechT5Error::Speaker(_))
    ));
    assert!(matches!(
        SpeakerEmbedding::from_file(&dir.path().join("missing.npy")),
        Err(SpeechT5Error::Checkpoint(CheckpointError::Io { .. }))
    ));
}

#[test]
fn loader_errors_name_what_is_missing() {
    let empty = tempfile::tempdir().expect("tempdir");
    assert!(matches!(
        SpeechT5::load(empty.path(), fixture("vocoder"), &Device::Cpu),
        Err(SpeechT5Error::Checkpoint(CheckpointError::Io { .. }))
    ));

    let no_weights = tempfile::tempdir().expect("tempdir");
    for f in ["config.json", "spm_char.model", "tokenizer_config.json"] {
        std::fs::copy(fixture("tts").join(f), no_weights.path().join(f)).expect("copy");
    }
    assert!(matches!(
        SpeechT5::load(no_weights.path(), fixture("vocoder"), &Device::Cpu),
        Err(SpeechT5Error::Checkpoint(CheckpointError::MissingWeights(
            _
        )))
    ));

    // The vocoder's weights in place of the model's: a load error naming a missing tensor.
    std::fs::copy(
        fixture("vocoder").join("model.safetensors"),
        no_weights.path().join("model.safetensors"),
    )
    .expect("copy");
    match SpeechT5::load(no_weights.path(), fixture("vocoder"), &Device::Cpu) {
        Err(SpeechT5Error::Checkpoint(CheckpointError::Weights { source, .. })) => {
            assert!(source.to_string().contains("speecht5"), "{source}");
        }
        other => panic!("expected a weights error, got {other:?}"),
    }

    // A corrupt sentencepiece model.
    std::fs::write(
        no_weights.path().join("spm_char.model"),
        [0xffu8, 0xff, 0xff],
    )
    .expect("w");
    assert!(matches!(
        SpeechT5::load(no_weights.path(), fixture("vocoder"), &Device::Cpu),
        Err(SpeechT5Error::Tokenizer(_))
    ));
}

/// Parity on full-size random checkpoints from `make_fixtures.py --full-size DIR` (the
/// architecture of microsoft/speecht5_tts and microsoft/speecht5_hifigan):
/// `SPEECHT5_PARITY_DIR=DIR cargo test -p audiosubnet-speecht5 --release --test parity --
/// --ignored --nocapture`.
#[test]
#[ignore = "needs SPEECHT5_PARITY_DIR with full-size checkpoints and references"]
fn full_size_checkpoint_matches_transformers() {
    // The workspace suite runs ignored tests too: without a directory there is nothing to check.
    let Some(dir) = std::env::var_os("SPEECHT5_PARITY_DIR").map(PathBuf::from) else {
        eprintln!("SPEECHT5_PARITY_DIR is not set: skipped");
        return;
    };
    let started = std::time::Instant::now();
    let model = SpeechT5::load(dir.join("tts"), dir.join("vocoder"), &Device::Cpu).expect("load");
    eprintln!("loaded in {:?}", started.elapsed());
    let reference = Reference::load_from(&dir);
    let speaker = SpeakerEmbedding::from_file(&dir.join("speaker.npy")).expect("speaker");
    let names: Vec<String> = reference.json["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| c["name"].as_str().expect("name").to_owned())
        .collect();
    for name in names {
        let started = std::time::Instant::now();
        check_case_with(&model, &reference, &name, &speaker);
        eprintln!("full-size/{name}: checked in {:?}", started.elapsed());
    }
    let spec = reference.tensor("vocoder.spectrogram");
    let got = model.vocoder().forward(&spec).expect("vocoder");
    assert_close(
        "full-size/vocoder",
        &got,
        &reference.tensor("vocoder.waveform"),
    );
}

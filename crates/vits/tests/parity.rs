//! Parity with transformers' `VitsModel` on tiny random checkpoints made by
//! `fixtures/vits/make_fixtures.py`: token ids and durations must match exactly, every float
//! stage within a small tolerance. The checkpoints are loaded by `Vits::load`, the loader real
//! checkpoints go through.
//!
//! Fixtures (tests/fixtures/):
//! - `tiny`: stochastic duration predictor (like MMS), WaveNet weights as weight_g/weight_v,
//! - `tiny-bin`: the same weights as a pickled pytorch_model.bin,
//! - `tiny-dp`: plain duration predictor, gelu, weights as transformers' save_pretrained writes
//!   them (parametrizations.weight.original0/1).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use audiosubnet_vits::{CheckpointError, Noise, SynthesisOptions, Vits, VitsError};
use candle_core::{DType, Device, Tensor};

/// Tolerance on float stages: |rust - torch| <= TOL * (1 + |torch|).
///
/// Both sides compute in f32, with PyTorch's order of operations kept wherever it is elementwise
/// (the duration spline, scalar products and divisions), but matrix products, convolutions,
/// reductions (layer norm, softmax) and transcendental functions (exp, tanh, erf) are implemented
/// differently (blocking and accumulation order, SIMD approximations), which leaves a few f32 ulps
/// per operation. Through the ~60 layers of the tiny models the worst stage error seen is 3.1e-6
/// (relative to 1 + |value|); 2e-5 leaves a margin of six while any real mistake (a wrong slope,
/// padding or flow order) shows up at 1e-2 or more.
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
    fn load(name: &str) -> Self {
        let dir = fixture(name);
        let tensors =
            candle_core::safetensors::load(dir.join("reference.safetensors"), &Device::Cpu)
                .expect("reference.safetensors");
        let text = std::fs::read_to_string(dir.join("reference.json")).expect("reference.json");
        Self {
            tensors,
            json: serde_json::from_str(&text).expect("json"),
        }
    }

    fn tensor(&self, case: &str, stage: &str) -> Tensor {
        self.tensors
            .get(&format!("{case}.{stage}"))
            .unwrap_or_else(|| panic!("no {case}.{stage}"))
            .clone()
    }

    fn ints(&self, case: &str, stage: &str) -> Vec<u32> {
        let t = self.tensor(case, stage).flatten_all().expect("flatten");
        t.to_dtype(DType::I64)
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

    fn options(&self, name: &str) -> SynthesisOptions {
        let c = self.case(name);
        SynthesisOptions {
            noise_scale: c["noise_scale"].as_f64().expect("noise_scale"),
            noise_scale_duration: c["noise_scale_duration"]
                .as_f64()
                .expect("noise_scale_duration"),
            speaking_rate: c["speaking_rate"].as_f64().expect("speaking_rate"),
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

/// Runs one recorded case and compares every stage.
fn check_case(vits: &Vits, reference: &Reference, fixture: &str, case: &str, inject: bool) {
    let text = reference.case(case)["text"].as_str().expect("text");
    let ids = vits.tokenizer().encode(text).expect("encode");
    assert_eq!(
        ids,
        reference.ints(case, "input_ids"),
        "{fixture}/{case}: token ids"
    );

    let noise = inject.then(|| Noise {
        duration: reference
            .tensors
            .get(&format!("{case}.noise_duration"))
            .cloned(),
        prior: Some(reference.tensor(case, "noise_prior")),
    });
    let stages = vits
        .forward(&ids, &reference.options(case), noise.as_ref())
        .expect("forward");
    let name = |stage: &str| format!("{fixture}/{case}/{stage}");

    assert_close(
        &name("hidden_states"),
        &stages.hidden_states,
        &reference.tensor(case, "hidden_states"),
    );
    assert_close(
        &name("prior_means"),
        &stages.prior_means,
        &reference.tensor(case, "prior_means"),
    );
    assert_close(
        &name("prior_log_variances"),
        &stages.prior_log_variances,
        &reference.tensor(case, "prior_log_variances"),
    );
    assert_close(
        &name("log_durations"),
        &stages.log_durations,
        &reference.tensor(case, "log_durations"),
    );
    assert_eq!(
        stages.durations,
        reference.ints(case, "durations"),
        "{}",
        name("durations")
    );
    assert_close(
        &name("prior_latents"),
        &stages.prior_latents,
        &reference.tensor(case, "prior_latents"),
    );
    assert_close(
        &name("latents"),
        &stages.latents,
        &reference.tensor(case, "latents"),
    );
    assert_close(
        &name("waveform"),
        &stages.waveform,
        &reference.tensor(case, "waveform"),
    );
}

#[test]
fn tokenizer_matches_transformers() {
    for name in ["tiny", "tiny-dp"] {
        let vits = Vits::load(fixture(name), &Device::Cpu).expect("load");
        let reference = Reference::load(name);
        let cases = reference.json["tokenizer"]
            .as_array()
            .expect("tokenizer cases");
        assert!(cases.len() > 10);
        for case in cases {
            let text = case["text"].as_str().expect("text");
            let want: Vec<u32> = case["input_ids"]
                .as_array()
                .expect("ids")
                .iter()
                .map(|v| u32::try_from(v.as_u64().expect("id")).expect("u32"))
                .collect();
            assert_eq!(
                vits.tokenizer().encode(text).expect("encode"),
                want,
                "{text:?}"
            );
        }
    }
}

#[test]
fn stochastic_duration_model_matches_transformers_deterministically() {
    let vits = Vits::load(fixture("tiny"), &Device::Cpu).expect("load");
    let reference = Reference::load("tiny");
    for case in ["hello", "long", "fast"] {
        check_case(&vits, &reference, "tiny", case, false);
    }
}

#[test]
fn stochastic_duration_model_matches_transformers_with_injected_noise() {
    let vits = Vits::load(fixture("tiny"), &Device::Cpu).expect("load");
    let reference = Reference::load("tiny");
    check_case(&vits, &reference, "tiny", "sampled", true);
}

#[test]
fn plain_duration_model_matches_transformers() {
    let vits = Vits::load(fixture("tiny-dp"), &Device::Cpu).expect("load");
    let reference = Reference::load("tiny-dp");
    check_case(&vits, &reference, "tiny-dp", "hello", false);
    check_case(&vits, &reference, "tiny-dp", "sampled", true);
}

#[test]
fn pytorch_model_bin_loads_the_same_weights() {
    let vits = Vits::load(fixture("tiny-bin"), &Device::Cpu).expect("load");
    let reference = Reference::load("tiny");
    check_case(&vits, &reference, "tiny-bin", "hello", false);
}

#[test]
fn synthesize_gives_reproducible_audio_at_the_model_rate() {
    let vits = Vits::load(fixture("tiny"), &Device::Cpu).expect("load");
    let reference = Reference::load("tiny");

    // Deterministic options reproduce transformers' waveform.
    let (samples, rate) = vits
        .synthesize_with("hello world.", &SynthesisOptions::deterministic())
        .expect("synthesize");
    assert_eq!(rate, 16_000);
    let want = reference.tensor("hello", "waveform");
    assert_close(
        "synthesize",
        &Tensor::new(samples.as_slice(), &Device::Cpu)
            .expect("t")
            .unsqueeze(0)
            .expect("u"),
        &want,
    );

    // Sampled with the config's scales: the seed decides, the same seed repeats.
    let (a, _) = vits.synthesize("hello world.").expect("synthesize");
    let (b, _) = vits.synthesize("hello world.").expect("synthesize");
    assert_eq!(a, b);
    let other = SynthesisOptions {
        seed: 7,
        ..SynthesisOptions::from_config(vits.config())
    };
    let (c, _) = vits
        .synthesize_with("hello world.", &other)
        .expect("synthesize");
    assert_ne!(a, c);
    assert!(a.iter().chain(&c).all(|s| s.is_finite() && s.abs() <= 1.0));
    assert_eq!(a.len() % vits.config().hop_length(), 0);
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let vits = Vits::load(fixture("tiny"), &Device::Cpu).expect("load");
    assert!(matches!(vits.synthesize("?!"), Err(VitsError::EmptyInput)));
    let options = SynthesisOptions::deterministic();
    assert!(matches!(
        vits.forward(&[0, 99], &options, None),
        Err(VitsError::InvalidInput(_))
    ));
    let slow = SynthesisOptions {
        speaking_rate: 0.0,
        ..options
    };
    assert!(matches!(
        vits.forward(&[0, 4, 0], &slow, None),
        Err(VitsError::InvalidInput(_))
    ));
    let noise = Noise {
        duration: Some(Tensor::zeros((1, 2, 5), DType::F32, &Device::Cpu).expect("t")),
        prior: None,
    };
    assert!(matches!(
        vits.forward(&[0, 4, 0], &options, Some(&noise)),
        Err(VitsError::NoiseShape { .. })
    ));
}

#[test]
fn loader_errors_name_what_is_missing() {
    let empty = tempfile::tempdir().expect("tempdir");
    assert!(matches!(
        Vits::load(empty.path(), &Device::Cpu),
        Err(VitsError::Checkpoint(CheckpointError::Io { .. }))
    ));

    let no_weights = tempfile::tempdir().expect("tempdir");
    for f in ["config.json", "vocab.json", "tokenizer_config.json"] {
        std::fs::copy(fixture("tiny").join(f), no_weights.path().join(f)).expect("copy");
    }
    assert!(matches!(
        Vits::load(no_weights.path(), &Device::Cpu),
        Err(VitsError::Checkpoint(CheckpointError::MissingWeights(_)))
    ));

    // Weights of the other architecture: a clear load error naming a missing tensor.
    std::fs::copy(
        fixture("tiny-dp").join("model.safetensors"),
        no_weights.path().join("model.safetensors"),
    )
    .expect("copy");
    match Vits::load(no_weights.path(), &Device::Cpu) {
        Err(VitsError::Checkpoint(CheckpointError::Weights { source, .. })) => {
            assert!(
                source.to_string().contains("duration_predictor"),
                "{source}"
            );
        }
        other => panic!("expected a weights error, got {other:?}"),
    }
}

/// Parity on any checkpoint directory with references from `make_fixtures.py --full-size DIR`
/// or `--reference-for DIR` (e.g. a local copy of facebook/mms-tts-eng):
/// `VITS_PARITY_DIR=DIR cargo test -p audiosubnet-vits --test parity -- --ignored --nocapture`.
#[test]
#[ignore = "needs VITS_PARITY_DIR with a checkpoint and its reference.safetensors"]
fn external_checkpoint_matches_transformers() {
    // The workspace suite runs ignored tests too: without a directory there is nothing to check.
    let Some(dir) = std::env::var_os("VITS_PARITY_DIR").map(PathBuf::from) else {
        eprintln!("VITS_PARITY_DIR is not set: skipped");
        return;
    };
    let started = std::time::Instant::now();
    let vits = Vits::load(&dir, &Device::Cpu).expect("load");
    eprintln!("loaded in {:?}", started.elapsed());
    let tensors = candle_core::safetensors::load(dir.join("reference.safetensors"), &Device::Cpu)
        .expect("reference.safetensors");
    let text = std::fs::read_to_string(dir.join("reference.json")).expect("reference.json");
    let reference = Reference {
        tensors,
        json: serde_json::from_str(&text).expect("json"),
    };
    let names: Vec<String> = reference.json["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| c["name"].as_str().expect("name").to_owned())
        .collect();
    for name in names {
        let noisy = reference.options(&name).noise_scale != 0.0
            || reference.options(&name).noise_scale_duration != 0.0;
        let started = std::time::Instant::now();
        check_case(&vits, &reference, "external", &name, noisy);
        eprintln!("external/{name}: checked in {:?}", started.elapsed());
    }
}

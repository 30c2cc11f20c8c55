//! The crate's own rules on the tiny checkpoint: long clips are embedded from deterministic
//! windows, bad input and unsupported checkpoints fail with a clear error, and the model can be
//! used from worker threads.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use audiosubnet_clap::{ClapError, ClapModel, DEFAULT_MAX_WINDOWS, similarity, window_starts};
use candle_core::Device;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny")
}

fn model() -> ClapModel {
    ClapModel::load(&fixture(), &Device::Cpu).expect("load the tiny checkpoint")
}

/// A 48 kHz test signal: a chirp-like sum of tones, louder over time.
fn signal(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let t = i as f32 / 48_000.0;
            (0.2 + 0.1 * t) * (2.0 * std::f32::consts::PI * (300.0 + 200.0 * t) * t).sin()
        })
        .collect()
}

fn normalised_sum(vs: &[Vec<f32>]) -> Vec<f32> {
    let mut sum = vec![0f32; vs[0].len()];
    for v in vs {
        sum.iter_mut().zip(v).for_each(|(s, x)| *s += x);
    }
    let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt();
    sum.iter().map(|x| x / norm).collect()
}

fn close(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn long_clips_average_the_embeddings_of_deterministic_windows() {
    let model = model();
    let window = model.feature_extractor().config().max_samples();
    // 4.5 windows long: the default cap of 3 windows, starting at 0, 1.75 and 3.5 windows.
    let audio = signal(window * 9 / 2);
    let starts = window_starts(audio.len(), window, DEFAULT_MAX_WINDOWS);
    assert_eq!(starts, [0, window * 7 / 4, window * 7 / 2]);
    let each: Vec<Vec<f32>> = starts
        .iter()
        .map(|&s| {
            model
                .audio_embedding(&audio[s..s + window], 48_000)
                .expect("window embedding")
        })
        .collect();
    let got = model.audio_embedding(&audio, 48_000).expect("embedding");
    assert!(close(&got, &normalised_sum(&each)) < 1e-5);
    // The same answer every time.
    assert_eq!(got, model.audio_embedding(&audio, 48_000).expect("again"));
    // One window: the first max_length_s only.
    let first = model
        .audio_embedding_windows(&audio, 48_000, 1)
        .expect("first window");
    assert!(close(&first, &each[0]) < 1e-5);
    // More windows allowed: ceil(4.5) = 5 windows.
    let five = window_starts(audio.len(), window, 8);
    assert_eq!(five.len(), 5);
    let all = model
        .audio_embedding_windows(&audio, 48_000, 8)
        .expect("five windows");
    assert!(close(&all, &got) > 1e-6, "five windows differ from three");
}

#[test]
fn embeddings_are_unit_vectors_of_the_projection_size() {
    let model = model();
    assert_eq!(model.embedding_dim(), 16);
    assert_eq!(model.sample_rate(), 48_000);
    let text = model.text_embedding("a calm piano tune").expect("text");
    let audio = model
        .audio_embedding(&signal(30_000), 22_050)
        .expect("audio");
    for v in [&text, &audio] {
        assert_eq!(v.len(), 16);
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
    }
    let s = similarity(&text, &audio);
    assert!((-1.0..=1.0).contains(&s));
}

#[test]
fn bad_input_is_refused() {
    let model = model();
    assert!(matches!(
        model.audio_embedding(&[], 48_000),
        Err(ClapError::InvalidInput(_))
    ));
    assert!(matches!(
        model.audio_embedding(&[0.1; 100], 0),
        Err(ClapError::InvalidInput(_))
    ));
    assert!(matches!(
        model.audio_embedding(&[0.1, f32::NAN], 48_000),
        Err(ClapError::InvalidInput(_))
    ));
    // Silence embeds (to something finite) rather than failing.
    let silent = model
        .audio_embedding(&[0.0; 4_800], 48_000)
        .expect("silence");
    assert!(silent.iter().all(|v| v.is_finite()));
    // The tiny model has 64 positions: a long text is cut to 62 tokens, ending with </s>.
    let long = "piano ".repeat(200);
    let ids = model.tokenize(&long).expect("tokenize");
    assert_eq!(ids.len(), 62);
    assert_eq!(ids.first(), Some(&0));
    assert_eq!(ids.last(), Some(&2));
    assert!(model.text_embedding(&long).is_ok());
    assert!(model.text_embedding("").is_ok(), "<s></s> alone is a text");
}

fn copy_fixture(to: &Path) {
    for entry in std::fs::read_dir(fixture()).expect("fixture dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");
    edit(&mut value);
    std::fs::write(path, serde_json::to_string(&value).expect("json")).expect("write");
}

#[test]
fn unsupported_checkpoints_fail_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_fixture(dir.path());
    edit_json(&dir.path().join("config.json"), |c| {
        c["audio_config"]["enable_fusion"] = true.into();
    });
    let err = ClapModel::load(dir.path(), &Device::Cpu).expect_err("fusion");
    assert!(matches!(err, ClapError::Unsupported(_)), "{err}");
    assert!(err.to_string().contains("enable_fusion"), "{err}");

    let dir = tempfile::tempdir().expect("tempdir");
    copy_fixture(dir.path());
    edit_json(&dir.path().join("preprocessor_config.json"), |c| {
        c["truncation"] = "fusion".into();
    });
    let err = ClapModel::load(dir.path(), &Device::Cpu).expect_err("fusion truncation");
    assert!(matches!(err, ClapError::Unsupported(_)), "{err}");

    let dir = tempfile::tempdir().expect("tempdir");
    copy_fixture(dir.path());
    std::fs::rename(
        dir.path().join("model.safetensors"),
        dir.path().join("pytorch_model.bin"),
    )
    .expect("rename");
    let err = ClapModel::load(dir.path(), &Device::Cpu).expect_err("no safetensors");
    assert!(err.to_string().contains("model.safetensors"), "{err}");

    let dir = tempfile::tempdir().expect("tempdir");
    copy_fixture(dir.path());
    std::fs::remove_file(dir.path().join("tokenizer.json")).expect("remove");
    let err = ClapModel::load(dir.path(), &Device::Cpu).expect_err("no tokenizer");
    assert!(matches!(err, ClapError::Tokenizer(_)), "{err}");
}

#[test]
fn a_checkpoint_directory_resolves_without_the_hub() {
    let dir = audiosubnet_clap::resolve_checkpoint(Some(&fixture()), None, None)
        .expect("explicit directory");
    assert_eq!(dir, fixture());
    let empty = tempfile::tempdir().expect("tempdir");
    let err = audiosubnet_clap::resolve_checkpoint(Some(empty.path()), None, None)
        .expect_err("nothing there");
    assert!(err.to_string().contains("config.json"), "{err}");
}

#[test]
fn worker_threads_share_one_model() {
    let model = Arc::new(model());
    let reference = model.text_embedding("jazz trio").expect("text");
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let model = Arc::clone(&model);
            std::thread::spawn(move || model.text_embedding("jazz trio").expect("text"))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("thread"), reference);
    }
}

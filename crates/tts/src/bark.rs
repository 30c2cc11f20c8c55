//! Bark (`suno/bark`, `suno/bark-small`): the candle model of `audiosubnet-bark` behind
//! [`SpeechEngine`], with Bark's own sampling settings and a fixed seed (greedy decoding
//! repeats itself), so a prompt always gives the same audio.
//!
//! The voice is `--model.speaker`: a preset `.npz` file, or a preset name such as
//! `v2/en_speaker_6` looked up in the checkpoint's `speaker_embeddings/` directory. Without one
//! Bark picks its own voice.

use std::path::Path;

use audiosubnet_bark::{Bark, BarkError, GenerationOptions, VoicePreset};
use std::borrow::Cow;

use audiosubnet_models::hub::HubModel;

use crate::{EngineOptions, Speech, SpeechEngine, TtsError, candle_device, synthesize_sentences};

/// The seed's Bark checkpoints.
pub const SUNO_BARK: HubModel = bark_repo("suno/bark");
/// The smaller one.
pub const SUNO_BARK_SMALL: HubModel = bark_repo("suno/bark-small");

const fn bark_repo(repo: &'static str) -> HubModel {
    HubModel {
        repo,
        revision: Cow::Borrowed("main"),
        required: &["config.json", "tokenizer.json"],
        weights: &["model.safetensors", "pytorch_model.bin"],
    }
}

/// A resident Bark checkpoint and voice.
pub struct BarkEngine {
    name: String,
    bark: Bark,
    preset: Option<VoicePreset>,
    options: GenerationOptions,
    opts: EngineOptions,
}

impl BarkEngine {
    /// Loads `model` (or `opts.model_path`) and the voice preset, and speaks once (warm-up).
    pub fn load(name: &str, model: &HubModel, opts: &EngineOptions) -> Result<Self, TtsError> {
        let dir = model
            .at_revision(opts.model_revision.as_deref())
            .resolve(opts.model_path.as_deref())?;
        let device = candle_device(name, opts.device)?;
        let unavailable = |e: BarkError| TtsError::EngineUnavailable {
            engine: name.to_owned(),
            reason: e.to_string(),
        };
        let bark = Bark::load(&dir, &device).map_err(unavailable)?;
        let preset = match &opts.speaker_path {
            Some(voice) => Some(load_preset(&dir, voice).map_err(unavailable)?),
            None => None,
        };
        tracing::info!(engine = name, dir = %dir.display(), device = %opts.device, voice = ?opts.speaker_path, "Bark loaded");
        let mut engine = Self {
            name: name.to_owned(),
            bark,
            preset,
            options: GenerationOptions::sampling(0),
            opts: opts.clone(),
        };
        engine.synthesize("Ready.")?;
        Ok(engine)
    }
}

/// A `.npz` preset file, or a preset name in the checkpoint's `speaker_embeddings/`.
fn load_preset(dir: &Path, voice: &Path) -> Result<VoicePreset, BarkError> {
    if voice.is_file() {
        return VoicePreset::from_npz(voice);
    }
    let base = dir.join("speaker_embeddings").join(voice);
    let part = |p: &str| {
        let mut name = base.clone().into_os_string();
        name.push(format!("_{p}_prompt.npy"));
        std::path::PathBuf::from(name)
    };
    VoicePreset::from_npy_files(part("semantic"), part("coarse"), part("fine"))
}

impl SpeechEngine for BarkEngine {
    fn name(&self) -> &str {
        &self.name
    }

    fn sample_rate(&self) -> u32 {
        self.bark.sample_rate()
    }

    fn synthesize(&mut self, text: &str) -> Result<Speech, TtsError> {
        let rate = self.bark.sample_rate();
        synthesize_sentences(&self.name, text, rate, &self.opts, |sentence| {
            let (samples, _) = self
                .bark
                .synthesize(sentence, self.preset.as_ref(), &self.options)
                .map_err(|e| TtsError::Synthesis {
                    engine: self.name.clone(),
                    message: e.to_string(),
                })?;
            Ok(samples)
        })
    }
}

//! MMS-TTS (`facebook/mms-tts-eng`, or any Hugging Face `VitsModel` checkpoint with
//! `--model.path`): the candle VITS model of `audiosubnet-vits` behind [`SpeechEngine`].
//!
//! The checkpoint comes from `--model.path` or the local Hugging Face cache (see
//! [`audiosubnet_models::hub`]); it loads once per worker and stays resident. Prompts go through
//! the shared text pipeline first (numbers and dates to words, sentence split): the MMS
//! tokenizer only knows lower-case letters and a few marks, and drops everything else.

use std::borrow::Cow;

use audiosubnet_models::hub::HubModel;
use audiosubnet_vits::Vits;

use crate::{EngineOptions, Speech, SpeechEngine, TtsError, candle_device, synthesize_sentences};

/// The seed's MMS English checkpoint.
pub const MMS_TTS_ENG: HubModel = HubModel {
    repo: "facebook/mms-tts-eng",
    revision: Cow::Borrowed("main"),
    required: &["config.json", "vocab.json"],
    weights: &["model.safetensors", "pytorch_model.bin"],
};

/// A resident VITS checkpoint.
pub struct MmsEngine {
    name: String,
    vits: Vits,
    opts: EngineOptions,
}

impl MmsEngine {
    /// Loads `model` (from `opts.model_path` when set, else the hub cache) onto `opts.device`
    /// and speaks one short sentence, so the first prompt does not pay for warm-up.
    pub fn load(name: &str, model: &HubModel, opts: &EngineOptions) -> Result<Self, TtsError> {
        let dir = model
            .at_revision(opts.model_revision.as_deref())
            .resolve(opts.model_path.as_deref())?;
        let device = candle_device(name, opts.device)?;
        let vits = Vits::load(&dir, &device).map_err(|e| TtsError::EngineUnavailable {
            engine: name.to_owned(),
            reason: format!("cannot load the checkpoint in {}: {e}", dir.display()),
        })?;
        tracing::info!(engine = name, dir = %dir.display(), device = %opts.device, "VITS checkpoint loaded");
        let mut engine = Self {
            name: name.to_owned(),
            vits,
            opts: opts.clone(),
        };
        engine.synthesize("Ready.")?;
        Ok(engine)
    }
}

impl SpeechEngine for MmsEngine {
    fn name(&self) -> &str {
        &self.name
    }

    fn sample_rate(&self) -> u32 {
        self.vits.sample_rate()
    }

    fn synthesize(&mut self, text: &str) -> Result<Speech, TtsError> {
        let rate = self.vits.sample_rate();
        synthesize_sentences(&self.name, text, rate, &self.opts, |sentence| {
            let (samples, _) = self
                .vits
                .synthesize(sentence)
                .map_err(|e| TtsError::Synthesis {
                    engine: self.name.clone(),
                    message: e.to_string(),
                })?;
            Ok(samples)
        })
    }
}

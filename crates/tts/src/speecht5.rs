//! SpeechT5 (`microsoft/speecht5_tts` with the `microsoft/speecht5_hifigan` vocoder, the seed's
//! default model): the candle model of `audiosubnet-speecht5` behind [`SpeechEngine`].
//!
//! Both checkpoints come from the Hugging Face cache, or from `--model.path` and
//! `--model.vocoder_path`. The voice is a 512-value x-vector file (`--model.speaker`, `.npy` or
//! raw little-endian f32); without one the engine speaks with the zero vector, which SpeechT5
//! accepts but was never trained on (a neutral, lower-quality voice), and says so in the log.

use std::borrow::Cow;

use audiosubnet_models::hub::HubModel;
use audiosubnet_speecht5::{SpeakerEmbedding, SpeechT5};

use crate::{EngineOptions, Speech, SpeechEngine, TtsError, candle_device, synthesize_sentences};

/// The seed's default acoustic model.
pub const SPEECHT5_TTS: HubModel = HubModel {
    repo: "microsoft/speecht5_tts",
    revision: Cow::Borrowed("main"),
    required: &["config.json", "spm_char.model", "tokenizer_config.json"],
    weights: &["model.safetensors", "pytorch_model.bin"],
};

/// Its vocoder.
pub const SPEECHT5_HIFIGAN: HubModel = HubModel {
    repo: "microsoft/speecht5_hifigan",
    revision: Cow::Borrowed("main"),
    required: &["config.json"],
    weights: &["model.safetensors", "pytorch_model.bin"],
};

/// A resident SpeechT5 model, vocoder and voice.
pub struct SpeechT5Engine {
    name: String,
    model: SpeechT5,
    speaker: SpeakerEmbedding,
    opts: EngineOptions,
}

impl SpeechT5Engine {
    /// Loads the model, vocoder and voice, and speaks one short sentence (warm-up).
    pub fn load(name: &str, opts: &EngineOptions) -> Result<Self, TtsError> {
        let tts_dir = SPEECHT5_TTS
            .at_revision(opts.model_revision.as_deref())
            .resolve(opts.model_path.as_deref())?;
        let vocoder_dir = SPEECHT5_HIFIGAN.resolve(opts.vocoder_path.as_deref())?;
        let device = candle_device(name, opts.device)?;
        let unavailable = |e: audiosubnet_speecht5::SpeechT5Error| TtsError::EngineUnavailable {
            engine: name.to_owned(),
            reason: e.to_string(),
        };
        let model = SpeechT5::load(&tts_dir, &vocoder_dir, &device).map_err(unavailable)?;
        let dim = model.config().speaker_embedding_dim;
        let speaker = match &opts.speaker_path {
            Some(path) => SpeakerEmbedding::from_file(path).map_err(unavailable)?,
            None => {
                tracing::warn!(
                    "no --model.speaker x-vector: speaking with the zero embedding (a neutral voice \
                     of lower quality; see docs/operations.md for making one)"
                );
                SpeakerEmbedding::zeros(dim)
            }
        };
        if speaker.values().len() != dim {
            return Err(TtsError::EngineUnavailable {
                engine: name.to_owned(),
                reason: format!(
                    "the speaker embedding has {} values; the model takes {dim}",
                    speaker.values().len()
                ),
            });
        }
        tracing::info!(engine = name, tts = %tts_dir.display(), vocoder = %vocoder_dir.display(), device = %opts.device, "SpeechT5 loaded");
        let mut engine = Self {
            name: name.to_owned(),
            model,
            speaker,
            opts: opts.clone(),
        };
        engine.synthesize("Ready.")?;
        Ok(engine)
    }
}

impl SpeechEngine for SpeechT5Engine {
    fn name(&self) -> &str {
        &self.name
    }

    fn sample_rate(&self) -> u32 {
        self.model.sample_rate()
    }

    fn synthesize(&mut self, text: &str) -> Result<Speech, TtsError> {
        let rate = self.model.sample_rate();
        synthesize_sentences(&self.name, text, rate, &self.opts, |sentence| {
            let (samples, _) = self
                .model
                .synthesize(sentence, &self.speaker)
                .map_err(|e| TtsError::Synthesis {
                    engine: self.name.clone(),
                    message: e.to_string(),
                })?;
            Ok(samples)
        })
    }
}

//! espeak-ng formant synthesis through libespeak-ng (the fast, robotic baseline).

use crate::{EngineOptions, Speech, SpeechEngine, TtsError, espeak_ffi, synthesize_sentences};

/// espeak-ng with the `en-us` voice.
#[derive(Debug)]
pub struct EspeakEngine {
    opts: EngineOptions,
    sample_rate: u32,
}

impl EspeakEngine {
    /// Loads libespeak-ng (once per process) and checks that the `en-us` voice exists.
    pub fn new(opts: &EngineOptions) -> Result<Self, TtsError> {
        let sample_rate = espeak_ffi::sample_rate()?;
        // Fails early when espeak-ng-data lacks the voice, not at the first request.
        espeak_ffi::phonemize("ok", "en-us")?;
        Ok(Self {
            opts: opts.clone(),
            sample_rate,
        })
    }
}

impl SpeechEngine for EspeakEngine {
    fn name(&self) -> &str {
        "espeak"
    }

    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn synthesize(&mut self, text: &str) -> Result<Speech, TtsError> {
        synthesize_sentences("espeak", text, self.sample_rate, &self.opts, |sentence| {
            let pcm = espeak_ffi::synthesize(sentence, "en-us")?;
            Ok(pcm.into_iter().map(audiosubnet_audio::i16_to_f32).collect())
        })
    }
}

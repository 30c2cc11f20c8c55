//! Hugging Face `MusicgenForConditionalGeneration` (facebook/musicgen-small, -medium, -large,
//! mono) inference in candle.
//!
//! Text token ids -> T5 text encoder (module `t5`) -> `enc_to_dec_proj` and the attention mask ->
//! MusicGen decoder (module `decoder`) over the EnCodec codebooks, generated with the delay pattern
//! and classifier-free guidance ([`generate`]) -> EnCodec decoder (shared with Bark, in
//! `audiosubnet-candle`) -> 32 kHz waveform. [`config`] reads `config.json` and
//! `generation_config.json`.
//!
//! Greedy generation reproduces transformers' codes exactly (see `tests/parity.rs`); sampling
//! follows the same warpers (temperature, top-k) with this crate's own seeded generator.
//! Text goes through the checkpoint's `tokenizer.json` (the T5 tokenizer facebook/musicgen-*
//! ship, read with the `tokenizers` crate; every encoding ends with EOS as `T5TokenizerFast`'s
//! does): [`MusicGen::generate_for_text`]. [`MusicGenEngine`] (module `engine`) runs it behind
//! `audiosubnet_music::MusicEngine`.

pub mod config;
mod decoder;
mod engine;
pub mod generate;
mod t5;

use std::path::Path;

use audiosubnet_candle::{EncodecDecoder, LoadOptions, var_builder};
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, linear};

pub use audiosubnet_candle::CheckpointError;

pub use crate::config::{DecoderConfig, GenerationConfig, MusicGenConfig, T5Config};
pub use crate::engine::{
    MUSICGEN_MODELS, MusicGenEngine, MusicGenOptions, Progress, hub_model, is_musicgen_name,
};
pub use crate::generate::Sampling;

/// What can go wrong loading or running MusicGen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MusicGenError {
    /// The checkpoint's files could not be read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// `config.json` is inconsistent.
    #[error("invalid MusicGen config: {0}")]
    Config(String),
    /// The checkpoint uses something not implemented here.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The request cannot be run (empty or out-of-vocabulary ids, too few tokens).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The checkpoint's `tokenizer.json` is missing or cannot encode the text.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A tensor operation failed (including missing or misshapen weights).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// A loaded MusicGen checkpoint.
pub struct MusicGen {
    config: MusicGenConfig,
    generation: GenerationConfig,
    text_encoder: t5::T5Encoder,
    enc_to_dec: Option<Linear>,
    decoder: decoder::Decoder,
    codec: EncodecDecoder,
    tokenizer: Option<TextTokenizer>,
    device: Device,
}

/// The checkpoint's `tokenizer.json` and its EOS id.
struct TextTokenizer {
    tokenizer: tokenizers::Tokenizer,
    eos: Option<u32>,
}

impl TextTokenizer {
    fn load(path: &Path) -> Result<Self, MusicGenError> {
        let mut tokenizer = tokenizers::Tokenizer::from_file(path).map_err(|e| {
            MusicGenError::Tokenizer(format!("cannot load {}: {e}", path.display()))
        })?;
        // One unpadded sequence: a padding or truncation setting saved in the file must not
        // change the ids.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| MusicGenError::Tokenizer(e.to_string()))?;
        let eos = tokenizer.token_to_id("</s>");
        Ok(Self { tokenizer, eos })
    }
}

impl MusicGen {
    /// Loads a checkpoint directory in the Hugging Face layout (`config.json`,
    /// `generation_config.json` if present, `model.safetensors` or its sharded / `.bin` forms),
    /// e.g. a hub-cache snapshot of facebook/musicgen-small.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, MusicGenError> {
        let config = MusicGenConfig::from_file(&dir.join("config.json"))?;
        let generation =
            GenerationConfig::from_file_or_default(&dir.join("generation_config.json"))?;
        let (vb, _) = var_builder(dir, device, &LoadOptions::default())?;
        let text_encoder = t5::T5Encoder::load(vb.pp("text_encoder"), &config.text_encoder)?;
        let enc_to_dec = if config.projects_encoder() {
            Some(linear(
                config.text_encoder.d_model,
                config.decoder.hidden_size,
                vb.pp("enc_to_dec_proj"),
            )?)
        } else {
            None
        };
        let decoder = decoder::Decoder::load(vb.pp("decoder"), &config.decoder)?;
        let tokenizer_path = dir.join("tokenizer.json");
        let tokenizer = if tokenizer_path.is_file() {
            Some(TextTokenizer::load(&tokenizer_path)?)
        } else {
            None
        };
        let codec = EncodecDecoder::load_codebooks(
            vb.pp("audio_encoder"),
            &config.audio_encoder,
            config.decoder.num_codebooks,
        )?;
        Ok(Self {
            config,
            generation,
            text_encoder,
            enc_to_dec,
            decoder,
            codec,
            tokenizer,
            device: device.clone(),
        })
    }

    /// Whether the checkpoint came with a `tokenizer.json` ([`Self::tokenize`] needs one).
    pub fn has_tokenizer(&self) -> bool {
        self.tokenizer.is_some()
    }

    /// Text to T5 token ids as `T5TokenizerFast(text).input_ids`: the tokenizer's own special
    /// tokens, and EOS (`</s>`) last in any case.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, MusicGenError> {
        let Some(tok) = &self.tokenizer else {
            return Err(MusicGenError::Tokenizer(
                "the checkpoint has no tokenizer.json (facebook/musicgen-* ship one)".into(),
            ));
        };
        let encoding = tok
            .tokenizer
            .encode(text, true)
            .map_err(|e| MusicGenError::Tokenizer(e.to_string()))?;
        let mut ids = encoding.get_ids().to_vec();
        if let Some(eos) = tok.eos
            && ids.last() != Some(&eos)
        {
            ids.push(eos);
        }
        if ids.is_empty() {
            return Err(MusicGenError::InvalidInput(format!(
                "`{text}` tokenizes to nothing"
            )));
        }
        let vocab = self.config.text_encoder.vocab_size;
        if let Some(bad) = ids.iter().find(|&&id| id as usize >= vocab) {
            return Err(MusicGenError::Tokenizer(format!(
                "token id {bad} is outside the text encoder's vocabulary of {vocab}"
            )));
        }
        Ok(ids)
    }

    /// Samples per code frame (the codec's hop length).
    pub fn samples_per_frame(&self) -> usize {
        self.config.audio_encoder.hop_length().max(1)
    }

    /// The `max_new_tokens` that makes at least `seconds` of audio: enough code frames to cover
    /// `seconds`, plus the `codebooks - 1` steps of the delay pattern (transformers' examples use
    /// `int(seconds * 50)`, a few frames short).
    pub fn max_new_tokens_for(&self, seconds: f32) -> Result<usize, MusicGenError> {
        if !(seconds.is_finite() && seconds > 0.0) {
            return Err(MusicGenError::InvalidInput(format!(
                "{seconds} s is not a positive length"
            )));
        }
        let samples = (f64::from(seconds) * f64::from(self.sample_rate())).ceil() as usize;
        let frames = samples.div_ceil(self.samples_per_frame()).max(1);
        let k = self.decoder.num_codebooks();
        // At least 2k - 1 tokens, the shortest the delay pattern allows.
        Ok((frames + k - 1).max(2 * k - 1))
    }

    /// Exactly `seconds` of audio for `prompt` (tokenized with the checkpoint's tokenizer),
    /// generated with the checkpoint's generation defaults ([`Self::generate_default`]: the
    /// released checkpoints sample top-k 250 with guidance 3) from `seed`.
    pub fn generate_for_text(
        &self,
        prompt: &str,
        seconds: f32,
        seed: u64,
    ) -> Result<Vec<f32>, MusicGenError> {
        self.generate_for_text_with_progress(prompt, seconds, seed, &mut |_| {})
    }

    /// [`Self::generate_for_text`], calling `progress` with the seconds of audio generated so
    /// far after each decoder step.
    pub fn generate_for_text_with_progress(
        &self,
        prompt: &str,
        seconds: f32,
        seed: u64,
        progress: &mut dyn FnMut(f32),
    ) -> Result<Vec<f32>, MusicGenError> {
        let g = &self.generation;
        let sampling = if g.do_sample {
            Sampling::TopK {
                top_k: g.top_k,
                temperature: g.temperature,
                seed,
            }
        } else {
            Sampling::Greedy
        };
        self.text_to_audio(
            prompt,
            seconds,
            g.guidance_scale.unwrap_or(1.0),
            sampling,
            progress,
        )
    }

    /// Exactly `seconds` of audio for `prompt` with the given guidance and sampling.
    pub fn text_to_audio(
        &self,
        prompt: &str,
        seconds: f32,
        guidance_scale: f64,
        sampling: Sampling,
        progress: &mut dyn FnMut(f32),
    ) -> Result<Vec<f32>, MusicGenError> {
        let ids = self.tokenize(prompt)?;
        let max_new_tokens = self.max_new_tokens_for(seconds)?;
        let k = self.decoder.num_codebooks();
        let per_frame = self.samples_per_frame() as f32 / self.sample_rate().max(1) as f32;
        let mut on_step = |step: usize, _steps: usize| {
            // Frame f is complete once its last codebook (delayed by k - 1) is out.
            progress((step + 1).saturating_sub(k) as f32 * per_frame);
        };
        let (codes, frames) = self.generate_codes_inner(
            &ids,
            max_new_tokens,
            guidance_scale,
            sampling,
            &mut on_step,
        )?;
        let mut audio = self.decode_codes(&codes, frames)?;
        let want = (f64::from(seconds) * f64::from(self.sample_rate())).round() as usize;
        if audio.len() < want {
            return Err(MusicGenError::InvalidInput(format!(
                "the codec made {} samples for {seconds} s ({want} samples)",
                audio.len()
            )));
        }
        audio.truncate(want);
        Ok(audio)
    }

    /// The checkpoint's configuration.
    pub fn config(&self) -> &MusicGenConfig {
        &self.config
    }

    /// The checkpoint's generation defaults.
    pub fn generation_config(&self) -> &GenerationConfig {
        &self.generation
    }

    /// Output sample rate (Hz).
    pub fn sample_rate(&self) -> u32 {
        self.config.audio_encoder.sampling_rate
    }

    /// Code frames per second of audio (50 for the 32 kHz codec).
    pub fn frame_rate(&self) -> usize {
        (self.config.audio_encoder.sampling_rate as usize)
            .div_ceil(self.config.audio_encoder.hop_length().max(1))
    }

    /// The T5 encoder's last hidden state `(1, len, d_model)` for one unpadded sequence.
    pub fn encode_text(&self, input_ids: &[u32]) -> Result<Tensor, MusicGenError> {
        self.text_encoder.forward(input_ids, &self.device)
    }

    /// The cross-attention conditioning: projected encoder states (times the all-ones mask),
    /// doubled with a null half (zero states, zero mask) under guidance.
    fn conditioning(
        &self,
        input_ids: &[u32],
        guided: bool,
    ) -> Result<decoder::Conditioning, MusicGenError> {
        let states = self.encode_text(input_ids)?;
        let (_, len, _) = states.dims3()?;
        let mut mask = Tensor::ones((1, len), DType::F32, &self.device)?;
        let mut states = states;
        if guided {
            states = Tensor::cat(&[&states, &states.zeros_like()?], 0)?;
            mask = Tensor::cat(&[&mask, &mask.zeros_like()?], 0)?;
        }
        if let Some(proj) = &self.enc_to_dec {
            states = proj.forward(&states)?;
        }
        let states = states.broadcast_mul(&mask.unsqueeze(2)?)?;
        // `_prepare_4d_attention_mask`: (1 - mask) * finfo.min.
        let additive = ((1.0 - &mask)? * f64::from(f32::MIN))?
            .unsqueeze(1)?
            .unsqueeze(1)?;
        Ok(decoder::Conditioning {
            states,
            mask: additive,
        })
    }

    /// Teacher-forced decoder logits `(codebooks, steps, vocab)` for `codes` `(codebooks,
    /// steps)` (row-major, each at most the pad id), conditioned on `input_ids`: one forward
    /// pass of `model(input_ids, decoder_input_ids=codes)`.
    pub fn decoder_logits(
        &self,
        input_ids: &[u32],
        codes: &[u32],
    ) -> Result<Tensor, MusicGenError> {
        let k = self.decoder.num_codebooks();
        if codes.is_empty() || !codes.len().is_multiple_of(k) {
            return Err(MusicGenError::InvalidInput(format!(
                "{} codes are not a whole number of steps of {k} codebooks",
                codes.len()
            )));
        }
        let pad = self.config.decoder.pad_token_id;
        if let Some(bad) = codes
            .iter()
            .find(|&&c| c as usize > self.config.decoder.vocab_size)
        {
            return Err(MusicGenError::InvalidInput(format!(
                "code {bad} is outside the decoder's embeddings (pad {pad})"
            )));
        }
        let steps = codes.len() / k;
        let cond = self.conditioning(input_ids, false)?;
        let codes = Tensor::from_slice(codes, (1, k, steps), &self.device)?;
        let mut cache = self.decoder.new_cache();
        Ok(self
            .decoder
            .forward(&codes, &cond, &mut cache)?
            .squeeze(0)?)
    }

    /// Generated codes `(codebooks, frames)` row-major and the frame count, as
    /// `model.generate(input_ids, max_new_tokens=..., guidance_scale=...)` hands them to the
    /// codec (`max_new_tokens + 1 - codebooks` frames).
    pub fn generate_codes(
        &self,
        input_ids: &[u32],
        max_new_tokens: usize,
        guidance_scale: f64,
        sampling: Sampling,
    ) -> Result<(Vec<u32>, usize), MusicGenError> {
        self.generate_codes_inner(
            input_ids,
            max_new_tokens,
            guidance_scale,
            sampling,
            &mut |_, _| {},
        )
    }

    fn generate_codes_inner(
        &self,
        input_ids: &[u32],
        max_new_tokens: usize,
        guidance_scale: f64,
        sampling: Sampling,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<(Vec<u32>, usize), MusicGenError> {
        if let Sampling::TopK { temperature, .. } = sampling
            && !(temperature > 0.0 && temperature.is_finite())
        {
            return Err(MusicGenError::InvalidInput(format!(
                "temperature {temperature} is not positive"
            )));
        }
        let guided = (guidance_scale > 1.0).then_some(guidance_scale);
        let cond = self.conditioning(input_ids, guided.is_some())?;
        generate::generate_codes(
            &self.decoder,
            &cond,
            guided,
            max_new_tokens,
            sampling,
            self.config.decoder.pad_token_id,
            &self.device,
            progress,
        )
    }

    /// Mono waveform from codes `(codebooks, frames)` (row-major).
    pub fn decode_codes(&self, codes: &[u32], frames: usize) -> Result<Vec<f32>, MusicGenError> {
        let k = self.decoder.num_codebooks();
        if codes.len() != k * frames {
            return Err(MusicGenError::InvalidInput(format!(
                "{} codes for {frames} frames of {k} codebooks",
                codes.len()
            )));
        }
        let vocab = self.config.decoder.vocab_size;
        if let Some(bad) = codes.iter().find(|&&c| c as usize >= vocab) {
            return Err(MusicGenError::InvalidInput(format!(
                "code {bad} is outside the codebooks of {vocab}"
            )));
        }
        let audio = self.codec.decode(codes, k, frames, &self.device)?;
        Ok(audio.flatten_all()?.to_vec1::<f32>()?)
    }

    /// Text token ids to a mono waveform at [`Self::sample_rate`]: `max_new_tokens` decoder
    /// steps (50 a second at 32 kHz, less the `codebooks - 1` steps of the delay pattern),
    /// classifier-free guidance when `guidance_scale > 1`, greedy decoding when `sampling` is
    /// `None`, else top-k / temperature sampling from the seed.
    pub fn generate(
        &self,
        input_ids: &[u32],
        max_new_tokens: usize,
        guidance_scale: f64,
        sampling: Option<(usize, f64, u64)>,
    ) -> Result<Vec<f32>, MusicGenError> {
        let sampling = match sampling {
            Some((top_k, temperature, seed)) => Sampling::TopK {
                top_k,
                temperature,
                seed,
            },
            None => Sampling::Greedy,
        };
        let (codes, frames) =
            self.generate_codes(input_ids, max_new_tokens, guidance_scale, sampling)?;
        self.decode_codes(&codes, frames)
    }

    /// [`Self::generate`] with the checkpoint's `generation_config.json`: its guidance scale
    /// (none: 1), and sampling with its top-k and temperature from `seed` when `do_sample` (the
    /// released checkpoints: top-k 250, temperature 1, guidance 3), else greedy decoding.
    pub fn generate_default(
        &self,
        input_ids: &[u32],
        max_new_tokens: usize,
        seed: u64,
    ) -> Result<Vec<f32>, MusicGenError> {
        let g = &self.generation;
        let sampling = g.do_sample.then_some((g.top_k, g.temperature, seed));
        self.generate(
            input_ids,
            max_new_tokens,
            g.guidance_scale.unwrap_or(1.0),
            sampling,
        )
    }
}

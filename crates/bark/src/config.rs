//! `config.json` (`BarkConfig` with its three GPT sub-configs and the EnCodec codec config) and
//! `generation_config.json` (`BarkGenerationConfig`), with transformers' defaults for every field
//! a file may leave out.

use std::path::Path;

use serde::Deserialize;

use audiosubnet_candle::{EncodecConfig, EncodecConfigError, read_config};

use crate::BarkError;

/// One GPT stage (`BarkSubModelConfig`: semantic, coarse acoustics or fine acoustics).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct SubModelConfig {
    /// Longest sequence (positions embedded).
    pub block_size: usize,
    /// Input vocabulary.
    pub input_vocab_size: usize,
    /// Output vocabulary (logits).
    pub output_vocab_size: usize,
    /// Transformer blocks.
    pub num_layers: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// Hidden size.
    pub hidden_size: usize,
    /// Biases in the linear layers (and, in the causal stages, the layer norms).
    pub bias: bool,
    /// Codebooks in all (fine stage only).
    pub n_codes_total: usize,
    /// Codebooks given to the fine stage (fine stage only).
    pub n_codes_given: usize,
}

impl Default for SubModelConfig {
    fn default() -> Self {
        Self {
            block_size: 1024,
            input_vocab_size: 10_048,
            output_vocab_size: 10_048,
            num_layers: 12,
            num_heads: 12,
            hidden_size: 768,
            bias: true,
            n_codes_total: 8,
            n_codes_given: 1,
        }
    }
}

impl SubModelConfig {
    fn validate(&self, name: &str) -> Result<(), BarkError> {
        if self.num_heads == 0 || !self.hidden_size.is_multiple_of(self.num_heads) {
            return Err(BarkError::Config(format!(
                "{name}: hidden_size {} is not a multiple of num_heads {}",
                self.hidden_size, self.num_heads
            )));
        }
        if self.block_size == 0 || self.input_vocab_size == 0 || self.output_vocab_size == 0 {
            return Err(BarkError::Config(format!(
                "{name}: empty vocabulary or block"
            )));
        }
        Ok(())
    }
}

/// `config.json` of a `BarkModel` checkpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BarkConfig {
    /// Text to semantic tokens.
    #[serde(default)]
    pub semantic_config: SubModelConfig,
    /// Semantic to the first codebooks.
    #[serde(default)]
    pub coarse_acoustics_config: SubModelConfig,
    /// The remaining codebooks.
    #[serde(default)]
    pub fine_acoustics_config: SubModelConfig,
    /// The EnCodec decoder.
    #[serde(default)]
    pub codec_config: EncodecConfig,
}

impl BarkConfig {
    /// Reads and checks `config.json`.
    pub fn from_file(path: &Path) -> Result<Self, BarkError> {
        let config: Self = read_config(path)?;
        config.semantic_config.validate("semantic")?;
        config
            .coarse_acoustics_config
            .validate("coarse_acoustics")?;
        config.fine_acoustics_config.validate("fine_acoustics")?;
        config.codec_config.validate().map_err(|e| match e {
            EncodecConfigError::Unsupported(what) => BarkError::Unsupported(what),
            other => BarkError::Config(other.to_string()),
        })?;
        let fine = &config.fine_acoustics_config;
        if fine.n_codes_given == 0 || fine.n_codes_given >= fine.n_codes_total {
            return Err(BarkError::Config(format!(
                "fine_acoustics: n_codes_given {} must be in 1..n_codes_total {}",
                fine.n_codes_given, fine.n_codes_total
            )));
        }
        Ok(config)
    }
}

/// `BarkSemanticGenerationConfig`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct SemanticGenerationConfig {
    /// End of the semantic sequence, also its padding (`semantic_pad_token`).
    pub eos_token_id: u32,
    /// Most semantic tokens generated.
    pub max_new_tokens: usize,
    /// Sampling temperature (used when sampling).
    pub temperature: f64,
    /// Sample instead of greedy decoding.
    pub do_sample: bool,
    /// Offset added to the text token ids.
    pub text_encoding_offset: u32,
    /// Padding of the text ids.
    pub text_pad_token: u32,
    /// Token after the text + history prompt.
    pub semantic_infer_token: u32,
    /// Number of real semantic tokens.
    pub semantic_vocab_size: u32,
    /// Text (and semantic history) length.
    pub max_input_semantic_length: usize,
    /// Semantic tokens per second.
    pub semantic_rate_hz: f64,
    /// Early stop when the EOS probability exceeds it.
    pub min_eos_p: Option<f64>,
    /// Top-k filter when sampling.
    pub top_k: Option<usize>,
    /// Top-p filter when sampling.
    pub top_p: Option<f64>,
}

impl Default for SemanticGenerationConfig {
    fn default() -> Self {
        Self {
            eos_token_id: 10_000,
            max_new_tokens: 768,
            temperature: 1.0,
            do_sample: false,
            text_encoding_offset: 10_048,
            text_pad_token: 129_595,
            semantic_infer_token: 129_599,
            semantic_vocab_size: 10_000,
            max_input_semantic_length: 256,
            semantic_rate_hz: 49.9,
            min_eos_p: None,
            top_k: None,
            top_p: None,
        }
    }
}

/// `BarkCoarseGenerationConfig`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct CoarseGenerationConfig {
    /// Sampling temperature (used when sampling).
    pub temperature: f64,
    /// Sample instead of greedy decoding.
    pub do_sample: bool,
    /// Padding of the semantic input.
    pub coarse_semantic_pad_token: u32,
    /// Coarse frames per second.
    pub coarse_rate_hz: f64,
    /// Codebooks the coarse stage generates (interleaved).
    pub n_coarse_codebooks: usize,
    /// Token between the semantic input and the coarse history.
    pub coarse_infer_token: u32,
    /// Semantic input length per window.
    pub max_coarse_input_length: usize,
    /// Coarse tokens of history per window.
    pub max_coarse_history: usize,
    /// Coarse tokens generated per window.
    pub sliding_window_len: usize,
    /// Top-k filter when sampling.
    pub top_k: Option<usize>,
    /// Top-p filter when sampling.
    pub top_p: Option<f64>,
}

impl Default for CoarseGenerationConfig {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            do_sample: false,
            coarse_semantic_pad_token: 12_048,
            coarse_rate_hz: 75.0,
            n_coarse_codebooks: 2,
            coarse_infer_token: 12_050,
            max_coarse_input_length: 256,
            max_coarse_history: 630,
            sliding_window_len: 60,
            top_k: None,
            top_p: None,
        }
    }
}

/// `BarkFineGenerationConfig`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct FineGenerationConfig {
    /// Temperature; `None` or 1.0 means argmax (transformers' rule).
    pub temperature: Option<f64>,
    /// Frames of history per window.
    pub max_fine_history_length: usize,
    /// Window length.
    pub max_fine_input_length: usize,
    /// Codebooks in all.
    pub n_fine_codebooks: usize,
}

impl Default for FineGenerationConfig {
    fn default() -> Self {
        Self {
            temperature: Some(1.0),
            max_fine_history_length: 512,
            max_fine_input_length: 1024,
            n_fine_codebooks: 8,
        }
    }
}

/// `generation_config.json` of a `BarkModel` checkpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct GenerationConfig {
    /// Semantic stage.
    pub semantic_config: SemanticGenerationConfig,
    /// Coarse stage.
    pub coarse_acoustics_config: CoarseGenerationConfig,
    /// Fine stage.
    pub fine_acoustics_config: FineGenerationConfig,
    /// Output sample rate.
    pub sample_rate: u32,
    /// Entries per codebook.
    pub codebook_size: u32,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        Self {
            semantic_config: SemanticGenerationConfig::default(),
            coarse_acoustics_config: CoarseGenerationConfig::default(),
            fine_acoustics_config: FineGenerationConfig::default(),
            sample_rate: 24_000,
            codebook_size: 1024,
        }
    }
}

impl GenerationConfig {
    /// Reads `generation_config.json`, or transformers' defaults when the file is absent.
    pub fn from_file_or_default(path: &Path) -> Result<Self, BarkError> {
        if path.exists() {
            Ok(read_config(path)?)
        } else {
            Ok(Self::default())
        }
    }

    /// Checks the ids and lengths against the models they drive.
    pub(crate) fn validate(&self, model: &BarkConfig) -> Result<(), BarkError> {
        let s = &self.semantic_config;
        let c = &self.coarse_acoustics_config;
        let f = &self.fine_acoustics_config;
        let sem = &model.semantic_config;
        let coarse = &model.coarse_acoustics_config;
        let fine = &model.fine_acoustics_config;
        let bad = |msg: String| Err(BarkError::Config(msg));
        for (name, id) in [
            ("text_pad_token", s.text_pad_token),
            ("semantic_infer_token", s.semantic_infer_token),
            ("eos_token_id", s.eos_token_id),
        ] {
            if id as usize >= sem.input_vocab_size {
                return bad(format!(
                    "semantic {name} {id} is outside the input vocabulary"
                ));
            }
        }
        if s.eos_token_id as usize >= sem.output_vocab_size
            || s.semantic_vocab_size > s.eos_token_id
        {
            return bad("semantic eos must follow the semantic vocabulary".to_owned());
        }
        if s.max_input_semantic_length == 0 || s.max_input_semantic_length + 1 > sem.block_size {
            return bad("max_input_semantic_length does not fit the semantic block".to_owned());
        }
        if c.max_coarse_input_length + 1 + c.max_coarse_history + c.sliding_window_len
            > coarse.block_size + 1
        {
            return bad("coarse windows do not fit the coarse block".to_owned());
        }
        if c.n_coarse_codebooks == 0
            || c.sliding_window_len == 0
            || c.max_coarse_input_length == 0
            || c.coarse_rate_hz <= 0.0
            || s.semantic_rate_hz <= 0.0
        {
            return bad("coarse lengths and rates must be positive".to_owned());
        }
        let coarse_top =
            s.semantic_vocab_size as usize + c.n_coarse_codebooks * self.codebook_size as usize;
        if coarse_top > coarse.output_vocab_size
            || coarse_top > coarse.input_vocab_size
            // Every token the coarse model may output is fed back in.
            || coarse.output_vocab_size > coarse.input_vocab_size
            || c.coarse_semantic_pad_token as usize >= coarse.input_vocab_size
            || c.coarse_infer_token as usize >= coarse.input_vocab_size
        {
            return bad("coarse ids do not fit the coarse vocabularies".to_owned());
        }
        if f.n_fine_codebooks != fine.n_codes_total
            || c.n_coarse_codebooks < fine.n_codes_given
            || c.n_coarse_codebooks >= f.n_fine_codebooks
        {
            return bad("codebook counts disagree between stages".to_owned());
        }
        if self.codebook_size as usize >= fine.input_vocab_size
            || (self.codebook_size as usize) > fine.output_vocab_size
        {
            return bad("codebook_size does not fit the fine vocabularies".to_owned());
        }
        if f.max_fine_input_length > fine.block_size
            || f.max_fine_history_length == 0
            || f.max_fine_history_length > f.max_fine_input_length
        {
            return bad("fine window does not fit the fine block".to_owned());
        }
        if f.n_fine_codebooks > model.codec_config.num_quantizers()
            || self.codebook_size as usize != model.codec_config.codebook_size
        {
            return bad("the codec has fewer or differently sized codebooks".to_owned());
        }
        Ok(())
    }
}

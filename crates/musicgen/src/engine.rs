//! [`MusicGenEngine`]: a resident MusicGen checkpoint behind `audiosubnet_music::MusicEngine`,
//! so the miner's music pool and `audiosubnet music` run facebook/musicgen-* by name. The
//! checkpoint comes from a directory (`--music.model.path`) or the Hugging Face cache at a
//! revision (`--music.model.revision`), through the same [`HubModel`] resolver the speech
//! engines use; workers share one loaded model.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use audiosubnet_models::hub::HubModel;
use audiosubnet_music::{MAX_DURATION_S, MusicAudio, MusicEngine, MusicError};
use candle_core::Device;

use crate::{MusicGen, MusicGenError};

/// The MusicGen checkpoints selectable by name (also without the `facebook/` prefix), with
/// what each is.
pub const MUSICGEN_MODELS: &[(&str, &str)] = &[
    (
        "facebook/musicgen-small",
        "MusicGen 300M (text to 32 kHz music; --music.model.path or the Hugging Face cache)",
    ),
    (
        "facebook/musicgen-medium",
        "MusicGen 1.5B (text to 32 kHz music; --music.model.path or the Hugging Face cache)",
    ),
    (
        "facebook/musicgen-large",
        "MusicGen 3.3B (text to 32 kHz music; --music.model.path or the Hugging Face cache)",
    ),
];

/// The canonical repo of a MusicGen name (`facebook/musicgen-small` or `musicgen-small`, ...).
fn canonical(name: &str) -> Option<&'static str> {
    let short = name.strip_prefix("facebook/").unwrap_or(name);
    MUSICGEN_MODELS
        .iter()
        .map(|(repo, _)| *repo)
        .find(|repo| repo.strip_prefix("facebook/") == Some(short))
}

/// Whether `name` selects a MusicGen checkpoint.
pub fn is_musicgen_name(name: &str) -> bool {
    canonical(name).is_some()
}

/// The hub repo and files of the MusicGen checkpoint `name`, if it is one.
pub fn hub_model(name: &str) -> Option<HubModel> {
    canonical(name).map(|repo| HubModel {
        repo,
        revision: Cow::Borrowed("main"),
        required: &["config.json", "tokenizer.json"],
        weights: &[
            "model.safetensors",
            "model.safetensors.index.json",
            "pytorch_model.bin",
            "pytorch_model.bin.index.json",
        ],
    })
}

/// Where a MusicGen engine finds its checkpoint and where it runs.
#[derive(Debug, Clone, Default)]
pub struct MusicGenOptions {
    /// A checkpoint directory (config.json, tokenizer.json, weights); default: the Hugging Face
    /// cache's snapshot of the named repo.
    pub path: Option<PathBuf>,
    /// The hub revision (branch, tag or commit) to look up in the cache; default: main.
    pub revision: Option<String>,
    /// Run on CUDA device 0 (needs a build with the `cuda` feature) instead of the CPU.
    pub cuda: bool,
}

/// Seconds of audio generated so far, after each decoder step.
pub type Progress = Box<dyn FnMut(f32) + Send>;

/// A loaded MusicGen checkpoint as a music engine. Clones share the model.
pub struct MusicGenEngine {
    name: String,
    model: Arc<MusicGen>,
    progress: Option<Progress>,
}

impl Clone for MusicGenEngine {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            model: Arc::clone(&self.model),
            progress: None,
        }
    }
}

impl std::fmt::Debug for MusicGenEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MusicGenEngine")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn model_error(engine: &str, message: impl Into<String>) -> MusicError {
    MusicError::Model {
        engine: engine.to_owned(),
        message: message.into(),
    }
}

impl MusicGenEngine {
    /// Loads the MusicGen checkpoint `name` (see [`MUSICGEN_MODELS`]) from `options.path` or the
    /// Hugging Face cache.
    pub fn load(name: &str, options: &MusicGenOptions) -> Result<Self, MusicError> {
        let Some(model) = hub_model(name) else {
            return Err(MusicError::UnknownEngine {
                name: name.to_owned(),
                known: MUSICGEN_MODELS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let repo = model.repo;
        let dir = model
            .at_revision(options.revision.as_deref())
            .resolve(options.path.as_deref())
            .map_err(|e| {
                model_error(
                    repo,
                    format!(
                        "no checkpoint: {e} (the miner takes the directory as \
                         --music.model.path and the revision as --music.model.revision)"
                    ),
                )
            })?;
        let device = if options.cuda {
            Device::new_cuda(0).map_err(|e| {
                model_error(
                    repo,
                    format!("cannot use CUDA: {e} (CUDA needs a build with `--features cuda`)"),
                )
            })?
        } else {
            Device::Cpu
        };
        let model = MusicGen::load(&dir, &device).map_err(|e| {
            model_error(
                repo,
                format!("cannot load the checkpoint in {}: {e}", dir.display()),
            )
        })?;
        if !model.has_tokenizer() {
            return Err(model_error(
                repo,
                format!(
                    "{} has no tokenizer.json; copy it from {repo} on the Hugging Face Hub",
                    dir.display()
                ),
            ));
        }
        tracing::info!(engine = repo, dir = %dir.display(), cuda = options.cuda, "MusicGen checkpoint loaded");
        Ok(Self {
            name: repo.to_owned(),
            model: Arc::new(model),
            progress: None,
        })
    }

    /// `count` engines sharing one loaded checkpoint, for a worker pool.
    pub fn load_many(
        name: &str,
        options: &MusicGenOptions,
        count: usize,
    ) -> Result<Vec<Box<dyn MusicEngine>>, MusicError> {
        let first = Self::load(name, options)?;
        Ok((0..count.max(1))
            .map(|_| Box::new(first.clone()) as Box<dyn MusicEngine>)
            .collect())
    }

    /// Calls `progress` with the seconds of audio generated so far after each decoder step.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The loaded model.
    pub fn model(&self) -> &MusicGen {
        &self.model
    }
}

impl MusicEngine for MusicGenEngine {
    fn name(&self) -> &str {
        &self.name
    }

    fn sample_rate(&self) -> u32 {
        self.model.sample_rate()
    }

    fn generate(
        &mut self,
        prompt: &str,
        seconds: f32,
        seed: u64,
    ) -> Result<MusicAudio, MusicError> {
        if !seconds.is_finite() || seconds <= 0.0 || seconds > MAX_DURATION_S {
            return Err(MusicError::Duration(seconds));
        }
        let mut none = |_: f32| {};
        let progress: &mut dyn FnMut(f32) = match self.progress.as_mut() {
            Some(p) => p.as_mut(),
            None => &mut none,
        };
        let samples = self
            .model
            .generate_for_text_with_progress(prompt, seconds, seed, progress)
            .map_err(|e| match e {
                MusicGenError::InvalidInput(m) | MusicGenError::Tokenizer(m) => {
                    model_error(&self.name, format!("cannot generate for this prompt: {m}"))
                }
                other => model_error(&self.name, other.to_string()),
            })?;
        Ok(MusicAudio {
            samples,
            sample_rate: self.model.sample_rate(),
        })
    }
}

//! Voice presets (Bark's "history prompts"): the semantic, coarse and fine tokens of a sample of
//! the voice, as `.npz` files (keys `semantic_prompt`, `coarse_prompt`, `fine_prompt`) or as the
//! three `.npy` files of a checkpoint's `speaker_embeddings/` directory.

use std::path::{Path, PathBuf};

use candle_core::{DType, Tensor};

use crate::BarkError;
use crate::config::{BarkConfig, GenerationConfig};

/// A speaker prompt: token ids of one utterance in that voice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoicePreset {
    /// Semantic tokens, `(frames,)`.
    pub semantic: Vec<u32>,
    /// Coarse codes per codebook, `(n_coarse_codebooks, frames)`, without offsets.
    pub coarse: Vec<Vec<u32>>,
    /// All codes per codebook, `(n_fine_codebooks, frames)`.
    pub fine: Vec<Vec<u32>>,
}

fn to_ids(t: &Tensor, rank: usize, path: &Path, key: &str) -> Result<Vec<Vec<u32>>, BarkError> {
    let err = |reason: String| BarkError::Preset {
        path: path.to_owned(),
        reason,
    };
    if t.rank() != rank {
        return Err(err(format!(
            "{key} must be a {rank}-D array, got {:?}",
            t.dims()
        )));
    }
    let t = if rank == 1 {
        t.unsqueeze(0)?
    } else {
        t.clone()
    };
    if !matches!(
        t.dtype(),
        DType::I64 | DType::U32 | DType::U8 | DType::I32 | DType::I16
    ) {
        return Err(err(format!(
            "{key} must hold integers, not {:?}",
            t.dtype()
        )));
    }
    let rows = t.to_dtype(DType::I64)?.to_vec2::<i64>()?;
    rows.into_iter()
        .map(|row| {
            row.into_iter()
                .map(|v| u32::try_from(v).map_err(|_| err(format!("{key} holds {v}"))))
                .collect()
        })
        .collect()
}

impl VoicePreset {
    /// Reads a `.npz` preset as `BarkProcessor` loads it.
    pub fn from_npz(path: impl AsRef<Path>) -> Result<Self, BarkError> {
        let path = path.as_ref();
        let arrays = Tensor::read_npz(path).map_err(|e| BarkError::Preset {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let get = |key: &str| {
            arrays
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, t)| t)
                .ok_or_else(|| BarkError::Preset {
                    path: path.to_owned(),
                    reason: format!("missing {key}"),
                })
        };
        Self::from_tensors(
            get("semantic_prompt")?,
            get("coarse_prompt")?,
            get("fine_prompt")?,
            path,
        )
    }

    /// Reads the three `.npy` files of a preset (`speaker_embeddings/<name>_semantic_prompt.npy`
    /// and so on).
    pub fn from_npy_files(
        semantic: impl AsRef<Path>,
        coarse: impl AsRef<Path>,
        fine: impl AsRef<Path>,
    ) -> Result<Self, BarkError> {
        let read = |p: &Path| {
            Tensor::read_npy(p).map_err(|e| BarkError::Preset {
                path: p.to_owned(),
                reason: e.to_string(),
            })
        };
        let s = read(semantic.as_ref())?;
        let c = read(coarse.as_ref())?;
        let f = read(fine.as_ref())?;
        Self::from_tensors(&s, &c, &f, semantic.as_ref())
    }

    fn from_tensors(s: &Tensor, c: &Tensor, f: &Tensor, path: &Path) -> Result<Self, BarkError> {
        let semantic = to_ids(s, 1, path, "semantic_prompt")?
            .into_iter()
            .next()
            .unwrap_or_default();
        Ok(Self {
            semantic,
            coarse: to_ids(c, 2, path, "coarse_prompt")?,
            fine: to_ids(f, 2, path, "fine_prompt")?,
        })
    }

    /// Checks the preset against the model it conditions.
    pub(crate) fn check(
        &self,
        config: &BarkConfig,
        generation: &GenerationConfig,
    ) -> Result<(), BarkError> {
        let err = |reason: String| BarkError::Preset {
            path: PathBuf::new(),
            reason,
        };
        let n_coarse = generation.coarse_acoustics_config.n_coarse_codebooks;
        let n_fine = generation.fine_acoustics_config.n_fine_codebooks;
        let cb = generation.codebook_size;
        if self.coarse.len() != n_coarse {
            return Err(err(format!(
                "coarse_prompt has {} codebooks, the model {n_coarse}",
                self.coarse.len()
            )));
        }
        if self.fine.len() != n_fine {
            return Err(err(format!(
                "fine_prompt has {} codebooks, the model {n_fine}",
                self.fine.len()
            )));
        }
        for (name, rows) in [("coarse_prompt", &self.coarse), ("fine_prompt", &self.fine)] {
            let len = rows.first().map_or(0, Vec::len);
            if rows.iter().any(|r| r.len() != len) {
                return Err(err(format!("{name} rows differ in length")));
            }
            if rows.iter().flatten().any(|&v| v >= cb) {
                return Err(err(format!(
                    "{name} holds codes outside the codebook of {cb}"
                )));
            }
        }
        let vocab = config
            .semantic_config
            .input_vocab_size
            .min(config.coarse_acoustics_config.input_vocab_size);
        if self.semantic.iter().any(|&v| v as usize >= vocab) {
            return Err(err(
                "semantic_prompt holds tokens outside the vocabulary".to_owned()
            ));
        }
        Ok(())
    }
}

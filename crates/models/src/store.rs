//! Where models live on disk and how they are verified.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::{ModelError, ModelSpec, manifest};

/// The cache root: `$AUDIOSUBNET_HOME`, else `~/.cache/audiosubnet`.
pub fn home_dir() -> Result<PathBuf, ModelError> {
    match std::env::var_os("AUDIOSUBNET_HOME") {
        Some(v) if !v.is_empty() => Ok(PathBuf::from(v)),
        _ => dirs::home_dir()
            .map(|h| h.join(".cache").join("audiosubnet"))
            .ok_or(ModelError::NoHomeDir),
    }
}

/// State of one model file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    /// Present with the pinned size and sha256.
    Ok,
    /// Not present.
    Missing,
    /// Present but the size or hash differs.
    Corrupt {
        /// What was found (hash or size).
        actual: String,
    },
}

/// Verified paths of one model's files.
#[derive(Debug, Clone)]
pub struct ModelPaths {
    /// The manifest entry.
    pub spec: &'static ModelSpec,
    /// The model directory.
    pub dir: PathBuf,
}

impl ModelPaths {
    /// Path of the file with this name (last component of its wheel path).
    pub fn file(&self, file_name: &str) -> PathBuf {
        self.dir.join(file_name)
    }
}

/// A models directory (`<home>/models`), one subdirectory per manifest name.
#[derive(Debug, Clone)]
pub struct ModelStore {
    root: PathBuf,
}

/// Files already hashed in this process, keyed by path, valid while size and mtime are unchanged:
/// several engine instances load the same model and need not hash 60 MB each time.
fn verified_cache() -> &'static Mutex<HashMap<PathBuf, (u64, SystemTime)>> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, (u64, SystemTime)>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

impl ModelStore {
    /// A store rooted at `root` (the directory that holds `<name>/` directories).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The default store: `home_dir()/models`.
    pub fn from_env() -> Result<Self, ModelError> {
        Ok(Self::new(home_dir()?.join("models")))
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of one model.
    pub fn dir(&self, spec: &ModelSpec) -> PathBuf {
        self.root.join(spec.name)
    }

    /// Checks one file (size first, then sha256).
    pub fn file_status(&self, spec: &ModelSpec, file: &manifest::ModelFile) -> FileStatus {
        let path = self.dir(spec).join(file.file_name());
        let Ok(meta) = std::fs::metadata(&path) else {
            return FileStatus::Missing;
        };
        if !meta.is_file() {
            return FileStatus::Missing;
        }
        if meta.len() != file.size {
            return FileStatus::Corrupt {
                actual: format!("size {} (expected {})", meta.len(), file.size),
            };
        }
        let stamp = (
            meta.len(),
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        );
        if let Ok(cache) = verified_cache().lock()
            && cache.get(&path) == Some(&stamp)
        {
            return FileStatus::Ok;
        }
        match sha256_file(&path) {
            Ok(hash) if hash == file.sha256 => {
                if let Ok(mut cache) = verified_cache().lock() {
                    cache.insert(path, stamp);
                }
                FileStatus::Ok
            }
            Ok(hash) => FileStatus::Corrupt { actual: hash },
            Err(e) => FileStatus::Corrupt {
                actual: format!("unreadable: {e}"),
            },
        }
    }

    /// Whether every file of the model is present and verified.
    pub fn is_installed(&self, spec: &ModelSpec) -> bool {
        spec.files
            .iter()
            .all(|f| self.file_status(spec, f) == FileStatus::Ok)
    }

    /// Verified paths for the model `name`, or an error naming `audiosubnet models fetch <name>`.
    pub fn require(&self, name: &str) -> Result<ModelPaths, ModelError> {
        let spec = manifest::find(name).ok_or_else(|| ModelError::UnknownModel {
            name: name.to_owned(),
            known: manifest::names().collect::<Vec<_>>().join(", "),
        })?;
        let dir = self.dir(spec);
        for file in spec.files {
            let path = dir.join(file.file_name());
            match self.file_status(spec, file) {
                FileStatus::Ok => {}
                FileStatus::Missing => {
                    return Err(ModelError::Missing {
                        name: spec.name.to_owned(),
                        path,
                    });
                }
                FileStatus::Corrupt { actual } => {
                    return Err(ModelError::Corrupt {
                        name: spec.name.to_owned(),
                        path,
                        expected: file.sha256.to_owned(),
                        actual,
                    });
                }
            }
        }
        Ok(ModelPaths { spec, dir })
    }
}

/// Lower-case hex sha256 of a file.
pub(crate) fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_corrupt_models_name_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ModelStore::new(tmp.path());

        let err = store.require("dnsmos").unwrap_err();
        assert!(matches!(err, ModelError::Missing { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("run `audiosubnet models fetch dnsmos`"),
            "{err}"
        );

        // Same size, wrong content: only the hash can tell.
        let spec = manifest::find("dnsmos").unwrap();
        let dir = store.dir(spec);
        std::fs::create_dir_all(&dir).unwrap();
        let file = &spec.files[0];
        std::fs::write(
            dir.join(file.file_name()),
            vec![0u8; usize::try_from(file.size).unwrap()],
        )
        .unwrap();
        let err = store.require("dnsmos").unwrap_err();
        assert!(matches!(err, ModelError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("audiosubnet models fetch dnsmos"));

        std::fs::write(dir.join(file.file_name()), b"short").unwrap();
        let err = store.require("dnsmos").unwrap_err();
        assert!(err.to_string().contains("size 5"), "{err}");

        let err = store.require("no-such-model").unwrap_err();
        assert!(err.to_string().contains("piper-joe"), "{err}");
    }

    #[test]
    fn verified_file_is_ok() {
        // A tiny fake spec would need a 'static manifest entry; hash a file directly instead.
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("x");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

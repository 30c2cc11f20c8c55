//! Build facts for `audiosubnet --version`: the git commit of the source tree and the cargo
//! features this binary was built with.
//!
//! The commit is `git rev-parse --short=12 HEAD`, with `-dirty` when tracked files differ from
//! it, `$AUDIOSUBNET_BUILD_COMMIT` when set (for packagers building outside git), and `unknown`
//! without git or a `.git` directory (a source tarball). The script reruns when HEAD moves (a
//! commit, checkout or reset), not on every source edit: `-dirty` is as of the last time it ran.

use std::path::{Path, PathBuf};
use std::process::Command;

const COMMIT_ENV: &str = "AUDIOSUBNET_BUILD_COMMIT";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed={COMMIT_ENV}");
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());

    let commit = match std::env::var(COMMIT_ENV) {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => git_commit(&manifest_dir).unwrap_or_else(|| "unknown".to_string()),
    };
    println!("cargo:rustc-env=AUDIOSUBNET_GIT_COMMIT={commit}");

    // CARGO_FEATURE_CUDA=1 for `--features cuda`; cargo upper-cases and replaces '-' by '_'.
    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| {
            k.strip_prefix("CARGO_FEATURE_")
                .map(|f| f.to_ascii_lowercase().replace('_', "-"))
        })
        .filter(|f| f != "default")
        .collect();
    features.sort();
    let features = if features.is_empty() {
        "none".to_string()
    } else {
        features.join(",")
    };
    println!("cargo:rustc-env=AUDIOSUBNET_FEATURES={features}");
}

/// Runs git in `dir`; its trimmed stdout when it succeeded. `--no-optional-locks`: `status`
/// must not take the index lock from a git command running beside the build.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .arg("--no-optional-locks")
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The short HEAD commit with `-dirty`, and the rerun triggers for the files HEAD is read from.
fn git_commit(dir: &Path) -> Option<String> {
    // HEAD itself (checkout, detach), the branch it points at (commit, reset) and packed-refs
    // (where that branch lives after `git gc`). Only existing files: cargo reruns the script on
    // every build for a path that does not exist. `--git-path` resolves worktrees too.
    let mut watched = vec![git(dir, &["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(dir, &["rev-parse", "--git-path", &branch]));
    }
    watched.push(git(dir, &["rev-parse", "--git-path", "packed-refs"]));
    for path in watched.into_iter().flatten() {
        let path = dir.join(path);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    // A source tarball unpacked inside some other repository (a home directory under git) is
    // not that repository's commit: this file must be tracked. (Watched above, so the first
    // commit that adds it reruns the script.)
    git(dir, &["ls-files", "--error-unmatch", "build.rs"])?;
    let hash = git(dir, &["rev-parse", "--short=12", "HEAD"])?;
    if hash.is_empty() {
        return None;
    }
    // Untracked files do not count, as with `git describe --dirty`.
    let dirty =
        git(dir, &["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{hash}-dirty") } else { hash })
}

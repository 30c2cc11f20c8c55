//! What `audiosubnet --version` prints, and the weights `version_key` the validator sends.
//!
//! The `version_key` follows the original subnet's rule (its `__spec_version__`, also the
//! Python subnet template's): `1000·major + 10·minor + patch`, so 3.3.6 was 3036 and 0.1.0 is
//! 10. Keys grow with releases as long as minor stays below 100 and patch below 10; the build
//! fails otherwise rather than send a key that sorts wrongly.

/// The `version_key` of a release (see the module doc).
pub(crate) const fn version_key(major: u64, minor: u64, patch: u64) -> u64 {
    1000 * major + 10 * minor + patch
}

/// A decimal string of `Cargo.toml`'s version parts, at compile time.
const fn parse_u64(s: &str) -> u64 {
    let bytes = s.as_bytes();
    assert!(!bytes.is_empty(), "empty version part");
    let mut n = 0u64;
    let mut i = 0;
    while i < bytes.len() {
        assert!(bytes[i].is_ascii_digit(), "version part is not a number");
        n = n * 10 + (bytes[i] - b'0') as u64;
        i += 1;
    }
    n
}

const MAJOR: u64 = parse_u64(env!("CARGO_PKG_VERSION_MAJOR"));
const MINOR: u64 = parse_u64(env!("CARGO_PKG_VERSION_MINOR"));
const PATCH: u64 = parse_u64(env!("CARGO_PKG_VERSION_PATCH"));
const _: () = assert!(
    MINOR < 100 && PATCH < 10,
    "version_key = 1000·major + 10·minor + patch needs minor < 100 and patch < 10"
);

/// This build's `version_key`: the default of the validator's `--neuron.version_key`.
pub(crate) const VERSION_KEY: u64 = version_key(MAJOR, MINOR, PATCH);

/// The git commit the binary was built from (`build.rs`).
pub(crate) const COMMIT: &str = env!("AUDIOSUBNET_GIT_COMMIT");

/// The cargo features it was built with, comma-separated, or `none`.
pub(crate) const FEATURES: &str = env!("AUDIOSUBNET_FEATURES");

/// `--version`: one fact per line, so scripts can grep a line.
pub(crate) fn long_version() -> String {
    format!(
        "{}\ncommit: {COMMIT}\nfeatures: {FEATURES}\nversion_key: {VERSION_KEY}",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_key_matches_the_original_rule() {
        // The original's 3.3.6 sent 3036 (docs: reference spec, weights).
        assert_eq!(version_key(3, 3, 6), 3036);
        assert_eq!(version_key(0, 1, 0), 10);
        assert_eq!(
            VERSION_KEY,
            version_key(MAJOR, MINOR, PATCH),
            "this build's key follows the rule"
        );
        // Releases in order give keys in order within the documented bounds.
        assert!(version_key(0, 1, 9) < version_key(0, 2, 0));
        assert!(version_key(0, 99, 9) < version_key(1, 0, 0));
    }

    #[test]
    fn long_version_names_commit_features_and_key() {
        let v = long_version();
        assert!(v.starts_with(env!("CARGO_PKG_VERSION")), "{v}");
        assert!(v.contains(&format!("commit: {COMMIT}")), "{v}");
        assert!(v.contains(&format!("version_key: {VERSION_KEY}")), "{v}");
        assert_eq!(FEATURES == "none", !cfg!(feature = "cuda"), "{v}");
    }
}

//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong with keys, addresses and keyfiles.
///
/// Messages never contain secrets: no mnemonic, seed, private key or password ever reaches a
/// variant, so callers may log errors freely.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    /// The keyfile (or wallet file) does not exist.
    #[error("file not found: {}", path.display())]
    NotFound {
        /// The missing file.
        path: PathBuf,
    },
    /// Reading, writing or creating a file or directory failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What we were doing ("cannot read", "cannot write", ...).
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file would be replaced, and the caller did not ask to overwrite.
    #[error("{} already exists: refusing to overwrite it (pass overwrite to replace it)", path.display())]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// The keyfile is encrypted and no password was given or found in the environment.
    #[error("keyfile {} is encrypted: pass a password (--wallet.password / env {env_var})", path.display())]
    Encrypted {
        /// The encrypted keyfile.
        path: PathBuf,
        /// The environment variable that btcli-compatible tools read the password from.
        env_var: String,
    },
    /// Decryption failed: the password is wrong (or the file was tampered with).
    #[error("wrong password for {}", path.display())]
    WrongPassword {
        /// The keyfile that did not decrypt.
        path: PathBuf,
    },
    /// The keyfile's content is not a valid keyfile.
    #[error("invalid keyfile {}: {reason}", path.display())]
    InvalidKeyfile {
        /// The keyfile.
        path: PathBuf,
        /// What is wrong, never including the secret values.
        reason: String,
    },
    /// Keyfile data (not tied to a path) is malformed.
    #[error("invalid keyfile data: {0}")]
    InvalidKeyfileData(String),
    /// The keyfile holds a key type other than sr25519.
    #[error("unsupported crypto type {0} (only 1 = sr25519 is supported)")]
    UnsupportedCryptoType(i64),
    /// A mnemonic phrase did not parse (unknown word, bad checksum, wrong word count).
    #[error("invalid mnemonic: {0}")]
    InvalidMnemonic(String),
    /// The requested mnemonic length is not one BIP39 allows.
    #[error("invalid mnemonic word count {0}: use 12, 15, 18, 21 or 24")]
    InvalidWordCount(usize),
    /// A secret URI (`//Alice`, `<phrase>//hard/soft///password`, `0x<seed>`) did not parse.
    #[error("invalid secret URI: {0}")]
    InvalidUri(String),
    /// A seed or private key has the wrong length or is not a valid scalar.
    #[error("invalid secret key: {0}")]
    InvalidSecretKey(String),
    /// A public key is not 32 bytes or not a valid point.
    #[error("invalid public key: {0}")]
    InvalidPublicKey(String),
    /// An SS58 address did not decode or its checksum did not match.
    #[error("invalid SS58 address {address:?}: {reason}")]
    InvalidSs58 {
        /// The offending address (public data).
        address: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A password for encryption was empty.
    #[error("refusing to encrypt with an empty password")]
    EmptyPassword,
    /// The `BT_PW_...` environment variable is not valid base64 or not UTF-8 after decoding.
    #[error("environment variable {0} does not hold a valid encoded password")]
    BadPasswordEnv(String),
    /// Key derivation or encryption failed inside a crypto library.
    #[error("crypto failure: {0}")]
    Crypto(String),
}

impl WalletError {
    /// An `Io` error for `path`.
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound && action == "cannot read" {
            return Self::NotFound {
                path: path.to_path_buf(),
            };
        }
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

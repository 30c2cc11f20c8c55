//! The crate's error type.

/// What can go wrong encrypting, decrypting or building a commit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TimelockError {
    /// The ciphertext does not parse as a `tle` ciphertext.
    #[error("malformed timelock ciphertext: {0}")]
    MalformedCiphertext(String),
    /// The signature is not a compressed G1 point.
    #[error("malformed drand signature: {0}")]
    MalformedSignature(String),
    /// The signature does not open the ciphertext (usually: the signature of another round).
    #[error("the signature does not open this ciphertext (signature of another round?)")]
    WrongSignature,
    /// The IBE layer opened but the AES-GCM body did not authenticate.
    #[error("the ciphertext body does not authenticate (corrupted ciphertext)")]
    BodyDecryption,
    /// The signature is not drand quicknet's signature of that round.
    #[error("not drand quicknet's signature of round {0}")]
    InvalidRoundSignature(u64),
    /// The reveal block could not be predicted (tempo 0, or no epoch within the search bound).
    #[error("cannot predict the reveal block: {0}")]
    Schedule(String),
    /// Bad arguments (mismatched lengths, oversized commit, bad block time, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The system clock is unusable.
    #[error("system clock: {0}")]
    Clock(String),
    /// An internal step failed (should not happen).
    #[error("timelock internal error: {0}")]
    Internal(String),
}

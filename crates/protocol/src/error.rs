//! Errors of the wire protocol layer.

/// What can be wrong with a Synapse on the wire.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A header value does not parse as its type.
    #[error("invalid header {name}: {msg}")]
    InvalidHeader {
        /// Header name.
        name: String,
        /// What is wrong.
        msg: String,
    },
    /// A header the operation needs is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// The signature is not `0x` + 128 hex characters.
    #[error("signature must be 0x followed by 128 hex characters")]
    BadSignatureEncoding,
    /// The body is not a JSON object.
    #[error("body is not a JSON object: {0}")]
    InvalidBody(String),
    /// The signed body hash does not match the body.
    #[error("body hash mismatch: the body is not the one that was signed")]
    BodyHashMismatch,
    /// The nonce was already used, is too old, or is out of order for a legacy client.
    #[error("{0}")]
    BadNonce(String),
}

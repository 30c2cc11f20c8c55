//! The crate's error type.

/// Everything that can go wrong talking to subtensor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The endpoint could not be reached (after retries) or the connection dropped.
    #[error("cannot reach the chain at {endpoint}: {reason}")]
    Connection {
        /// The websocket URL.
        endpoint: String,
        /// What the transport said.
        reason: String,
    },
    /// A request did not answer in time.
    #[error("chain request `{what}` timed out after {secs} s")]
    Timeout {
        /// The operation.
        what: String,
        /// The limit.
        secs: u64,
    },
    /// An RPC call failed for a reason other than the connection.
    #[error("chain RPC error in `{what}`: {reason}")]
    Rpc {
        /// The operation.
        what: String,
        /// The error.
        reason: String,
    },
    /// The runtime executed the call and it failed (`ExtrinsicFailed`, or a failed `Sudid`).
    #[error("{name}{}", hint.as_ref().map(|h| format!(": {h}")).unwrap_or_default())]
    Dispatch {
        /// The pallet, e.g. `SubtensorModule`.
        pallet: String,
        /// The error variant, e.g. `HotKeyNotRegisteredInSubNet`.
        name: String,
        /// What to do about it, when known.
        hint: Option<String>,
    },
    /// The transaction pool refused the transaction (bad signature, stale nonce, custom validity
    /// error of the subtensor extension, ...).
    #[error("transaction rejected by the chain: {0}")]
    Rejected(String),
    /// Metadata lacks something we need (the runtime is older or newer than expected).
    #[error("runtime metadata mismatch: {0}")]
    Metadata(String),
    /// A value read from the chain could not be decoded.
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// What was decoded.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// The hotkey has no uid on the subnet.
    #[error("HotKeyNotRegisteredInSubNet: hotkey {hotkey} is not registered on subnet {netuid}")]
    NotRegistered {
        /// The subnet.
        netuid: u16,
        /// SS58 of the hotkey.
        hotkey: String,
    },
    /// The caller passed something unusable.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Unknown network name.
    #[error("unknown network `{0}` (expected finney, test, local, or a ws:// / wss:// URL)")]
    UnknownNetwork(String),
}

impl ChainError {
    /// True for errors after which reconnecting may help.
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            ChainError::Connection { .. } | ChainError::Timeout { .. }
        )
    }

    /// The dispatch error name, if this is one.
    pub fn dispatch_name(&self) -> Option<&str> {
        match self {
            ChainError::Dispatch { name, .. } => Some(name),
            _ => None,
        }
    }
}

//! The crate's error type: what went wrong talking to subtensor, as values a caller can match on
//! (transport, pool rejection with its reason, dispatch error with pallet and variant, decode,
//! timeout) and messages that say what to do. How subxt's errors map onto it is in `classify`.

use crate::rejection::Rejection;

/// Everything that can go wrong talking to subtensor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The endpoint could not be reached (after retries) or the connection dropped. Retryable.
    #[error("cannot reach the chain at {endpoint}: {reason}")]
    Connection {
        /// The websocket URL.
        endpoint: String,
        /// What the transport said.
        reason: String,
    },
    /// A request did not answer in time. Retryable.
    #[error("chain request `{what}` timed out after {secs} s")]
    Timeout {
        /// The operation.
        what: String,
        /// The limit.
        secs: u64,
    },
    /// The node answered a request with an error (unknown method, bad parameters, a runtime API
    /// it cannot run, ...): the connection is fine, retrying will not help.
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
    /// The transaction pool refused the transaction; it was never included.
    #[error("transaction rejected by the chain: {0}")]
    Rejected(Rejection),
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
    #[error(
        "HotKeyNotRegisteredInSubNet: hotkey {hotkey} is not registered on subnet {netuid}: run \
         `audiosubnet register --netuid {netuid} --wallet.name <name> --wallet.hotkey <hotkey>` first"
    )]
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
    /// True for errors after which reconnecting may help (transport and timeout).
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

    /// The pool's reason, if the transaction was rejected.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            ChainError::Rejected(r) => Some(r),
            _ => None,
        }
    }

    /// A dispatch error with the hint for its name (see [`dispatch_hint`]).
    pub fn dispatch(pallet: impl Into<String>, name: impl Into<String>) -> Self {
        let name = name.into();
        ChainError::Dispatch {
            pallet: pallet.into(),
            hint: dispatch_hint(&name).map(str::to_string),
            name,
        }
    }

    /// Names the endpoint in a transport error raised below the connection layer, which does not
    /// know it.
    pub(crate) fn at_endpoint(self, ep: &str) -> Self {
        match self {
            ChainError::Connection { endpoint, reason } if endpoint.is_empty() => {
                ChainError::Connection {
                    endpoint: ep.into(),
                    reason,
                }
            }
            other => other,
        }
    }
}

/// Dispatch errors that get a hint: alternative names of one error (older and newer runtimes)
/// and the hint. The mainnet-shape test checks that each group names an error mainnet has.
const HINTS: &[(&[&str], &str)] = &[
    (
        &[
            "HotKeyNotRegisteredInSubNet",
            "HotKeyNotRegisteredInNetwork",
        ],
        "the hotkey is not registered on this subnet; run `audiosubnet register` first",
    ),
    (
        &["HotKeyAlreadyRegisteredInSubNet"],
        "the hotkey already has a uid on this subnet",
    ),
    (
        &["NeuronNoValidatorPermit"],
        "the hotkey has no validator permit (needs stake and an epoch to pass); only self-weights are allowed",
    ),
    (
        &["CommitRevealEnabled"],
        "the subnet has commit-reveal on; plain weights are refused (commit them timelocked)",
    ),
    (
        &["CommitRevealDisabled"],
        "the subnet has commit-reveal off; weights go with plain set_weights",
    ),
    (
        &["TooManyUnrevealedCommits"],
        "the hotkey already has 10 unrevealed commits in this epoch; wait for the reveal",
    ),
    (
        &["IncorrectCommitRevealVersion"],
        "commit_reveal_version differs from the chain's CommitRevealWeightsVersion",
    ),
    (
        &["InvalidRevealRound"],
        "the reveal round is not ahead of the chain's last drand pulse",
    ),
    (
        &["IncorrectWeightVersionKey"],
        "version_key is below the subnet's WeightsVersionKey",
    ),
    (
        &["WeightVecLengthIsLow"],
        "fewer weights than the subnet's MinAllowedWeights",
    ),
    (
        &["MaxWeightExceeded"],
        "a weight is above the subnet's MaxWeightsLimit",
    ),
    (
        &["UidVecContainInvalidOne", "UidsLengthExceedUidsInSubNet"],
        "a uid does not exist on the subnet",
    ),
    (&["DuplicateUids"], "the same uid appears twice"),
    (
        &["ServingRateLimitExceeded"],
        "serve_axon was called too recently (ServingRateLimit)",
    ),
    (
        &["InvalidIpAddress"],
        "the chain rejects this IP (127.0.0.1, ::1 and broadcast are not allowed)",
    ),
    (&["InvalidPort"], "port 0 is not allowed"),
    (
        &[
            "TooManyRegistrationsThisBlock",
            "TooManyRegistrationsThisInterval",
        ],
        "registrations are rate limited; retry in a later block/interval",
    ),
    (
        &[
            "NotEnoughBalanceToStake",
            "NotEnoughBalanceToPayBurn",
            "BalanceWithdrawalError",
        ],
        "the coldkey balance is too low",
    ),
    (
        &["SubNetworkDoesNotExist", "SubnetNotExists"],
        "no subnet with this netuid",
    ),
    (
        &["NotEnoughStakeToSetWeights"],
        "the hotkey's stake is below the subnet's stake threshold",
    ),
    (
        &["SubtokenDisabled"],
        "the subnet has not been started (start_call)",
    ),
];

/// Dispatch errors the client matches on by name: the [`dispatch_hint`] groups and the weights
/// rate-limit errors it explains ([`crate::Subtensor::set_weights`]).
pub fn known_dispatch_errors() -> impl Iterator<Item = &'static [&'static str]> {
    HINTS
        .iter()
        .map(|(names, _)| *names)
        .chain([WEIGHTS_RATE_LIMIT_ERRORS])
}

/// The weights rate-limit refusals ("wait N blocks" is added to them).
pub(crate) const WEIGHTS_RATE_LIMIT_ERRORS: &[&str] =
    &["SettingWeightsTooFast", "CommittingWeightsTooFast"];

/// A short "what to do" for the dispatch errors neurons hit most.
pub fn dispatch_hint(name: &str) -> Option<&'static str> {
    HINTS
        .iter()
        .find(|(names, _)| names.contains(&name))
        .map(|(_, hint)| *hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_errors_carry_a_hint() {
        let e = ChainError::dispatch("SubtensorModule", "HotKeyNotRegisteredInSubNet");
        assert_eq!(e.dispatch_name(), Some("HotKeyNotRegisteredInSubNet"));
        assert!(e.to_string().contains("audiosubnet register"), "{e}");
        let e = ChainError::dispatch("SubtensorModule", "SomethingNew");
        assert_eq!(e.to_string(), "SomethingNew");
    }

    #[test]
    fn not_registered_names_the_register_command() {
        let e = ChainError::NotRegistered {
            netuid: 7,
            hotkey: "5F".into(),
        };
        let m = e.to_string();
        assert!(m.contains("NotRegistered"), "{m}");
        assert!(m.contains("audiosubnet register --netuid 7"), "{m}");
    }

    #[test]
    fn the_endpoint_is_filled_in_once() {
        let e = ChainError::Connection {
            endpoint: String::new(),
            reason: "gone".into(),
        }
        .at_endpoint("ws://a");
        assert_eq!(e.to_string(), "cannot reach the chain at ws://a: gone");
        assert!(e.is_connection());
    }
}

//! subxt's errors to [`ChainError`], by matching their variants: an RPC client failure (socket
//! closed, refused, background task gone) is a transport error the connection layer retries; a
//! JSON-RPC error from the node is `Rpc`, or `Rejected` when it carries a transaction-validity
//! error; SCALE/JSON decoding failures are `Decode`; the rest (metadata lookups) are `Metadata`.

use subxt::error::{
    BackendError, EventsError, ExtrinsicError, OnlineClientAtBlockError, OnlineClientError,
    RpcError, RuntimeApiError, StorageError,
};
use subxt::rpcs::{Error as RpcsError, UserError};

use crate::error::ChainError;
use crate::rejection::Rejection;

/// What lies under a subxt error, as far as classification cares.
pub(crate) enum Cause<'a> {
    /// The RPC layer failed (transport or node answer).
    Rpc(&'a RpcsError),
    /// The subscription ended under us (the socket went away).
    SubscriptionDropped,
    /// Metadata could not be downloaded (subxt keeps only the message): treated as transport.
    MetadataDownload(&'a str),
    /// Decoding or encoding.
    Codec,
    /// Anything else (metadata lookups, unsupported shapes).
    Other,
}

/// A subxt error type this crate meets.
pub(crate) trait SubxtFailure: std::fmt::Display {
    fn cause(&self) -> Cause<'_>;
}

impl SubxtFailure for RpcsError {
    fn cause(&self) -> Cause<'_> {
        Cause::Rpc(self)
    }
}

impl SubxtFailure for BackendError {
    fn cause(&self) -> Cause<'_> {
        match self {
            BackendError::Rpc(RpcError::ClientError(e)) => Cause::Rpc(e),
            BackendError::Rpc(RpcError::SubscriptionDropped) => Cause::SubscriptionDropped,
            _ => Cause::Other,
        }
    }
}

impl SubxtFailure for OnlineClientAtBlockError {
    fn cause(&self) -> Cause<'_> {
        use OnlineClientAtBlockError as E;
        match self {
            E::CannotGetCurrentBlock { reason }
            | E::CannotGetBlockHash { reason, .. }
            | E::CannotGetBlockHeader { reason, .. }
            | E::CannotGetSpecVersion { reason, .. } => reason.cause(),
            E::CannotGetMetadata { reason, .. } => Cause::MetadataDownload(reason),
            E::CannotDecodeSpecVersion { .. } => Cause::Codec,
            _ => Cause::Other,
        }
    }
}

impl SubxtFailure for OnlineClientError {
    fn cause(&self) -> Cause<'_> {
        match self {
            OnlineClientError::RpcError(e) => Cause::Rpc(e),
            OnlineClientError::CannotGetGenesisHash(e) => e.cause(),
            _ => Cause::Other,
        }
    }
}

impl SubxtFailure for StorageError {
    fn cause(&self) -> Cause<'_> {
        match self {
            StorageError::CannotFetchValue(e)
            | StorageError::CannotIterateValues(e)
            | StorageError::StreamFailure(e) => e.cause(),
            StorageError::CannotDecodeStorageVersion(_) => Cause::Codec,
            _ => Cause::Other,
        }
    }
}

impl SubxtFailure for RuntimeApiError {
    fn cause(&self) -> Cause<'_> {
        match self {
            RuntimeApiError::CannotCallApi(e) => e.cause(),
            RuntimeApiError::CouldNotDecodeResponse(_)
            | RuntimeApiError::CouldNotEncodeInputs(_) => Cause::Codec,
            _ => Cause::Other,
        }
    }
}

impl SubxtFailure for ExtrinsicError {
    fn cause(&self) -> Cause<'_> {
        use ExtrinsicError as E;
        match self {
            E::CannotGetBlockBody(e)
            | E::ErrorSubmittingTransaction(e)
            | E::TransactionStatusStreamError(e)
            | E::CannotGetFeeInfo(e)
            | E::CannotGetValidationInfo(e) => e.cause(),
            E::CannotDecodeFeeInfo(_)
            | E::CannotDecodeValidationResult(_)
            | E::UnexpectedValidationResultBytes(_)
            | E::EncodeError(_) => Cause::Codec,
            _ => Cause::Other,
        }
    }
}

impl SubxtFailure for EventsError {
    fn cause(&self) -> Cause<'_> {
        match self {
            EventsError::CannotFetchEventBytes(e) => e.cause(),
            _ => Cause::Codec,
        }
    }
}

/// JSON-RPC error codes of `author_submitExtrinsic` for invalid / unknown transactions.
const POOL_INVALID: i32 = 1010;
const POOL_UNKNOWN: i32 = 1011;

/// A node's JSON-RPC error: a pool rejection when the code says so, else `Rpc`.
fn node_error(what: &str, e: &UserError) -> ChainError {
    if e.code == POOL_INVALID || e.code == POOL_UNKNOWN {
        let data = e
            .data
            .as_ref()
            .and_then(|d| serde_json::from_str::<serde_json::Value>(d.get()).ok());
        let kind = if e.code == POOL_INVALID {
            "invalid"
        } else {
            "unknown"
        };
        // The data is the reason (`{"custom": 11}`, `"stale"`, or a sentence on some nodes).
        let status = serde_json::json!({ kind: data.clone().unwrap_or_default() });
        return ChainError::Rejected(
            Rejection::from_status(&status)
                .filter(|r| !matches!(r, Rejection::Other(_)))
                .unwrap_or_else(|| {
                    Rejection::Other(match data {
                        Some(d) => format!("{}: {d}", e.message),
                        None => e.message.clone(),
                    })
                }),
        );
    }
    ChainError::Rpc {
        what: what.into(),
        reason: e.to_string(),
    }
}

/// Classifies a subxt failure of `what`. Transport errors leave the endpoint empty; the
/// connection layer, which knows it, fills it in ([`ChainError::at_endpoint`]).
pub(crate) fn classify(what: &str, e: &impl SubxtFailure) -> ChainError {
    let transport = |reason: String| ChainError::Connection {
        endpoint: String::new(),
        reason,
    };
    match e.cause() {
        Cause::Rpc(RpcsError::Client(inner)) => transport(inner.to_string()),
        Cause::Rpc(RpcsError::DisconnectedWillReconnect(reason)) => transport(reason.clone()),
        Cause::Rpc(RpcsError::User(u)) => node_error(what, u),
        Cause::Rpc(RpcsError::InsecureUrl(url)) => {
            ChainError::InvalidInput(format!("insecure chain URL {url}"))
        }
        Cause::Rpc(
            RpcsError::Serialization(_) | RpcsError::Deserialization(_) | RpcsError::Decode(_),
        )
        | Cause::Codec => ChainError::Decode {
            what: what.into(),
            reason: e.to_string(),
        },
        Cause::SubscriptionDropped => transport("the subscription was dropped".into()),
        Cause::MetadataDownload(reason) => transport(format!("fetching metadata: {reason}")),
        // `subxt::rpcs::Error` is non-exhaustive: a new kind is reported as the node's error.
        Cause::Rpc(other) => ChainError::Rpc {
            what: what.into(),
            reason: other.to_string(),
        },
        Cause::Other => ChainError::Metadata(format!("{what}: {e}")),
    }
}

/// A value that did not decode.
pub(crate) fn decode_error(what: &str, e: impl std::fmt::Display) -> ChainError {
    ChainError::Decode {
        what: what.into(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(code: i32, message: &str, data: Option<&str>) -> RpcsError {
        RpcsError::User(UserError {
            code,
            message: message.into(),
            data: data.map(|d| serde_json::value::RawValue::from_string(d.into()).expect("raw")),
        })
    }

    #[test]
    fn client_failures_are_transport_errors() {
        let e = RpcsError::Client(Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused",
        )));
        let c = classify("read", &e).at_endpoint("ws://x");
        assert!(c.is_connection(), "{c:?}");
        assert_eq!(
            c.to_string(),
            "cannot reach the chain at ws://x: Connection refused"
        );
        let e = BackendError::Rpc(RpcError::SubscriptionDropped);
        assert!(classify("watch", &e).is_connection());
    }

    #[test]
    fn pool_errors_are_rejections_and_other_node_errors_rpc() {
        let e = user(1010, "Invalid Transaction", Some(r#"{"custom":12}"#));
        let c = classify("serve_axon", &e);
        assert!(c.to_string().contains("ServingRateLimitExceeded"), "{c}");
        let e = user(
            1010,
            "Invalid Transaction",
            Some(r#""Transaction is outdated""#),
        );
        assert!(matches!(
            classify("x", &e),
            ChainError::Rejected(Rejection::Other(_))
        ));
        let e = user(-32601, "Method not found", None);
        assert!(matches!(classify("x", &e), ChainError::Rpc { .. }));
    }
}

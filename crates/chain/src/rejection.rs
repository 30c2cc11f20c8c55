//! Why the transaction pool refused a transaction, as types: the runtime's
//! `TransactionValidityError` (invalid or unknown, with subtensor's custom validity codes named)
//! and the pool's own verdicts (dropped, usurped). Built from subxt's typed validation result, or
//! from the JSON status a node (chopsticks) streams for a watched transaction.

use std::fmt;

use subxt::transactions::{TransactionInvalid, TransactionUnknown};

/// A pool rejection. The transaction was never included.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// The runtime says the transaction is invalid.
    Invalid(InvalidReason),
    /// The runtime could not tell whether it is valid.
    Unknown(UnknownReason),
    /// The pool dropped it (full pool, or replaced).
    Dropped,
    /// Another transaction with the same nonce took its place.
    Usurped,
    /// A status the node reported that has no typed form here (kept as the node wrote it).
    Other(String),
}

/// `InvalidTransaction` of the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidReason {
    /// The call is not expected.
    Call,
    /// The signer cannot pay the fee.
    Payment,
    /// Nonce from the future.
    Future,
    /// Stale nonce.
    Stale,
    /// Bad signature (wrong key, genesis hash or spec version).
    BadProof,
    /// Mortality birth block too old.
    AncientBirthBlock,
    /// The block has no room left for it (`exhaustsResources`): resending later may work.
    ExhaustsResources,
    /// A mandatory dispatch failed.
    BadMandatory,
    /// A mandatory dispatch was validated as a transaction.
    MandatoryValidation,
    /// The sender is disabled or invalid.
    BadSigner,
    /// A custom validity error of subtensor's transaction extension.
    Custom(SubtensorCustom),
}

/// `UnknownTransaction` of the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownReason {
    /// Some information needed to validate it could not be looked up.
    CannotLookup,
    /// No validator for the unsigned transaction.
    NoUnsignedValidator,
    /// A custom code.
    Custom(u8),
}

macro_rules! custom_codes {
    ($($code:literal => $name:ident: $meaning:literal,)*) => {
        /// Subtensor's `CustomTransactionError`, by code (`SubtensorTransactionExtension`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum SubtensorCustom {
            $(#[doc = $meaning] $name,)*
            /// A code this client does not know.
            Other(u8),
        }

        impl SubtensorCustom {
            /// The error for a custom validity code.
            pub fn from_code(code: u8) -> Self {
                match code {
                    $($code => SubtensorCustom::$name,)*
                    other => SubtensorCustom::Other(other),
                }
            }

            /// The code on the wire.
            pub fn code(self) -> u8 {
                match self {
                    $(SubtensorCustom::$name => $code,)*
                    SubtensorCustom::Other(c) => c,
                }
            }

            /// The runtime's name for it, when known.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $(SubtensorCustom::$name => Some(stringify!($name)),)*
                    SubtensorCustom::Other(_) => None,
                }
            }

            /// What it means.
            pub fn meaning(self) -> Option<&'static str> {
                match self {
                    $(SubtensorCustom::$name => Some($meaning),)*
                    SubtensorCustom::Other(_) => None,
                }
            }
        }
    };
}

custom_codes! {
    0 => ColdkeyInSwapSchedule: "the coldkey is scheduled for a swap",
    1 => StakeAmountTooLow: "the stake amount is below the minimum",
    2 => BalanceTooLow: "the coldkey balance is too low",
    3 => SubnetDoesntExist: "no subnet with this netuid",
    4 => HotkeyAccountDoesntExist: "the hotkey account does not exist",
    5 => NotEnoughStakeToWithdraw: "not enough stake to withdraw",
    6 => RateLimitExceeded: "rate limited; retry later",
    7 => InsufficientLiquidity: "the subnet pool has too little liquidity",
    8 => SlippageTooHigh: "the price moved beyond the slippage limit",
    9 => TransferDisallowed: "transfers are disabled on this subnet",
    10 => HotKeyNotRegisteredInNetwork: "the hotkey is not registered on this subnet; run `audiosubnet register` first",
    11 => InvalidIpAddress: "the chain rejects this IP (127.0.0.1, ::1 and broadcast are not allowed)",
    12 => ServingRateLimitExceeded: "serve_axon was called too recently (ServingRateLimit)",
    13 => InvalidPort: "port 0 is not allowed",
}

impl From<&TransactionInvalid> for InvalidReason {
    fn from(e: &TransactionInvalid) -> Self {
        match e {
            TransactionInvalid::Call => InvalidReason::Call,
            TransactionInvalid::Payment => InvalidReason::Payment,
            TransactionInvalid::Future => InvalidReason::Future,
            TransactionInvalid::Stale => InvalidReason::Stale,
            TransactionInvalid::BadProof => InvalidReason::BadProof,
            TransactionInvalid::AncientBirthBlock => InvalidReason::AncientBirthBlock,
            TransactionInvalid::ExhaustsResources => InvalidReason::ExhaustsResources,
            TransactionInvalid::Custom(c) => InvalidReason::Custom(SubtensorCustom::from_code(*c)),
            TransactionInvalid::BadMandatory => InvalidReason::BadMandatory,
            TransactionInvalid::MandatoryValidation => InvalidReason::MandatoryValidation,
            TransactionInvalid::BadSigner => InvalidReason::BadSigner,
        }
    }
}

impl From<&TransactionUnknown> for UnknownReason {
    fn from(e: &TransactionUnknown) -> Self {
        match e {
            TransactionUnknown::CannotLookup => UnknownReason::CannotLookup,
            TransactionUnknown::NoUnsignedValidator => UnknownReason::NoUnsignedValidator,
            TransactionUnknown::Custom(c) => UnknownReason::Custom(*c),
        }
    }
}

/// The single key of a `{"key": value}` object, or a bare string (`"dropped"`), lower-cased.
fn tag(v: &serde_json::Value) -> Option<(String, &serde_json::Value)> {
    match v {
        serde_json::Value::String(s) => Some((s.to_ascii_lowercase(), &serde_json::Value::Null)),
        serde_json::Value::Object(m) if m.len() == 1 => m
            .iter()
            .next()
            .map(|(k, inner)| (k.to_ascii_lowercase(), inner)),
        _ => None,
    }
}

impl InvalidReason {
    /// From the JSON form of `InvalidTransaction` (`"stale"`, `{"custom": 11}`, ...).
    fn from_json(v: &serde_json::Value) -> Option<Self> {
        let (key, inner) = tag(v)?;
        Some(match key.as_str() {
            "call" => InvalidReason::Call,
            "payment" => InvalidReason::Payment,
            "future" => InvalidReason::Future,
            "stale" => InvalidReason::Stale,
            "badproof" => InvalidReason::BadProof,
            "ancientbirthblock" => InvalidReason::AncientBirthBlock,
            "exhaustsresources" => InvalidReason::ExhaustsResources,
            "badmandatory" => InvalidReason::BadMandatory,
            "mandatoryvalidation" | "mandatorydispatch" => InvalidReason::MandatoryValidation,
            "badsigner" => InvalidReason::BadSigner,
            "custom" => {
                let code = u8::try_from(inner.as_u64()?).ok()?;
                InvalidReason::Custom(SubtensorCustom::from_code(code))
            }
            // Nested forms such as `{"invalid": {"invalid": {...}}}`.
            "invalid" | "invalidtransaction" => return InvalidReason::from_json(inner),
            _ => return None,
        })
    }
}

impl UnknownReason {
    fn from_json(v: &serde_json::Value) -> Option<Self> {
        let (key, inner) = tag(v)?;
        Some(match key.as_str() {
            "cannotlookup" => UnknownReason::CannotLookup,
            "nounsignedvalidator" => UnknownReason::NoUnsignedValidator,
            "custom" => UnknownReason::Custom(u8::try_from(inner.as_u64()?).ok()?),
            "unknown" | "unknowntransaction" => return UnknownReason::from_json(inner),
            _ => return None,
        })
    }
}

impl Rejection {
    /// From a transaction status or a JSON-RPC error's data, when it is a rejection
    /// (`{"invalid": {"custom": 11}}`, `"dropped"`, `{"unknown": ...}`); `None` for the other
    /// statuses (`ready`, `inBlock`, ...).
    pub fn from_status(v: &serde_json::Value) -> Option<Self> {
        let (key, inner) = tag(v)?;
        Some(match key.as_str() {
            "invalid" | "invalidtransaction" => InvalidReason::from_json(inner)
                .map(Rejection::Invalid)
                .unwrap_or_else(|| Rejection::Other(v.to_string())),
            "unknown" | "unknowntransaction" => UnknownReason::from_json(inner)
                .map(Rejection::Unknown)
                .unwrap_or_else(|| Rejection::Other(v.to_string())),
            "dropped" => Rejection::Dropped,
            "usurped" => Rejection::Usurped,
            _ => return None,
        })
    }

    /// True when the block was full: the same transaction, signed again, may go in a later block.
    pub fn is_block_full(&self) -> bool {
        matches!(self, Rejection::Invalid(InvalidReason::ExhaustsResources))
    }
}

impl fmt::Display for InvalidReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidReason::Custom(c) => match (c.name(), c.meaning()) {
                (Some(name), Some(meaning)) => {
                    write!(f, "{name} (custom validity code {}): {meaning}", c.code())
                }
                _ => write!(f, "custom validity code {}", c.code()),
            },
            InvalidReason::BadProof => {
                f.write_str("bad signature (wrong key, genesis hash or spec version?)")
            }
            InvalidReason::Payment => f.write_str("the signer cannot pay the transaction fee"),
            InvalidReason::Stale => {
                f.write_str("stale nonce (a transaction from this key was just included)")
            }
            InvalidReason::Future => f.write_str("nonce from the future"),
            InvalidReason::ExhaustsResources => {
                f.write_str("block full (exhaustsResources); it may fit in a later block")
            }
            InvalidReason::AncientBirthBlock => {
                f.write_str("the transaction's mortality period has passed (AncientBirthBlock)")
            }
            InvalidReason::Call => f.write_str("the call is not expected (Call)"),
            InvalidReason::BadMandatory => f.write_str("a mandatory dispatch failed"),
            InvalidReason::MandatoryValidation => {
                f.write_str("a mandatory dispatch cannot be a transaction")
            }
            InvalidReason::BadSigner => f.write_str("the signer is disabled or invalid"),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Invalid(r) => r.fmt(f),
            Rejection::Unknown(r) => write!(f, "validity unknown: {r:?}"),
            Rejection::Dropped => f.write_str("dropped from the transaction pool"),
            Rejection::Usurped => {
                f.write_str("replaced by another transaction with the same nonce (usurped)")
            }
            Rejection::Other(s) => f.write_str(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn custom_codes_are_named() {
        let r = Rejection::from_status(&json!({"invalid": {"custom": 11}})).expect("rejection");
        assert_eq!(
            r,
            Rejection::Invalid(InvalidReason::Custom(SubtensorCustom::InvalidIpAddress))
        );
        assert!(r.to_string().starts_with("InvalidIpAddress"), "{r}");
        let r = InvalidReason::from(&TransactionInvalid::Custom(6));
        assert!(r.to_string().contains("RateLimitExceeded"), "{r}");
        let r = InvalidReason::from(&TransactionInvalid::Custom(200));
        assert_eq!(r.to_string(), "custom validity code 200");
    }

    #[test]
    fn statuses_parse_by_structure() {
        let bad = Rejection::from_status(&json!({"invalid": {"badProof": null}})).expect("bad");
        assert!(bad.to_string().contains("bad signature"), "{bad}");
        let full = Rejection::from_status(&json!({"invalid": "exhaustsResources"})).expect("full");
        assert!(full.is_block_full());
        let nested = Rejection::from_status(&json!({"invalid": {"invalid": {"stale": null}}}));
        assert_eq!(nested, Some(Rejection::Invalid(InvalidReason::Stale)));
        assert_eq!(
            Rejection::from_status(&json!("dropped")),
            Some(Rejection::Dropped)
        );
        assert_eq!(Rejection::from_status(&json!("ready")), None);
        assert_eq!(Rejection::from_status(&json!({"inBlock": "0x01"})), None);
        assert!(matches!(
            Rejection::from_status(&json!({"invalid": {"somethingNew": 1}})),
            Some(Rejection::Other(_))
        ));
    }
}

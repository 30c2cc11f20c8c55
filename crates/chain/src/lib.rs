//! Subtensor chain client for audiosubnet.
//!
//! Owns everything neurons need from the chain: metagraph and hyperparameter reads,
//! `burned_register`, `serve_axon`, `set_weights` (with the SDK's weight normalization) and
//! timelocked weight commits, and the [`Chain`] trait the miner and validator program against
//! ([`Subtensor`] is the live implementation, [`memory::MemoryChain`] an in-memory one for tests).
//! Calls, storage and runtime APIs are encoded from the **live metadata** (subxt's dynamic API),
//! because the local chain (spec 218/300) and finney (spec 4xx) have different call shapes.
//!
//! Layout, by job:
//! - `connection`: the client, reconnect, retry and timeouts; raw RPC;
//! - `reads`: storage and runtime-API reads;
//! - `tx`: signing, submission, inclusion, dispatch errors; `serve_axon`, `burned_register`;
//! - `set_weights`: `set_weights` and timelocked commits;
//! - `shapes`: every call, storage item and runtime API the client uses, as tables, and which
//!   weights API a runtime has; `detect`: those read from the live metadata once per connection;
//! - `error`, `rejection`, `classify`: typed errors and how subxt's errors map onto them.
//!
//! The connection reconnects by itself: operations that fail on the transport drop the socket,
//! back off and retry; submitted transactions are never re-sent. Admin calls (sudo, batches,
//! chopsticks' `dev_*`) live in the local-chain crate, on top of [`Subtensor::submit`] and
//! [`Subtensor::rpc`].

mod call;
mod chain;
mod classify;
mod connection;
mod detect;
mod error;
pub mod ip;
pub mod memory;
mod network;
mod reads;
mod rejection;
mod set_weights;
pub mod shapes;
mod signer;
mod tx;
mod types;
pub mod weights;

pub use call::{Call, SUBTENSOR, account_value};
pub use chain::{Chain, ChainFuture, ensure_registered};
pub use connection::{RetryPolicy, Subtensor};
pub use detect::RuntimeShapes;
pub use error::{ChainError, dispatch_hint, known_dispatch_errors};
pub use network::{FINNEY_ENDPOINT, LOCAL_ENDPOINT, TEST_ENDPOINT, resolve_endpoint};
pub use rejection::{InvalidReason, Rejection, SubtensorCustom, UnknownReason};
pub use set_weights::WeightsSubmission;
pub use signer::ChainSigner;
pub use subxt::dynamic::Value;
pub use tx::{ServeOutcome, TxOutcome};
pub use types::{AxonInfo, Hyperparameters, Metagraph, Neuron};

/// The subxt configuration for subtensor.
///
/// Subtensor's transaction extensions are the standard FRAME ones (`CheckNonZeroSender`,
/// `CheckSpecVersion`, `CheckTxVersion`, `CheckGenesis`, `CheckMortality`, `CheckNonce`,
/// `CheckWeight`, `ChargeTransactionPayment`, `CheckMetadataHash`) plus subtensor's own
/// (`SubtensorTransactionExtension`, and on newer runtimes `SudoTransactionExtension`,
/// `DrandPriority`, ...). The custom ones carry no data (their explicit and implicit types are
/// empty), and subxt's default extension set skips zero-sized extensions it does not know, so the
/// Substrate configuration signs valid transactions. The integration tests prove it against the
/// real runtime (spec 300).
pub type SubtensorConfig = subxt::SubstrateConfig;

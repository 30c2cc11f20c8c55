//! Subtensor chain client for audiosubnet.
//!
//! Owns everything that talks to the chain: metagraph and hyperparameter reads, `burned_register`,
//! `serve_axon`, `set_weights` (with the SDK's weight normalization), staking, subnet creation and
//! the sudo helpers the local chain uses. Calls, storage and runtime APIs are encoded from the
//! **live metadata** (subxt's dynamic API), because the local chain (spec 218/300) and finney
//! (spec 4xx) have different call shapes.
//!
//! The connection reconnects by itself: operations that fail on the transport drop the socket,
//! back off and retry; submitted transactions are never re-sent.

mod call;
mod client;
mod error;
pub mod ip;
mod network;
mod signer;
mod types;
pub mod weights;

pub use call::Call;
pub use client::{RetryPolicy, ServeOutcome, Subtensor, TxOutcome, WeightsSubmission};
pub use error::ChainError;
pub use network::{FINNEY_ENDPOINT, LOCAL_ENDPOINT, TEST_ENDPOINT, resolve_endpoint};
pub use signer::ChainSigner;
pub use subxt::dynamic::Value;
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

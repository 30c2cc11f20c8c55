//! Drand **quicknet** timelock encryption and subtensor's commit-reveal v3/v4 weights commit.
//!
//! The ciphertext format is the one of the `tle` crate (Boneh–Franklin IBE over BLS12-381 with
//! the drand quicknet "tiny" BLS variant: signatures on G1, the public key on G2, plus AES-256-GCM
//! for the message body), serialized the way arkworks' `serialize_compressed` lays out `tle`'s
//! `TLECiphertext`. That is what the Python `bittensor-drand` package produces and what subtensor
//! decrypts once the drand pulse of the reveal round is on chain.
//!
//! * [`encrypt`] / [`decrypt`]: timelock a message to a quicknet round, open it with the round's
//!   signature. [`verify_round_signature`] checks a signature against the quicknet public key.
//! * [`commit`]: the SCALE-encoded `WeightsTlockPayload` and the reveal-round arithmetic of
//!   `bittensor-drand`'s `get_encrypted_commit` (1.x, block-modulo epochs) and
//!   `get_encrypted_commit_v2` (2.x, stateful epochs); [`WeightsCommit`] does what those Python
//!   functions do.

pub mod commit;
mod error;
mod tlock;

pub use commit::{
    EpochModel, EpochSchedule, LegacyWeightsTlockPayload, WeightsCommit, WeightsTlockPayload,
    now_unix_secs, reveal_round_v1, reveal_round_v2,
};
pub use error::TimelockError;
pub use tlock::{
    SIGNATURE_LEN, decrypt, encrypt, encrypt_with_rng, round_message, verify_round_signature,
};

/// Drand quicknet's chain hash.
pub const QUICKNET_CHAIN_HASH: &str =
    "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971";

/// Drand quicknet's group public key (compressed G2 point, hex).
pub const QUICKNET_PUBLIC_KEY: &str = "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a";

/// Unix time of quicknet's round 1 (rounds start at genesis + (round − 1) · period).
pub const QUICKNET_GENESIS_TIME: u64 = 1_692_803_367;

/// Seconds between quicknet rounds.
pub const QUICKNET_PERIOD: u64 = 3;

/// Largest commit subtensor accepts (`MAX_CRV3_COMMIT_SIZE_BYTES`).
pub const MAX_COMMIT_BYTES: usize = 5000;

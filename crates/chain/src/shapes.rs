//! What this client puts on chain and reads from it, as data: every call it encodes (pallet, name,
//! parameters in order with the type it encodes), every storage item and runtime API it reads, and
//! which weights API a runtime has.
//!
//! One source of truth: the encoder builds calls from these tables ([`encode_fields`] orders the
//! values by the **live** metadata's parameter names), and the mainnet-shape test compares the
//! same tables with the names extracted from the bittensor SDK 11.3.0 wheel, which was generated
//! from mainnet metadata (`tests/fixtures/mainnet_shapes.json`).
//!
//! The weights API is picked by metadata, never by network name: runtimes with
//! `set_mechanism_weights` (mainnet, spec 4xx) get the per-mechanism calls for mechanism 0;
//! older ones keep `set_weights` and `commit_timelocked_weights`, or `commit_crv3_weights` where
//! that is missing too (the local spec-300 chain: `set_weights` / `commit_crv3_weights`).

use subxt::dynamic::Value;

use crate::call::{Call, SUBTENSOR};
use crate::error::ChainError;

/// The SDK's `GLOBAL_MAX_SUBNET_COUNT` (bittensor 11.3.0 `settings.py`): mechanism storage is
/// keyed by `mecid * GLOBAL_MAX_SUBNET_COUNT + netuid`.
pub const GLOBAL_MAX_SUBNET_COUNT: u16 = 4096;

/// The mechanism audiosubnet sets weights for (every subnet has mechanism 0).
pub const MAIN_MECHANISM: u8 = 0;

/// The storage index of `(netuid, mecid)` for `LastUpdate`, `Weights` and the timelocked commits
/// on mechanism runtimes. For mechanism 0 it is the netuid itself, which is why the same key also
/// reads the legacy runtimes' netuid-keyed storage.
pub fn mechanism_storage_index(netuid: u16, mecid: u8) -> Result<u16, ChainError> {
    u16::from(mecid)
        .checked_mul(GLOBAL_MAX_SUBNET_COUNT)
        .and_then(|base| base.checked_add(netuid))
        .filter(|_| netuid < GLOBAL_MAX_SUBNET_COUNT)
        .ok_or_else(|| {
            ChainError::InvalidInput(format!(
                "no storage index for netuid {netuid}, mechanism {mecid}"
            ))
        })
}

/// The type a parameter is encoded as (what the dynamic [`Value`] carries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// `u8` (or a newtype over it, e.g. `MechId`).
    U8,
    /// `u16` (or a newtype over it, e.g. `NetUid`).
    U16,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `u128`.
    U128,
    /// A 32-byte account id.
    Account,
    /// A sequence of u16 (uids, weight values).
    VecU16,
    /// A byte string (a timelocked ciphertext).
    Bytes,
}

/// One call the client encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallShape {
    /// The pallet, e.g. `SubtensorModule`.
    pub pallet: &'static str,
    /// The call's name.
    pub name: &'static str,
    /// Parameter names and types in the order the runtime declares them.
    pub params: &'static [(&'static str, Ty)],
    /// Whether the client sends it to mainnet runtimes (the rest serve older runtimes only).
    pub on_mainnet: bool,
}

/// `burned_register(netuid, hotkey)`.
pub const BURNED_REGISTER: CallShape = CallShape {
    pallet: SUBTENSOR,
    name: "burned_register",
    params: &[("netuid", Ty::U16), ("hotkey", Ty::Account)],
    on_mainnet: true,
};

/// `serve_axon(netuid, version, ip, port, ip_type, protocol, placeholder1, placeholder2)`.
pub const SERVE_AXON: CallShape = CallShape {
    pallet: SUBTENSOR,
    name: "serve_axon",
    params: &[
        ("netuid", Ty::U16),
        ("version", Ty::U32),
        ("ip", Ty::U128),
        ("port", Ty::U16),
        ("ip_type", Ty::U8),
        ("protocol", Ty::U8),
        ("placeholder1", Ty::U8),
        ("placeholder2", Ty::U8),
    ],
    on_mainnet: true,
};

/// `set_mechanism_weights(netuid, mecid, dests, weights, version_key)` (SDK 11, mainnet).
pub const SET_MECHANISM_WEIGHTS: CallShape = CallShape {
    pallet: SUBTENSOR,
    name: "set_mechanism_weights",
    params: &[
        ("netuid", Ty::U16),
        ("mecid", Ty::U8),
        ("dests", Ty::VecU16),
        ("weights", Ty::VecU16),
        ("version_key", Ty::U64),
    ],
    on_mainnet: true,
};

/// `commit_timelocked_mechanism_weights(netuid, mecid, commit, reveal_round,
/// commit_reveal_version)` (SDK 11, mainnet).
pub const COMMIT_TIMELOCKED_MECHANISM_WEIGHTS: CallShape = CallShape {
    pallet: SUBTENSOR,
    name: "commit_timelocked_mechanism_weights",
    params: &[
        ("netuid", Ty::U16),
        ("mecid", Ty::U8),
        ("commit", Ty::Bytes),
        ("reveal_round", Ty::U64),
        ("commit_reveal_version", Ty::U16),
    ],
    on_mainnet: true,
};

/// `set_weights(netuid, dests, weights, version_key)` (runtimes without mechanisms).
pub const SET_WEIGHTS: CallShape = CallShape {
    pallet: SUBTENSOR,
    name: "set_weights",
    params: &[
        ("netuid", Ty::U16),
        ("dests", Ty::VecU16),
        ("weights", Ty::VecU16),
        ("version_key", Ty::U64),
    ],
    on_mainnet: false,
};

/// `commit_timelocked_weights(netuid, commit, reveal_round, commit_reveal_version)`.
pub const COMMIT_TIMELOCKED_WEIGHTS: CallShape = CallShape {
    pallet: SUBTENSOR,
    name: "commit_timelocked_weights",
    params: &[
        ("netuid", Ty::U16),
        ("commit", Ty::Bytes),
        ("reveal_round", Ty::U64),
        ("commit_reveal_version", Ty::U16),
    ],
    on_mainnet: false,
};

/// `commit_crv3_weights(netuid, commit, reveal_round)` (runtimes before the versioned commit).
pub const COMMIT_CRV3_WEIGHTS: CallShape = CallShape {
    pallet: SUBTENSOR,
    name: "commit_crv3_weights",
    params: &[
        ("netuid", Ty::U16),
        ("commit", Ty::Bytes),
        ("reveal_round", Ty::U64),
    ],
    on_mainnet: false,
};

/// Every call the chain crate encodes (localnet's sudo/admin calls are local-only and not here).
pub const CALLS: &[CallShape] = &[
    BURNED_REGISTER,
    SERVE_AXON,
    SET_MECHANISM_WEIGHTS,
    COMMIT_TIMELOCKED_MECHANISM_WEIGHTS,
    SET_WEIGHTS,
    COMMIT_TIMELOCKED_WEIGHTS,
    COMMIT_CRV3_WEIGHTS,
];

/// One storage item the client reads: pallet, name and the value type it decodes, spelled as the
/// runtime's type name (what the SDK's generated `storage.py` records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageShape {
    /// The pallet.
    pub pallet: &'static str,
    /// The storage item's name.
    pub name: &'static str,
    /// The value type's name in the runtime's metadata.
    pub value: &'static str,
    /// Whether mainnet runtimes have it; the client reads the others only where metadata has them.
    pub on_mainnet: bool,
}

const fn st(name: &'static str, value: &'static str) -> StorageShape {
    StorageShape {
        pallet: SUBTENSOR,
        name,
        value,
        on_mainnet: true,
    }
}

/// Every storage item the chain crate reads.
pub const STORAGE: &[StorageShape] = &[
    StorageShape {
        pallet: "System",
        name: "Account",
        value: "AccountInfo",
        on_mainnet: true,
    },
    st("NetworksAdded", "bool"),
    st("SubnetworkN", "u16"),
    st("TotalNetworks", "u16"),
    st("Tempo", "u16"),
    st("WeightsSetRateLimit", "u64"),
    st("MinAllowedWeights", "u16"),
    st("MaxWeightsLimit", "u16"),
    st("WeightsVersionKey", "u64"),
    st("CommitRevealWeightsEnabled", "bool"),
    st("CommitRevealWeightsVersion", "u16"),
    st("RevealPeriodEpochs", "u64"),
    st("Uids", "u16"),
    st("Axons", "AxonInfo"),
    st("Weights", "Vec<(u16, u16)>"),
    st("LastUpdate", "Vec<u64>"),
    st("SubnetOwnerHotkey", "AccountId32"),
    st("SubnetEpochIndex", "u64"),
    st("LastEpochBlock", "u64"),
    st("PendingEpochAt", "u64"),
    st("BlocksSinceLastStep", "u64"),
    st(
        "TimelockedWeightCommits",
        "Vec<(AccountId32, u64, BoundedVec, u64)>",
    ),
    st(
        "CRV3WeightCommitsV2",
        "Vec<(AccountId32, u64, BoundedVec, u64)>",
    ),
    st("CRV3WeightCommits", "Vec<(AccountId32, BoundedVec, u64)>"),
];

/// Every runtime API method the chain crate calls: `(api, method)`.
pub const RUNTIME_APIS: &[(&str, &str)] = &[("NeuronInfoRuntimeApi", "get_neurons_lite")];

/// How a runtime takes weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsApi {
    /// `set_mechanism_weights` for mechanism 0 (SDK 11, mainnet runtimes).
    Mechanism,
    /// `set_weights` (runtimes without mechanisms, e.g. the local spec 300).
    Legacy,
}

/// How a runtime takes a drand-timelocked weights commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitApi {
    /// `commit_timelocked_mechanism_weights` for mechanism 0, hotkey in the payload, versioned.
    TimelockedMechanism,
    /// `commit_timelocked_weights`, hotkey in the payload, versioned.
    Timelocked,
    /// `commit_crv3_weights`, no hotkey, no version (the local spec 300).
    Crv3,
}

impl WeightsApi {
    /// Picks the API from which calls the runtime's `SubtensorModule` has.
    pub fn detect(has_call: impl Fn(&str) -> bool) -> Option<Self> {
        if has_call(SET_MECHANISM_WEIGHTS.name) {
            Some(WeightsApi::Mechanism)
        } else if has_call(SET_WEIGHTS.name) {
            Some(WeightsApi::Legacy)
        } else {
            None
        }
    }

    /// The call this API sets weights with.
    pub fn call(self) -> &'static CallShape {
        match self {
            WeightsApi::Mechanism => &SET_MECHANISM_WEIGHTS,
            WeightsApi::Legacy => &SET_WEIGHTS,
        }
    }
}

impl CommitApi {
    /// Picks the commit call from which calls the runtime's `SubtensorModule` has, newest first.
    pub fn detect(has_call: impl Fn(&str) -> bool) -> Option<Self> {
        [
            CommitApi::TimelockedMechanism,
            CommitApi::Timelocked,
            CommitApi::Crv3,
        ]
        .into_iter()
        .find(|api| has_call(api.call().name))
    }

    /// The call this API commits with.
    pub fn call(self) -> &'static CallShape {
        match self {
            CommitApi::TimelockedMechanism => &COMMIT_TIMELOCKED_MECHANISM_WEIGHTS,
            CommitApi::Timelocked => &COMMIT_TIMELOCKED_WEIGHTS,
            CommitApi::Crv3 => &COMMIT_CRV3_WEIGHTS,
        }
    }

    /// Whether the timelocked payload carries the hotkey (and the call a commit-reveal version).
    pub fn versioned(self) -> bool {
        !matches!(self, CommitApi::Crv3)
    }
}

/// Orders `values` (given in `shape.params` order) by the live runtime's parameter names.
///
/// Refuses a runtime whose call takes other parameters than the shape: sending values into the
/// wrong slots would be a silent bug, a clear metadata error is not.
pub fn encode_fields(
    shape: &CallShape,
    live_params: &[String],
    values: Vec<Value>,
) -> Result<Vec<Value>, ChainError> {
    let mismatch = || {
        ChainError::Metadata(format!(
            "{}.{} takes ({}) on this runtime; this client encodes ({})",
            shape.pallet,
            shape.name,
            live_params.join(", "),
            shape
                .params
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    };
    if values.len() != shape.params.len() || live_params.len() != shape.params.len() {
        return Err(mismatch());
    }
    let mut slots: Vec<Option<Value>> = values.into_iter().map(Some).collect();
    live_params
        .iter()
        .map(|live| {
            let i = shape
                .params
                .iter()
                .position(|(name, _)| name == live)
                .ok_or_else(mismatch)?;
            slots[i].take().ok_or_else(mismatch)
        })
        .collect()
}

/// A [`Call`] of `shape` with `values` ordered by the live parameter names.
pub(crate) fn call_of(
    shape: &CallShape,
    live_params: &[String],
    values: Vec<Value>,
) -> Result<Call, ChainError> {
    Ok(Call::new(
        shape.pallet,
        shape.name,
        encode_fields(shape, live_params, values)?,
    ))
}

#[cfg(test)]
#[path = "shapes_tests.rs"]
mod tests;

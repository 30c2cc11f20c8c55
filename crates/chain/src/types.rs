//! Values read from the chain.

use std::net::IpAddr;

use scale_decode::DecodeAsType;
use subxt::utils::AccountId32;

use crate::ip::int_to_ip;

/// An axon endpoint as stored on chain.
#[derive(Debug, Clone, PartialEq, Eq, Default, DecodeAsType)]
pub struct AxonInfo {
    /// Block of the last `serve_axon`.
    pub block: u64,
    /// Neuron software version.
    pub version: u32,
    /// IP as an integer (IPv4 in the low 32 bits).
    pub ip: u128,
    /// Port.
    pub port: u16,
    /// 4 or 6 (0 when never served).
    pub ip_type: u8,
    /// Protocol (the SDK sends 4).
    pub protocol: u8,
    /// Reserved.
    pub placeholder1: u8,
    /// Reserved.
    pub placeholder2: u8,
}

impl AxonInfo {
    /// The address, or `None` when the neuron is not serving (ip 0) or the value is malformed.
    pub fn ip_addr(&self) -> Option<IpAddr> {
        if self.ip == 0 {
            return None;
        }
        int_to_ip(self.ip, self.ip_type).ok()
    }

    /// `is_serving` in the SDK: the ip is not `0.0.0.0`.
    pub fn is_serving(&self) -> bool {
        self.ip != 0
    }
}

/// `NeuronInfoLite` as the runtime API returns it (decoded by field name from metadata).
#[derive(Debug, Clone, DecodeAsType)]
pub(crate) struct RawNeuronLite {
    pub(crate) hotkey: AccountId32,
    pub(crate) coldkey: AccountId32,
    pub(crate) uid: u16,
    pub(crate) active: bool,
    pub(crate) axon_info: AxonInfo,
    pub(crate) stake: Vec<(AccountId32, u64)>,
    pub(crate) rank: u16,
    pub(crate) emission: u64,
    pub(crate) incentive: u16,
    pub(crate) consensus: u16,
    pub(crate) trust: u16,
    pub(crate) validator_trust: u16,
    pub(crate) dividends: u16,
    pub(crate) last_update: u64,
    pub(crate) validator_permit: bool,
}

/// One neuron of a subnet.
#[derive(Debug, Clone, PartialEq)]
pub struct Neuron {
    /// Uid on the subnet.
    pub uid: u16,
    /// Hotkey public key.
    pub hotkey: [u8; 32],
    /// Coldkey public key.
    pub coldkey: [u8; 32],
    /// Whether the neuron is active.
    pub active: bool,
    /// Stake in rao (sum over stakers as the lite API reports it).
    pub stake_rao: u64,
    /// Validator permit.
    pub validator_permit: bool,
    /// Axon endpoint.
    pub axon: AxonInfo,
    /// Block of the last weights update.
    pub last_update: u64,
    /// Rank, 0..=1.
    pub rank: f64,
    /// Incentive, 0..=1.
    pub incentive: f64,
    /// Dividends, 0..=1.
    pub dividends: f64,
    /// Emission per tempo in rao.
    pub emission_rao: u64,
    /// Trust, 0..=1.
    pub trust: f64,
    /// Validator trust, 0..=1.
    pub validator_trust: f64,
    /// Consensus, 0..=1.
    pub consensus: f64,
}

fn frac(v: u16) -> f64 {
    f64::from(v) / f64::from(u16::MAX)
}

impl From<RawNeuronLite> for Neuron {
    fn from(r: RawNeuronLite) -> Self {
        Neuron {
            uid: r.uid,
            hotkey: r.hotkey.0,
            coldkey: r.coldkey.0,
            active: r.active,
            stake_rao: r
                .stake
                .iter()
                .map(|(_, s)| *s)
                .fold(0u64, u64::saturating_add),
            validator_permit: r.validator_permit,
            axon: r.axon_info,
            last_update: r.last_update,
            rank: frac(r.rank),
            incentive: frac(r.incentive),
            dividends: frac(r.dividends),
            emission_rao: r.emission,
            trust: frac(r.trust),
            validator_trust: frac(r.validator_trust),
            consensus: frac(r.consensus),
        }
    }
}

/// A subnet's neurons at one block.
#[derive(Debug, Clone, PartialEq)]
pub struct Metagraph {
    /// The subnet.
    pub netuid: u16,
    /// The block it was read at.
    pub block: u64,
    /// Neurons sorted by uid.
    pub neurons: Vec<Neuron>,
}

impl Metagraph {
    /// Number of neurons.
    pub fn n(&self) -> u16 {
        u16::try_from(self.neurons.len()).unwrap_or(u16::MAX)
    }

    /// Uid of a hotkey, if registered.
    pub fn uid_of(&self, hotkey: &[u8; 32]) -> Option<u16> {
        self.neurons
            .iter()
            .find(|n| &n.hotkey == hotkey)
            .map(|n| n.uid)
    }

    /// Neuron by uid.
    pub fn neuron(&self, uid: u16) -> Option<&Neuron> {
        self.neurons.iter().find(|n| n.uid == uid)
    }
}

/// The hyperparameters a neuron needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hyperparameters {
    /// Blocks between epochs.
    pub tempo: u16,
    /// Minimum blocks between two weight updates of one hotkey.
    pub weights_rate_limit: u64,
    /// Minimum number of weights in a `set_weights`.
    pub min_allowed_weights: u16,
    /// Largest weight as u16 fraction (65535 = no limit).
    pub max_weight_limit: u16,
    /// Minimum `version_key` accepted by `set_weights` (0 = any).
    pub weights_version_key: u64,
    /// Whether commit-reveal is on (plain `set_weights` is then refused).
    pub commit_reveal_enabled: bool,
}

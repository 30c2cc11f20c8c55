//! An in-memory [`Chain`] for tests of the neurons' chain logic: subnets with a metagraph and
//! hyperparameters, a block counter the test moves, and a record of every transaction sent.
//! Nothing is signed or validated beyond what the neurons' logic depends on (registration,
//! weights normalization, an unreachable chain).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use crate::chain::{Chain, ChainFuture};
use crate::error::ChainError;
use crate::ip::{ip_to_int, validate_axon_endpoint};
use crate::set_weights::WeightsSubmission;
use crate::signer::ChainSigner;
use crate::tx::{ServeOutcome, TxOutcome};
use crate::types::{AxonInfo, Hyperparameters, Metagraph, Neuron};
use crate::weights::normalize_for_emit;

/// A transaction [`MemoryChain`] accepted.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    /// `burned_register`.
    Register {
        /// The subnet.
        netuid: u16,
        /// The hotkey registered.
        hotkey: [u8; 32],
    },
    /// `serve_axon` (only when the axon changed).
    ServeAxon {
        /// The subnet.
        netuid: u16,
        /// The hotkey serving.
        hotkey: [u8; 32],
        /// Address.
        ip: IpAddr,
        /// Port.
        port: u16,
    },
    /// `set_weights` or a timelocked commit (`reveal_round` is `Some`).
    Weights {
        /// The subnet.
        netuid: u16,
        /// The signing hotkey.
        hotkey: [u8; 32],
        /// What was submitted.
        submission: WeightsSubmission,
    },
}

#[derive(Debug, Default)]
struct State {
    block: u64,
    subnets: HashMap<u16, (Metagraph, Hyperparameters)>,
    sent: Vec<Sent>,
    unreachable: bool,
}

/// An in-memory chain. Cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct MemoryChain {
    state: Mutex<State>,
}

/// Hyperparameters of a fresh test subnet: tempo 10, no rate limit, no commit-reveal.
pub fn test_hyperparameters() -> Hyperparameters {
    Hyperparameters {
        tempo: 10,
        weights_rate_limit: 0,
        min_allowed_weights: 0,
        max_weight_limit: u16::MAX,
        weights_version_key: 0,
        commit_reveal_enabled: false,
    }
}

/// A neuron with `hotkey` at `uid`, not serving, no stake, no permit.
pub fn test_neuron(uid: u16, hotkey: [u8; 32]) -> Neuron {
    Neuron {
        uid,
        hotkey,
        coldkey: [0; 32],
        active: true,
        stake_rao: 0,
        validator_permit: false,
        axon: AxonInfo::default(),
        last_update: 0,
        rank: 0.0,
        incentive: 0.0,
        dividends: 0.0,
        emission_rao: 0,
        trust: 0.0,
        validator_trust: 0.0,
        consensus: 0.0,
    }
}

impl MemoryChain {
    /// An empty chain at block 1.
    pub fn new() -> Self {
        let chain = MemoryChain::default();
        chain.lock().block = 1;
        chain
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds (or replaces) a subnet with these neurons and hyperparameters.
    pub fn add_subnet(&self, netuid: u16, neurons: Vec<Neuron>, hp: Hyperparameters) {
        let mut s = self.lock();
        let block = s.block;
        let mg = Metagraph {
            netuid,
            block,
            neurons,
        };
        s.subnets.insert(netuid, (mg, hp));
    }

    /// Changes a subnet's neurons in place (stake, permits, ...).
    pub fn update_neurons(&self, netuid: u16, f: impl FnOnce(&mut Vec<Neuron>)) {
        if let Some((mg, _)) = self.lock().subnets.get_mut(&netuid) {
            f(&mut mg.neurons);
        }
    }

    /// Changes a subnet's hyperparameters.
    pub fn update_hyperparameters(&self, netuid: u16, f: impl FnOnce(&mut Hyperparameters)) {
        if let Some((_, hp)) = self.lock().subnets.get_mut(&netuid) {
            f(hp);
        }
    }

    /// Moves the chain forward.
    pub fn advance(&self, blocks: u64) {
        self.lock().block += blocks;
    }

    /// The current block.
    pub fn block(&self) -> u64 {
        self.lock().block
    }

    /// Makes every call fail with a transport error (or work again).
    pub fn set_unreachable(&self, unreachable: bool) {
        self.lock().unreachable = unreachable;
    }

    /// The transactions accepted so far, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.lock().sent.clone()
    }

    /// The live state, or the transport error an unreachable chain gives.
    fn up(&self) -> Result<MutexGuard<'_, State>, ChainError> {
        let s = self.lock();
        if s.unreachable {
            return Err(ChainError::Connection {
                endpoint: "memory".into(),
                reason: "the in-memory chain is unreachable".into(),
            });
        }
        Ok(s)
    }

    fn subnet<T>(
        &self,
        netuid: u16,
        f: impl FnOnce(&mut State) -> Result<T, ChainError>,
    ) -> Result<T, ChainError> {
        let mut s = self.up()?;
        if !s.subnets.contains_key(&netuid) {
            return Err(ChainError::dispatch(
                "SubtensorModule",
                "SubNetworkDoesNotExist",
            ));
        }
        f(&mut s)
    }

    fn weights(
        &self,
        hotkey: [u8; 32],
        netuid: u16,
        uids: &[u16],
        weights: &[f32],
        version_key: u64,
        commit: bool,
    ) -> Result<WeightsSubmission, ChainError> {
        let (uids, values) = normalize_for_emit(uids, weights)?;
        if uids.is_empty() {
            return Err(ChainError::InvalidInput(
                "all weights are zero; nothing to set".into(),
            ));
        }
        self.subnet(netuid, |s| {
            let block = s.block;
            let (mg, hp) = s
                .subnets
                .get_mut(&netuid)
                .expect("checked above. This is a bug.");
            let Some(neuron) = mg.neurons.iter_mut().find(|n| n.hotkey == hotkey) else {
                return Err(ChainError::dispatch(
                    "SubtensorModule",
                    "HotKeyNotRegisteredInSubNet",
                ));
            };
            neuron.last_update = block;
            let submission = WeightsSubmission {
                uids,
                values,
                version_key: version_key.max(hp.weights_version_key),
                reveal_round: (commit || hp.commit_reveal_enabled).then_some(block),
            };
            s.sent.push(Sent::Weights {
                netuid,
                hotkey,
                submission: submission.clone(),
            });
            Ok(submission)
        })
    }
}

impl Chain for MemoryChain {
    fn current_block(&self) -> ChainFuture<'_, u64> {
        let r = self.up().map(|s| s.block);
        Box::pin(async move { r })
    }

    fn metagraph(&self, netuid: u16) -> ChainFuture<'_, Metagraph> {
        let r = self.subnet(netuid, |s| {
            let block = s.block;
            let (mg, _) = &s.subnets[&netuid];
            Ok(Metagraph {
                block,
                ..mg.clone()
            })
        });
        Box::pin(async move { r })
    }

    fn hyperparameters(&self, netuid: u16) -> ChainFuture<'_, Hyperparameters> {
        let r = self.subnet(netuid, |s| Ok(s.subnets[&netuid].1));
        Box::pin(async move { r })
    }

    fn uid_of(&self, netuid: u16, hotkey: [u8; 32]) -> ChainFuture<'_, Option<u16>> {
        let r = self.subnet(netuid, |s| Ok(s.subnets[&netuid].0.uid_of(&hotkey)));
        Box::pin(async move { r })
    }

    fn burned_register<'a>(
        &'a self,
        _coldkey: &'a dyn ChainSigner,
        netuid: u16,
        hotkey: [u8; 32],
    ) -> ChainFuture<'a, TxOutcome> {
        let r = self.subnet(netuid, |s| {
            let (mg, _) = s
                .subnets
                .get_mut(&netuid)
                .expect("checked above. This is a bug.");
            if mg.uid_of(&hotkey).is_some() {
                return Err(ChainError::dispatch(
                    "SubtensorModule",
                    "HotKeyAlreadyRegisteredInSubNet",
                ));
            }
            let uid = mg.n();
            mg.neurons.push(test_neuron(uid, hotkey));
            s.sent.push(Sent::Register { netuid, hotkey });
            Ok(TxOutcome {
                block_hash: format!("memory#{}", s.block),
                events: vec!["SubtensorModule::NeuronRegistered".into()],
            })
        });
        Box::pin(async move { r })
    }

    fn serve_axon<'a>(
        &'a self,
        hotkey: &'a dyn ChainSigner,
        netuid: u16,
        ip: IpAddr,
        port: u16,
        version: u32,
    ) -> ChainFuture<'a, ServeOutcome> {
        let key = hotkey.public_key();
        let r = validate_axon_endpoint(ip, port).and_then(|()| {
            self.subnet(netuid, |s| {
                let block = s.block;
                let (mg, _) = s
                    .subnets
                    .get_mut(&netuid)
                    .expect("checked above. This is a bug.");
                let Some(neuron) = mg.neurons.iter_mut().find(|n| n.hotkey == key) else {
                    return Err(ChainError::dispatch(
                        "SubtensorModule",
                        "HotKeyNotRegisteredInNetwork",
                    ));
                };
                let (ip_int, ip_type) = ip_to_int(ip);
                let axon = AxonInfo {
                    block,
                    version,
                    ip: ip_int,
                    port,
                    ip_type,
                    protocol: 4,
                    ..AxonInfo::default()
                };
                if (AxonInfo {
                    block,
                    ..neuron.axon.clone()
                }) == axon
                {
                    return Ok(ServeOutcome::AlreadyCurrent);
                }
                neuron.axon = axon;
                s.sent.push(Sent::ServeAxon {
                    netuid,
                    hotkey: key,
                    ip,
                    port,
                });
                Ok(ServeOutcome::Served)
            })
        });
        Box::pin(async move { r })
    }

    fn set_weights<'a>(
        &'a self,
        hotkey: &'a dyn ChainSigner,
        netuid: u16,
        uids: &'a [u16],
        weights: &'a [f32],
        version_key: u64,
    ) -> ChainFuture<'a, WeightsSubmission> {
        let r = self.weights(
            hotkey.public_key(),
            netuid,
            uids,
            weights,
            version_key,
            false,
        );
        Box::pin(async move { r })
    }

    fn commit_timelocked_weights<'a>(
        &'a self,
        hotkey: &'a dyn ChainSigner,
        netuid: u16,
        uids: &'a [u16],
        weights: &'a [f32],
        version_key: u64,
    ) -> ChainFuture<'a, WeightsSubmission> {
        let r = self.weights(
            hotkey.public_key(),
            netuid,
            uids,
            weights,
            version_key,
            true,
        );
        Box::pin(async move { r })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::ensure_registered;

    struct Key([u8; 32]);
    impl ChainSigner for Key {
        fn public_key(&self) -> [u8; 32] {
            self.0
        }
        fn sign(&self, _message: &[u8]) -> [u8; 64] {
            [0; 64]
        }
    }

    #[tokio::test]
    async fn register_serve_and_weights() {
        let chain = MemoryChain::new();
        chain.add_subnet(3, vec![test_neuron(0, [1; 32])], test_hyperparameters());
        let err = ensure_registered(&chain, 3, [2; 32])
            .await
            .expect_err("not registered");
        assert!(
            matches!(err, ChainError::NotRegistered { netuid: 3, .. }),
            "{err}"
        );
        chain
            .burned_register(&Key([9; 32]), 3, [2; 32])
            .await
            .expect("register");
        assert_eq!(ensure_registered(&chain, 3, [2; 32]).await.expect("uid"), 1);

        let ip: IpAddr = "127.0.0.2".parse().expect("ip");
        let served = chain.serve_axon(&Key([2; 32]), 3, ip, 8091, 1).await;
        assert_eq!(served.expect("serve"), ServeOutcome::Served);
        let again = chain.serve_axon(&Key([2; 32]), 3, ip, 8091, 1).await;
        assert_eq!(again.expect("serve"), ServeOutcome::AlreadyCurrent);
        let mg = chain.metagraph(3).await.expect("metagraph");
        assert_eq!(mg.neuron(1).and_then(|n| n.axon.ip_addr()), Some(ip));

        let w = chain
            .set_weights(&Key([1; 32]), 3, &[0, 1], &[0.5, 1.0], 7)
            .await
            .expect("weights");
        assert_eq!(w.values, vec![32768, 65535]);
        assert_eq!(chain.sent().len(), 3);
        chain.set_unreachable(true);
        assert!(
            chain
                .current_block()
                .await
                .expect_err("down")
                .is_connection()
        );
    }
}

//! Who may query a miner on chain: registered hotkeys with a validator permit and at least the
//! configured stake; waiting requests are served by stake. The metagraph behind the decision is
//! refreshed by [`metagraph_sync_task`].

use audiosubnet_axon::{AxonHooks, Caller};
use audiosubnet_chain::{Metagraph, Subtensor};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Blacklist and priority from the metagraph.
pub struct ChainPolicy {
    metagraph: RwLock<Arc<Metagraph>>,
    /// Minimum stake in rao (`--blacklist.min_stake`, given in TAO).
    pub min_stake_rao: u64,
    /// Refuse registered hotkeys without a validator permit (the default).
    pub require_permit: bool,
}

impl ChainPolicy {
    /// A policy over `metagraph`.
    pub fn new(metagraph: Metagraph, min_stake_rao: u64, require_permit: bool) -> Self {
        ChainPolicy {
            metagraph: RwLock::new(Arc::new(metagraph)),
            min_stake_rao,
            require_permit,
        }
    }

    /// Replaces the metagraph.
    pub fn update(&self, metagraph: Metagraph) {
        *self.metagraph.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(metagraph);
    }

    fn current(&self) -> Arc<Metagraph> {
        self.metagraph
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl AxonHooks for ChainPolicy {
    fn blacklist(&self, _synapse: &str, caller: &Caller) -> Result<(), String> {
        let mg = self.current();
        let Some(neuron) = mg.neurons.iter().find(|n| n.hotkey == caller.hotkey.0) else {
            return Err(format!(
                "hotkey {} is not registered on subnet {}",
                caller.hotkey_ss58, mg.netuid
            ));
        };
        if self.require_permit && !neuron.validator_permit {
            return Err(format!("uid {} has no validator permit", neuron.uid));
        }
        if neuron.stake_rao < self.min_stake_rao {
            return Err(format!(
                "uid {} stake {:.3} TAO is below the minimum {:.3} TAO",
                neuron.uid,
                neuron.stake_rao as f64 / 1e9,
                self.min_stake_rao as f64 / 1e9
            ));
        }
        Ok(())
    }

    fn priority(&self, _synapse: &str, caller: &Caller) -> f64 {
        self.current()
            .neurons
            .iter()
            .find(|n| n.hotkey == caller.hotkey.0)
            .map_or(0.0, |n| n.stake_rao as f64)
    }
}

/// Re-reads the metagraph every `interval` until `shutdown` resolves; a failed read keeps the
/// previous metagraph and is retried at the next tick.
pub async fn metagraph_sync_task(
    client: Arc<Subtensor>,
    netuid: u16,
    policy: Arc<ChainPolicy>,
    interval: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = &mut shutdown => return,
        }
        match client.metagraph(netuid).await {
            Ok(mg) => {
                tracing::debug!(
                    netuid,
                    block = mg.block,
                    neurons = mg.neurons.len(),
                    "metagraph synced"
                );
                policy.update(mg);
            }
            Err(e) => tracing::warn!(netuid, "metagraph sync failed, keeping the last one: {e}"),
        }
    }
}

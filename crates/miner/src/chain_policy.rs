//! The miner on chain: joining the subnet ([`ChainPolicy::join`]: registration check,
//! `serve_axon`, first metagraph), and who may query it: registered hotkeys with a validator
//! permit and at least the configured stake; waiting requests are served by stake. The metagraph
//! behind the decision is refreshed by [`metagraph_sync_task`]. Everything goes through the
//! [`Chain`] trait, so tests run it on an in-memory chain.

use audiosubnet_axon::{AxonHooks, Caller};
use audiosubnet_chain::{
    Chain, ChainError, ChainSigner, Metagraph, ServeOutcome, ensure_registered,
};
use std::net::SocketAddr;
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

    /// Joins subnet `netuid` as `hotkey`: checks that it is registered
    /// ([`ChainError::NotRegistered`] names the register command), publishes `axon` on chain
    /// (skipped when already current), and reads the metagraph the policy starts from.
    pub async fn join(
        chain: &dyn Chain,
        hotkey: &dyn ChainSigner,
        netuid: u16,
        axon: SocketAddr,
        min_stake_rao: u64,
        require_permit: bool,
    ) -> Result<Self, ChainError> {
        let uid = ensure_registered(chain, netuid, hotkey.public_key()).await?;
        let version = u32::try_from(audiosubnet_protocol::PROTOCOL_VERSION).unwrap_or(0);
        match chain
            .serve_axon(hotkey, netuid, axon.ip(), axon.port(), version)
            .await?
        {
            ServeOutcome::AlreadyCurrent => tracing::info!(uid, "axon already published on chain"),
            ServeOutcome::Served => tracing::info!(uid, %axon, "axon published on chain"),
        }
        let metagraph = chain.metagraph(netuid).await?;
        Ok(ChainPolicy::new(metagraph, min_stake_rao, require_permit))
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
    client: Arc<dyn Chain>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use audiosubnet_chain::memory::{MemoryChain, Sent, test_hyperparameters, test_neuron};
    use audiosubnet_wallet::Keypair;

    const NETUID: u16 = 4;

    fn caller(key: &Keypair) -> Caller {
        Caller {
            hotkey: key.account_id(),
            hotkey_ss58: key.ss58(),
            version: None,
            peer: SocketAddr::from(([127, 0, 0, 1], 9)),
            binding: audiosubnet_protocol::BodyBinding::Hashed,
            timeout: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn join_checks_registration_then_serves() {
        let miner = Keypair::from_uri("//miner-test").expect("key");
        let chain = MemoryChain::new();
        chain.add_subnet(NETUID, vec![], test_hyperparameters());
        let axon: SocketAddr = "127.0.0.2:8091".parse().expect("addr");
        let err = ChainPolicy::join(&chain, &miner, NETUID, axon, 0, true)
            .await
            .err()
            .expect("not registered");
        assert!(err.to_string().contains("audiosubnet register"), "{err}");
        assert!(chain.sent().is_empty());

        chain.update_neurons(NETUID, |ns| ns.push(test_neuron(0, miner.account_id().0)));
        ChainPolicy::join(&chain, &miner, NETUID, axon, 0, true)
            .await
            .expect("join");
        assert!(matches!(
            chain.sent().as_slice(),
            [Sent::ServeAxon { port: 8091, .. }]
        ));
        // Joining again does not resend an unchanged axon.
        ChainPolicy::join(&chain, &miner, NETUID, axon, 0, true)
            .await
            .expect("join again");
        assert_eq!(chain.sent().len(), 1);
    }

    #[tokio::test]
    async fn the_blacklist_follows_the_synced_metagraph() {
        let miner = Keypair::from_uri("//miner-test").expect("key");
        let validator = Keypair::from_uri("//validator-test").expect("key");
        let chain = Arc::new(MemoryChain::new());
        chain.add_subnet(
            NETUID,
            vec![test_neuron(0, miner.account_id().0)],
            test_hyperparameters(),
        );
        let axon: SocketAddr = "127.0.0.2:8091".parse().expect("addr");
        let policy = Arc::new(
            ChainPolicy::join(chain.as_ref(), &miner, NETUID, axon, 1_000, true)
                .await
                .expect("join"),
        );
        let who = caller(&validator);
        let refused = policy.blacklist("TextToSpeech", &who).expect_err("unknown");
        assert!(refused.contains("not registered"), "{refused}");

        // The validator registers, gets a permit and stake; the sync task picks it up.
        chain.update_neurons(NETUID, |ns| {
            let mut v = test_neuron(1, validator.account_id().0);
            v.validator_permit = true;
            v.stake_rao = 5_000;
            ns.push(v);
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(metagraph_sync_task(
            chain.clone(),
            NETUID,
            policy.clone(),
            Duration::from_millis(10),
            async move {
                let _ = stopped.await;
            },
        ));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while policy.blacklist("TextToSpeech", &who).is_err() {
            assert!(std::time::Instant::now() < deadline, "never synced");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(policy.priority("TextToSpeech", &who), 5_000.0);

        // A failed sync keeps the last metagraph.
        chain.set_unreachable(true);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(policy.blacklist("TextToSpeech", &who).is_ok());
        let _ = stop.send(());
        task.await.expect("sync task");
    }
}

//! Where the miners come from and where the scores go: a fixed list (`--offline --axons`) or the
//! subtensor chain (metagraph re-synced periodically; weights set once per tempo within the rate
//! limit).

use crate::round::Target;
use crate::state::ScoreState;
use audiosubnet_chain::{Chain, ChainError, Metagraph, WeightsSubmission};
use audiosubnet_dendrite::AxonTarget;
use audiosubnet_wallet::{AccountId, Keypair};
use futures::future::BoxFuture;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The miners to query now.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    /// Miners that serve an axon and may be queried.
    pub targets: Vec<Target>,
    /// Every registered `(uid, hotkey)` when a metagraph is known: scores of hotkeys no longer
    /// registered are dropped.
    pub registered: Option<Vec<(u16, String)>>,
    /// This validator holds a validator permit (always offline). Only without one may a miner
    /// refuse it (401/403) at no cost; with one, a refusal is the miner's failure.
    pub holds_permit: bool,
}

/// A source of miners and a sink for scores.
pub trait Network: Send {
    /// The current roster (may re-read the chain).
    fn roster(&mut self) -> BoxFuture<'_, Result<Roster, String>>;
    /// Called after every round, with the state already saved: starts setting weights when they
    /// are due (in the background, so the next round need not wait for a block) and records in
    /// `state` the block of a setting that has finished. Errors are logged, never fatal.
    fn after_round<'a>(&'a mut self, state: &'a mut ScoreState) -> BoxFuture<'a, ()>;
    /// Called once when the loop ends: waits for a weights setting still in flight.
    fn finish<'a>(&'a mut self, state: &'a mut ScoreState) -> BoxFuture<'a, ()>;
    /// What the chain said last (incentive per hotkey, the last weights submission), for the
    /// dashboard; `None` without a chain.
    fn chain_view(&self) -> Option<ChainView> {
        None
    }
}

/// The validator's latest view of the chain, as the dashboard shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChainView {
    /// The subnet.
    pub netuid: u16,
    /// Block of the last metagraph read, when one succeeded.
    pub metagraph_block: Option<u64>,
    /// Incentive (0..=1) per registered SS58 hotkey, from that metagraph.
    pub incentive: BTreeMap<String, f64>,
    /// The last weights submission this process made, when there was one.
    pub last_weights: Option<WeightsEvent>,
}

/// One attempt to set weights and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightsEvent {
    /// Unix seconds when the outcome was known.
    pub at_unix: u64,
    /// The extrinsic was included (or the commit made).
    pub ok: bool,
    /// The block it landed by, when it did.
    pub block: Option<u64>,
    /// Uids given a weight.
    pub miners: usize,
    /// `version_key` sent.
    pub version_key: Option<u64>,
    /// The drand round of a timelocked commit (commit-reveal on).
    pub reveal_round: Option<u64>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

impl WeightsEvent {
    fn failed(error: &ChainError) -> Self {
        WeightsEvent {
            at_unix: unix_now(),
            ok: false,
            block: None,
            miners: 0,
            version_key: None,
            reveal_round: None,
            error: Some(error.to_string()),
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Offline: exactly these miners, no chain.
#[derive(Debug, Clone)]
pub struct FixedMiners(pub Vec<Target>);

impl Network for FixedMiners {
    fn roster(&mut self) -> BoxFuture<'_, Result<Roster, String>> {
        let roster = Roster {
            targets: self.0.clone(),
            registered: None,
            holds_permit: true,
        };
        Box::pin(async move { Ok(roster) })
    }

    fn after_round<'a>(&'a mut self, _state: &'a mut ScoreState) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn finish<'a>(&'a mut self, _state: &'a mut ScoreState) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// On-chain settings.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// The subnet.
    pub netuid: u16,
    /// Seconds between metagraph re-syncs.
    pub sync_interval: Duration,
    /// Validators with a permit and more stake than this (rao) are not queried, as in the SDK's
    /// template (`--neuron.vpermit_tao_limit`, 4096 TAO).
    pub vpermit_rao_limit: u64,
    /// `version_key` sent with weights (the chain's `WeightsVersionKey` is the floor).
    pub version_key: u64,
    /// Query axons at private, loopback, link-local and other non-public addresses
    /// (`--neuron.allow_private_ips`; local chains need it). Off by default, so a miner cannot
    /// point validators at services on their own network.
    pub allow_private_ips: bool,
}

/// A `set_weights` running in the background; yields the block it landed by and what was sent.
type WeightsTask = tokio::task::JoinHandle<Result<(u64, WeightsSubmission), ChainError>>;

/// The validator on the subtensor chain (any [`Chain`]: the live client, or an in-memory one
/// in tests).
pub struct ChainNetwork {
    client: Arc<dyn Chain>,
    hotkey: Arc<Keypair>,
    config: ChainConfig,
    metagraph: Option<(Metagraph, Instant)>,
    setting: Option<WeightsTask>,
    last_weights: Option<WeightsEvent>,
}

impl ChainNetwork {
    /// A validator for `hotkey` on `config.netuid`.
    pub fn new(client: Arc<dyn Chain>, hotkey: Arc<Keypair>, config: ChainConfig) -> Self {
        Self {
            client,
            hotkey,
            config,
            metagraph: None,
            setting: None,
            last_weights: None,
        }
    }

    async fn sync(&mut self) -> Result<&Metagraph, ChainError> {
        let fresh = |(_, at): &(Metagraph, Instant)| at.elapsed() < self.config.sync_interval;
        if !self.metagraph.as_ref().is_some_and(fresh) {
            let mg = self.client.metagraph(self.config.netuid).await?;
            tracing::info!(
                netuid = mg.netuid,
                block = mg.block,
                neurons = mg.neurons.len(),
                "metagraph synced"
            );
            self.metagraph = Some((mg, Instant::now()));
        }
        match &self.metagraph {
            Some((mg, _)) => Ok(mg),
            None => Err(ChainError::InvalidInput("no metagraph".into())),
        }
    }

    /// Starts setting weights from the EMAs when a tempo (and the rate limit) has passed since
    /// the last successful setting and none is in flight.
    async fn maybe_set_weights(&mut self, state: &ScoreState) -> Result<(), ChainError> {
        if self.setting.is_some() {
            tracing::debug!("the last weights setting is still in flight");
            return Ok(());
        }
        let netuid = self.config.netuid;
        let hp = self.client.hyperparameters(netuid).await?;
        let block = self.client.current_block().await?;
        let every = u64::from(hp.tempo).max(hp.weights_rate_limit).max(1);
        if let Some(last) = state.last_weights_block
            && block < last.saturating_add(every)
        {
            tracing::debug!(block, last, every, "weights not due yet");
            return Ok(());
        }
        let mg = self.sync().await?.clone();
        let (uids, scores) = weights_from_state(&mg, state);
        if scores.iter().all(|s| *s <= 0.0) {
            tracing::info!("no miner has a positive score yet; weights not set");
            return Ok(());
        }
        // The SDK's process_weights_for_netuid with the hyperparameters and size read above.
        let (uids, weights) = audiosubnet_chain::weights::process_weights_for_netuid(
            &uids,
            &scores,
            mg.n(),
            hp.min_allowed_weights,
            hp.max_weight_limit,
        )?;
        let (client, hotkey) = (self.client.clone(), self.hotkey.clone());
        let version_key = self.config.version_key;
        self.setting = Some(tokio::spawn(async move {
            let submitted = client
                .set_weights(hotkey.as_ref(), netuid, &uids, &weights, version_key)
                .await?;
            let at = client.current_block().await.unwrap_or(block);
            tracing::info!(
                netuid,
                block = at,
                miners = submitted.uids.len(),
                version_key = submitted.version_key,
                weights = ?submitted.uids.iter().zip(&submitted.values).collect::<Vec<_>>(),
                "weights set"
            );
            metrics::counter!("validator_weights_set_total").increment(1);
            metrics::gauge!("validator_last_weights_block").set(at as f64);
            Ok((at, submitted))
        }));
        Ok(())
    }

    /// Records a finished weights setting in `state`; with `wait`, waits for one in flight.
    async fn collect_weights(&mut self, state: &mut ScoreState, wait: bool) {
        let Some(task) = self.setting.take_if(|t| wait || t.is_finished()) else {
            return;
        };
        match task.await {
            Ok(Ok((block, submitted))) => {
                state.last_weights_block = Some(block);
                self.last_weights = Some(WeightsEvent {
                    at_unix: unix_now(),
                    ok: true,
                    block: Some(block),
                    miners: submitted.uids.len(),
                    version_key: Some(submitted.version_key),
                    reveal_round: submitted.reveal_round,
                    error: None,
                });
            }
            Ok(Err(e)) => {
                tracing::warn!(netuid = self.config.netuid, "setting weights failed: {e}");
                metrics::counter!("validator_weights_errors_total").increment(1);
                self.last_weights = Some(WeightsEvent::failed(&e));
            }
            Err(e) => tracing::error!("the weights task failed: {e}"),
        }
    }
}

/// `(uids, EMA scores)` for every neuron of the metagraph (0 for those never scored).
pub fn weights_from_state(mg: &Metagraph, state: &ScoreState) -> (Vec<u16>, Vec<f32>) {
    mg.neurons
        .iter()
        .map(|n| {
            let hotkey = AccountId::from(n.hotkey).to_ss58();
            let ema = state.miners.get(&hotkey).map_or(0.0, |m| m.ema);
            (n.uid, ema as f32)
        })
        .unzip()
}

/// The miners of `mg` worth querying: serving an axon at a public address (any address with
/// `allow_private_ips`), not `own`, and not a staked validator.
pub fn queryable(
    mg: &Metagraph,
    own: &[u8; 32],
    vpermit_rao_limit: u64,
    allow_private_ips: bool,
) -> Vec<Target> {
    mg.neurons
        .iter()
        .filter(|n| &n.hotkey != own)
        .filter(|n| !(n.validator_permit && n.stake_rao > vpermit_rao_limit))
        .filter_map(|n| {
            let ip = n.axon.ip_addr()?;
            if !(allow_private_ips || is_public(ip)) {
                tracing::debug!(uid = n.uid, %ip, "skipping an axon at a non-public address");
                metrics::counter!("validator_private_axons_skipped_total").increment(1);
                return None;
            }
            (n.axon.port != 0).then(|| Target {
                uid: Some(n.uid),
                axon: AxonTarget {
                    hotkey: AccountId::from(n.hotkey).to_ss58(),
                    ip,
                    port: n.axon.port,
                },
            })
        })
        .collect()
}

/// Whether `ip` is a globally routable unicast address: not private (RFC 1918, IPv6 unique
/// local), loopback, link-local, unspecified, shared (CGNAT), multicast, broadcast,
/// documentation or reserved. IPv4-mapped IPv6 addresses are judged as the IPv4 they carry.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || ip.to_ipv4().is_some()) // IPv4-compatible (::a.b.c.d)
}

impl Network for ChainNetwork {
    fn roster(&mut self) -> BoxFuture<'_, Result<Roster, String>> {
        Box::pin(async move {
            let own = self.hotkey.account_id().0;
            let limit = self.config.vpermit_rao_limit;
            let allow_private = self.config.allow_private_ips;
            let mg = self.sync().await.map_err(|e| e.to_string())?;
            let registered = mg
                .neurons
                .iter()
                .map(|n| (n.uid, AccountId::from(n.hotkey).to_ss58()))
                .collect();
            let holds_permit = mg
                .neurons
                .iter()
                .any(|n| n.hotkey == own && n.validator_permit);
            Ok(Roster {
                targets: queryable(mg, &own, limit, allow_private),
                registered: Some(registered),
                holds_permit,
            })
        })
    }

    fn after_round<'a>(&'a mut self, state: &'a mut ScoreState) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.collect_weights(state, false).await;
            if let Err(e) = self.maybe_set_weights(state).await {
                tracing::warn!(netuid = self.config.netuid, "setting weights failed: {e}");
                metrics::counter!("validator_weights_errors_total").increment(1);
                self.last_weights = Some(WeightsEvent::failed(&e));
            }
        })
    }

    fn finish<'a>(&'a mut self, state: &'a mut ScoreState) -> BoxFuture<'a, ()> {
        Box::pin(self.collect_weights(state, true))
    }

    fn chain_view(&self) -> Option<ChainView> {
        let mg = self.metagraph.as_ref().map(|(mg, _)| mg);
        Some(ChainView {
            netuid: self.config.netuid,
            metagraph_block: mg.map(|mg| mg.block),
            incentive: mg
                .into_iter()
                .flat_map(|mg| &mg.neurons)
                .map(|n| (AccountId::from(n.hotkey).to_ss58(), n.incentive))
                .collect(),
            last_weights: self.last_weights.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audiosubnet_chain::ip::ip_to_int;
    use audiosubnet_chain::{AxonInfo, Neuron};

    fn neuron(uid: u16, ip: &str) -> Neuron {
        let (ip, ip_type) = ip_to_int(ip.parse().expect("test ip"));
        Neuron {
            uid,
            hotkey: [uid as u8 + 1; 32],
            coldkey: [0; 32],
            active: true,
            stake_rao: 0,
            validator_permit: false,
            axon: AxonInfo {
                ip,
                ip_type,
                port: 8091,
                ..Default::default()
            },
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

    #[test]
    fn axons_at_internal_addresses_are_not_queried_unless_allowed() {
        let internal = [
            "10.1.2.3",
            "172.20.0.5",
            "192.168.1.10",
            "127.0.0.2",
            "169.254.169.254", // cloud metadata service
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
        ];
        let public = ["8.8.8.8", "203.0.114.7", "2a01:4f8::1", "::ffff:1.1.1.1"];
        let neurons: Vec<Neuron> = internal
            .iter()
            .chain(&public)
            .enumerate()
            .map(|(i, ip)| neuron(i as u16, ip))
            .collect();
        let mg = Metagraph {
            netuid: 1,
            block: 1,
            neurons,
        };
        let own = [0xff; 32];
        let ips = |targets: Vec<Target>| -> Vec<String> {
            targets.iter().map(|t| t.axon.ip.to_string()).collect()
        };
        let strict = ips(queryable(&mg, &own, u64::MAX, false));
        let expected: Vec<String> = public
            .iter()
            .map(|ip| ip.parse::<IpAddr>().expect("ip").to_string())
            .collect();
        assert_eq!(strict, expected);
        let allowed = queryable(&mg, &own, u64::MAX, true);
        assert_eq!(allowed.len(), internal.len() + public.len());
    }

    mod on_memory_chain {
        use super::*;
        use crate::state::MinerScore;
        use audiosubnet_chain::memory::{MemoryChain, Sent, test_hyperparameters, test_neuron};

        const NETUID: u16 = 2;

        /// A subnet with the validator at uid 0 and two serving miners at uids 1 and 2.
        fn setup() -> (Arc<MemoryChain>, ChainNetwork, Vec<String>) {
            let hotkey = Arc::new(Keypair::from_uri("//validator-test").expect("key"));
            let mut validator = test_neuron(0, hotkey.account_id().0);
            validator.validator_permit = true;
            let miners = [neuron(1, "127.0.0.2"), neuron(2, "127.0.0.3")];
            let ss58 = miners
                .iter()
                .map(|n| AccountId::from(n.hotkey).to_ss58())
                .collect();
            let chain = Arc::new(MemoryChain::new());
            let mut neurons = vec![validator];
            neurons.extend(miners);
            chain.add_subnet(NETUID, neurons, test_hyperparameters());
            let net = ChainNetwork::new(
                chain.clone(),
                hotkey,
                ChainConfig {
                    netuid: NETUID,
                    sync_interval: Duration::ZERO,
                    vpermit_rao_limit: u64::MAX,
                    version_key: 3,
                    allow_private_ips: true,
                },
            );
            (chain, net, ss58)
        }

        fn scored(miners: &[String], emas: &[f64]) -> ScoreState {
            let mut state = ScoreState::default();
            for (hotkey, ema) in miners.iter().zip(emas) {
                let score = MinerScore {
                    ema: *ema,
                    ..MinerScore::default()
                };
                state.miners.insert(hotkey.clone(), score);
            }
            state
        }

        #[tokio::test]
        async fn weights_not_due_send_nothing() {
            let (chain, mut net, miners) = setup();
            let mut state = scored(&miners, &[0.5, 1.0]);
            // Set 3 blocks ago with tempo 10: not due.
            chain.advance(3);
            state.last_weights_block = Some(chain.block() - 3);
            net.after_round(&mut state).await;
            net.finish(&mut state).await;
            assert!(chain.sent().is_empty(), "{:?}", chain.sent());
        }

        #[tokio::test]
        async fn due_weights_go_processed_and_are_recorded() {
            let (chain, mut net, miners) = setup();
            let mut state = scored(&miners, &[0.5, 1.0]);
            state.last_weights_block = Some(chain.block());
            chain.advance(10);
            net.after_round(&mut state).await;
            net.finish(&mut state).await;
            let sent = chain.sent();
            let [
                Sent::Weights {
                    netuid, submission, ..
                },
            ] = sent.as_slice()
            else {
                panic!("expected one weights setting, got {sent:?}");
            };
            assert_eq!(*netuid, NETUID);
            // The validator's own uid 0 has no score, so it gets no weight; the miners keep
            // their 1:2 ratio, max-upscaled to u16.
            assert_eq!(submission.uids, vec![1, 2]);
            assert_eq!(submission.values, vec![32768, 65535]);
            assert_eq!(submission.version_key, 3);
            assert_eq!(state.last_weights_block, Some(chain.block()));
            let view = net.chain_view().expect("a chain has a view");
            let event = view.last_weights.expect("the submission is recorded");
            assert!(event.ok && event.error.is_none(), "{event:?}");
            assert_eq!(event.block, Some(chain.block()));
            assert_eq!((event.miners, event.version_key), (2, Some(3)));
            assert_eq!(view.incentive.len(), 3, "every registered hotkey");
            assert!(FixedMiners(Vec::new()).chain_view().is_none());

            // No positive score: nothing is sent.
            let mut zero = scored(&miners, &[0.0, 0.0]);
            chain.advance(10);
            net.after_round(&mut zero).await;
            net.finish(&mut zero).await;
            assert_eq!(chain.sent().len(), 1);
        }

        #[tokio::test]
        async fn the_roster_follows_the_metagraph() {
            let (chain, mut net, _) = setup();
            let roster = net.roster().await.expect("roster");
            assert!(roster.holds_permit);
            let uids: Vec<_> = roster.targets.iter().filter_map(|t| t.uid).collect();
            assert_eq!(uids, vec![1, 2]);
            assert_eq!(roster.registered.as_ref().map(Vec::len), Some(3));

            // A new miner serves, and the validator loses its permit: the next sync sees both.
            chain.update_neurons(NETUID, |ns| {
                ns.push(neuron(3, "127.0.0.4"));
                ns[0].validator_permit = false;
            });
            let roster = net.roster().await.expect("roster");
            assert!(!roster.holds_permit);
            let uids: Vec<_> = roster.targets.iter().filter_map(|t| t.uid).collect();
            assert_eq!(uids, vec![1, 2, 3]);

            // An unreachable chain is an error, not a panic or an empty roster.
            chain.set_unreachable(true);
            assert!(net.roster().await.is_err());

            // Weights that cannot even be prepared are a failed submission on the dashboard.
            let mut state = ScoreState::default();
            net.after_round(&mut state).await;
            let event = net.chain_view().and_then(|v| v.last_weights);
            assert!(
                event.as_ref().is_some_and(|e| !e.ok && e.error.is_some()),
                "{event:?}"
            );
        }
    }
}

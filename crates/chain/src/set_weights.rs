//! Weights on chain for mechanism 0: `set_mechanism_weights` / `set_weights`, and the
//! drand-timelocked commit the chain reveals by itself when the subnet has commit-reveal on
//! (`commit_timelocked_mechanism_weights`, `commit_timelocked_weights` or `commit_crv3_weights`,
//! whichever the runtime's metadata has; see [`crate::shapes`]), plus the reads they need (commit inputs, pending commits) and the
//! rate-limit hint ("wait N blocks") added to a too-fast refusal.

use subxt::dynamic::{self, Value};
use subxt::utils::AccountId32;
use tracing::info;

use crate::call::SUBTENSOR;
use crate::classify::{classify, decode_error};
use crate::connection::Subtensor;
use crate::error::{ChainError, WEIGHTS_RATE_LIMIT_ERRORS};
use crate::shapes::{CommitApi, MAIN_MECHANISM, WeightsApi, call_of, mechanism_storage_index};
use crate::signer::ChainSigner;
use crate::types::Hyperparameters;
use crate::weights::normalize_for_emit;

/// Result of [`Subtensor::set_weights`] and [`Subtensor::commit_timelocked_weights`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightsSubmission {
    /// Uids sent.
    pub uids: Vec<u16>,
    /// Normalized u16 values sent.
    pub values: Vec<u16>,
    /// The version key used.
    pub version_key: u64,
    /// `Some(drand round)` when the weights went as a timelocked commit (commit-reveal on): the
    /// chain reveals them by itself once that quicknet round's pulse is on chain.
    pub reveal_round: Option<u64>,
}

/// Seconds per block assumed when converting the reveal block to a drand round (the SDK's
/// default; finney's block time).
const BLOCK_TIME_SECS: f64 = 12.0;

/// `CommitRevealWeightsVersion` where the runtime does not store it.
const DEFAULT_COMMIT_REVEAL_VERSION: u16 = 4;

/// What [`Subtensor::commit_timelocked_weights`] reads from the runtime.
struct CommitInputs {
    /// The commit call the runtime has (its metadata decides).
    api: CommitApi,
    epochs: audiosubnet_timelock::EpochModel,
    reveal_period_epochs: u64,
    /// The version argument of `commit_timelocked_weights`; `None` for `commit_crv3_weights`.
    commit_reveal_version: Option<u16>,
}

/// The SDK's u16 normalisation, refusing an all-zero vector (the chain would reject it anyway).
fn normalize_nonzero(uids: &[u16], weights: &[f32]) -> Result<(Vec<u16>, Vec<u16>), ChainError> {
    let (uids, values) = normalize_for_emit(uids, weights)?;
    if uids.is_empty() {
        return Err(ChainError::InvalidInput(
            "all weights are zero; nothing to set".into(),
        ));
    }
    Ok((uids, values))
}

impl Subtensor {
    /// Sets weights for mechanism 0, signed by the hotkey: `set_mechanism_weights(netuid, 0, ..)`
    /// where the runtime's metadata has it (mainnet), else `set_weights` ([`WeightsApi`]).
    /// `weights` are raw scores: they are normalized the way the SDK does (max-upscale to u16,
    /// round half to even, zeros dropped). The version key sent
    /// is `max(version_key, on-chain WeightsVersionKey)`.
    ///
    /// Callers that want the subnet's min-allowed / max-limit policy applied first pass the
    /// output of [`crate::weights::process_weights_for_netuid`].
    pub async fn set_weights(
        &self,
        hotkey: &dyn ChainSigner,
        netuid: u16,
        uids: &[u16],
        weights: &[f32],
        version_key: u64,
    ) -> Result<WeightsSubmission, ChainError> {
        let (uids, values) = normalize_nonzero(uids, weights)?;
        let hp = self.hyperparameters(netuid).await?;
        if hp.commit_reveal_enabled {
            return self
                .commit_normalized(hotkey, netuid, uids, values, version_key, &hp)
                .await;
        }
        let version_key = version_key.max(hp.weights_version_key);
        let shapes = self.runtime_shapes().await?;
        let shape = shapes.weights.call();
        info!(
            netuid,
            n = uids.len(),
            version_key,
            call = shape.name,
            "set weights"
        );
        let mut fields = vec![
            Value::u128(netuid.into()),
            Value::unnamed_composite(uids.iter().map(|u| Value::u128((*u).into()))),
            Value::unnamed_composite(values.iter().map(|v| Value::u128((*v).into()))),
            Value::u128(version_key.into()),
        ];
        if shapes.weights == WeightsApi::Mechanism {
            fields.insert(1, Value::u128(MAIN_MECHANISM.into()));
        }
        let call = call_of(shape, shapes.params(shape)?, fields)?;
        match self.submit(shape.name, hotkey, call).await {
            Ok(_) => Ok(WeightsSubmission {
                uids,
                values,
                version_key,
                reveal_round: None,
            }),
            Err(e) => Err(self.explain_rate_limit(e, netuid, hotkey, &hp).await),
        }
    }

    /// Adds how many blocks to wait to a weights rate-limit refusal; other errors pass through.
    async fn explain_rate_limit(
        &self,
        error: ChainError,
        netuid: u16,
        hotkey: &dyn ChainSigner,
        hp: &Hyperparameters,
    ) -> ChainError {
        match error {
            ChainError::Dispatch { pallet, name, .. }
                if WEIGHTS_RATE_LIMIT_ERRORS.contains(&name.as_str()) =>
            {
                let hint = self
                    .rate_limit_hint(netuid, hotkey.public_key(), hp.weights_rate_limit)
                    .await;
                ChainError::Dispatch {
                    pallet,
                    name,
                    hint: Some(hint),
                }
            }
            other => other,
        }
    }

    /// Commit-reveal weights: the weights (normalized like [`Subtensor::set_weights`]) go
    /// timelock-encrypted to a drand quicknet round in the subnet's reveal epoch, and the chain
    /// reveals them by itself once that round's pulse is on chain (CR v3/v4, what the SDK does
    /// when `CommitRevealWeightsEnabled` is on; [`Subtensor::set_weights`] comes here by itself
    /// then). Signed by the hotkey.
    ///
    /// The call and payload follow the runtime's metadata ([`CommitApi`]):
    /// `commit_timelocked_mechanism_weights(netuid, 0, commit, reveal_round,
    /// CommitRevealWeightsVersion)` on mechanism runtimes (mainnet), else
    /// `commit_timelocked_weights(netuid, commit, reveal_round, CommitRevealWeightsVersion)`, both
    /// with the hotkey in the payload, else `commit_crv3_weights(netuid, commit, reveal_round)`
    /// with the older payload. The reveal round uses the stateful epoch schedule (`SubnetEpochIndex`, ...) where
    /// the runtime stores it (bittensor-drand 2.x), else block-modulo epochs (1.x).
    pub async fn commit_timelocked_weights(
        &self,
        hotkey: &dyn ChainSigner,
        netuid: u16,
        uids: &[u16],
        weights: &[f32],
        version_key: u64,
    ) -> Result<WeightsSubmission, ChainError> {
        let (uids, values) = normalize_nonzero(uids, weights)?;
        let hp = self.hyperparameters(netuid).await?;
        self.commit_normalized(hotkey, netuid, uids, values, version_key, &hp)
            .await
    }

    async fn commit_normalized(
        &self,
        hotkey: &dyn ChainSigner,
        netuid: u16,
        uids: Vec<u16>,
        values: Vec<u16>,
        version_key: u64,
        hp: &Hyperparameters,
    ) -> Result<WeightsSubmission, ChainError> {
        let version_key = version_key.max(hp.weights_version_key);
        let inputs = self.commit_inputs(netuid).await?;
        let commit = audiosubnet_timelock::WeightsCommit {
            hotkey: inputs.api.versioned().then(|| hotkey.public_key()),
            uids: uids.clone(),
            values: values.clone(),
            version_key,
            epochs: inputs.epochs,
            reveal_period_epochs: inputs.reveal_period_epochs,
            block_time: BLOCK_TIME_SECS,
        };
        let (ciphertext, reveal_round) = commit
            .encrypt()
            .map_err(|e| ChainError::InvalidInput(format!("timelocked commit: {e}")))?;
        let mut fields = vec![
            Value::u128(netuid.into()),
            Value::from_bytes(&ciphertext),
            Value::u128(reveal_round.into()),
        ];
        if inputs.api == CommitApi::TimelockedMechanism {
            fields.insert(1, Value::u128(MAIN_MECHANISM.into()));
        }
        if let Some(v) = inputs.commit_reveal_version {
            fields.push(Value::u128(v.into()));
        }
        let shape = inputs.api.call();
        info!(
            netuid,
            n = uids.len(),
            version_key,
            reveal_round,
            call = shape.name,
            "commit timelocked weights"
        );
        let shapes = self.runtime_shapes().await?;
        let call = call_of(shape, shapes.params(shape)?, fields)?;
        match self.submit(shape.name, hotkey, call).await {
            Ok(_) => Ok(WeightsSubmission {
                uids,
                values,
                version_key,
                reveal_round: Some(reveal_round),
            }),
            Err(e) => Err(self.explain_rate_limit(e, netuid, hotkey, hp).await),
        }
    }

    /// What a timelocked commit needs from the runtime, read at one block: the call, the payload
    /// shape, the epoch schedule and the reveal period.
    async fn commit_inputs(&self, netuid: u16) -> Result<CommitInputs, ChainError> {
        let api = self.runtime_shapes().await?.commit.ok_or_else(|| {
            ChainError::Metadata("the runtime has no timelocked weights commit call".into())
        })?;
        self.read("commit inputs", |at| async move {
            let md = at.metadata();
            let pallet = md
                .pallet_by_name(SUBTENSOR)
                .ok_or_else(|| ChainError::Metadata("the runtime has no SubtensorModule".into()))?;
            let has_storage = |name: &str| {
                pallet
                    .storage()
                    .and_then(|s| s.entry_by_name(name))
                    .is_some()
            };
            let stateful = ["SubnetEpochIndex", "LastEpochBlock", "PendingEpochAt"]
                .iter()
                .all(|s| has_storage(s));
            let has_reveal_period = has_storage("RevealPeriodEpochs");
            let has_version = has_storage("CommitRevealWeightsVersion");
            drop(md);

            let storage = at.storage();
            let read_u64 = |entry: &'static str| {
                let storage = &storage;
                async move {
                    let addr = dynamic::storage::<(u16,), u64>(SUBTENSOR, entry);
                    storage
                        .fetch(addr, (netuid,))
                        .await
                        .map_err(|e| classify(entry, &e))?
                        .decode()
                        .map_err(|e| decode_error(entry, e))
                }
            };
            let current_block = at.block_number();
            let tempo: u16 = storage
                .fetch(
                    dynamic::storage::<(u16,), u16>(SUBTENSOR, "Tempo"),
                    (netuid,),
                )
                .await
                .map_err(|e| classify("Tempo", &e))?
                .decode()
                .map_err(|e| decode_error("Tempo", e))?;
            let epochs = if stateful {
                audiosubnet_timelock::EpochModel::Stateful(audiosubnet_timelock::EpochSchedule {
                    last_epoch_block: read_u64("LastEpochBlock").await?,
                    pending_epoch_at: read_u64("PendingEpochAt").await?,
                    subnet_epoch_index: read_u64("SubnetEpochIndex").await?,
                    tempo,
                    blocks_since_last_step: read_u64("BlocksSinceLastStep").await?,
                    current_block,
                })
            } else {
                audiosubnet_timelock::EpochModel::Modulo {
                    tempo,
                    netuid,
                    current_block,
                }
            };
            let reveal_period_epochs = if has_reveal_period {
                read_u64("RevealPeriodEpochs").await?
            } else {
                1
            };
            let commit_reveal_version = if !api.versioned() {
                None
            } else if has_version {
                let addr = dynamic::storage::<(), u16>(SUBTENSOR, "CommitRevealWeightsVersion");
                Some(
                    storage
                        .fetch(addr, ())
                        .await
                        .map_err(|e| classify("CommitRevealWeightsVersion", &e))?
                        .decode()
                        .map_err(|e| decode_error("CommitRevealWeightsVersion", e))?,
                )
            } else {
                Some(DEFAULT_COMMIT_REVEAL_VERSION)
            };
            Ok(CommitInputs {
                api,
                epochs,
                reveal_period_epochs,
                commit_reveal_version,
            })
        })
        .await
    }

    /// The timelocked weight commits waiting on a subnet (mechanism 0), from whichever of
    /// `TimelockedWeightCommits`, `CRV3WeightCommitsV2` and `CRV3WeightCommits` the runtime has:
    /// `(epoch, hotkey, reveal_round)` for each.
    pub async fn timelocked_commits(
        &self,
        netuid: u16,
    ) -> Result<Vec<(u64, [u8; 32], u64)>, ChainError> {
        /// `(who, commit_block, commit, reveal_round)`.
        type WithBlock = Vec<(AccountId32, u64, Vec<u8>, u64)>;
        /// `(who, commit, reveal_round)`.
        type WithoutBlock = Vec<(AccountId32, Vec<u8>, u64)>;
        let index = mechanism_storage_index(netuid, MAIN_MECHANISM)?;
        self.read("weight commits", |at| async move {
            let md = at.metadata();
            let entries: Vec<&'static str> = [
                "TimelockedWeightCommits",
                "CRV3WeightCommitsV2",
                "CRV3WeightCommits",
            ]
            .into_iter()
            .filter(|name| {
                md.pallet_by_name(SUBTENSOR)
                    .and_then(|p| p.storage())
                    .and_then(|s| s.entry_by_name(name))
                    .is_some()
            })
            .collect();
            drop(md);
            let mut out = Vec::new();
            for entry in entries {
                let addr = dynamic::storage::<(u16, u64), Value>(SUBTENSOR, entry);
                let mut iter = at
                    .storage()
                    .iter(addr, (index,))
                    .await
                    .map_err(|e| classify(entry, &e))?;
                while let Some(kv) = iter.next().await {
                    let kv = kv.map_err(|e| classify(entry, &e))?;
                    let (_, epoch) = kv
                        .key()
                        .and_then(|k| k.decode())
                        .map_err(|e| decode_error(entry, e))?;
                    let value = kv.value();
                    if entry == "CRV3WeightCommits" {
                        let items: WithoutBlock =
                            value.decode_as().map_err(|e| decode_error(entry, e))?;
                        out.extend(items.into_iter().map(|(who, _, r)| (epoch, who.0, r)));
                    } else {
                        let items: WithBlock =
                            value.decode_as().map_err(|e| decode_error(entry, e))?;
                        out.extend(items.into_iter().map(|(who, _, _, r)| (epoch, who.0, r)));
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    /// The SDK's `process_weights_for_netuid` with this subnet's live `MinAllowedWeights`,
    /// `MaxWeightsLimit` and size: what a validator passes to [`Subtensor::set_weights`].
    pub async fn process_weights(
        &self,
        netuid: u16,
        uids: &[u16],
        weights: &[f32],
    ) -> Result<(Vec<u16>, Vec<f32>), ChainError> {
        let hp = self.hyperparameters(netuid).await?;
        let n = self.subnet_n(netuid).await?;
        crate::weights::process_weights_for_netuid(
            uids,
            weights,
            n,
            hp.min_allowed_weights,
            hp.max_weight_limit,
        )
    }

    async fn rate_limit_hint(&self, netuid: u16, hotkey: [u8; 32], limit: u64) -> String {
        let last = async {
            let uid = self.uid_of(netuid, hotkey).await?;
            // Keyed by the mechanism storage index on mechanism runtimes (= netuid for mechanism 0).
            let index = mechanism_storage_index(netuid, MAIN_MECHANISM)?;
            let last_update: Vec<u64> = self.netuid_storage("LastUpdate", index).await?;
            let now = self.current_block().await?;
            Ok::<_, ChainError>((
                uid.and_then(|u| last_update.get(usize::from(u)).copied()),
                now,
            ))
        };
        match last.await {
            Ok((Some(last), now)) => {
                let wait = (last + limit).saturating_sub(now).max(1);
                format!(
                    "WeightsRateLimit: wait {wait} blocks (rate limit {limit}, last update at block {last})"
                )
            }
            _ => format!("WeightsRateLimit: wait up to {limit} blocks"),
        }
    }
}

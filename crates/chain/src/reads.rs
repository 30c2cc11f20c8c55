//! Reads: block number, subnet storage, hyperparameters, uids, axons, weights, balances and the
//! metagraph (runtime API `get_neurons_lite`). Each is one [`Subtensor::read`] at the current
//! block, decoded into a small typed value.

use subxt::dynamic;
use subxt::utils::AccountId32;

use crate::call::SUBTENSOR;
use crate::classify::{classify, decode_error};
use crate::connection::Subtensor;
use crate::error::ChainError;
use crate::shapes::{MAIN_MECHANISM, mechanism_storage_index};
use crate::types::{AxonInfo, Hyperparameters, Metagraph, Neuron, RawNeuronLite};

impl Subtensor {
    /// The current (finalized) block number.
    pub async fn current_block(&self) -> Result<u64, ChainError> {
        self.read("current_block", |at| async move { Ok(at.block_number()) })
            .await
    }

    /// Reads a `SubtensorModule` storage value keyed by `netuid` (default value when absent).
    pub(crate) async fn netuid_storage<V>(
        &self,
        entry: &'static str,
        netuid: u16,
    ) -> Result<V, ChainError>
    where
        V: scale_decode::DecodeAsType + Send + 'static,
    {
        self.read(entry, |at| async move {
            let addr = dynamic::storage::<(u16,), V>(SUBTENSOR, entry);
            let v = at
                .storage()
                .fetch(addr, (netuid,))
                .await
                .map_err(|e| classify(entry, &e))?;
            v.decode().map_err(|e| decode_error(entry, e))
        })
        .await
    }

    /// Whether a subnet exists.
    pub async fn subnet_exists(&self, netuid: u16) -> Result<bool, ChainError> {
        self.netuid_storage::<bool>("NetworksAdded", netuid).await
    }

    /// Number of neurons on a subnet.
    pub async fn subnet_n(&self, netuid: u16) -> Result<u16, ChainError> {
        self.netuid_storage::<u16>("SubnetworkN", netuid).await
    }

    /// The number of subnets (storage `TotalNetworks`).
    pub async fn total_networks(&self) -> Result<u16, ChainError> {
        self.read("TotalNetworks", |at| async move {
            let addr = dynamic::storage::<(), u16>(SUBTENSOR, "TotalNetworks");
            let v = at
                .storage()
                .fetch(addr, ())
                .await
                .map_err(|e| classify("TotalNetworks", &e))?;
            v.decode().map_err(|e| decode_error("TotalNetworks", e))
        })
        .await
    }

    /// The hyperparameters neurons need (storage reads).
    pub async fn hyperparameters(&self, netuid: u16) -> Result<Hyperparameters, ChainError> {
        Ok(Hyperparameters {
            tempo: self.netuid_storage("Tempo", netuid).await?,
            weights_rate_limit: self.netuid_storage("WeightsSetRateLimit", netuid).await?,
            min_allowed_weights: self.netuid_storage("MinAllowedWeights", netuid).await?,
            max_weight_limit: self.netuid_storage("MaxWeightsLimit", netuid).await?,
            weights_version_key: self.netuid_storage("WeightsVersionKey", netuid).await?,
            commit_reveal_enabled: self
                .netuid_storage("CommitRevealWeightsEnabled", netuid)
                .await?,
        })
    }

    /// The uid of `hotkey` on `netuid` (storage `Uids`), if registered.
    pub async fn uid_of(&self, netuid: u16, hotkey: [u8; 32]) -> Result<Option<u16>, ChainError> {
        self.read("Uids", |at| async move {
            let addr = dynamic::storage::<(u16, AccountId32), u16>(SUBTENSOR, "Uids");
            let v = at
                .storage()
                .try_fetch(addr, (netuid, AccountId32(hotkey)))
                .await
                .map_err(|e| classify("Uids", &e))?;
            v.map(|v| v.decode())
                .transpose()
                .map_err(|e| decode_error("Uids", e))
        })
        .await
    }

    /// The axon a hotkey has on chain for `netuid` (storage `Axons`), if any.
    pub async fn axon_of(
        &self,
        netuid: u16,
        hotkey: [u8; 32],
    ) -> Result<Option<AxonInfo>, ChainError> {
        self.read("Axons", |at| async move {
            let addr = dynamic::storage::<(u16, AccountId32), AxonInfo>(SUBTENSOR, "Axons");
            let v = at
                .storage()
                .try_fetch(addr, (netuid, AccountId32(hotkey)))
                .await
                .map_err(|e| classify("Axons", &e))?;
            v.map(|v| v.decode())
                .transpose()
                .map_err(|e| decode_error("Axons", e))
        })
        .await
    }

    /// The weights a uid has set on a subnet's mechanism 0 (storage `Weights`, keyed by the
    /// mechanism storage index), as `(uid, u16 value)` pairs.
    pub async fn weights_of(&self, netuid: u16, uid: u16) -> Result<Vec<(u16, u16)>, ChainError> {
        let index = mechanism_storage_index(netuid, MAIN_MECHANISM)?;
        self.read("Weights", |at| async move {
            let addr = dynamic::storage::<(u16, u16), Vec<(u16, u16)>>(SUBTENSOR, "Weights");
            let v = at
                .storage()
                .fetch(addr, (index, uid))
                .await
                .map_err(|e| classify("Weights", &e))?;
            v.decode().map_err(|e| decode_error("Weights", e))
        })
        .await
    }

    /// The owner hotkey of a subnet (storage `SubnetOwnerHotkey`), if set.
    pub async fn subnet_owner_hotkey(&self, netuid: u16) -> Result<Option<[u8; 32]>, ChainError> {
        self.read("SubnetOwnerHotkey", |at| async move {
            let addr = dynamic::storage::<(u16,), AccountId32>(SUBTENSOR, "SubnetOwnerHotkey");
            let v = at
                .storage()
                .try_fetch(addr, (netuid,))
                .await
                .map_err(|e| classify("SubnetOwnerHotkey", &e))?;
            v.map(|v| v.decode().map(|a| a.0))
                .transpose()
                .map_err(|e| decode_error("SubnetOwnerHotkey", e))
        })
        .await
    }

    /// Free balance of an account in rao.
    pub async fn balance(&self, account: [u8; 32]) -> Result<u128, ChainError> {
        #[derive(scale_decode::DecodeAsType)]
        struct AccountInfo {
            data: AccountData,
        }
        #[derive(scale_decode::DecodeAsType)]
        struct AccountData {
            free: u128,
        }
        self.read("System.Account", |at| async move {
            let addr = dynamic::storage::<(AccountId32,), AccountInfo>("System", "Account");
            let v = at
                .storage()
                .fetch(addr, (AccountId32(account),))
                .await
                .map_err(|e| classify("balance", &e))?;
            let info = v.decode().map_err(|e| decode_error("System.Account", e))?;
            Ok(info.data.free)
        })
        .await
    }

    /// The subnet's neurons through the runtime API `NeuronInfoRuntimeApi_get_neurons_lite`.
    pub async fn metagraph(&self, netuid: u16) -> Result<Metagraph, ChainError> {
        self.read("get_neurons_lite", |at| async move {
            let block = at.block_number();
            let payload = dynamic::runtime_api_call::<_, Vec<RawNeuronLite>>(
                "NeuronInfoRuntimeApi",
                "get_neurons_lite",
                (netuid,),
            );
            let raw = at
                .runtime_apis()
                .call(payload)
                .await
                .map_err(|e| classify("get_neurons_lite", &e))?;
            let mut neurons: Vec<Neuron> = raw.into_iter().map(Neuron::from).collect();
            neurons.sort_by_key(|n| n.uid);
            Ok(Metagraph {
                netuid,
                block,
                neurons,
            })
        })
        .await
    }
}

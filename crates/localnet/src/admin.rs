//! Admin calls for the local chain: sudo settings, `Utility::batch_all`, funding and staking,
//! subnet creation, and chopsticks' `dev_*` RPCs. None of this belongs in a neuron, so it lives
//! here, on top of the chain crate's low-level API ([`Subtensor::submit`], [`Subtensor::rpc`],
//! [`Subtensor::call_arity`]). Bring [`LocalAdmin`] into scope to call these on a [`Subtensor`].

use std::future::Future;

use audiosubnet_chain::{
    Call, ChainError, ChainSigner, SUBTENSOR, Subtensor, TxOutcome, Value, account_value,
};
use tracing::info;

/// `Sudo::sudo(AdminUtils::<name>(args))`: an admin setting, signed by the sudo key. `args` are
/// the call's fields in order, as unsigned integers or bools.
pub fn sudo_call(name: &str, args: Vec<Value>) -> Call {
    let inner = Call::new("AdminUtils", name, args).into_value();
    Call::new("Sudo", "sudo", vec![inner]).with_label(name)
}

/// `Balances::transfer_keep_alive(to, amount)`.
pub fn transfer_call(to: [u8; 32], amount_rao: u128) -> Call {
    Call::new(
        "Balances",
        "transfer_keep_alive",
        vec![
            Value::unnamed_variant("Id", [account_value(to)]),
            Value::u128(amount_rao),
        ],
    )
}

/// `add_stake(hotkey, netuid, amount)`, signed by the coldkey.
pub fn add_stake_call(hotkey: [u8; 32], netuid: u16, amount_rao: u64) -> Call {
    Call::new(
        SUBTENSOR,
        "add_stake",
        vec![
            account_value(hotkey),
            Value::u128(netuid.into()),
            Value::u128(amount_rao.into()),
        ],
    )
}

/// Admin operations on a (local) chain. Implemented for [`Subtensor`].
pub trait LocalAdmin {
    /// A raw JSON-RPC request (chopsticks' `dev_*` methods and the like).
    fn rpc_raw(
        &self,
        method: &str,
        params: Vec<serde_json::Value>,
    ) -> impl Future<Output = Result<serde_json::Value, ChainError>> + Send;

    /// chopsticks: builds `count` blocks now.
    fn dev_new_blocks(&self, count: u32) -> impl Future<Output = Result<(), ChainError>> + Send;

    /// chopsticks: overwrites storage (`{"Pallet": {"Item": [[[keys], value]]}}` form).
    fn dev_set_storage(
        &self,
        storage: serde_json::Value,
    ) -> impl Future<Output = Result<(), ChainError>> + Send;

    /// The node's chain name (`system_chain`); a cheap liveness probe.
    fn system_chain(&self) -> impl Future<Output = Result<String, ChainError>> + Send;

    /// `Sudo::sudo(AdminUtils::<call>(args))`, signed by the sudo key (Alice on the local chain).
    fn sudo_admin(
        &self,
        sudo_key: &dyn ChainSigner,
        call: &str,
        args: Vec<Value>,
    ) -> impl Future<Output = Result<TxOutcome, ChainError>> + Send;

    /// Sudo: subnet tempo.
    fn sudo_set_tempo(
        &self,
        sudo_key: &dyn ChainSigner,
        netuid: u16,
        tempo: u16,
    ) -> impl Future<Output = Result<TxOutcome, ChainError>> + Send;

    /// Sudo: weights rate limit in blocks.
    fn sudo_set_weights_rate_limit(
        &self,
        sudo_key: &dyn ChainSigner,
        netuid: u16,
        blocks: u64,
    ) -> impl Future<Output = Result<TxOutcome, ChainError>> + Send;

    /// Sudo: commit-reveal on or off.
    fn sudo_set_commit_reveal(
        &self,
        sudo_key: &dyn ChainSigner,
        netuid: u16,
        enabled: bool,
    ) -> impl Future<Output = Result<TxOutcome, ChainError>> + Send;

    /// Sudo: the minimum `version_key` `set_weights` accepts on a subnet.
    fn sudo_set_weights_version_key(
        &self,
        sudo_key: &dyn ChainSigner,
        netuid: u16,
        key: u64,
    ) -> impl Future<Output = Result<TxOutcome, ChainError>> + Send;

    /// The sudo call that sets the minimum stake to set weights: `sudo_set_stake_threshold` since
    /// spec 300, `sudo_set_weights_min_stake` before.
    fn stake_threshold_call(
        &self,
        rao: u64,
    ) -> impl Future<Output = Result<Call, ChainError>> + Send;

    /// `Utility::batch_all(calls)`, signed by `signer`: every call in one transaction and one
    /// block, all or nothing. A failed sudo call inside fails the whole result too (its `Sudid`
    /// event carries the error). `what` names the batch in logs and errors.
    fn batch_all(
        &self,
        what: &str,
        signer: &dyn ChainSigner,
        calls: Vec<Call>,
    ) -> impl Future<Output = Result<TxOutcome, ChainError>> + Send;

    /// `add_stake(hotkey, netuid, amount)`, signed by the coldkey.
    fn add_stake(
        &self,
        coldkey: &dyn ChainSigner,
        hotkey: [u8; 32],
        netuid: u16,
        amount_rao: u64,
    ) -> impl Future<Output = Result<TxOutcome, ChainError>> + Send;

    /// `Balances::transfer_keep_alive`.
    fn transfer(
        &self,
        from: &dyn ChainSigner,
        to: [u8; 32],
        amount_rao: u128,
    ) -> impl Future<Output = Result<TxOutcome, ChainError>> + Send;

    /// `register_network`, signed by the owner's coldkey; returns the new netuid. Handles the
    /// spec-218 shape `(hotkey, mechid)` and the later `(hotkey)`.
    fn register_network(
        &self,
        coldkey: &dyn ChainSigner,
        hotkey: [u8; 32],
    ) -> impl Future<Output = Result<u16, ChainError>> + Send;
}

impl LocalAdmin for Subtensor {
    async fn rpc_raw(
        &self,
        method: &str,
        params: Vec<serde_json::Value>,
    ) -> Result<serde_json::Value, ChainError> {
        self.rpc(method, params).await
    }

    async fn dev_new_blocks(&self, count: u32) -> Result<(), ChainError> {
        self.rpc("dev_newBlock", vec![serde_json::json!({ "count": count })])
            .await
            .map(|_| ())
    }

    async fn dev_set_storage(&self, storage: serde_json::Value) -> Result<(), ChainError> {
        self.rpc("dev_setStorage", vec![storage]).await.map(|_| ())
    }

    async fn system_chain(&self) -> Result<String, ChainError> {
        let v = self.rpc("system_chain", vec![]).await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    async fn sudo_admin(
        &self,
        sudo_key: &dyn ChainSigner,
        call: &str,
        args: Vec<Value>,
    ) -> Result<TxOutcome, ChainError> {
        info!(call, "sudo AdminUtils");
        self.submit(call, sudo_key, sudo_call(call, args)).await
    }

    async fn sudo_set_tempo(
        &self,
        sudo_key: &dyn ChainSigner,
        netuid: u16,
        tempo: u16,
    ) -> Result<TxOutcome, ChainError> {
        let args = vec![Value::u128(netuid.into()), Value::u128(tempo.into())];
        self.sudo_admin(sudo_key, "sudo_set_tempo", args).await
    }

    async fn sudo_set_weights_rate_limit(
        &self,
        sudo_key: &dyn ChainSigner,
        netuid: u16,
        blocks: u64,
    ) -> Result<TxOutcome, ChainError> {
        let args = vec![Value::u128(netuid.into()), Value::u128(blocks.into())];
        self.sudo_admin(sudo_key, "sudo_set_weights_set_rate_limit", args)
            .await
    }

    async fn sudo_set_commit_reveal(
        &self,
        sudo_key: &dyn ChainSigner,
        netuid: u16,
        enabled: bool,
    ) -> Result<TxOutcome, ChainError> {
        let args = vec![Value::u128(netuid.into()), Value::bool(enabled)];
        self.sudo_admin(sudo_key, "sudo_set_commit_reveal_weights_enabled", args)
            .await
    }

    async fn sudo_set_weights_version_key(
        &self,
        sudo_key: &dyn ChainSigner,
        netuid: u16,
        key: u64,
    ) -> Result<TxOutcome, ChainError> {
        let args = vec![Value::u128(netuid.into()), Value::u128(key.into())];
        self.sudo_admin(sudo_key, "sudo_set_weights_version_key", args)
            .await
    }

    async fn stake_threshold_call(&self, rao: u64) -> Result<Call, ChainError> {
        let name = if self
            .call_arity("AdminUtils", "sudo_set_stake_threshold")
            .await?
            .is_some()
        {
            "sudo_set_stake_threshold"
        } else {
            "sudo_set_weights_min_stake"
        };
        Ok(sudo_call(name, vec![Value::u128(rao.into())]))
    }

    async fn batch_all(
        &self,
        what: &str,
        signer: &dyn ChainSigner,
        calls: Vec<Call>,
    ) -> Result<TxOutcome, ChainError> {
        info!(
            what,
            calls = ?calls.iter().map(Call::label).collect::<Vec<_>>(),
            "batch_all"
        );
        let calls = Value::unnamed_composite(calls.into_iter().map(Call::into_value));
        self.submit(what, signer, Call::new("Utility", "batch_all", vec![calls]))
            .await
    }

    async fn add_stake(
        &self,
        coldkey: &dyn ChainSigner,
        hotkey: [u8; 32],
        netuid: u16,
        amount_rao: u64,
    ) -> Result<TxOutcome, ChainError> {
        info!(netuid, amount_rao, "add_stake");
        let call = add_stake_call(hotkey, netuid, amount_rao);
        self.submit("add_stake", coldkey, call).await
    }

    async fn transfer(
        &self,
        from: &dyn ChainSigner,
        to: [u8; 32],
        amount_rao: u128,
    ) -> Result<TxOutcome, ChainError> {
        self.submit("transfer", from, transfer_call(to, amount_rao))
            .await
    }

    async fn register_network(
        &self,
        coldkey: &dyn ChainSigner,
        hotkey: [u8; 32],
    ) -> Result<u16, ChainError> {
        let arity = self
            .call_arity(SUBTENSOR, "register_network")
            .await?
            .ok_or_else(|| {
                ChainError::Metadata("SubtensorModule::register_network is missing".into())
            })?;
        let mut fields = vec![account_value(hotkey)];
        if arity >= 2 {
            fields.push(Value::u128(1));
        }
        let before = self.total_networks().await?;
        let call = Call::new(SUBTENSOR, "register_network", fields);
        self.submit("register_network", coldkey, call).await?;
        // The new subnet takes the lowest free netuid; find the one owned by this hotkey.
        let total = self.total_networks().await?.max(before + 1);
        for netuid in (1..=total.saturating_add(1)).rev() {
            if self.subnet_exists(netuid).await?
                && self.subnet_owner_hotkey(netuid).await? == Some(hotkey)
            {
                return Ok(netuid);
            }
        }
        Err(ChainError::Metadata(
            "register_network succeeded but no subnet owned by the hotkey was found".into(),
        ))
    }
}

//! The [`Chain`] trait: what the miner and the validator need from subtensor (reads, registration,
//! `serve_axon`, weights), so that their chain logic runs against the live client ([`Subtensor`])
//! or an in-memory chain in tests ([`crate::memory::MemoryChain`]). Futures are boxed so that the
//! neurons can hold an `Arc<dyn Chain>`.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use crate::connection::Subtensor;
use crate::error::ChainError;
use crate::set_weights::WeightsSubmission;
use crate::signer::ChainSigner;
use crate::tx::{ServeOutcome, TxOutcome};
use crate::types::{Hyperparameters, Metagraph};

/// The future every [`Chain`] method returns.
pub type ChainFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ChainError>> + Send + 'a>>;

/// The chain as the neurons see it. See [`Subtensor`] for what each call does on the real chain.
pub trait Chain: Send + Sync {
    /// The current (finalized) block number.
    fn current_block(&self) -> ChainFuture<'_, u64>;
    /// The subnet's neurons.
    fn metagraph(&self, netuid: u16) -> ChainFuture<'_, Metagraph>;
    /// The hyperparameters neurons need.
    fn hyperparameters(&self, netuid: u16) -> ChainFuture<'_, Hyperparameters>;
    /// The uid of `hotkey` on `netuid`, if registered.
    fn uid_of(&self, netuid: u16, hotkey: [u8; 32]) -> ChainFuture<'_, Option<u16>>;
    /// `burned_register(netuid, hotkey)`, signed by the coldkey that pays the burn.
    fn burned_register<'a>(
        &'a self,
        coldkey: &'a dyn ChainSigner,
        netuid: u16,
        hotkey: [u8; 32],
    ) -> ChainFuture<'a, TxOutcome>;
    /// Publishes the axon of `hotkey` (skipped when the chain already has it).
    fn serve_axon<'a>(
        &'a self,
        hotkey: &'a dyn ChainSigner,
        netuid: u16,
        ip: IpAddr,
        port: u16,
        version: u32,
    ) -> ChainFuture<'a, ServeOutcome>;
    /// Sets weights (or commits them timelocked when the subnet has commit-reveal on).
    fn set_weights<'a>(
        &'a self,
        hotkey: &'a dyn ChainSigner,
        netuid: u16,
        uids: &'a [u16],
        weights: &'a [f32],
        version_key: u64,
    ) -> ChainFuture<'a, WeightsSubmission>;
    /// Commits weights timelocked to a drand round; the chain reveals them by itself.
    fn commit_timelocked_weights<'a>(
        &'a self,
        hotkey: &'a dyn ChainSigner,
        netuid: u16,
        uids: &'a [u16],
        weights: &'a [f32],
        version_key: u64,
    ) -> ChainFuture<'a, WeightsSubmission>;
}

impl Chain for Subtensor {
    fn current_block(&self) -> ChainFuture<'_, u64> {
        Box::pin(Subtensor::current_block(self))
    }

    fn metagraph(&self, netuid: u16) -> ChainFuture<'_, Metagraph> {
        Box::pin(Subtensor::metagraph(self, netuid))
    }

    fn hyperparameters(&self, netuid: u16) -> ChainFuture<'_, Hyperparameters> {
        Box::pin(Subtensor::hyperparameters(self, netuid))
    }

    fn uid_of(&self, netuid: u16, hotkey: [u8; 32]) -> ChainFuture<'_, Option<u16>> {
        Box::pin(Subtensor::uid_of(self, netuid, hotkey))
    }

    fn burned_register<'a>(
        &'a self,
        coldkey: &'a dyn ChainSigner,
        netuid: u16,
        hotkey: [u8; 32],
    ) -> ChainFuture<'a, TxOutcome> {
        Box::pin(Subtensor::burned_register(self, coldkey, netuid, hotkey))
    }

    fn serve_axon<'a>(
        &'a self,
        hotkey: &'a dyn ChainSigner,
        netuid: u16,
        ip: IpAddr,
        port: u16,
        version: u32,
    ) -> ChainFuture<'a, ServeOutcome> {
        Box::pin(Subtensor::serve_axon(
            self, hotkey, netuid, ip, port, version,
        ))
    }

    fn set_weights<'a>(
        &'a self,
        hotkey: &'a dyn ChainSigner,
        netuid: u16,
        uids: &'a [u16],
        weights: &'a [f32],
        version_key: u64,
    ) -> ChainFuture<'a, WeightsSubmission> {
        Box::pin(Subtensor::set_weights(
            self,
            hotkey,
            netuid,
            uids,
            weights,
            version_key,
        ))
    }

    fn commit_timelocked_weights<'a>(
        &'a self,
        hotkey: &'a dyn ChainSigner,
        netuid: u16,
        uids: &'a [u16],
        weights: &'a [f32],
        version_key: u64,
    ) -> ChainFuture<'a, WeightsSubmission> {
        Box::pin(Subtensor::commit_timelocked_weights(
            self,
            hotkey,
            netuid,
            uids,
            weights,
            version_key,
        ))
    }
}

/// The uid of `hotkey` on `netuid`, or [`ChainError::NotRegistered`] (whose message names the
/// `audiosubnet register` command): what a neuron checks before it starts.
pub async fn ensure_registered(
    chain: &dyn Chain,
    netuid: u16,
    hotkey: [u8; 32],
) -> Result<u16, ChainError> {
    chain
        .uid_of(netuid, hotkey)
        .await?
        .ok_or_else(|| ChainError::NotRegistered {
            netuid,
            hotkey: audiosubnet_wallet::AccountId::from(hotkey).to_ss58(),
        })
}

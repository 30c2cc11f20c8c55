//! Signing: anything that holds an sr25519 key can sign extrinsics through [`ChainSigner`].

use subxt::utils::{AccountId32, MultiSignature};

use crate::SubtensorConfig;

/// An sr25519 key that signs extrinsic payloads (signing context `substrate`).
pub trait ChainSigner: Send + Sync {
    /// The 32-byte public key (the account id).
    fn public_key(&self) -> [u8; 32];
    /// An sr25519 signature of `message` with context `b"substrate"`.
    fn sign(&self, message: &[u8]) -> [u8; 64];
}

impl ChainSigner for audiosubnet_wallet::Keypair {
    fn public_key(&self) -> [u8; 32] {
        self.account_id().0
    }

    fn sign(&self, message: &[u8]) -> [u8; 64] {
        audiosubnet_wallet::Keypair::sign(self, message)
    }
}

/// Adapts a [`ChainSigner`] to subxt's signer trait.
pub(crate) struct SubxtSigner<'a>(pub(crate) &'a dyn ChainSigner);

impl subxt::tx::Signer<SubtensorConfig> for SubxtSigner<'_> {
    fn account_id(&self) -> AccountId32 {
        AccountId32(self.0.public_key())
    }

    fn sign(&self, signer_payload: &[u8]) -> MultiSignature {
        MultiSignature::Sr25519(self.0.sign(signer_payload))
    }
}

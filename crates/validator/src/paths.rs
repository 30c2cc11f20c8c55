//! Where a validator keeps its files by default, following the Python SDK's neuron layout so an
//! operator finds them where the original put them.

use std::path::{Path, PathBuf};

use audiosubnet_wallet::Wallet;

/// The default state file for `wallet` on subnet `netuid`:
/// `<wallets root>/../miners/<wallet>/<hotkey>/netuid<N>/validator/state.json`, which for the
/// default `~/.bittensor/wallets` is `~/.bittensor/miners/…`, as the SDK's neurons use.
pub fn default_state_path(wallet: &Wallet, netuid: u16) -> PathBuf {
    // The SDK's `full_path` sits beside the wallets directory, not inside it.
    let root: &Path = wallet.path().parent().unwrap_or(wallet.path());
    root.join("miners")
        .join(wallet.name())
        .join(wallet.hotkey_name())
        .join(format!("netuid{netuid}"))
        .join("validator")
        .join("state.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_path_follows_the_sdk_layout() {
        let wallet = Wallet::new("vali", "hk", "/tmp/bt/wallets");
        assert_eq!(
            default_state_path(&wallet, 7),
            Path::new("/tmp/bt/miners/vali/hk/netuid7/validator/state.json")
        );
    }
}

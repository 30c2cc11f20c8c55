//! Bittensor keys and wallets, compatible with btcli and the Python SDK (bittensor-wallet 4.x).
//!
//! This crate owns:
//! - sr25519 keypairs ([`Keypair`]): BIP39 mnemonics and Substrate secret URIs (`//Alice`,
//!   `<phrase>//hard/soft///password`, `0x<seed>`) derived exactly as sp-core does, signing
//!   with context `b"substrate"`;
//! - account ids ([`AccountId`]): SS58 encoding (prefix 42) and signature verification;
//! - keyfiles ([`keyfile`]): the btcli JSON layout, `$NACL` encryption (argon2i +
//!   XSalsa20-Poly1305), decrypt-only legacy ansible-vault and Fernet, and `BT_PW_…`
//!   environment passwords;
//! - wallet directories ([`Wallet`]): `<root>/<name>/{coldkey,coldkeypub.txt,hotkeys/<hotkey>}`.
//!
//! Secrets (mnemonics, seeds, private keys, passwords) are zeroized on drop and never appear in
//! `Debug` output or error messages. Decrypting a `$NACL` keyfile costs 512 MiB of memory and
//! about a second of CPU: do it at startup or on a blocking thread, not on an async runtime.
//!
//! ```
//! use audiosubnet_wallet::{AccountId, Keypair};
//!
//! let alice = Keypair::from_uri("//Alice")?;
//! assert_eq!(alice.ss58(), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
//! let signature = alice.sign(b"hello");
//! let id: AccountId = alice.ss58().parse()?;
//! assert!(id.verify(b"hello", &signature));
//! # Ok::<(), audiosubnet_wallet::WalletError>(())
//! ```
#![deny(missing_docs)]

mod account;
pub mod atomic;
mod error;
pub mod keyfile;
mod keypair;
mod legacy;
mod wallet;

pub use account::{AccountId, SS58_PREFIX};
pub use error::WalletError;
pub use keyfile::Encryption;
pub use keypair::{DEV_PHRASE, Keypair, Mnemonic};
pub use wallet::{DEFAULT_WALLET_PATH, NewWallet, Wallet};

//! sr25519 keypairs: mnemonic and secret-URI derivation (sp-core semantics), signing.

use std::fmt;

use blake2::Blake2b;
use blake2::digest::Digest;
use blake2::digest::consts::U32;
use rand::RngCore;
use schnorrkel::derive::{ChainCode, Derivation};
use schnorrkel::{ExpansionMode, MiniSecretKey, SecretKey};
use zeroize::{Zeroize, Zeroizing};

use crate::account::SIGNING_CONTEXT;
use crate::{AccountId, WalletError};

/// The Substrate development phrase, root of `//Alice`, `//Bob`, ...
pub const DEV_PHRASE: &str =
    "bottom drive obey lake curtain smoke basket hold race lonely fit walk";

/// An sr25519 keypair, optionally remembering the mnemonic or seed it came from.
///
/// The mnemonic and seed are kept so a keyfile written from this keypair carries the same
/// `secretPhrase`/`secretSeed` fields the Python SDK writes. All secrets are zeroized on drop.
/// `Debug` shows only the SS58 address.
#[derive(Clone)]
pub struct Keypair {
    pair: schnorrkel::Keypair,
    seed: Option<Zeroizing<[u8; 32]>>,
    phrase: Option<Zeroizing<String>>,
}

/// A freshly generated mnemonic phrase. Zeroized on drop; `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct Mnemonic(Zeroizing<String>);

impl Mnemonic {
    /// The phrase itself. Show it to the user once; never log it.
    pub fn phrase(&self) -> &str {
        &self.0
    }

    /// The number of words.
    pub fn word_count(&self) -> usize {
        self.0.split_whitespace().count()
    }
}

impl fmt::Debug for Mnemonic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mnemonic(<{} words redacted>)", self.word_count())
    }
}

impl fmt::Display for Mnemonic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}-word mnemonic redacted>", self.word_count())
    }
}

impl Keypair {
    /// Builds a keypair from a Substrate secret URI, with sp-core `Pair::from_string` semantics:
    ///
    /// - `<phrase>`, `<phrase>//hard/soft`, `<phrase>///password` (BIP39 passphrase),
    /// - `0x<64 hex chars>` (a 32-byte mini-secret seed), optionally followed by a path,
    /// - a URI starting with `/` uses the development phrase: `//Alice`, `//Bob`, ...
    ///
    /// Unlike sp-core, an empty URI is an error rather than the development root key.
    pub fn from_uri(uri: &str) -> Result<Self, WalletError> {
        if uri.trim().is_empty() {
            return Err(WalletError::InvalidUri("empty".into()));
        }
        let parsed = SecretUri::parse(uri)?;
        let phrase = parsed.phrase.unwrap_or(DEV_PHRASE);
        let password = parsed.password;
        let root_seed = if let Some(hex_seed) = phrase.strip_prefix("0x") {
            let bytes = Zeroizing::new(
                hex::decode(hex_seed)
                    .map_err(|_| WalletError::InvalidUri("seed is not valid hex".into()))?,
            );
            let seed: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| WalletError::InvalidUri("seed must be 32 bytes".into()))?;
            Zeroizing::new(seed)
        } else {
            seed_from_phrase(phrase, password.unwrap_or(""))?
        };

        let mini = MiniSecretKey::from_bytes(root_seed.as_slice())
            .map_err(|_| WalletError::InvalidUri("bad seed".into()))?;
        let mut secret = mini.expand(ExpansionMode::Ed25519);
        // As in sp-core, the seed survives hard junctions and is lost at the first soft one.
        let mut seed = Some(root_seed);
        for junction in &parsed.junctions {
            match junction {
                Junction::Soft(cc) => {
                    secret = secret.derived_key_simple(ChainCode(*cc), b"").0;
                    seed = None;
                }
                Junction::Hard(cc) => {
                    let mini = secret
                        .hard_derive_mini_secret_key(Some(ChainCode(*cc)), b"")
                        .0;
                    secret = mini.expand(ExpansionMode::Ed25519);
                    seed = seed.map(|_| Zeroizing::new(mini.to_bytes()));
                }
            }
        }
        Ok(Self {
            pair: secret.to_keypair(),
            seed,
            phrase: None,
        })
    }

    /// Builds a keypair from a BIP39 English mnemonic, as sp-core `Pair::from_phrase` (and the
    /// Python SDK) do: the mini-secret is PBKDF2 of the BIP39 *entropy*, not the BIP39 seed.
    pub fn from_mnemonic(phrase: &str) -> Result<Self, WalletError> {
        let seed = seed_from_phrase(phrase, "")?;
        let mut keypair = Self::from_seed(*seed);
        keypair.phrase = Some(Zeroizing::new(phrase.to_owned()));
        Ok(keypair)
    }

    /// Builds a keypair from a 32-byte mini-secret seed (the keyfiles' `secretSeed`).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let seed = Zeroizing::new(seed);
        let mini = MiniSecretKey::from_bytes(seed.as_slice())
            .expect("any 32 bytes are a valid mini secret key. This is a bug.");
        Self {
            pair: mini.expand_to_keypair(ExpansionMode::Ed25519),
            seed: Some(seed),
            phrase: None,
        }
    }

    /// Builds a keypair from a 64-byte schnorrkel secret key (key ‖ nonce), the keyfiles'
    /// `privateKey` as written by bittensor-wallet 4.x.
    pub fn from_private_key(private_key: &[u8]) -> Result<Self, WalletError> {
        let secret = SecretKey::from_bytes(private_key).map_err(|_| {
            WalletError::InvalidSecretKey("private key must be a 64-byte schnorrkel secret".into())
        })?;
        Ok(Self {
            pair: secret.to_keypair(),
            seed: None,
            phrase: None,
        })
    }

    /// Generates a new keypair from a fresh mnemonic of `words` words (12, 15, 18, 21 or 24).
    pub fn generate(words: usize) -> Result<(Self, Mnemonic), WalletError> {
        let entropy_len = match words {
            12 | 15 | 18 | 21 | 24 => words / 3 * 4,
            _ => return Err(WalletError::InvalidWordCount(words)),
        };
        let mut entropy = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut entropy[..entropy_len]);
        let mnemonic = bip39::Mnemonic::from_entropy(&entropy[..entropy_len])
            .map_err(|e| WalletError::InvalidMnemonic(e.to_string()))?;
        let phrase = Zeroizing::new(mnemonic.to_string());
        let keypair = Self::from_mnemonic(&phrase)?;
        Ok((keypair, Mnemonic(phrase)))
    }

    /// The public key as an account id.
    pub fn account_id(&self) -> AccountId {
        AccountId(self.pair.public.to_bytes())
    }

    /// The SS58 address (prefix 42).
    pub fn ss58(&self) -> String {
        self.account_id().to_ss58()
    }

    /// Signs `message` with context `b"substrate"`. Signatures are randomized.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.pair.sign_simple(SIGNING_CONTEXT, message).to_bytes()
    }

    /// The mnemonic this keypair was built from, if any (for writing keyfiles; never log it).
    pub fn mnemonic_phrase(&self) -> Option<&str> {
        self.phrase.as_deref().map(String::as_str)
    }

    /// The 32-byte mini-secret seed, if known (for writing keyfiles; never log it).
    pub fn seed(&self) -> Option<&[u8; 32]> {
        self.seed.as_deref()
    }

    /// The 64-byte schnorrkel secret key (key ‖ nonce), the keyfiles' `privateKey`.
    pub fn private_key(&self) -> Zeroizing<[u8; 64]> {
        Zeroizing::new(self.pair.secret.to_bytes())
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({})", self.ss58())
    }
}

/// sp-core `from_phrase`: `PBKDF2-HMAC-SHA512(entropy, "mnemonic" ‖ password, 2048)[..32]`.
fn seed_from_phrase(phrase: &str, password: &str) -> Result<Zeroizing<[u8; 32]>, WalletError> {
    let mnemonic = bip39::Mnemonic::parse_in(bip39::Language::English, phrase)
        .map_err(|e| WalletError::InvalidMnemonic(mnemonic_error(&e)))?;
    let (entropy, len) = mnemonic.to_entropy_array();
    let entropy = Zeroizing::new(entropy);
    let salt = Zeroizing::new([b"mnemonic".as_slice(), password.as_bytes()].concat());
    let mut big_seed = Zeroizing::new([0u8; 64]);
    pbkdf2::pbkdf2_hmac::<sha2::Sha512>(&entropy[..len], &salt, 2048, big_seed.as_mut_slice());
    let mut seed = Zeroizing::new([0u8; 32]);
    seed.copy_from_slice(&big_seed[..32]);
    Ok(seed)
}

/// Describes a bip39 error without echoing any word of the phrase.
fn mnemonic_error(e: &bip39::Error) -> String {
    match e {
        bip39::Error::BadWordCount(n) => format!("{n} words (use 12, 15, 18, 21 or 24)"),
        bip39::Error::UnknownWord(i) => format!("word #{} is not in the English list", i + 1),
        bip39::Error::InvalidChecksum => "checksum mismatch".into(),
        _ => "not a valid English BIP39 phrase".into(),
    }
}

/// One step of a derivation path, already turned into its 32-byte chain code.
enum Junction {
    Soft([u8; 32]),
    Hard([u8; 32]),
}

impl Drop for Junction {
    fn drop(&mut self) {
        // Hard junction names can be secret-ish (they select an account); wipe them.
        match self {
            Junction::Soft(cc) | Junction::Hard(cc) => cc.zeroize(),
        }
    }
}

/// A secret URI split into phrase, junctions and password.
struct SecretUri<'a> {
    phrase: Option<&'a str>,
    junctions: Vec<Junction>,
    password: Option<&'a str>,
}

impl<'a> SecretUri<'a> {
    /// Hand-written form of sp-core's `^(?P<phrase>[\d\w ]+)?(?P<path>(//?[^/]+)*)(///(?P<password>.*))?$`.
    fn parse(uri: &'a str) -> Result<Self, WalletError> {
        // The password starts at the first "///"; the path cannot contain it (junctions are non-empty).
        let (rest, password) = match uri.find("///") {
            Some(i) => (&uri[..i], Some(&uri[i + 3..])),
            None => (uri, None),
        };
        let path_start = rest.find('/').unwrap_or(rest.len());
        let (phrase, path) = rest.split_at(path_start);
        if !phrase
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == ' ')
        {
            return Err(WalletError::InvalidUri(
                "the phrase may hold only words and spaces".into(),
            ));
        }
        let mut junctions = Vec::new();
        let mut remaining = path;
        while !remaining.is_empty() {
            // remaining starts with '/'.
            let after = &remaining[1..];
            let (hard, body) = match after.strip_prefix('/') {
                Some(b) => (true, b),
                None => (false, after),
            };
            let end = body.find('/').unwrap_or(body.len());
            if end == 0 {
                return Err(WalletError::InvalidUri("empty derivation junction".into()));
            }
            let code = chain_code(&body[..end]);
            junctions.push(if hard {
                Junction::Hard(code)
            } else {
                Junction::Soft(code)
            });
            remaining = &body[end..];
        }
        let phrase = (!phrase.is_empty()).then_some(phrase);
        Ok(Self {
            phrase,
            junctions,
            password,
        })
    }
}

/// sp-core `DeriveJunction::from(&str)`: a number is SCALE-encoded as `u64`, anything else as a
/// SCALE string; the encoding is zero-padded to 32 bytes, or blake2-256 hashed when longer.
fn chain_code(code: &str) -> [u8; 32] {
    let encoded = Zeroizing::new(match code.parse::<u64>() {
        Ok(n) => n.to_le_bytes().to_vec(),
        Err(_) => {
            let mut v = compact_len(code.len());
            v.extend_from_slice(code.as_bytes());
            v
        }
    });
    let mut cc = [0u8; 32];
    if encoded.len() > 32 {
        cc.copy_from_slice(&Blake2b::<U32>::digest(encoded.as_slice()));
    } else {
        cc[..encoded.len()].copy_from_slice(&encoded);
    }
    cc
}

/// SCALE compact encoding of a length.
fn compact_len(n: usize) -> Vec<u8> {
    match n {
        0..=0x3f => vec![(n as u8) << 2],
        0x40..=0x3fff => (((n as u16) << 2) | 0b01).to_le_bytes().to_vec(),
        0x4000..=0x3fff_ffff => (((n as u32) << 2) | 0b10).to_le_bytes().to_vec(),
        _ => {
            let bytes = (n as u64).to_le_bytes();
            let len = 8 - (n as u64).leading_zeros() as usize / 8;
            let mut v = vec![(((len - 4) as u8) << 2) | 0b11];
            v.extend_from_slice(&bytes[..len]);
            v
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV_SEED: &str = "fac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e";
    const DEV_SS58: &str = "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV";
    const DEV_PRIVATE: &str = "05d65584630d16cd4af6d0bec10f34bb504a5dcb62dba2122d49f5a663763d0a\
                               fd190cce74df356432b410bd64682309d6dedb27c76845daf388557cbac3ca34";
    const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

    #[test]
    fn dev_phrase_vectors() {
        let kp = Keypair::from_mnemonic(DEV_PHRASE).unwrap();
        assert_eq!(hex::encode(kp.seed().unwrap()), DEV_SEED);
        assert_eq!(kp.ss58(), DEV_SS58);
        assert_eq!(hex::encode(*kp.private_key()), DEV_PRIVATE);
        assert_eq!(kp.mnemonic_phrase(), Some(DEV_PHRASE));

        let from_seed = Keypair::from_seed(hex::decode(DEV_SEED).unwrap().try_into().unwrap());
        assert_eq!(from_seed.ss58(), DEV_SS58);
        let from_private = Keypair::from_private_key(&hex::decode(DEV_PRIVATE).unwrap()).unwrap();
        assert_eq!(from_private.ss58(), DEV_SS58);
        assert_eq!(Keypair::from_uri(DEV_PHRASE).unwrap().ss58(), DEV_SS58);
        assert_eq!(
            Keypair::from_uri(&format!("0x{DEV_SEED}")).unwrap().ss58(),
            DEV_SS58
        );
    }

    #[test]
    fn dev_accounts() {
        assert_eq!(Keypair::from_uri("//Alice").unwrap().ss58(), ALICE);
        assert_eq!(Keypair::from_uri("//Bob").unwrap().ss58(), BOB);
        assert_eq!(
            Keypair::from_uri(&format!("{DEV_PHRASE}//Alice"))
                .unwrap()
                .ss58(),
            ALICE
        );
        assert_eq!(
            Keypair::from_uri(&format!("0x{DEV_SEED}//Alice"))
                .unwrap()
                .ss58(),
            ALICE
        );
        // Hard junctions keep a seed that reproduces the same key.
        let alice = Keypair::from_uri("//Alice").unwrap();
        assert_eq!(Keypair::from_seed(*alice.seed().unwrap()).ss58(), ALICE);
    }

    #[test]
    fn sp_core_derivation_vectors() {
        // From sp-core's sr25519 tests and `subkey inspect`.
        assert_eq!(
            Keypair::from_uri("//Alice//stash").unwrap().ss58(),
            "5GNJqTPyNqANBkUVMN1LPPrxXnFouWXoe2wNSmmEoLctxiZY"
        );
        assert_eq!(
            Keypair::from_uri("//Alice/soft").unwrap().account_id(),
            Keypair::from_uri("//Alice/soft").unwrap().account_id(),
            "soft derivation is deterministic in the public key"
        );
        let soft = Keypair::from_uri("//Alice/soft").unwrap();
        assert!(soft.seed().is_none(), "a soft junction drops the seed");
        assert_ne!(soft.ss58(), ALICE);
        // A numeric junction encodes as u64, a name as a SCALE string: they differ.
        assert_ne!(
            Keypair::from_uri("//1").unwrap().ss58(),
            Keypair::from_uri("//one").unwrap().ss58()
        );
        // The password changes the key.
        let with_pw = Keypair::from_uri(&format!("{DEV_PHRASE}///pw")).unwrap();
        assert_ne!(with_pw.ss58(), DEV_SS58);
        assert!(Keypair::from_uri(&format!("{DEV_PHRASE}//a//")).is_err());
        assert!(Keypair::from_uri("0x1234").is_err());
        assert!(Keypair::from_uri("").is_err());
        assert!(Keypair::from_uri("not a valid phrase").is_err());
    }

    #[test]
    fn sign_verify_round_trip() {
        let kp = Keypair::from_uri("//Alice").unwrap();
        let msg = b"nonce.hotkey.axon.uuid.hash";
        let sig = kp.sign(msg);
        let id = kp.account_id();
        assert!(id.verify(msg, &sig));
        assert!(!id.verify(b"other message", &sig));
        assert!(
            !Keypair::from_uri("//Bob")
                .unwrap()
                .account_id()
                .verify(msg, &sig)
        );
        let mut tampered = sig;
        tampered[0] ^= 1;
        assert!(!id.verify(msg, &tampered));

        // polkadot.js wrapping is accepted, as in btwallet.
        let wrapped = kp.sign(b"<Bytes>hello</Bytes>");
        assert!(id.verify(b"hello", &wrapped));
    }

    #[test]
    fn generate_makes_loadable_mnemonics() {
        for words in [12, 24] {
            let (kp, mnemonic) = Keypair::generate(words).unwrap();
            assert_eq!(mnemonic.word_count(), words);
            assert_eq!(
                Keypair::from_mnemonic(mnemonic.phrase()).unwrap().ss58(),
                kp.ss58()
            );
        }
        assert!(matches!(
            Keypair::generate(13),
            Err(WalletError::InvalidWordCount(13))
        ));
    }

    #[test]
    fn debug_and_errors_do_not_leak() {
        let (kp, mnemonic) = Keypair::generate(12).unwrap();
        let phrase = mnemonic.phrase().to_owned();
        let first_word = phrase.split(' ').next().unwrap().to_owned();
        for shown in [
            format!("{kp:?}"),
            format!("{mnemonic:?}"),
            format!("{mnemonic}"),
        ] {
            assert!(!shown.contains(&phrase));
            assert!(!shown.contains(&first_word), "{shown}");
        }
        assert_eq!(format!("{kp:?}"), format!("Keypair({})", kp.ss58()));

        // A phrase with a typo: the error names the position, not the words.
        let typo = phrase.replacen(&first_word, "notaword", 1);
        let err = Keypair::from_mnemonic(&typo).unwrap_err().to_string();
        assert_eq!(err, "invalid mnemonic: word #1 is not in the English list");
    }

    #[test]
    fn compact_encoding() {
        assert_eq!(compact_len(5), vec![0x14]);
        assert_eq!(compact_len(64), vec![0x01, 0x01]);
        assert_eq!(compact_len(16384), vec![0x02, 0x00, 0x01, 0x00]);
        assert_eq!(compact_len(1 << 30), vec![0x03, 0x00, 0x00, 0x00, 0x40]);
    }
}

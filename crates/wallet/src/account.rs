//! Public keys as account ids, SS58 encoding and signature verification.

use std::fmt;
use std::str::FromStr;

use blake2::{Blake2b512, Digest};

use crate::WalletError;

/// The SS58 network prefix Bittensor uses (generic Substrate, addresses start with `5`).
pub const SS58_PREFIX: u16 = 42;

/// The schnorrkel signing context Substrate and the Bittensor SDK use.
pub(crate) const SIGNING_CONTEXT: &[u8] = b"substrate";

/// An sr25519 public key, the identity of a hotkey or coldkey on chain.
///
/// `Display`, `Debug`, `FromStr` and serde all use the SS58 form (prefix 42).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub [u8; 32]);

impl AccountId {
    /// Decodes an SS58 address and verifies its checksum.
    ///
    /// Any valid network prefix is accepted (the key is the same on every network); use
    /// [`AccountId::from_ss58_with_prefix`] to learn or check the prefix.
    pub fn from_ss58(s: &str) -> Result<Self, WalletError> {
        Self::from_ss58_with_prefix(s).map(|(id, _)| id)
    }

    /// Decodes an SS58 address into the account id and its network prefix.
    pub fn from_ss58_with_prefix(s: &str) -> Result<(Self, u16), WalletError> {
        let bad = |reason| WalletError::InvalidSs58 {
            address: s.to_owned(),
            reason,
        };
        let data = bs58::decode(s).into_vec().map_err(|_| bad("not base58"))?;
        // Prefixes below 64 take one byte; 64..16384 take two (the SS58 "full" format).
        let (prefix, prefix_len) = match data.first() {
            None => return Err(bad("empty")),
            Some(&b) if b < 64 => (u16::from(b), 1),
            Some(&b) if b < 128 => {
                let second = *data.get(1).ok_or_else(|| bad("too short"))?;
                let lower = (u16::from(b) << 2) | (u16::from(second) >> 6);
                let upper = u16::from(second & 0b0011_1111);
                ((lower & 0b0000_0000_1111_1111) | (upper << 8), 2)
            }
            Some(_) => return Err(bad("reserved prefix")),
        };
        if data.len() != prefix_len + 32 + 2 {
            return Err(bad("wrong length for a 32-byte account id"));
        }
        let (body, checksum) = data.split_at(prefix_len + 32);
        if ss58_hash(body)[..2] != *checksum {
            return Err(bad("checksum mismatch"));
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&body[prefix_len..]);
        Ok((Self(key), prefix))
    }

    /// Encodes the account id as an SS58 address with prefix 42.
    pub fn to_ss58(&self) -> String {
        self.to_ss58_with_prefix(SS58_PREFIX)
    }

    /// Encodes the account id as an SS58 address with another network prefix (0..16384).
    pub fn to_ss58_with_prefix(&self, prefix: u16) -> String {
        let prefix = prefix & 0b0011_1111_1111_1111;
        let mut data = Vec::with_capacity(2 + 32 + 2);
        if prefix < 64 {
            data.push(prefix as u8);
        } else {
            // The two-byte layout from the SS58 spec (same bit juggling as sp-core).
            let first = ((prefix & 0b0000_0000_1111_1100) as u8) >> 2;
            let second = ((prefix >> 8) as u8) | (((prefix & 0b0000_0000_0000_0011) as u8) << 6);
            data.push(first | 0b0100_0000);
            data.push(second);
        }
        data.extend_from_slice(&self.0);
        let checksum = ss58_hash(&data);
        data.extend_from_slice(&checksum[..2]);
        bs58::encode(data).into_string()
    }

    /// The raw public key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The public key as `0x`-prefixed lower-case hex, the keyfiles' `publicKey` form.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.0))
    }

    /// Parses a 32-byte public key from hex, with or without `0x`.
    pub fn from_hex(s: &str) -> Result<Self, WalletError> {
        let raw = s.strip_prefix("0x").unwrap_or(s);
        let bytes =
            hex::decode(raw).map_err(|_| WalletError::InvalidPublicKey("not hex".into()))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| WalletError::InvalidPublicKey("not 32 bytes".into()))?;
        Ok(Self(key))
    }

    /// Verifies an sr25519 signature (context `b"substrate"`) over `message`.
    ///
    /// Like the Python SDK (`btwallet`), a signature over the polkadot.js wrapping
    /// `b"<Bytes>" + message + b"</Bytes>"` is accepted too, so browser-extension signatures verify.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let Ok(public) = schnorrkel::PublicKey::from_bytes(&self.0) else {
            return false;
        };
        let Ok(signature) = schnorrkel::Signature::from_bytes(signature) else {
            return false;
        };
        if public
            .verify_simple(SIGNING_CONTEXT, message, &signature)
            .is_ok()
        {
            return true;
        }
        let wrapped = [b"<Bytes>".as_slice(), message, b"</Bytes>".as_slice()].concat();
        public
            .verify_simple(SIGNING_CONTEXT, &wrapped, &signature)
            .is_ok()
    }
}

impl AccountId {
    /// Verifies an ed25519 signature over `message` with this key read as an ed25519 public
    /// key (ZIP-215 rules, as sp-core's `ed25519-zebra`). Like [`AccountId::verify`], the
    /// polkadot.js `<Bytes>` wrapping is accepted too, as the Python SDK's `verify` does.
    pub fn verify_ed25519(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let Ok(public) = ed25519_zebra::VerificationKey::try_from(self.0) else {
            return false;
        };
        let signature = ed25519_zebra::Signature::from_bytes(signature);
        if public.verify(&signature, message).is_ok() {
            return true;
        }
        let wrapped = [b"<Bytes>".as_slice(), message, b"</Bytes>".as_slice()].concat();
        public.verify(&signature, &wrapped).is_ok()
    }
}

/// `blake2b512("SS58PRE" ‖ data)`, whose first two bytes are the SS58 checksum.
fn ss58_hash(data: &[u8]) -> [u8; 64] {
    let mut hasher = Blake2b512::new();
    hasher.update(b"SS58PRE");
    hasher.update(data);
    hasher.finalize().into()
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_ss58())
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", self.to_ss58())
    }
}

impl FromStr for AccountId {
    type Err = WalletError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_ss58(s)
    }
}

impl From<[u8; 32]> for AccountId {
    fn from(key: [u8; 32]) -> Self {
        Self(key)
    }
}

impl serde::Serialize for AccountId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_ss58())
    }
}

impl<'de> serde::Deserialize<'de> for AccountId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_ss58(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    const ALICE_HEX: &str = "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d";

    #[test]
    fn decodes_alice() {
        let id = AccountId::from_ss58(ALICE).unwrap();
        assert_eq!(id.to_hex(), ALICE_HEX);
        assert_eq!(id.to_ss58(), ALICE);
        assert_eq!(format!("{id}"), ALICE);
        assert_eq!(format!("{id:?}"), format!("AccountId({ALICE})"));
    }

    #[test]
    fn rejects_bad_checksum() {
        // Change the last character: the base58 still decodes, the checksum no longer matches.
        let mut bad = ALICE.to_owned();
        bad.pop();
        bad.push('Z');
        let err = AccountId::from_ss58(&bad).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        assert!(AccountId::from_ss58("not-base58-0OIl").is_err());
        assert!(AccountId::from_ss58("").is_err());
        assert!(AccountId::from_ss58(&ALICE[..20]).is_err());
    }

    #[test]
    fn accepts_other_prefixes() {
        let id = AccountId::from_ss58(ALICE).unwrap();
        // Polkadot (0) and Kusama (2) encodings of Alice, from the Substrate docs.
        let polkadot = "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5";
        let kusama = "HNZata7iMYWmk5RvZRTiAsSDhV8366zq2YGb3tLH5Upf74F";
        assert_eq!(AccountId::from_ss58_with_prefix(polkadot).unwrap(), (id, 0));
        assert_eq!(AccountId::from_ss58_with_prefix(kusama).unwrap(), (id, 2));
        assert_eq!(id.to_ss58_with_prefix(0), polkadot);
        // Two-byte prefix round trip.
        let wide = id.to_ss58_with_prefix(1284);
        assert_eq!(AccountId::from_ss58_with_prefix(&wide).unwrap(), (id, 1284));
    }

    #[test]
    fn serde_uses_ss58() {
        let id = AccountId::from_ss58(ALICE).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{ALICE}\""));
        let back: AccountId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<AccountId>("\"5Grwva\"").is_err());
        assert_eq!(ALICE.parse::<AccountId>().unwrap(), id);
    }

    proptest! {
        #[test]
        fn ss58_round_trip(key in any::<[u8; 32]>(), prefix in 0u16..16384) {
            let id = AccountId(key);
            prop_assert_eq!(AccountId::from_ss58(&id.to_ss58()).unwrap(), id);
            let encoded = id.to_ss58_with_prefix(prefix);
            prop_assert_eq!(AccountId::from_ss58_with_prefix(&encoded).unwrap(), (id, prefix));
        }
    }
}

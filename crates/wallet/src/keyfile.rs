//! Keyfile contents: the btcli JSON layout, `$NACL` encryption, and env-var passwords.
//!
//! A keyfile is JSON (`secretPhrase`, `secretSeed`, `privateKey`, `publicKey`, `accountId`,
//! `ss58Address`, `cryptoType`), optionally encrypted as
//! `b"$NACL" ‖ nonce(24) ‖ secretbox(tag(16) ‖ ciphertext)` with an argon2i key.
//! Everything here works on bytes; [`crate::Wallet`] does the file IO.

use std::path::Path;

use base64::Engine as _;
use crypto_secretbox::XSalsa20Poly1305;
use crypto_secretbox::aead::{Aead, KeyInit};
use rand::RngCore;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::{AccountId, Keypair, WalletError};

/// libsodium's argon2i13 salt used by every Bittensor wallet (`NACL_SALT` in btwallet).
const NACL_SALT: [u8; 16] = [
    0x13, 0x71, 0x83, 0xdf, 0xf1, 0x5a, 0x09, 0xbc, 0x9c, 0x90, 0xb5, 0x51, 0x87, 0x39, 0xe9, 0xb1,
];
/// libsodium `crypto_pwhash_argon2i_OPSLIMIT_SENSITIVE`.
const NACL_OPSLIMIT: u32 = 8;
/// libsodium `crypto_pwhash_argon2i_MEMLIMIT_SENSITIVE` (512 MiB) in KiB, as argon2 counts it.
const NACL_MEMLIMIT_KIB: u32 = 536_870_912 / 1024;
const NACL_MAGIC: &[u8] = b"$NACL";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// `cryptoType` for sr25519 in bittensor-wallet ≥ 4.1 (0 is ed25519).
pub const CRYPTO_TYPE_SR25519: i64 = 1;

/// How a keyfile's bytes are protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encryption {
    /// Plain JSON.
    None,
    /// `$NACL`: argon2i + XSalsa20-Poly1305 (current btcli format).
    Nacl,
    /// `$ANSIBLE_VAULT`: legacy ansible-vault AES256 (decrypt only).
    AnsibleVault,
    /// `gAAAAA…`: legacy Fernet (decrypt only).
    LegacyFernet,
}

impl Encryption {
    /// Detects the format from the file's first bytes, as btwallet does.
    pub fn detect(data: &[u8]) -> Self {
        if data.starts_with(NACL_MAGIC) {
            Self::Nacl
        } else if data.starts_with(b"$ANSIBLE_VAULT") {
            Self::AnsibleVault
        } else if data.starts_with(b"gAAAAA") {
            Self::LegacyFernet
        } else {
            Self::None
        }
    }

    /// Whether the data needs a password.
    pub fn is_encrypted(self) -> bool {
        self != Self::None
    }

    /// A short human name ("plain", "NaCl", ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "plain",
            Self::Nacl => "NaCl",
            Self::AnsibleVault => "ansible-vault",
            Self::LegacyFernet => "legacy Fernet",
        }
    }
}

/// Derives the secretbox key from a password: argon2i v0x13, opslimit 8, memlimit 512 MiB.
///
/// This allocates 512 MiB and takes about a second: call it off any async runtime.
fn nacl_key(password: &[u8]) -> Result<Zeroizing<[u8; 32]>, WalletError> {
    let params = argon2::Params::new(NACL_MEMLIMIT_KIB, NACL_OPSLIMIT, 1, Some(32))
        .map_err(|e| WalletError::Crypto(format!("argon2 parameters: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2i, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(password, &NACL_SALT, key.as_mut_slice())
        .map_err(|e| WalletError::Crypto(format!("argon2: {e}")))?;
    Ok(key)
}

/// Encrypts keyfile data in the `$NACL` format btcli writes. Blocking: the key derivation
/// takes 512 MiB and about a second.
pub fn encrypt_nacl(plaintext: &[u8], password: &str) -> Result<Vec<u8>, WalletError> {
    if password.is_empty() {
        return Err(WalletError::EmptyPassword);
    }
    let key = nacl_key(password.as_bytes())?;
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let cipher = XSalsa20Poly1305::new(key.as_slice().into());
    // crypto_secretbox puts the tag first, like NaCl's combined mode.
    let sealed = cipher
        .encrypt(&nonce.into(), plaintext)
        .map_err(|_| WalletError::Crypto("secretbox encryption failed".into()))?;
    let mut out = Vec::with_capacity(NACL_MAGIC.len() + NONCE_LEN + sealed.len());
    out.extend_from_slice(NACL_MAGIC);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts keyfile data: `$NACL`, or the legacy ansible-vault and Fernet formats (read only).
/// Plain data is returned as is.
///
/// `path` only labels errors. Blocking: `$NACL` needs 512 MiB for about a second, legacy
/// Fernet runs 10 million PBKDF2 rounds.
pub fn decrypt(
    data: &[u8],
    password: &str,
    path: &Path,
) -> Result<Zeroizing<Vec<u8>>, WalletError> {
    match Encryption::detect(data) {
        Encryption::None => Ok(Zeroizing::new(data.to_vec())),
        Encryption::Nacl => {
            let body = &data[NACL_MAGIC.len()..];
            if body.len() < NONCE_LEN + TAG_LEN {
                return Err(WalletError::InvalidKeyfile {
                    path: path.to_path_buf(),
                    reason: "truncated $NACL data".into(),
                });
            }
            let (nonce, sealed) = body.split_at(NONCE_LEN);
            let key = nacl_key(password.as_bytes())?;
            let cipher = XSalsa20Poly1305::new(key.as_slice().into());
            let nonce: [u8; NONCE_LEN] = nonce
                .try_into()
                .expect("split at NONCE_LEN. This is a bug.");
            cipher
                .decrypt(&nonce.into(), sealed)
                .map(Zeroizing::new)
                .map_err(|_| WalletError::WrongPassword {
                    path: path.to_path_buf(),
                })
        }
        Encryption::AnsibleVault => crate::legacy::decrypt_ansible_vault(data, password, path),
        Encryption::LegacyFernet => crate::legacy::decrypt_fernet(data, password, path),
    }
}

/// The environment variable btcli reads a keyfile's password from:
/// `BT_PW_` + the path with `/` and `.` turned into `_`, upper-cased.
pub fn password_env_var(path: &Path) -> String {
    let flat: String = path
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c == std::path::MAIN_SEPARATOR || c == '.' {
                '_'
            } else {
                c
            }
        })
        .collect();
    format!("BT_PW_{}", flat.to_uppercase())
}

/// Encodes a password for a `BT_PW_…` variable: base64 of the password XOR the variable name
/// (repeating key). This is obfuscation, not encryption.
pub fn encode_env_password(env_var: &str, password: &str) -> String {
    let xored = Zeroizing::new(xor_with_name(password.as_bytes(), env_var));
    base64::engine::general_purpose::STANDARD.encode(xored.as_slice())
}

/// Reads and decodes the password in `env_var`, if set.
pub fn password_from_env(env_var: &str) -> Result<Option<Zeroizing<String>>, WalletError> {
    match std::env::var_os(env_var) {
        None => Ok(None),
        Some(value) => {
            let value = Zeroizing::new(value.into_string().map_err(|_| bad_env(env_var))?);
            decode_env_password(env_var, &value).map(Some)
        }
    }
}

/// Decodes the value of a `BT_PW_…` variable (see [`encode_env_password`]).
pub fn decode_env_password(env_var: &str, value: &str) -> Result<Zeroizing<String>, WalletError> {
    let xored = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| bad_env(env_var))?,
    );
    let plain = xor_with_name(&xored, env_var);
    String::from_utf8(plain).map(Zeroizing::new).map_err(|e| {
        // Wipe the bytes inside the error before reporting.
        drop(Zeroizing::new(e.into_bytes()));
        bad_env(env_var)
    })
}

fn bad_env(env_var: &str) -> WalletError {
    WalletError::BadPasswordEnv(env_var.to_owned())
}

fn xor_with_name(data: &[u8], name: &str) -> Vec<u8> {
    let key = name.as_bytes();
    if key.is_empty() {
        return data.to_vec();
    }
    data.iter()
        .zip(key.iter().cycle())
        .map(|(d, k)| d ^ k)
        .collect()
}

/// The JSON fields we read. Secrets are zeroized on drop; everything is optional and `null`
/// is accepted, because different SDK versions wrote different subsets.
#[derive(Deserialize)]
struct RawKeyfile {
    #[serde(rename = "secretPhrase", default)]
    secret_phrase: Option<Zeroizing<String>>,
    #[serde(rename = "secretSeed", default)]
    secret_seed: Option<Zeroizing<String>>,
    #[serde(rename = "privateKey", default)]
    private_key: Option<Zeroizing<String>>,
    #[serde(rename = "ss58Address", default)]
    ss58_address: Option<String>,
    #[serde(rename = "publicKey", default)]
    public_key: Option<String>,
    #[serde(rename = "accountId", default)]
    account_id: Option<String>,
    #[serde(rename = "cryptoType", default)]
    crypto_type: Option<serde_json::Value>,
}

impl RawKeyfile {
    fn parse(data: &[u8]) -> Result<Self, WalletError> {
        let raw: Self = serde_json::from_slice(data).map_err(|e| {
            // serde_json messages can quote values; report only the position.
            WalletError::InvalidKeyfileData(format!(
                "not keyfile JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        raw.check_crypto_type()?;
        Ok(raw)
    }

    /// Accepts a missing type, `1`, `"1"` or `"sr25519"`; anything else is unsupported.
    fn check_crypto_type(&self) -> Result<(), WalletError> {
        let code = match &self.crypto_type {
            None | Some(serde_json::Value::Null) => return Ok(()),
            Some(serde_json::Value::Number(n)) => n.as_i64().unwrap_or(-1),
            Some(serde_json::Value::String(s)) if s.eq_ignore_ascii_case("sr25519") => 1,
            Some(serde_json::Value::String(s)) if s.eq_ignore_ascii_case("ed25519") => 0,
            Some(serde_json::Value::String(s)) => s.trim().parse().unwrap_or(-1),
            Some(_) => -1,
        };
        if code == CRYPTO_TYPE_SR25519 {
            Ok(())
        } else {
            Err(WalletError::UnsupportedCryptoType(code))
        }
    }

    fn keypair(&self) -> Result<Option<Keypair>, WalletError> {
        let hex_bytes = |field: &str, value: &str| -> Result<Zeroizing<Vec<u8>>, WalletError> {
            let raw = value.strip_prefix("0x").unwrap_or(value);
            hex::decode(raw)
                .map(Zeroizing::new)
                .map_err(|_| WalletError::InvalidKeyfileData(format!("{field} is not hex")))
        };
        // Precedence as in btwallet: secretPhrase → secretSeed → privateKey.
        if let Some(phrase) = &self.secret_phrase {
            return Keypair::from_mnemonic(phrase).map(Some);
        }
        if let Some(seed) = &self.secret_seed {
            let bytes = hex_bytes("secretSeed", seed)?;
            return match bytes.len() {
                32 => {
                    let mut seed = Zeroizing::new([0u8; 32]);
                    seed.copy_from_slice(&bytes);
                    Ok(Some(Keypair::from_seed(*seed)))
                }
                64 => Keypair::from_private_key(&bytes).map(Some),
                _ => Err(WalletError::InvalidKeyfileData(
                    "secretSeed is not 32 bytes".into(),
                )),
            };
        }
        if let Some(private) = &self.private_key {
            let bytes = hex_bytes("privateKey", private)?;
            return match bytes.len() {
                64 => Keypair::from_private_key(&bytes).map(Some),
                32 => {
                    let mut seed = Zeroizing::new([0u8; 32]);
                    seed.copy_from_slice(&bytes);
                    Ok(Some(Keypair::from_seed(*seed)))
                }
                _ => Err(WalletError::InvalidKeyfileData(
                    "privateKey is not 64 bytes".into(),
                )),
            };
        }
        Ok(None)
    }

    fn public(&self) -> Result<Option<AccountId>, WalletError> {
        if let Some(ss58) = &self.ss58_address {
            return AccountId::from_ss58(ss58).map(Some);
        }
        match self.public_key.as_ref().or(self.account_id.as_ref()) {
            Some(hex) => AccountId::from_hex(hex).map(Some),
            None => Ok(None),
        }
    }
}

/// Parses decrypted keyfile JSON into a keypair (`secretPhrase` → `secretSeed` → `privateKey`).
pub fn keypair_from_json(data: &[u8]) -> Result<Keypair, WalletError> {
    RawKeyfile::parse(data)?.keypair()?.ok_or_else(|| {
        WalletError::InvalidKeyfileData("no secret key in the file (public key only)".into())
    })
}

/// Reads the public key from keyfile JSON: `ss58Address`, else `publicKey`/`accountId`, else
/// derived from the secret fields.
pub fn account_from_json(data: &[u8]) -> Result<AccountId, WalletError> {
    let raw = RawKeyfile::parse(data)?;
    if let Some(id) = raw.public()? {
        return Ok(id);
    }
    match raw.keypair()? {
        Some(kp) => Ok(kp.account_id()),
        None => Err(WalletError::InvalidKeyfileData("no key in the file".into())),
    }
}

/// Serializes a keypair as btcli does: every field the keypair knows, `0x` hex, `cryptoType` 1.
///
/// Key order is fixed here; the Python SDK writes a hash map, so order carries no meaning.
pub fn keypair_to_json(keypair: &Keypair) -> Zeroizing<Vec<u8>> {
    let account = keypair.account_id();
    let public_hex = account.to_hex();
    // Build by hand so every secret lives in a zeroized buffer that never reallocates.
    let private_hex = Zeroizing::new(hex::encode(*keypair.private_key()));
    let seed_hex = keypair.seed().map(|s| Zeroizing::new(hex::encode(s)));
    let phrase = keypair.mnemonic_phrase().map(|p| {
        Zeroizing::new(serde_json::to_string(p).expect("strings serialize. This is a bug."))
    });
    let mut out = Zeroizing::new(Vec::with_capacity(
        512 + phrase.as_ref().map_or(0, |p| p.len()) + seed_hex.as_ref().map_or(0, |s| s.len()),
    ));
    out.extend_from_slice(b"{\"accountId\":\"");
    out.extend_from_slice(public_hex.as_bytes());
    out.extend_from_slice(b"\",\"publicKey\":\"");
    out.extend_from_slice(public_hex.as_bytes());
    out.extend_from_slice(b"\",\"privateKey\":\"0x");
    out.extend_from_slice(private_hex.as_bytes());
    out.push(b'"');
    if let Some(phrase) = &phrase {
        out.extend_from_slice(b",\"secretPhrase\":");
        out.extend_from_slice(phrase.as_bytes());
    }
    if let Some(seed) = &seed_hex {
        out.extend_from_slice(b",\"secretSeed\":\"0x");
        out.extend_from_slice(seed.as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b",\"ss58Address\":\"");
    out.extend_from_slice(account.to_ss58().as_bytes());
    out.extend_from_slice(b"\",\"cryptoType\":1}");
    out
}

/// The public-only JSON of `coldkeypub.txt` and `hotkeys/<name>pub.txt`.
pub fn public_json(account: &AccountId) -> Vec<u8> {
    let public_hex = account.to_hex();
    serde_json::json!({
        "accountId": public_hex,
        "publicKey": public_hex,
        "ss58Address": account.to_ss58(),
        "cryptoType": CRYPTO_TYPE_SR25519,
    })
    .to_string()
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keypair::DEV_PHRASE;

    const DEV_SS58: &str = "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV";

    /// A coldkey exactly as bittensor-wallet 4.1.1 wrote it (dev phrase, public test vector).
    const PY_COLDKEY: &str = r#"{"privateKey":"0x05d65584630d16cd4af6d0bec10f34bb504a5dcb62dba2122d49f5a663763d0afd190cce74df356432b410bd64682309d6dedb27c76845daf388557cbac3ca34","secretPhrase":"bottom drive obey lake curtain smoke basket hold race lonely fit walk","accountId":"0x46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a","publicKey":"0x46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a","secretSeed":"0xfac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e","ss58Address":"5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV","cryptoType":1}"#;
    const PY_PUB: &str = r#"{"cryptoType":1,"publicKey":"0x46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a","accountId":"0x46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a","ss58Address":"5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV"}"#;

    #[test]
    fn writes_the_same_fields_as_python() {
        let kp = Keypair::from_mnemonic(DEV_PHRASE).unwrap();
        let ours: serde_json::Value = serde_json::from_slice(&keypair_to_json(&kp)).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(PY_COLDKEY).unwrap();
        assert_eq!(ours, theirs);
        let ours: serde_json::Value =
            serde_json::from_slice(&public_json(&kp.account_id())).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(PY_PUB).unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn load_precedence_and_public_only() {
        assert_eq!(
            keypair_from_json(PY_COLDKEY.as_bytes()).unwrap().ss58(),
            DEV_SS58
        );
        // Without the phrase, the seed decides; without both, the private key.
        let mut v: serde_json::Value = serde_json::from_str(PY_COLDKEY).unwrap();
        v["secretPhrase"] = serde_json::Value::Null;
        let kp = keypair_from_json(v.to_string().as_bytes()).unwrap();
        assert_eq!(kp.ss58(), DEV_SS58);
        assert!(kp.mnemonic_phrase().is_none() && kp.seed().is_some());
        v.as_object_mut().unwrap().remove("secretSeed");
        let kp = keypair_from_json(v.to_string().as_bytes()).unwrap();
        assert_eq!(kp.ss58(), DEV_SS58);
        assert!(kp.seed().is_none());

        assert_eq!(
            account_from_json(PY_PUB.as_bytes()).unwrap().to_ss58(),
            DEV_SS58
        );
        let err = keypair_from_json(PY_PUB.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("public key only"), "{err}");
        // Older pub files carry only the hex key.
        let hex_only =
            r#"{"publicKey":"0x46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a"}"#;
        assert_eq!(
            account_from_json(hex_only.as_bytes()).unwrap().to_ss58(),
            DEV_SS58
        );
    }

    #[test]
    fn crypto_type_is_lenient_but_refuses_ed25519() {
        for ok in [r#""1""#, "1", r#""sr25519""#, "null"] {
            let json = format!(r#"{{"ss58Address":"{DEV_SS58}","cryptoType":{ok}}}"#);
            assert!(account_from_json(json.as_bytes()).is_ok(), "{ok}");
        }
        let json = format!(r#"{{"ss58Address":"{DEV_SS58}","cryptoType":0}}"#);
        assert!(matches!(
            account_from_json(json.as_bytes()),
            Err(WalletError::UnsupportedCryptoType(0))
        ));
    }

    #[test]
    fn parse_errors_do_not_quote_values() {
        let json = r#"{"secretPhrase": 12345678901234}"#;
        let err = keypair_from_json(json.as_bytes()).unwrap_err().to_string();
        assert!(!err.contains("12345678901234"), "{err}");
    }

    #[test]
    fn env_password_round_trip() {
        let var = password_env_var(Path::new("/home/u/.bittensor/wallets/default/coldkey"));
        assert_eq!(var, "BT_PW__HOME_U__BITTENSOR_WALLETS_DEFAULT_COLDKEY");
        let encoded = encode_env_password(&var, "correct horse");
        assert_ne!(encoded, "correct horse");
        assert_eq!(
            decode_env_password(&var, &encoded).unwrap().as_str(),
            "correct horse"
        );
        // Passwords longer than the variable name repeat the key.
        let long = "pässwörd longer than the name of the variable, by quite a lot of characters";
        let encoded = encode_env_password("BT_PW_X", long);
        assert_eq!(
            decode_env_password("BT_PW_X", &encoded).unwrap().as_str(),
            long
        );
        assert!(matches!(
            decode_env_password("BT_PW_X", "%%%"),
            Err(WalletError::BadPasswordEnv(_))
        ));
    }

    /// One $NACL round trip (argon2 with 512 MiB: keep such tests few).
    #[test]
    fn nacl_round_trip_and_wrong_password() {
        let kp = Keypair::from_mnemonic(DEV_PHRASE).unwrap();
        let plain = keypair_to_json(&kp);
        let sealed = encrypt_nacl(&plain, "hunter22").unwrap();
        assert_eq!(Encryption::detect(&sealed), Encryption::Nacl);
        assert_eq!(sealed.len(), 5 + 24 + 16 + plain.len());
        let path = Path::new("/x/coldkey");
        let opened = decrypt(&sealed, "hunter22", path).unwrap();
        assert_eq!(opened.as_slice(), plain.as_slice());
        let err = decrypt(&sealed, "hunter23", path).unwrap_err();
        assert_eq!(err.to_string(), "wrong password for /x/coldkey");
        assert!(matches!(
            encrypt_nacl(b"{}", ""),
            Err(WalletError::EmptyPassword)
        ));
    }

    #[test]
    fn detects_legacy_formats() {
        assert_eq!(
            Encryption::detect(b"$ANSIBLE_VAULT;1.1;AES256\n"),
            Encryption::AnsibleVault
        );
        assert_eq!(Encryption::detect(b"gAAAAABk"), Encryption::LegacyFernet);
        assert_eq!(Encryption::detect(b"{}"), Encryption::None);
        let err = decrypt(b"$NACLshort", "pw", Path::new("/x/coldkey")).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}

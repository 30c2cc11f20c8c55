//! Decrypt-only support for keyfiles from old SDKs (bittensor < 6): ansible-vault AES256 and
//! Fernet. New keyfiles are always written as `$NACL`.

use std::path::Path;

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, KeyIvInit, StreamCipher};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::WalletError;

/// The salt old SDKs used to turn a password into a Fernet key.
const FERNET_SALT: &[u8] = b"Iguesscyborgslikemyselfhaveatendencytobeparanoidaboutourorigins";
/// PBKDF2 rounds for the legacy Fernet key (slow on purpose: seconds per attempt).
const FERNET_ROUNDS: u32 = 10_000_000;
/// PBKDF2 rounds ansible-vault uses.
const VAULT_ROUNDS: u32 = 10_000;

fn invalid(path: &Path, reason: &str) -> WalletError {
    WalletError::InvalidKeyfile {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    }
}

fn wrong_password(path: &Path) -> WalletError {
    WalletError::WrongPassword {
        path: path.to_path_buf(),
    }
}

/// Decrypts `$ANSIBLE_VAULT;1.1;AES256` (and 1.2 with a vault id) data.
///
/// Layout: header line, then hex lines of `hex(salt) \n hex(hmac) \n hex(ciphertext)`; keys from
/// PBKDF2-HMAC-SHA256(password, salt, 10 000, 80 B) = AES-256-CTR key ‖ HMAC key ‖ counter.
pub(crate) fn decrypt_ansible_vault(
    data: &[u8],
    password: &str,
    path: &Path,
) -> Result<Zeroizing<Vec<u8>>, WalletError> {
    let text = std::str::from_utf8(data).map_err(|_| invalid(path, "vault is not text"))?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let fields: Vec<&str> = header.trim().split(';').collect();
    if fields.len() < 3 || !fields[1].starts_with("1.") || fields[2] != "AES256" {
        return Err(invalid(path, "unsupported ansible-vault header"));
    }
    let hex_body: String = lines.flat_map(|l| l.trim().chars()).collect();
    let inner = hex::decode(hex_body).map_err(|_| invalid(path, "vault body is not hex"))?;
    let inner = std::str::from_utf8(&inner).map_err(|_| invalid(path, "vault body is not text"))?;
    let parts: Vec<&str> = inner.split('\n').collect();
    let [salt, mac, ciphertext] = parts.as_slice() else {
        return Err(invalid(
            path,
            "vault body must have salt, hmac and ciphertext",
        ));
    };
    let decode =
        |s: &str| hex::decode(s.trim()).map_err(|_| invalid(path, "vault field is not hex"));
    let (salt, mac, mut buffer) = (
        decode(salt)?,
        decode(mac)?,
        Zeroizing::new(decode(ciphertext)?),
    );

    let mut keys = Zeroizing::new([0u8; 80]);
    pbkdf2::pbkdf2_hmac::<Sha256>(
        password.as_bytes(),
        &salt,
        VAULT_ROUNDS,
        keys.as_mut_slice(),
    );
    let (aes_key, rest) = keys.split_at(32);
    let (mac_key, counter) = rest.split_at(32);

    let mut hmac = <Hmac<Sha256> as Mac>::new_from_slice(mac_key)
        .expect("HMAC takes any key length. This is a bug.");
    hmac.update(&buffer);
    hmac.verify_slice(&mac).map_err(|_| wrong_password(path))?;

    let mut cipher = ctr::Ctr128BE::<aes::Aes256>::new(aes_key.into(), counter.into());
    cipher.apply_keystream(&mut buffer);
    unpad_pkcs7(buffer, path)
}

/// Decrypts a legacy Fernet token (`gAAAAA…`), key = urlsafe-b64 of
/// PBKDF2-HMAC-SHA256(password, fixed salt, 10 000 000, 32 B). Takes seconds by design.
pub(crate) fn decrypt_fernet(
    data: &[u8],
    password: &str,
    path: &Path,
) -> Result<Zeroizing<Vec<u8>>, WalletError> {
    decrypt_fernet_with_key(data, &fernet_key(password, FERNET_ROUNDS), path)
}

fn fernet_key(password: &str, rounds: u32) -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), FERNET_SALT, rounds, key.as_mut_slice());
    key
}

/// Fernet: `0x80 ‖ timestamp(8) ‖ iv(16) ‖ AES-128-CBC ciphertext ‖ HMAC-SHA256(32)`, with the
/// HMAC key the first 16 key bytes and the AES key the last 16. The timestamp is not checked.
fn decrypt_fernet_with_key(
    data: &[u8],
    key: &[u8; 32],
    path: &Path,
) -> Result<Zeroizing<Vec<u8>>, WalletError> {
    let text = std::str::from_utf8(data).map_err(|_| invalid(path, "Fernet token is not text"))?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .map_err(|_| invalid(path, "Fernet token is not base64"))?;
    const HEADER: usize = 1 + 8 + 16;
    const MAC: usize = 32;
    if token.first() != Some(&0x80)
        || token.len() < HEADER + 16 + MAC
        || !(token.len() - HEADER - MAC).is_multiple_of(16)
    {
        return Err(invalid(path, "malformed Fernet token"));
    }
    let (signed, mac) = token.split_at(token.len() - MAC);
    let mut hmac = <Hmac<Sha256> as Mac>::new_from_slice(&key[..16])
        .expect("HMAC takes any key length. This is a bug.");
    hmac.update(signed);
    hmac.verify_slice(mac).map_err(|_| wrong_password(path))?;

    let iv = &signed[9..HEADER];
    let mut buffer = Zeroizing::new(signed[HEADER..].to_vec());
    let decryptor = cbc::Decryptor::<aes::Aes128>::new(key[16..].into(), iv.into());
    let len = decryptor
        .decrypt_padded_mut::<Pkcs7>(&mut buffer)
        .map_err(|_| invalid(path, "bad Fernet padding"))?
        .len();
    buffer.truncate(len);
    Ok(buffer)
}

fn unpad_pkcs7(
    mut buffer: Zeroizing<Vec<u8>>,
    path: &Path,
) -> Result<Zeroizing<Vec<u8>>, WalletError> {
    let pad = usize::from(*buffer.last().ok_or_else(|| invalid(path, "empty vault"))?);
    if pad == 0
        || pad > 16
        || pad > buffer.len()
        || buffer[buffer.len() - pad..]
            .iter()
            .any(|&b| usize::from(b) != pad)
    {
        return Err(invalid(path, "bad vault padding"));
    }
    let len = buffer.len() - pad;
    buffer.truncate(len);
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Alice's keyfile (public test key) encrypted with password "legacy-pw" by an independent
    /// implementation (Python `cryptography`, following ansible's `VaultAES256`).
    const VAULT: &str = include_str!("../tests/data/legacy-ansible-vault.txt");
    /// The same keyfile as an old-SDK Fernet token, same password.
    const FERNET: &str = include_str!("../tests/data/legacy-fernet.txt");
    /// `urlsafe_b64decode` of the Fernet key the old SDK derives from "legacy-pw".
    const FERNET_KEY_B64: &str = "YVZ2KVPFthXPvP3X7HKpVHvX5ZTlINYQlqlUtkZCarQ=";
    const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

    #[test]
    fn ansible_vault_decrypts() {
        let path = Path::new("/x/coldkey");
        let plain = decrypt_ansible_vault(VAULT.as_bytes(), "legacy-pw", path).unwrap();
        assert_eq!(
            crate::keyfile::keypair_from_json(&plain).unwrap().ss58(),
            ALICE
        );
        let err = decrypt_ansible_vault(VAULT.as_bytes(), "wrong", path).unwrap_err();
        assert!(matches!(err, WalletError::WrongPassword { .. }), "{err}");
    }

    #[test]
    fn fernet_decrypts_with_the_derived_key() {
        let path = Path::new("/x/coldkey");
        let key: [u8; 32] = base64::engine::general_purpose::URL_SAFE
            .decode(FERNET_KEY_B64)
            .unwrap()
            .try_into()
            .unwrap();
        let plain = decrypt_fernet_with_key(FERNET.as_bytes(), &key, path).unwrap();
        assert_eq!(
            crate::keyfile::keypair_from_json(&plain).unwrap().ss58(),
            ALICE
        );
        let err = decrypt_fernet_with_key(FERNET.as_bytes(), &[7u8; 32], path).unwrap_err();
        assert!(matches!(err, WalletError::WrongPassword { .. }), "{err}");
    }

    /// The legacy KDF with fewer rounds (10 million take ~30 s in a debug build), checked
    /// against Python `cryptography`.
    #[test]
    fn fernet_key_derivation() {
        assert_eq!(
            hex::encode(*fernet_key("legacy-pw", 1000)),
            "6bf2d8d7cff8e214d09d0f6acc4d800c0e060ea1123bb0cf9dd0ea4a2585202e"
        );
    }
}

//! Interop with the real Python SDK (`bittensor-wallet` 4.1.1 from `bittensor==10.5.0`):
//! wallets and signatures made here load and verify there, and the other way round.
//!
//! The interpreter comes from `AUDIOSUBNET_TEST_PYTHON` (`scripts/test` exports it). Secrets
//! reach Python only through environment variables and Python prints only addresses and
//! booleans, so no mnemonic or password ends up in test output.

use std::path::{Path, PathBuf};
use std::process::Command;

use audiosubnet_wallet::{AccountId, Encryption, Keypair, Wallet, keyfile};

const IGNORE_REASON: &str = "needs the Python SDK venv; run scripts/test";

fn python() -> PathBuf {
    let Some(path) = std::env::var_os("AUDIOSUBNET_TEST_PYTHON") else {
        panic!("AUDIOSUBNET_TEST_PYTHON is not set ({IGNORE_REASON})");
    };
    PathBuf::from(path)
}

/// Runs `script` with HOME in a temp dir and the given environment; the script prints one JSON
/// object as its last stdout line, which is returned.
fn run_python(script: &str, envs: &[(&str, &str)]) -> serde_json::Value {
    let home = tempfile::tempdir().expect("temp HOME");
    let output = Command::new(python())
        .arg("-c")
        .arg(script)
        .env("HOME", home.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .envs(envs.iter().copied())
        .output()
        .expect("cannot start the Python interpreter");
    // stdout may only hold our JSON; stderr holds tracebacks (scripts never put secrets in them).
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| {
            panic!(
                "no JSON line from python; stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    serde_json::from_str(last).expect("python printed invalid JSON")
}

fn s<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("missing string {key} in {v}"))
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// (1) Wallets written here (plain and `$NACL` coldkey; seed-only and privateKey-only
/// hotkeys) load in Python with the same addresses.
#[test]
#[ignore = "needs the Python SDK venv; run scripts/test"]
fn rust_wallets_load_in_python() {
    let dir = tempfile::tempdir().unwrap();
    let (cold, cold_mnemonic) = Keypair::generate(12).unwrap();
    let plain = Wallet::new("plain", "seedonly", dir.path());
    plain.set_coldkey(&cold, None, false).unwrap();
    // `//Alice` keeps a seed; `//Alice/soft` has only the 64-byte private key.
    let hot_seed = Keypair::from_uri("//Alice").unwrap();
    plain.set_hotkey(&hot_seed, None, false).unwrap();
    let soft = Wallet::new("plain", "privonly", dir.path());
    let hot_private = Keypair::from_uri("//Alice/soft").unwrap();
    assert!(hot_private.seed().is_none());
    soft.set_hotkey(&hot_private, None, false).unwrap();

    let (enc_cold, _) = Keypair::generate(24).unwrap();
    let encrypted = Wallet::new("enc", "default", dir.path());
    encrypted
        .set_coldkey(&enc_cold, Some("Rust-pw-123"), false)
        .unwrap();
    encrypted
        .set_hotkey(&Keypair::from_uri("//Bob").unwrap(), None, false)
        .unwrap();

    let script = r#"
import json, os
from bittensor_wallet import Wallet
root = os.environ["W_ROOT"]
p = Wallet(name="plain", hotkey="seedonly", path=root)
q = Wallet(name="plain", hotkey="privonly", path=root)
e = Wallet(name="enc", hotkey="default", path=root)
cold = p.get_coldkey()
data = json.loads(p.coldkey_file.data)
out = {
  "plain_cold": cold.ss58_address,
  "plain_coldpub": p.get_coldkeypub().ss58_address,
  "plain_cold_encrypted": p.coldkey_file.is_encrypted(),
  "plain_phrase_matches": data.get("secretPhrase") == os.environ["W_MNEMONIC"],
  "plain_keys": sorted(data.keys()),
  "seed_hot": p.get_hotkey().ss58_address,
  "seed_hotpub": p.get_hotkeypub().ss58_address,
  "priv_hot": q.get_hotkey().ss58_address,
  "enc_is_encrypted": e.coldkey_file.is_encrypted(),
  "enc_cold": e.get_coldkey(password=os.environ["W_PW"]).ss58_address,
  "enc_coldpub": e.get_coldkeypub().ss58_address,
  "enc_hot": e.get_hotkey().ss58_address,
  "env_var_name": e.coldkey_file.env_var_name(),
}
print(json.dumps(out))
"#;
    let out = run_python(
        script,
        &[
            ("W_ROOT", path_str(dir.path())),
            ("W_MNEMONIC", cold_mnemonic.phrase()),
            ("W_PW", "Rust-pw-123"),
        ],
    );
    assert_eq!(s(&out, "plain_cold"), cold.ss58());
    assert_eq!(s(&out, "plain_coldpub"), cold.ss58());
    assert_eq!(out["plain_cold_encrypted"], false);
    assert_eq!(out["plain_phrase_matches"], true);
    assert_eq!(
        out["plain_keys"],
        serde_json::json!([
            "accountId",
            "cryptoType",
            "privateKey",
            "publicKey",
            "secretPhrase",
            "secretSeed",
            "ss58Address"
        ])
    );
    assert_eq!(s(&out, "seed_hot"), hot_seed.ss58());
    assert_eq!(s(&out, "seed_hotpub"), hot_seed.ss58());
    assert_eq!(s(&out, "priv_hot"), hot_private.ss58());
    assert_eq!(out["enc_is_encrypted"], true);
    assert_eq!(s(&out, "enc_cold"), enc_cold.ss58());
    assert_eq!(s(&out, "enc_coldpub"), enc_cold.ss58());
    assert_eq!(
        s(&out, "enc_hot"),
        Keypair::from_uri("//Bob").unwrap().ss58()
    );
    assert_eq!(
        s(&out, "env_var_name"),
        keyfile::password_env_var(&encrypted.coldkey_path())
    );
}

/// (2) Wallets the Python SDK creates and regenerates (from a mnemonic, encrypted and plain,
/// and from a URI) load here with the same addresses; its `BT_PW_…` encoding decodes here.
#[test]
#[ignore = "needs the Python SDK venv; run scripts/test"]
fn python_wallets_load_in_rust() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cold_mnemonic) = Keypair::generate(12).unwrap();
    let (_, hot_mnemonic) = Keypair::generate(15).unwrap();
    let script = r#"
import json, os
from bittensor_wallet import Wallet
root = os.environ["W_ROOT"]
pw = os.environ["W_PW"]
a = Wallet(name="regen", hotkey="hot", path=root)
a.regenerate_coldkey(mnemonic=os.environ["W_COLD"], use_password=True, coldkey_password=pw, overwrite=True, suppress=True)
a.regenerate_hotkey(mnemonic=os.environ["W_HOT"], use_password=False, overwrite=True, suppress=True)
b = Wallet(name="plainregen", hotkey="hot", path=root)
b.regenerate_coldkey(mnemonic=os.environ["W_COLD"], use_password=False, overwrite=True, suppress=True)
b.create_hotkey_from_uri("//Bob", use_password=True, hotkey_password=pw, overwrite=True, suppress=True)
c = Wallet(name="fresh", hotkey="default", path=root)
c.create(coldkey_use_password=False, hotkey_use_password=False, overwrite=True, suppress=True)
out = {
  "a_cold": a.get_coldkeypub().ss58_address,
  "a_hot": a.get_hotkey().ss58_address,
  "b_cold": b.get_coldkey().ss58_address,
  "b_hot": b.get_hotkey(password=pw).ss58_address,
  "c_cold": c.get_coldkey().ss58_address,
  "c_hot": c.get_hotkey().ss58_address,
  "env_var": a.coldkey_file.env_var_name(),
  "env_value": a.coldkey_file.save_password_to_env(pw),
}
print(json.dumps(out))
"#;
    let out = run_python(
        script,
        &[
            ("W_ROOT", path_str(dir.path())),
            ("W_COLD", cold_mnemonic.phrase()),
            ("W_HOT", hot_mnemonic.phrase()),
            ("W_PW", "Py-pw-456"),
        ],
    );
    let expected_cold = Keypair::from_mnemonic(cold_mnemonic.phrase())
        .unwrap()
        .ss58();
    let expected_hot = Keypair::from_mnemonic(hot_mnemonic.phrase())
        .unwrap()
        .ss58();
    assert_eq!(s(&out, "a_cold"), expected_cold);
    assert_eq!(s(&out, "a_hot"), expected_hot);

    let a = Wallet::new("regen", "hot", dir.path());
    assert_eq!(a.coldkey_encryption().unwrap(), Encryption::Nacl);
    assert!(matches!(
        a.load_coldkey(None),
        Err(audiosubnet_wallet::WalletError::Encrypted { .. })
    ));
    let cold = a.load_coldkey(Some("Py-pw-456")).unwrap();
    assert_eq!(cold.ss58(), expected_cold);
    assert_eq!(cold.mnemonic_phrase(), Some(cold_mnemonic.phrase()));
    assert!(a.load_coldkey(Some("wrong")).is_err());
    assert_eq!(a.load_coldkeypub().unwrap().to_ss58(), expected_cold);
    assert_eq!(a.load_hotkey(None).unwrap().ss58(), expected_hot);
    assert_eq!(a.hotkey_account().unwrap().to_ss58(), expected_hot);

    // Python's BT_PW_ encoding of the password decodes to the same password here.
    let env_var = s(&out, "env_var");
    assert_eq!(env_var, keyfile::password_env_var(&a.coldkey_path()));
    let decoded = keyfile::decode_env_password(env_var, s(&out, "env_value")).unwrap();
    assert!(
        decoded.as_str() == "Py-pw-456",
        "BT_PW_ decoding differs from Python"
    );

    let b = Wallet::new("plainregen", "hot", dir.path());
    assert_eq!(b.load_coldkey(None).unwrap().ss58(), expected_cold);
    assert_eq!(s(&out, "b_cold"), expected_cold);
    // A URI hotkey from Python carries only privateKey, encrypted here.
    assert_eq!(b.hotkey_encryption().unwrap(), Encryption::Nacl);
    let bob = Keypair::from_uri("//Bob").unwrap().ss58();
    assert_eq!(b.load_hotkey(Some("Py-pw-456")).unwrap().ss58(), bob);
    assert_eq!(s(&out, "b_hot"), bob);
    // Encrypted hotkey: its account comes from the pub file, without a password.
    assert_eq!(b.hotkey_account().unwrap().to_ss58(), bob);

    let c = Wallet::new("fresh", "default", dir.path());
    assert_eq!(c.load_coldkey(None).unwrap().ss58(), s(&out, "c_cold"));
    assert_eq!(c.load_coldkeypub().unwrap().to_ss58(), s(&out, "c_cold"));
    assert_eq!(c.load_hotkey(None).unwrap().ss58(), s(&out, "c_hot"));
}

/// (3) Signatures made here verify in Python and the other way round.
#[test]
#[ignore = "needs the Python SDK venv; run scripts/test"]
fn signatures_cross_verify() {
    let alice = Keypair::from_uri("//Alice").unwrap();
    let message = "1700000000000000000.5Grwva.5FHneW.uuid.0f1c8a21c6f2a92bee209957e08a2938";
    let ours = alice.sign(message.as_bytes());
    let script = r#"
import json, os
from bittensor_wallet import Keypair
msg = os.environ["W_MSG"].encode()
sig = bytes.fromhex(os.environ["W_SIG"])
verifier = Keypair(ss58_address=os.environ["W_SS58"])
bob = Keypair.create_from_uri("//Bob")
bad = bytearray(sig); bad[0] ^= 1
out = {
  "rust_sig_ok": verifier.verify(msg, sig),
  "rust_sig_other_msg": verifier.verify(msg + b"x", sig),
  "rust_sig_tampered": verifier.verify(msg, bytes(bad)),
  "bob": bob.ss58_address,
  "bob_sig": bob.sign(msg).hex(),
  "bob_wrapped_sig": bob.sign(b"<Bytes>" + msg + b"</Bytes>").hex(),
}
print(json.dumps(out))
"#;
    let out = run_python(
        script,
        &[
            ("W_MSG", message),
            ("W_SIG", &hex::encode(ours)),
            ("W_SS58", &alice.ss58()),
        ],
    );
    assert_eq!(out["rust_sig_ok"], true);
    assert_eq!(out["rust_sig_other_msg"], false);
    assert_eq!(out["rust_sig_tampered"], false);

    let bob: AccountId = s(&out, "bob").parse().unwrap();
    assert_eq!(bob, Keypair::from_uri("//Bob").unwrap().account_id());
    let sig = |key: &str| -> [u8; 64] {
        hex::decode(s(&out, key))
            .unwrap()
            .try_into()
            .expect("64-byte signature")
    };
    assert!(bob.verify(message.as_bytes(), &sig("bob_sig")));
    assert!(!bob.verify(b"another message", &sig("bob_sig")));
    assert!(
        !alice
            .account_id()
            .verify(message.as_bytes(), &sig("bob_sig"))
    );
    assert!(bob.verify(message.as_bytes(), &sig("bob_wrapped_sig")));
}

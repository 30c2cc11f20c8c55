//! Wallet directories in the btcli layout: `<path>/<name>/{coldkey,coldkeypub.txt,hotkeys/…}`.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::keyfile::{self, Encryption};
use crate::{AccountId, Keypair, Mnemonic, WalletError};

/// The default wallet root, as in btcli.
pub const DEFAULT_WALLET_PATH: &str = "~/.bittensor/wallets";

/// A named wallet: one coldkey plus one selected hotkey, under a root directory.
///
/// Paths follow bittensor-wallet exactly, so wallets created by btcli load here and vice versa.
/// Loading an encrypted keyfile runs argon2 with 512 MiB: call it off any async runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wallet {
    name: String,
    hotkey: String,
    path: PathBuf,
}

/// The result of [`Wallet::create`]: both keypairs and their mnemonics (show once, never log).
#[derive(Debug)]
pub struct NewWallet {
    /// The coldkey.
    pub coldkey: Keypair,
    /// The coldkey's mnemonic.
    pub coldkey_mnemonic: Mnemonic,
    /// The hotkey.
    pub hotkey: Keypair,
    /// The hotkey's mnemonic.
    pub hotkey_mnemonic: Mnemonic,
}

impl Wallet {
    /// A wallet handle; nothing is read until a `load_*` call. A leading `~` in `path` is
    /// expanded to the home directory.
    pub fn new(name: &str, hotkey: &str, path: impl AsRef<Path>) -> Self {
        Self {
            name: name.to_owned(),
            hotkey: hotkey.to_owned(),
            path: expand_tilde(path.as_ref()),
        }
    }

    /// The wallet (coldkey) name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The hotkey name.
    pub fn hotkey_name(&self) -> &str {
        &self.hotkey
    }

    /// The wallet root (tilde-expanded).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `<path>/<name>`.
    pub fn wallet_dir(&self) -> PathBuf {
        self.path.join(&self.name)
    }

    /// `<path>/<name>/hotkeys/<hotkey>`.
    pub fn hotkey_path(&self) -> PathBuf {
        self.wallet_dir().join("hotkeys").join(&self.hotkey)
    }

    /// `<path>/<name>/hotkeys/<hotkey>pub.txt` (written by bittensor-wallet ≥ 3).
    pub fn hotkeypub_path(&self) -> PathBuf {
        self.wallet_dir()
            .join("hotkeys")
            .join(format!("{}pub.txt", self.hotkey))
    }

    /// `<path>/<name>/coldkey`.
    pub fn coldkey_path(&self) -> PathBuf {
        self.wallet_dir().join("coldkey")
    }

    /// `<path>/<name>/coldkeypub.txt`.
    pub fn coldkeypub_path(&self) -> PathBuf {
        self.wallet_dir().join("coldkeypub.txt")
    }

    /// The `BT_COLD_PW_<NAME>` variable holding a plain coldkey password (name upper-cased,
    /// characters other than ASCII letters and digits turned into `_`).
    pub fn coldkey_password_env_var(&self) -> String {
        let name: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        format!("BT_COLD_PW_{name}")
    }

    /// Loads the hotkey. `password` is needed only if the file is encrypted; otherwise the
    /// `BT_PW_<path>` variable is tried.
    pub fn load_hotkey(&self, password: Option<&str>) -> Result<Keypair, WalletError> {
        load_keypair(&self.hotkey_path(), password, &[], env_lookup)
    }

    /// Loads the coldkey. If it is encrypted and `password` is `None`, the password comes from
    /// `BT_PW_<path>` (btcli's encoding) or `BT_COLD_PW_<NAME>` (plain).
    pub fn load_coldkey(&self, password: Option<&str>) -> Result<Keypair, WalletError> {
        let plain_env = [self.coldkey_password_env_var()];
        load_keypair(&self.coldkey_path(), password, &plain_env, env_lookup)
    }

    /// Reads the coldkey's public key from `coldkeypub.txt`.
    pub fn load_coldkeypub(&self) -> Result<AccountId, WalletError> {
        load_public(&self.coldkeypub_path())
    }

    /// The hotkey's account id without decrypting anything: the public fields of the hotkey
    /// file when it is unencrypted (the usual case; a stale `<hotkey>pub.txt` then cannot
    /// disagree with the signing key), else `<hotkey>pub.txt`.
    pub fn hotkey_account(&self) -> Result<AccountId, WalletError> {
        let path = self.hotkey_path();
        match read_file(&path) {
            Ok(data) if !Encryption::detect(&data).is_encrypted() => {
                keyfile::account_from_json(&data).map_err(at_path(&path))
            }
            Ok(_) => match load_public(&self.hotkeypub_path()) {
                Err(WalletError::NotFound { .. }) => Err(WalletError::Encrypted {
                    env_var: keyfile::password_env_var(&path),
                    path,
                }),
                other => other,
            },
            Err(WalletError::NotFound { .. }) => match load_public(&self.hotkeypub_path()) {
                Err(WalletError::NotFound { .. }) => Err(WalletError::NotFound { path }),
                other => other,
            },
            Err(e) => Err(e),
        }
    }

    /// How the coldkey file is protected.
    pub fn coldkey_encryption(&self) -> Result<Encryption, WalletError> {
        encryption_of(&self.coldkey_path())
    }

    /// How the hotkey file is protected.
    pub fn hotkey_encryption(&self) -> Result<Encryption, WalletError> {
        encryption_of(&self.hotkey_path())
    }

    /// Writes `coldkey` (`$NACL`-encrypted when `password` is given) and `coldkeypub.txt`.
    /// Refuses to replace existing files unless `overwrite`.
    pub fn set_coldkey(
        &self,
        keypair: &Keypair,
        password: Option<&str>,
        overwrite: bool,
    ) -> Result<(), WalletError> {
        let (secret, public) = (self.coldkey_path(), self.coldkeypub_path());
        check_free(&[&secret, &public], overwrite)?;
        write_pair(&secret, &public, keypair, password)
    }

    /// Writes `hotkeys/<hotkey>` (`$NACL`-encrypted when `password` is given) and
    /// `hotkeys/<hotkey>pub.txt`. Refuses to replace existing files unless `overwrite`.
    pub fn set_hotkey(
        &self,
        keypair: &Keypair,
        password: Option<&str>,
        overwrite: bool,
    ) -> Result<(), WalletError> {
        let (secret, public) = (self.hotkey_path(), self.hotkeypub_path());
        check_free(&[&secret, &public], overwrite)?;
        write_pair(&secret, &public, keypair, password)
    }

    /// Writes only `coldkeypub.txt`, for machines that must know the coldkey but not hold it.
    pub fn set_coldkeypub(&self, account: &AccountId, overwrite: bool) -> Result<(), WalletError> {
        let path = self.coldkeypub_path();
        check_free(&[&path], overwrite)?;
        write_file(&path, &keyfile::public_json(account))
    }

    /// The names of the hotkeys in this wallet (files under `hotkeys/`, without the
    /// `*pub.txt` companions), sorted. A wallet without a `hotkeys` directory has none.
    pub fn hotkey_names(&self) -> Result<Vec<String>, WalletError> {
        let dir = self.wallet_dir().join("hotkeys");
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(WalletError::io("cannot list", &dir, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| WalletError::io("cannot list", &dir, e))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
            if is_file && !name.starts_with('.') && !name.ends_with("pub.txt") {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Generates a new coldkey from a fresh `words`-word mnemonic and writes it.
    pub fn create_new_coldkey(
        &self,
        words: usize,
        password: Option<&str>,
        overwrite: bool,
    ) -> Result<(Keypair, Mnemonic), WalletError> {
        let (keypair, mnemonic) = Keypair::generate(words)?;
        self.set_coldkey(&keypair, password, overwrite)?;
        Ok((keypair, mnemonic))
    }

    /// Generates a new hotkey from a fresh `words`-word mnemonic and writes it (unencrypted
    /// unless `password` is given, as btcli does).
    pub fn create_new_hotkey(
        &self,
        words: usize,
        password: Option<&str>,
        overwrite: bool,
    ) -> Result<(Keypair, Mnemonic), WalletError> {
        let (keypair, mnemonic) = Keypair::generate(words)?;
        self.set_hotkey(&keypair, password, overwrite)?;
        Ok((keypair, mnemonic))
    }

    /// Creates a whole wallet: a new coldkey (encrypted with `coldkey_password` if given) and a
    /// new unencrypted hotkey. All four files are checked before anything is written, so a
    /// refusal leaves the directory untouched.
    pub fn create(
        &self,
        words: usize,
        coldkey_password: Option<&str>,
        overwrite: bool,
    ) -> Result<NewWallet, WalletError> {
        check_free(
            &[
                &self.coldkey_path(),
                &self.coldkeypub_path(),
                &self.hotkey_path(),
                &self.hotkeypub_path(),
            ],
            overwrite,
        )?;
        let (coldkey, coldkey_mnemonic) = Keypair::generate(words)?;
        let (hotkey, hotkey_mnemonic) = Keypair::generate(words)?;
        self.set_coldkey(&coldkey, coldkey_password, overwrite)?;
        self.set_hotkey(&hotkey, None, overwrite)?;
        Ok(NewWallet {
            coldkey,
            coldkey_mnemonic,
            hotkey,
            hotkey_mnemonic,
        })
    }
}

fn expand_tilde(path: &Path) -> PathBuf {
    let Some(s) = path.to_str() else {
        return path.to_path_buf();
    };
    let rest = if s == "~" {
        ""
    } else if let Some(rest) = s.strip_prefix("~/") {
        rest
    } else {
        return path.to_path_buf();
    };
    match dirs::home_dir() {
        Some(home) if rest.is_empty() => home,
        Some(home) => home.join(rest),
        None => path.to_path_buf(),
    }
}

fn env_lookup(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

fn read_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, WalletError> {
    fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| WalletError::io("cannot read", path, e))
}

fn encryption_of(path: &Path) -> Result<Encryption, WalletError> {
    Ok(Encryption::detect(&read_file(path)?))
}

/// Adds the path to a data-level error so the user knows which file is broken.
fn at_path(path: &Path) -> impl Fn(WalletError) -> WalletError + '_ {
    move |e| match e {
        WalletError::InvalidKeyfileData(reason) => WalletError::InvalidKeyfile {
            path: path.to_path_buf(),
            reason,
        },
        other => other,
    }
}

/// Reads, decrypts if needed, and parses a full keyfile.
///
/// Password order: `password`, then `BT_PW_<path>` (XOR-encoded), then each of `plain_env`.
fn load_keypair(
    path: &Path,
    password: Option<&str>,
    plain_env: &[String],
    lookup: impl Fn(&str) -> Option<OsString>,
) -> Result<Keypair, WalletError> {
    let data = read_file(path)?;
    let encryption = Encryption::detect(&data);
    let plain = if encryption.is_encrypted() {
        let password = resolve_password(path, password, plain_env, lookup)?;
        keyfile::decrypt(&data, &password, path)?
    } else {
        data
    };
    keyfile::keypair_from_json(&plain).map_err(at_path(path))
}

fn resolve_password(
    path: &Path,
    password: Option<&str>,
    plain_env: &[String],
    lookup: impl Fn(&str) -> Option<OsString>,
) -> Result<Zeroizing<String>, WalletError> {
    if let Some(p) = password {
        return Ok(Zeroizing::new(p.to_owned()));
    }
    let bt_pw = keyfile::password_env_var(path);
    if let Some(value) = lookup(&bt_pw) {
        let value = Zeroizing::new(
            value
                .into_string()
                .map_err(|_| WalletError::BadPasswordEnv(bt_pw.clone()))?,
        );
        return keyfile::decode_env_password(&bt_pw, &value);
    }
    for var in plain_env {
        if let Some(value) = lookup(var) {
            return value
                .into_string()
                .map(Zeroizing::new)
                .map_err(|_| WalletError::BadPasswordEnv(var.clone()));
        }
    }
    Err(WalletError::Encrypted {
        path: path.to_path_buf(),
        env_var: bt_pw,
    })
}

/// Reads a public key from a pub file or, without decrypting, from a keyfile.
fn load_public(path: &Path) -> Result<AccountId, WalletError> {
    let data = read_file(path)?;
    if Encryption::detect(&data).is_encrypted() {
        return Err(WalletError::Encrypted {
            path: path.to_path_buf(),
            env_var: keyfile::password_env_var(path),
        });
    }
    keyfile::account_from_json(&data).map_err(at_path(path))
}

fn check_free(paths: &[&Path], overwrite: bool) -> Result<(), WalletError> {
    if overwrite {
        return Ok(());
    }
    for path in paths {
        // symlink_metadata: a dangling symlink still counts as "something is there".
        if fs::symlink_metadata(path).is_ok() {
            return Err(WalletError::AlreadyExists {
                path: path.to_path_buf(),
            });
        }
    }
    Ok(())
}

fn write_pair(
    secret_path: &Path,
    public_path: &Path,
    keypair: &Keypair,
    password: Option<&str>,
) -> Result<(), WalletError> {
    let json = keyfile::keypair_to_json(keypair);
    let data = match password {
        Some(pw) => Zeroizing::new(keyfile::encrypt_nacl(&json, pw)?),
        None => json,
    };
    // The secret file first: a pub file must never advertise a key that was not saved.
    write_file(secret_path, &data)?;
    write_file(public_path, &keyfile::public_json(&keypair.account_id()))
}

/// Writes `data` with mode 0600 through [`crate::atomic::write_atomic`] (create-new, no-follow
/// temporary, fsync, rename, directory fsync), creating parent directories with mode 0700.
fn write_file(path: &Path, data: &[u8]) -> Result<(), WalletError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| WalletError::io("cannot create directory", dir, e))?;
    crate::atomic::write_atomic(path, data, 0o600)
        .map_err(|e| WalletError::io("cannot write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keypair::DEV_PHRASE;

    const DEV_SS58: &str = "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV";
    const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

    #[test]
    fn paths_follow_btcli() {
        let w = Wallet::new("cold", "hot", "/w");
        assert_eq!(w.coldkey_path(), Path::new("/w/cold/coldkey"));
        assert_eq!(w.coldkeypub_path(), Path::new("/w/cold/coldkeypub.txt"));
        assert_eq!(w.hotkey_path(), Path::new("/w/cold/hotkeys/hot"));
        assert_eq!(w.hotkeypub_path(), Path::new("/w/cold/hotkeys/hotpub.txt"));
        assert_eq!(w.coldkey_password_env_var(), "BT_COLD_PW_COLD");
        if let Some(home) = dirs::home_dir() {
            let w = Wallet::new("a", "b", "~/.bittensor/wallets");
            assert_eq!(w.path(), home.join(".bittensor/wallets"));
        }
    }

    /// A symlink planted where the key file's temporary copy goes (the old name was predictable:
    /// `.{name}.tmp{pid}`) must not receive the secret.
    #[cfg(unix)]
    #[test]
    fn a_planted_symlink_does_not_receive_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let w = Wallet::new("cold", "hot", dir.path());
        let victim = dir.path().join("victim");
        fs::write(&victim, b"untouched").unwrap();
        let hotkeys = w.hotkey_path().parent().unwrap().to_path_buf();
        fs::create_dir_all(&hotkeys).unwrap();
        let planted = hotkeys.join(format!(".hot.tmp{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();

        w.set_hotkey(&Keypair::from_uri("//Alice").unwrap(), None, false)
            .unwrap();
        // Not assert_eq: on failure that would print the key.
        assert!(
            fs::read(&victim).unwrap() == b"untouched",
            "the secret went through the planted symlink"
        );
        let meta = fs::symlink_metadata(w.hotkey_path()).unwrap();
        assert!(meta.file_type().is_file(), "the key file is a regular file");
        assert_eq!(w.load_hotkey(None).unwrap().ss58(), ALICE);
    }

    #[test]
    fn plain_wallet_round_trip_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        let w = Wallet::new("cold", "hot", dir.path());
        let cold = Keypair::from_mnemonic(DEV_PHRASE).unwrap();
        let hot = Keypair::from_uri("//Alice").unwrap();
        w.set_coldkey(&cold, None, false).unwrap();
        w.set_hotkey(&hot, None, false).unwrap();

        assert_eq!(w.load_coldkey(None).unwrap().ss58(), DEV_SS58);
        assert_eq!(w.load_coldkeypub().unwrap().to_ss58(), DEV_SS58);
        assert_eq!(w.load_hotkey(None).unwrap().ss58(), ALICE);
        assert_eq!(w.hotkey_account().unwrap().to_ss58(), ALICE);
        assert_eq!(w.coldkey_encryption().unwrap(), Encryption::None);

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for p in [w.coldkey_path(), w.coldkeypub_path(), w.hotkey_path()] {
                let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", p.display());
            }
        }
        // No temp files left behind.
        let names: Vec<_> = fs::read_dir(w.wallet_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
        let names: Vec<_> = fs::read_dir(w.hotkey_path().parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");

        // A stale pub file does not win over the (unencrypted) hotkey itself.
        let bob = Keypair::from_uri("//Bob").unwrap();
        fs::write(w.hotkeypub_path(), keyfile::public_json(&bob.account_id())).unwrap();
        assert_eq!(w.hotkey_account().unwrap().to_ss58(), ALICE);
        // Only the pub file: that is enough for the account.
        let hotkey_data = fs::read(w.hotkey_path()).unwrap();
        fs::remove_file(w.hotkey_path()).unwrap();
        assert_eq!(w.hotkey_account().unwrap(), bob.account_id());
        fs::remove_file(w.hotkeypub_path()).unwrap();
        let err = w.hotkey_account().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("file not found: {}", w.hotkey_path().display())
        );
        fs::write(w.hotkey_path(), hotkey_data).unwrap();
        assert_eq!(w.hotkey_account().unwrap().to_ss58(), ALICE);
    }

    #[test]
    fn refuses_to_overwrite_unless_asked() {
        let dir = tempfile::tempdir().unwrap();
        let w = Wallet::new("cold", "hot", dir.path());
        w.set_hotkey(&Keypair::from_uri("//Alice").unwrap(), None, false)
            .unwrap();
        let bob = Keypair::from_uri("//Bob").unwrap();
        let err = w.set_hotkey(&bob, None, false).unwrap_err();
        assert!(matches!(err, WalletError::AlreadyExists { .. }), "{err}");
        assert_eq!(w.load_hotkey(None).unwrap().ss58(), ALICE);
        // `create` checks every file first and writes nothing on refusal.
        assert!(w.create(12, None, false).is_err());
        assert!(!w.coldkey_path().exists());
        w.set_hotkey(&bob, None, true).unwrap();
        assert_eq!(w.hotkey_account().unwrap(), bob.account_id());
        assert_eq!(w.hotkey_names().unwrap(), vec!["hot".to_owned()]);
        assert!(
            Wallet::new("none", "x", dir.path())
                .hotkey_names()
                .unwrap()
                .is_empty()
        );

        w.set_coldkeypub(&bob.account_id(), false).unwrap();
        assert_eq!(w.load_coldkeypub().unwrap(), bob.account_id());
        assert!(w.set_coldkeypub(&bob.account_id(), false).is_err());
        assert!(!w.coldkey_path().exists());
    }

    #[test]
    fn missing_and_broken_files() {
        let dir = tempfile::tempdir().unwrap();
        let w = Wallet::new("cold", "hot", dir.path());
        let err = w.load_hotkey(None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("file not found: {}", w.hotkey_path().display())
        );
        fs::create_dir_all(w.hotkey_path().parent().unwrap()).unwrap();
        fs::write(
            w.hotkey_path(),
            b"{\"secretPhrase\": \"not a real mnemonic\"}",
        )
        .unwrap();
        let err = w.load_hotkey(None).unwrap_err().to_string();
        assert!(!err.contains("not a real"), "{err}");
        fs::write(w.hotkey_path(), b"garbage").unwrap();
        let err = w.load_hotkey(None).unwrap_err().to_string();
        assert!(err.starts_with("invalid keyfile "), "{err}");
    }

    /// Encrypted coldkey: explicit password, env passwords, missing and wrong passwords.
    /// One encryption and three decryptions at 512 MiB each: the heaviest unit test.
    #[test]
    fn encrypted_coldkey_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let w = Wallet::new("cold", "hot", dir.path());
        let (cold, mnemonic) = w.create_new_coldkey(12, Some("s3cret-pw"), false).unwrap();
        assert_eq!(w.coldkey_encryption().unwrap(), Encryption::Nacl);
        assert_eq!(w.load_coldkeypub().unwrap(), cold.account_id());
        let path = w.coldkey_path();

        let none = |_: &str| None;
        let err = load_keypair(&path, None, &[], none).unwrap_err();
        let bt_pw = keyfile::password_env_var(&path);
        assert_eq!(
            err.to_string(),
            format!(
                "keyfile {} is encrypted: pass a password (--wallet.password / env {bt_pw})",
                path.display()
            )
        );
        let loaded = w.load_coldkey(Some("s3cret-pw")).unwrap();
        assert_eq!(loaded.ss58(), cold.ss58());
        assert_eq!(loaded.mnemonic_phrase(), Some(mnemonic.phrase()));

        let encoded = keyfile::encode_env_password(&bt_pw, "s3cret-pw");
        let from_bt_pw = |name: &str| (name == bt_pw).then(|| OsString::from(&encoded));
        assert_eq!(
            load_keypair(&path, None, &[], from_bt_pw).unwrap().ss58(),
            cold.ss58()
        );

        let plain_var = w.coldkey_password_env_var();
        let from_plain = |name: &str| (name == plain_var).then(|| OsString::from("wrong"));
        let err =
            load_keypair(&path, None, std::slice::from_ref(&plain_var), from_plain).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("wrong password for {}", path.display())
        );
    }
}

//! `audiosubnet wallet …`: create, regenerate and inspect btcli-compatible wallets (the
//! `--wallet.*` flags every neuron command shares are in [`crate::args`]).
//!
//! Mnemonics reach the user only on stdout, once, when stdout is a terminal or with
//! `--print-mnemonic`; nothing here logs secrets.

use std::io::{IsTerminal as _, Read, Write};

use crate::args::{PASSWORD_ENV, WalletArgs};
use anyhow::{Context as _, Result, bail};
use audiosubnet_wallet::{AccountId, Encryption, Keypair, Wallet, WalletError};

/// Environment variable for the new mnemonic of `wallet regen` (keeps it off the command line).
const MNEMONIC_ENV: &str = "AUDIOSUBNET_WALLET_MNEMONIC";
/// Create, regenerate or inspect wallets (btcli-compatible files).
#[derive(Debug, clap::Args)]
pub(crate) struct WalletCli {
    #[command(subcommand)]
    command: WalletCommand,
}

impl From<WalletCli> for WalletCommand {
    fn from(cli: WalletCli) -> Self {
        cli.command
    }
}

/// The `wallet` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum WalletCommand {
    /// Create a new coldkey and hotkey from fresh mnemonics (or only a hotkey).
    ///
    /// The coldkey is encrypted with a password (from --wallet.password, the
    /// AUDIOSUBNET_WALLET_PASSWORD environment variable, or a prompt); the hotkey is not, so
    /// neurons can start unattended. The mnemonics are shown once, on a terminal only.
    Create {
        #[command(flatten)]
        wallet: WalletArgs,
        /// Leave the coldkey unencrypted (local chains and tests only).
        #[arg(long)]
        no_password: bool,
        /// Words per mnemonic.
        #[arg(long, default_value_t = 12, value_parser = parse_word_count)]
        words: usize,
        /// Replace existing keyfiles. Their keys are gone unless you kept the mnemonics.
        #[arg(long)]
        overwrite: bool,
        /// Print the mnemonics even when stdout is not a terminal (e.g. into a file you keep
        /// offline). Without it they are shown only on a terminal.
        #[arg(long)]
        print_mnemonic: bool,
        /// Create only a new hotkey (--wallet.hotkey) under the existing coldkey.
        #[arg(long)]
        hotkey_only: bool,
    },
    /// Regenerate the coldkey or a hotkey from its mnemonic (or a secret URI such as //Alice),
    /// or write only coldkeypub.txt from an address.
    ///
    /// Without --mnemonic or --uri the mnemonic comes from AUDIOSUBNET_WALLET_MNEMONIC, a
    /// hidden prompt, or stdin.
    #[command(group(
        clap::ArgGroup::new("target").required(true).args(["coldkey", "hotkey", "coldkeypub"])
    ))]
    Regen {
        #[command(flatten)]
        wallet: WalletArgs,
        /// Regenerate the coldkey (writes coldkey and coldkeypub.txt).
        #[arg(long)]
        coldkey: bool,
        /// Regenerate the hotkey --wallet.hotkey (writes it and its pub file, unencrypted).
        #[arg(long)]
        hotkey: bool,
        /// Write only coldkeypub.txt for this SS58 address: for machines that must know the
        /// coldkey but not hold it.
        #[arg(long, value_name = "SS58")]
        coldkeypub: Option<String>,
        /// The mnemonic. Prefer the environment variable or the prompt: command lines are
        /// visible to other users.
        #[arg(long, env = MNEMONIC_ENV, hide_env_values = true)]
        mnemonic: Option<String>,
        /// A secret URI instead of a mnemonic, e.g. //Alice (dev accounts for local chains).
        /// Takes precedence over --mnemonic.
        #[arg(long, value_name = "URI")]
        uri: Option<String>,
        /// Leave a regenerated coldkey unencrypted (local chains and tests only).
        #[arg(long)]
        no_password: bool,
        /// Replace existing keyfiles.
        #[arg(long)]
        overwrite: bool,
    },
    /// Show the wallet's addresses and how its keyfiles are protected. Never shows secrets.
    Show {
        #[command(flatten)]
        wallet: WalletArgs,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn parse_word_count(s: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n @ (12 | 15 | 18 | 21 | 24)) => Ok(n),
        _ => Err("use 12, 15, 18, 21 or 24".to_owned()),
    }
}

/// Runs a `wallet` subcommand on the real terminal. Blocking: keyfile encryption takes about a
/// second and 512 MiB.
pub(crate) fn run(cmd: impl Into<WalletCommand>) -> Result<()> {
    let stdout = std::io::stdout();
    let mut term = Terminal {
        out: &mut stdout.lock(),
        stdout_is_tty: std::io::stdout().is_terminal(),
        interactive: std::io::stdin().is_terminal(),
        stdin: &mut std::io::stdin(),
    };
    execute(cmd.into(), &mut term)
}

/// Where a command talks to the user; tests substitute buffers.
struct Terminal<'a> {
    out: &'a mut dyn Write,
    /// Mnemonics may be shown only when this is true (or with --print-mnemonic).
    stdout_is_tty: bool,
    /// Whether hidden prompts can be used.
    interactive: bool,
    stdin: &'a mut dyn Read,
}

impl Terminal<'_> {
    fn prompt_hidden(&self, prompt: &str) -> Result<String> {
        if !self.interactive {
            bail!(
                "stdin is not a terminal: cannot prompt for {}",
                prompt.trim_end_matches(": ")
            );
        }
        rpassword::prompt_password(prompt).context("reading from the terminal")
    }

    /// A new password: `--wallet.password`/env, else asked twice on the terminal.
    fn new_password(&self, given: Option<&str>) -> Result<String> {
        if let Some(p) = given {
            if p.is_empty() {
                bail!("the password is empty");
            }
            return Ok(p.to_owned());
        }
        if !self.interactive {
            bail!(
                "no password for the coldkey: set {PASSWORD_ENV} (or --wallet.password), or pass \
                 --no-password for an unencrypted coldkey"
            );
        }
        let first = self.prompt_hidden("New coldkey password: ")?;
        if first.chars().count() < 6 {
            bail!("the password must have at least 6 characters");
        }
        let second = self.prompt_hidden("Repeat the password: ")?;
        if first != second {
            bail!("the passwords differ");
        }
        Ok(first)
    }

    /// The mnemonic to regenerate from: `--mnemonic`/env, else a hidden prompt, else stdin.
    fn mnemonic(&mut self, given: Option<String>) -> Result<String> {
        let raw = match given {
            Some(m) => m,
            None if self.interactive => self.prompt_hidden("Mnemonic: ")?,
            None => {
                let mut s = String::new();
                self.stdin
                    .read_to_string(&mut s)
                    .context("reading the mnemonic from stdin")?;
                s
            }
        };
        // One space between words, so the keyfile holds a clean secretPhrase.
        let phrase = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if phrase.is_empty() {
            bail!("no mnemonic: pass --mnemonic, set {MNEMONIC_ENV}, or pipe it on stdin");
        }
        Ok(phrase)
    }
}

fn execute(cmd: WalletCommand, term: &mut Terminal<'_>) -> Result<()> {
    match cmd {
        WalletCommand::Create {
            wallet,
            no_password,
            words,
            overwrite,
            print_mnemonic,
            hotkey_only,
        } => create(
            &wallet,
            no_password,
            words,
            overwrite,
            print_mnemonic,
            hotkey_only,
            term,
        ),
        WalletCommand::Regen {
            wallet,
            coldkey,
            hotkey: _,
            coldkeypub,
            mnemonic,
            uri,
            no_password,
            overwrite,
        } => {
            let w = wallet.wallet();
            if let Some(address) = coldkeypub {
                let account = AccountId::from_ss58(address.trim())?;
                w.set_coldkeypub(&account, overwrite)?;
                writeln!(
                    term.out,
                    "wrote {} for {account}",
                    w.coldkeypub_path().display()
                )?;
                return Ok(());
            }
            let keypair = match uri {
                Some(uri) => Keypair::from_uri(&uri)?,
                None => Keypair::from_mnemonic(&term.mnemonic(mnemonic)?)?,
            };
            if coldkey {
                let password = if no_password {
                    None
                } else {
                    Some(term.new_password(wallet.password())?)
                };
                w.set_coldkey(&keypair, password.as_deref(), overwrite)?;
                let state = if password.is_some() {
                    "encrypted"
                } else {
                    "NOT encrypted"
                };
                writeln!(term.out, "coldkey {} ({state})", keypair.ss58())?;
                writeln!(term.out, "  {}", w.coldkey_path().display())?;
            } else {
                w.set_hotkey(&keypair, None, overwrite)?;
                writeln!(term.out, "hotkey {} {}", w.hotkey_name(), keypair.ss58())?;
                writeln!(term.out, "  {}", w.hotkey_path().display())?;
            }
            Ok(())
        }
        WalletCommand::Show { wallet, json } => show(&wallet.wallet(), json, term),
    }
}

fn create(
    args: &WalletArgs,
    no_password: bool,
    words: usize,
    overwrite: bool,
    print_mnemonic: bool,
    hotkey_only: bool,
    term: &mut Terminal<'_>,
) -> Result<()> {
    let w = args.wallet();
    let show_mnemonic = print_mnemonic || term.stdout_is_tty;
    let mut mnemonics = Vec::new();
    if hotkey_only {
        let (hotkey, mnemonic) = w.create_new_hotkey(words, None, overwrite)?;
        writeln!(
            term.out,
            "created hotkey {} of wallet {}",
            w.hotkey_name(),
            w.name()
        )?;
        writeln!(
            term.out,
            "  hotkey   {}  {}",
            hotkey.ss58(),
            w.hotkey_path().display()
        )?;
        mnemonics.push(("hotkey", mnemonic));
    } else {
        let password = if no_password {
            None
        } else {
            Some(term.new_password(args.password())?)
        };
        let created = w.create(words, password.as_deref(), overwrite)?;
        let state = if password.is_some() {
            "encrypted"
        } else {
            "NOT encrypted"
        };
        writeln!(
            term.out,
            "created wallet {} in {}",
            w.name(),
            w.wallet_dir().display()
        )?;
        writeln!(term.out, "  coldkey  {}  ({state})", created.coldkey.ss58())?;
        writeln!(
            term.out,
            "  hotkey   {}  {}",
            created.hotkey.ss58(),
            w.hotkey_name()
        )?;
        mnemonics.push(("coldkey", created.coldkey_mnemonic));
        mnemonics.push(("hotkey", created.hotkey_mnemonic));
    }
    if show_mnemonic {
        writeln!(
            term.out,
            "\nIMPORTANT: write these mnemonics down and keep them offline. Anyone who has one \
             controls its key, and without it a lost keyfile cannot be recovered. They are \
             shown only this once."
        )?;
        for (which, m) in &mnemonics {
            writeln!(term.out, "  {which} mnemonic: {}", m.phrase())?;
        }
    } else {
        // stderr, so scripts see it; it names no secret.
        eprintln!(
            "note: the mnemonics were not shown because stdout is not a terminal; the keyfiles are \
             the only copy. Back them up, or recreate with --overwrite --print-mnemonic."
        );
    }
    Ok(())
}

/// One keyfile's state for `show`.
fn describe(encryption: Result<Encryption, WalletError>) -> String {
    match encryption {
        Ok(Encryption::None) => "plain".to_owned(),
        Ok(e) => format!("{}-encrypted", e.name()),
        Err(WalletError::NotFound { .. }) => "missing".to_owned(),
        Err(e) => format!("unreadable: {e}"),
    }
}

fn show(w: &Wallet, json: bool, term: &mut Terminal<'_>) -> Result<()> {
    let coldkeypub = w.load_coldkeypub();
    let coldkey_state = describe(w.coldkey_encryption());
    let mut names = w.hotkey_names()?;
    if !names.iter().any(|n| n == w.hotkey_name()) {
        names.insert(0, w.hotkey_name().to_owned());
    }
    let hotkeys: Vec<_> = names
        .iter()
        .map(|name| {
            let h = Wallet::new(w.name(), name, w.path());
            (
                name.as_str(),
                h.hotkey_account(),
                describe(h.hotkey_encryption()),
            )
        })
        .collect();

    if json {
        let value = serde_json::json!({
            "name": w.name(),
            "path": w.wallet_dir(),
            "coldkeypub": coldkeypub.as_ref().ok().map(AccountId::to_ss58),
            "coldkey": coldkey_state,
            "hotkeys": hotkeys.iter().map(|(name, account, state)| serde_json::json!({
                "name": name,
                "selected": *name == w.hotkey_name(),
                "ss58": account.as_ref().ok().map(AccountId::to_ss58),
                "hotkey": state,
            })).collect::<Vec<_>>(),
        });
        writeln!(term.out, "{value}")?;
        return Ok(());
    }

    writeln!(
        term.out,
        "wallet   {}  ({})",
        w.name(),
        w.wallet_dir().display()
    )?;
    let cold = match &coldkeypub {
        Ok(id) => id.to_ss58(),
        Err(WalletError::NotFound { .. }) => "(no coldkeypub.txt)".to_owned(),
        Err(e) => format!("({e})"),
    };
    writeln!(term.out, "coldkey  {cold}  coldkey file: {coldkey_state}")?;
    writeln!(term.out, "hotkeys")?;
    for (name, account, state) in &hotkeys {
        let marker = if *name == w.hotkey_name() { '*' } else { ' ' };
        let ss58 = match account {
            Ok(id) => id.to_ss58(),
            Err(WalletError::NotFound { .. }) => "(missing)".to_owned(),
            Err(e) => format!("({e})"),
        };
        writeln!(term.out, "{marker} {name}  {ss58}  {state}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::path::{Path, PathBuf};

    #[derive(Debug, Parser)]
    struct TestCli {
        #[command(subcommand)]
        command: TestCommand,
    }

    #[derive(Debug, clap::Subcommand)]
    enum TestCommand {
        Wallet(WalletCli),
    }

    /// A unique directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            let dir = std::env::temp_dir().join(format!(
                "audiosubnet-wallet-cmd-{tag}-{}-{nanos}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn parse(args: &[&str]) -> WalletCommand {
        let cli =
            TestCli::try_parse_from(std::iter::once("audiosubnet").chain(args.iter().copied()))
                .unwrap_or_else(|e| panic!("{e}"));
        let TestCommand::Wallet(w) = cli.command;
        w.into()
    }

    /// Runs a command non-interactively with stdout not a terminal; returns stdout.
    fn exec(args: &[&str], stdin: &str) -> Result<String> {
        let mut out = Vec::new();
        let mut input = stdin.as_bytes();
        let mut term = Terminal {
            out: &mut out,
            stdout_is_tty: false,
            interactive: false,
            stdin: &mut input,
        };
        execute(parse(args), &mut term)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn wallet_args_defaults_and_debug_redacts() {
        let WalletCommand::Show { wallet, .. } = parse(&["wallet", "show"]) else {
            panic!("not show")
        };
        assert_eq!(wallet.name(), "default");
        assert_eq!(wallet.wallet().hotkey_name(), "default");
        let cmd = parse(&[
            "wallet",
            "show",
            "--wallet.name",
            "w",
            "--wallet.password",
            "hunter2",
        ]);
        let shown = format!("{cmd:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn regen_create_show_without_secrets_in_output() {
        let dir = TempDir::new("flow");
        let root = dir.path().to_str().unwrap();
        let base = [
            "--wallet.name",
            "w",
            "--wallet.hotkey",
            "h",
            "--wallet.path",
            root,
        ];
        let with = |extra: &[&'static str]| -> Vec<&str> {
            let mut v = vec!["wallet"];
            v.extend_from_slice(extra);
            v.extend_from_slice(&base);
            v
        };

        let out = exec(&with(&["regen", "--hotkey", "--uri", "//Alice"]), "").unwrap();
        assert!(
            out.contains("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"),
            "{out}"
        );
        // A second regen is refused without --overwrite.
        let err = exec(&with(&["regen", "--hotkey", "--uri", "//Bob"]), "").unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");

        // Coldkey from a mnemonic on stdin, unencrypted.
        let phrase = audiosubnet_wallet::DEV_PHRASE;
        let out = exec(
            &with(&["regen", "--coldkey", "--no-password"]),
            &format!("  {phrase}\n"),
        )
        .unwrap();
        assert!(
            out.contains("5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV"),
            "{out}"
        );
        assert!(!out.contains("bottom"), "regen output leaks the mnemonic");
        // Without a password source and not interactive, an encrypted regen fails clearly.
        let err = exec(&with(&["regen", "--coldkey", "--overwrite"]), phrase).unwrap_err();
        assert!(err.to_string().contains(PASSWORD_ENV), "{err}");

        let out = exec(&with(&["show"]), "").unwrap();
        assert!(
            out.contains("5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV"),
            "{out}"
        );
        assert!(
            out.contains("* h  5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY  plain"),
            "{out}"
        );
        assert!(!out.contains("bottom"), "{out}");
        let json: serde_json::Value =
            serde_json::from_str(exec(&with(&["show", "--json"]), "").unwrap().trim()).unwrap();
        assert_eq!(json["coldkey"], "plain");
        assert_eq!(json["hotkeys"][0]["selected"], true);

        // A new hotkey under the existing coldkey; the mnemonic is not shown off a terminal.
        let args = [
            "wallet",
            "create",
            "--hotkey-only",
            "--wallet.name",
            "w",
            "--wallet.hotkey",
            "second",
            "--wallet.path",
            root,
        ];
        let out = exec(&args, "").unwrap();
        assert!(!out.contains("mnemonic:"), "{out}");
        let json: serde_json::Value =
            serde_json::from_str(exec(&with(&["show", "--json"]), "").unwrap().trim()).unwrap();
        assert_eq!(json["hotkeys"].as_array().unwrap().len(), 2, "{json}");

        // Coldkeypub only, from an address.
        let other = TempDir::new("pub");
        let p = other.path().to_str().unwrap();
        let bob = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
        exec(
            &["wallet", "regen", "--coldkeypub", bob, "--wallet.path", p],
            "",
        )
        .unwrap();
        let out = exec(&["wallet", "show", "--wallet.path", p], "").unwrap();
        assert!(
            out.contains(bob) && out.contains("coldkey file: missing"),
            "{out}"
        );
    }

    #[test]
    fn create_prints_mnemonics_only_when_asked() {
        let dir = TempDir::new("create");
        let root = dir.path().to_str().unwrap();
        let args = [
            "wallet",
            "create",
            "--no-password",
            "--print-mnemonic",
            "--wallet.path",
            root,
        ];
        let out = exec(&args, "").unwrap();
        // Check the shown coldkey mnemonic regenerates the shown address, without printing it.
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with("coldkey mnemonic:"))
            .unwrap();
        let phrase = line.split_once(':').unwrap().1.trim();
        let shown = Keypair::from_mnemonic(phrase).unwrap().ss58();
        assert!(out.contains(&format!("coldkey  {shown}")));
        assert!(
            exec(&args, "").is_err(),
            "create must not overwrite silently"
        );
    }

    #[test]
    fn rejects_bad_word_counts_and_missing_target() {
        let err = TestCli::try_parse_from(["audiosubnet", "wallet", "create", "--words", "13"]);
        assert!(err.is_err());
        assert!(
            TestCli::try_parse_from(["audiosubnet", "wallet", "regen", "--uri", "//Alice"])
                .is_err()
        );
        assert!(
            TestCli::try_parse_from(["audiosubnet", "wallet", "regen", "--coldkey", "--hotkey"])
                .is_err()
        );
    }
}

//! Every flag of the seed's miner and validator tables, and its example command lines, is
//! accepted by `audiosubnet miner` and `audiosubnet validator` with the seed's value forms, so
//! an operator's existing command lines keep working. The real binary runs each full command
//! line and must get past argument parsing (it stops at the missing wallet).

mod accepts;

use std::path::{Path, PathBuf};

/// `python3 neurons/miner.py …` of the seed with its placeholders filled, plus every other flag
/// of the seed's miner table with its default or an example value.
fn miner_line(dir: &Path) -> Vec<String> {
    let dir = dir.display().to_string();
    [
        "miner",
        // The seed's example command line.
        "--netuid",
        "1",
        "--wallet.name",
        "miner",
        "--wallet.hotkey",
        "default",
        "--logging.debug",
        "--model",
        "microsoft/speecht5_tts",
        // The rest of its table.
        "--custom",
        "my_custom_value",
        "--subtensor.chain_endpoint",
        "ws://127.0.0.1:9944",
        "--subtensor.network",
        "local",
        "--logging.trace",
        "--logging.logging_dir",
        &format!("{dir}/logs"),
        "--wallet.path",
        &format!("{dir}/wallets"),
        "--axon.port",
        "8091",
    ]
    .map(String::from)
    .to_vec()
}

/// `python3 neurons/validator.py …` of the seed, plus the rest of its validator table.
fn validator_line(dir: &Path) -> Vec<String> {
    let dir = dir.display().to_string();
    [
        "validator",
        // The seed's example command line (a made-up key: nothing is fetched before the wallet).
        "--netuid",
        "1",
        "--wallet.name",
        "validator",
        "--wallet.hotkey",
        "default",
        "--logging.debug",
        "--hub_key",
        "hf_placeholder_not_a_key",
        // The rest of its table.
        "--alpha",
        "0.9",
        "--custom",
        "my_custom_value",
        "--threshold",
        "0.68",
        "--subtensor.chain_endpoint",
        "ws://127.0.0.1:9944",
        "--subtensor.network",
        "local",
        "--logging.trace",
        "--logging.logging_dir",
        &format!("{dir}/logs"),
        "--wallet.path",
        &format!("{dir}/wallets"),
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn seed_miner_command_line_is_accepted() {
    let home = tempfile::tempdir().expect("tempdir");
    let out = accepts::assert_accepted(&miner_line(home.path()), home.path());
    // --custom reached the command (and was set aside), not just the parser.
    assert!(
        out.stderr
            .contains("--custom is accepted for compatibility and ignored"),
        "{}",
        out.stderr
    );
}

#[test]
fn seed_validator_command_line_is_accepted() {
    let home = tempfile::tempdir().expect("tempdir");
    let out = accepts::assert_accepted(&validator_line(home.path()), home.path());
    assert!(
        out.stderr
            .contains("--custom is accepted for compatibility and ignored"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("hf_placeholder_not_a_key"),
        "the hub key was printed:\n{}",
        out.stderr
    );
}

#[test]
fn custom_takes_a_value_in_both_forms() {
    let home = tempfile::tempdir().expect("tempdir");
    let wallets = home.path().join("wallets").display().to_string();
    for command in ["miner", "validator"] {
        for custom in [&["--custom", "x"][..], &["--custom=x"][..]] {
            let mut line = vec![command.to_string(), "--wallet.path".into(), wallets.clone()];
            line.extend(custom.iter().map(|s| s.to_string()));
            accepts::assert_accepted(&line, home.path());
        }
        // It takes a value, as the original's did: a bare flag is a usage error.
        let bare = [command, "--wallet.path", &wallets, "--custom"].map(String::from);
        let out = accepts::run(&bare, home.path());
        assert_eq!(out.code, Some(2), "bare --custom accepted:\n{}", out.stderr);
    }
}

/// The shared directory with the seed (`$AUDIOSUBNET_SHARED`, else beside the repository).
fn seed_file() -> PathBuf {
    std::env::var_os("AUDIOSUBNET_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("mission/seed-audio-subnet.md")
}

/// `--flag` words of `text`.
fn seed_flags(text: &str) -> Vec<String> {
    let mut flags = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("--") {
        let after = &rest[i + 2..];
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(after.len());
        // Markdown table rules (`|----|`) are dashes, not flags.
        if after.starts_with(|c: char| c.is_ascii_alphabetic()) {
            flags.push(format!("--{}", &after[..len]));
        }
        rest = &after[len..];
    }
    flags.sort();
    flags.dedup();
    flags
}

/// The lines above cover the seed as it is written, tables and example commands alike.
#[test]
fn lines_cover_every_flag_of_the_seed() {
    let path = seed_file();
    let Ok(seed) = std::fs::read_to_string(&path) else {
        eprintln!(
            "skipped: no seed at {} (set AUDIOSUBNET_SHARED); the command lines above still run",
            path.display()
        );
        return;
    };
    let mining = seed.find("## Mining").expect("the seed's Mining section");
    let validating = seed
        .find("## Validating")
        .expect("the seed's Validating section");
    assert!(mining < validating, "sections in the seed's order");
    let dir = Path::new("/tmp");
    for (role, section, line) in [
        ("miner", &seed[mining..validating], miner_line(dir)),
        ("validator", &seed[validating..], validator_line(dir)),
    ] {
        let ours = accepts::flags(&line);
        let theirs = seed_flags(section);
        assert!(
            theirs.len() >= 10,
            "{role}: too few flags found: {theirs:?}"
        );
        let missing: Vec<&String> = theirs
            .iter()
            .filter(|f| !ours.contains(&f.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "{role}: the seed's {missing:?} are not in the tested command line"
        );
    }
}

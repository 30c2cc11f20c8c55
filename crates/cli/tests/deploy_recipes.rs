//! The service recipes under `deploy/`: the systemd units pass `systemd-analyze verify` with
//! their `ExecStart` pointed at the built binary, the command lines they and the pm2 ecosystem
//! file produce (with the example settings) are accepted by the binary, no secret travels on a
//! command line, and the stop timeouts cover the miner's drain.

mod accepts;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const INSTALLED_BIN: &str = "/usr/local/bin/audiosubnet";

/// Flags whose value is a secret: recipes pass these through the environment only.
const SECRET_FLAGS: &[&str] = &["--wallet.password", "--openai.api_key", "--hub_key"];

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Whether `program` runs at all (`--version`).
fn available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// (unit, its example environment file).
const UNITS: &[(&str, &str)] = &[
    ("audiosubnet-miner.service", "miner.env.example"),
    ("audiosubnet-validator.service", "validator.env.example"),
];

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    if !available("systemd-analyze") {
        eprintln!("skipped: systemd-analyze is not installed (Debian: apt-get install systemd)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for (unit, _) in UNITS {
        let text = read(&deploy_dir().join("systemd").join(unit));
        assert!(text.contains(INSTALLED_BIN), "{unit} runs {INSTALLED_BIN}");
        // verify checks that ExecStart's program exists and is executable.
        let copy = dir.path().join(unit);
        std::fs::write(&copy, text.replace(INSTALLED_BIN, accepts::bin()))
            .expect("writing the unit copy");
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&copy)
            .output()
            .expect("systemd-analyze runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{unit}: {stderr}");
        // Unknown keys and bad values are only warnings to verify: they name the unit.
        let about_unit: Vec<&str> = stderr.lines().filter(|l| l.contains(unit)).collect();
        assert!(about_unit.is_empty(), "{unit}: {about_unit:#?}");
    }
}

/// `KEY=value` lines of a systemd environment file; `commented` takes `#   KEY=value` example
/// lines instead (the suggestions in the comments).
fn env_file(text: &str, commented: bool) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = if commented {
                l.strip_prefix('#')?.trim()
            } else if l.starts_with('#') {
                return None;
            } else {
                l
            };
            let (k, v) = l.split_once('=')?;
            let is_key = !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            is_key.then(|| (k.to_string(), v.trim().to_string()))
        })
        .collect()
}

/// The value of `key=` in a unit (the last one, as systemd takes it), continuation lines joined.
fn unit_value(unit: &str, key: &str) -> Option<String> {
    let joined = unit.replace("\\\n", " ");
    joined
        .lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .next_back()
}

/// ExecStart as systemd runs it: `%S` is `state`, `${VAR}` one argument, `$VAR` the value
/// split at whitespace. Panics on a variable `env` does not set.
fn expand_exec(exec: &str, env: &BTreeMap<String, String>, state: &Path) -> Vec<String> {
    let state = state.display().to_string();
    let mut argv = Vec::new();
    for word in exec.split_whitespace() {
        let word = word.replace("%S", &state);
        if let Some(name) = word.strip_prefix("${").and_then(|w| w.strip_suffix('}')) {
            let value = env
                .get(name)
                .unwrap_or_else(|| panic!("${{{name}}} is not set"));
            assert!(!value.is_empty(), "${{{name}}} is empty: an empty argument");
            argv.push(value.clone());
        } else if let Some(name) = word.strip_prefix('$') {
            let value = env
                .get(name)
                .unwrap_or_else(|| panic!("${name} is not set"));
            argv.extend(value.split_whitespace().map(String::from));
        } else {
            assert!(!word.contains('$'), "unexpanded variable in {word}");
            argv.push(word);
        }
    }
    argv
}

fn assert_no_secret_flags(what: &str, args: &[String]) {
    for flag in accepts::flags(args) {
        assert!(
            !SECRET_FLAGS.contains(&flag),
            "{what} passes {flag} on the command line, where `ps` shows it"
        );
    }
}

#[test]
fn systemd_command_lines_are_accepted() {
    for (unit, env_name) in UNITS {
        let text = read(&deploy_dir().join("systemd").join(unit));
        let env_text = read(&deploy_dir().join("systemd").join(env_name));
        let exec = unit_value(&text, "ExecStart").expect("ExecStart");
        let extra_var = if unit.contains("miner") {
            "MINER_ARGS"
        } else {
            "VALIDATOR_ARGS"
        };
        let settings: BTreeMap<String, String> = env_file(&env_text, false).into_iter().collect();
        // The example settings, then each `#   VAR_ARGS=…` suggestion in its comments.
        let mut variants = vec![settings.clone()];
        for (k, v) in env_file(&env_text, true) {
            if k == extra_var {
                let mut env = settings.clone();
                env.insert(k, v);
                variants.push(env);
            }
        }
        assert!(variants.len() >= 2, "{env_name} suggests {extra_var}");
        for env in variants {
            let home = tempfile::tempdir().expect("tempdir");
            let argv = expand_exec(&exec, &env, &home.path().join("state"));
            assert_eq!(argv[0], INSTALLED_BIN, "{unit}");
            assert_no_secret_flags(unit, &argv[1..]);
            accepts::assert_accepted(&argv[1..], home.path());
        }
    }
}

/// The apps of the pm2 file as node reads it, with `env` as the environment of `pm2 start`.
fn pm2_apps(env: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let file = deploy_dir().join("pm2/ecosystem.config.js");
    let out = Command::new("node")
        .arg("-e")
        .arg("process.stdout.write(JSON.stringify(require(process.argv[1]).apps))")
        .arg(&file)
        .envs(env.iter().copied())
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "node cannot load {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the apps as JSON")
}

/// Keys pm2's ecosystem schema knows (its lib/API/schema.json) that the file may use; an
/// unknown key is silently ignored by pm2, so a typo would go unnoticed.
const PM2_KEYS: &[&str] = &[
    "name",
    "script",
    "args",
    "interpreter",
    "exec_mode",
    "instances",
    "autorestart",
    "exp_backoff_restart_delay",
    "restart_delay",
    "max_restarts",
    "min_uptime",
    "kill_timeout",
    "time",
    "merge_logs",
    "cwd",
    "env",
    "max_memory_restart",
];

#[test]
fn pm2_ecosystem_loads_and_its_command_lines_are_accepted() {
    if !available("node") {
        eprintln!("skipped: node is not installed (pm2 needs it anyway)");
        return;
    }
    let home = tempfile::tempdir().expect("tempdir");
    let home_str = home.path().display().to_string();
    // pm2 users keep wallets in ~/.bittensor/wallets: HOME points at an empty one.
    let apps = pm2_apps(&[
        ("HOME", &home_str),
        ("AUDIOSUBNET_BIN", accepts::bin()),
        ("EXTERNAL_IP", "203.0.113.10"),
        ("MINER_ARGS", "--miner.workers 2  --logging.debug"),
        ("VALIDATOR_ARGS", "--neuron.sample_size 8"),
    ]);
    let names: Vec<&str> = apps.iter().filter_map(|a| a["name"].as_str()).collect();
    assert_eq!(names, ["audiosubnet-miner", "audiosubnet-validator"]);
    for app in &apps {
        let name = app["name"].as_str().unwrap_or_default();
        let keys = app.as_object().expect("an app is an object");
        for key in keys.keys() {
            assert!(
                PM2_KEYS.contains(&key.as_str()),
                "{name}: unknown pm2 key {key}"
            );
        }
        assert_eq!(app["script"], accepts::bin(), "{name}: AUDIOSUBNET_BIN");
        assert_eq!(
            app["interpreter"], "none",
            "{name}: pm2 runs the binary itself"
        );
        let args: Vec<String> = app["args"]
            .as_array()
            .expect("args is a list")
            .iter()
            .map(|a| a.as_str().expect("each arg a string").to_string())
            .collect();
        assert_no_secret_flags(name, &args);
        let flags = accepts::flags(&args);
        if name == "audiosubnet-miner" {
            assert!(flags.contains(&"--axon.external_ip"), "{args:?}");
            assert!(flags.contains(&"--miner.workers"), "MINER_ARGS: {args:?}");
        } else {
            assert!(
                flags.contains(&"--neuron.sample_size"),
                "VALIDATOR_ARGS: {args:?}"
            );
        }
        accepts::assert_accepted(&args, home.path());
    }
    // Without EXTERNAL_IP the flag is left out (the miner then says what is missing) rather
    // than passed empty.
    let apps = pm2_apps(&[("AUDIOSUBNET_BIN", accepts::bin())]);
    let miner_args = apps[0]["args"].as_array().expect("args");
    assert!(!miner_args.iter().any(|a| a == "--axon.external_ip"));
}

/// Seconds of a systemd time span such as `150s`, `2min` or `90`.
fn systemd_secs(span: &str) -> u64 {
    let span = span.trim();
    let (n, unit) = span.split_at(
        span.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(span.len()),
    );
    let n: u64 = n.parse().unwrap_or_else(|_| panic!("time span {span}"));
    match unit {
        "" | "s" | "sec" => n,
        "min" | "m" => n * 60,
        other => panic!("unit {other} in {span}"),
    }
}

/// The default of `--FLAG` in `audiosubnet COMMAND --help`, in seconds.
fn help_default_secs(command: &str, flag: &str) -> Option<f64> {
    let out = Command::new(accepts::bin())
        .args([command, "--help"])
        .output()
        .expect("--help runs");
    let help = String::from_utf8_lossy(&out.stdout);
    let after = &help[help.find(flag)?..];
    let default = after.split("[default: ").nth(1)?;
    default.split(']').next()?.trim().parse().ok()
}

#[test]
fn stop_timeouts_cover_the_drain() {
    // The miner drains accepted requests for --axon.drain_timeout. The validator abandons its
    // round and saves its state at once, but a weights call may be in flight: allow it a
    // miner's --neuron.timeout. Each service manager must wait longer before SIGKILL.
    let miner_drain = help_default_secs("miner", "--axon.drain_timeout").unwrap_or(30.0);
    let round = help_default_secs("validator", "--neuron.timeout").expect("--neuron.timeout");
    let apps = if available("node") {
        pm2_apps(&[("AUDIOSUBNET_BIN", accepts::bin())])
    } else {
        Vec::new()
    };
    for (unit, needed) in [
        ("audiosubnet-miner.service", miner_drain),
        ("audiosubnet-validator.service", round),
    ] {
        let text = read(&deploy_dir().join("systemd").join(unit));
        assert_eq!(unit_value(&text, "KillSignal").as_deref(), Some("SIGTERM"));
        let stop = systemd_secs(&unit_value(&text, "TimeoutStopSec").expect("TimeoutStopSec"));
        assert!(
            stop as f64 > needed + 10.0,
            "{unit}: TimeoutStopSec {stop}s"
        );
        let name = unit.trim_end_matches(".service");
        if let Some(app) = apps.iter().find(|a| a["name"] == name) {
            let kill_ms = app["kill_timeout"].as_f64().expect("kill_timeout");
            assert!(
                kill_ms / 1000.0 > needed + 10.0,
                "{name}: kill_timeout {kill_ms} ms"
            );
        }
    }
}

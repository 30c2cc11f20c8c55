//! The `--json` output scripts read (`scripts/demo`): `localnet up|status|down --json` and
//! `metagraph --json [--scores FILE]`, in the shapes docs/development.md documents.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use audiosubnet_localnet::{LocalnetConfig, free_port};
use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_audiosubnet")
}

/// Runs the binary with `AUDIOSUBNET_CACHE=cache` (the local chain's state lives under it).
fn run(cache: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .env("AUDIOSUBNET_CACHE", cache)
        .args(args)
        .output()
        .expect("audiosubnet runs")
}

/// The command's stdout as JSON; panics (with stderr) when it failed or printed anything else.
fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

const STATE_KEYS: [&str; 12] = [
    "chopsticks_pid",
    "endpoint",
    "hotkey",
    "log_file",
    "miner_wallets",
    "netuid",
    "port",
    "running",
    "started",
    "ticker_pid",
    "validator_wallet",
    "wallets_dir",
];

#[test]
fn localnet_json_without_a_chain() {
    let cache = tempfile::tempdir().expect("tempdir");
    // Nothing recorded: `null`, and `down` stopped nothing.
    assert_eq!(
        json_of(&run(cache.path(), &["localnet", "status", "--json"])),
        Value::Null
    );
    assert_eq!(
        json_of(&run(cache.path(), &["localnet", "--json", "down"])),
        serde_json::json!({"stopped": false})
    );

    // A recorded chain whose process is gone (the PID is this test's, not a chopsticks).
    let dir = cache.path().join("localnet");
    std::fs::create_dir_all(&dir).expect("state dir");
    let state = serde_json::json!({
        "chopsticks_pid": std::process::id(),
        "ticker_pid": null,
        "port": 9,
        "endpoint": "ws://127.0.0.1:9",
        "netuid": 2,
        "wallets_dir": dir.join("wallets"),
        "validator_wallet": "validator",
        "miner_wallets": ["miner0", "miner1"],
        "log_file": dir.join("chopsticks.log"),
    });
    std::fs::write(dir.join("state.json"), state.to_string()).expect("state file");
    let status = json_of(&run(cache.path(), &["localnet", "status", "--json"]));
    assert_eq!(keys(&status), STATE_KEYS);
    assert_eq!(status["running"], false);
    assert_eq!(status["started"], false);
    assert_eq!(status["endpoint"], "ws://127.0.0.1:9");
    assert_eq!(status["port"], 9);
    assert_eq!(status["netuid"], 2);
    assert_eq!(status["ticker_pid"], Value::Null);
    assert_eq!(status["hotkey"], "default");
    assert_eq!(status["validator_wallet"], "validator");
    assert_eq!(
        status["miner_wallets"],
        serde_json::json!(["miner0", "miner1"])
    );
    assert_eq!(
        status["wallets_dir"].as_str().map(Path::new),
        Some(dir.join("wallets").as_path())
    );
    // `down` forgets it; it was not running.
    assert_eq!(
        json_of(&run(cache.path(), &["localnet", "down", "--json"])),
        serde_json::json!({"stopped": false})
    );
    assert!(!dir.join("state.json").exists());
}

/// Stops the chain (by the PIDs in its state file) even when an assertion fails.
struct Down(LocalnetConfig);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = audiosubnet_localnet::down(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local chain (chopsticks); run scripts/test"]
async fn localnet_and_metagraph_json_on_the_local_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = LocalnetConfig {
        state_dir: dir.path().join("localnet"),
        port: free_port().expect("free port"),
        miners: 2,
        block_interval: Duration::from_secs(1),
        ..LocalnetConfig::default()
    };
    let _down = Down(cfg.clone());
    audiosubnet_localnet::up(&cfg).await.expect("localnet up");

    // `localnet up --json` finds the running chain (state under $AUDIOSUBNET_CACHE/localnet).
    let port = cfg.port.to_string();
    let up = json_of(&run(
        dir.path(),
        &["localnet", "up", "--json", "--miners", "2", "--port", &port],
    ));
    assert_eq!(keys(&up), STATE_KEYS);
    assert_eq!(up["running"], true);
    assert_eq!(up["started"], false);
    assert_eq!(up["endpoint"], cfg.endpoint().as_str());
    assert_eq!(up["miner_wallets"], serde_json::json!(["miner0", "miner1"]));
    let netuid = up["netuid"].as_u64().expect("netuid").to_string();
    let status = json_of(&run(dir.path(), &["localnet", "status", "--json"]));
    assert_eq!(status, up);

    // The metagraph: the validator and both miners (besides the subnet owner's neuron), their
    // hotkeys as the wallets say.
    let hotkey = |name: &str| {
        audiosubnet_wallet::Wallet::new(name, "default", cfg.wallets_dir())
            .load_hotkey(None)
            .expect("hotkey")
            .account_id()
            .to_ss58()
    };
    let scores = dir.path().join("scores.json");
    let miner0 = hotkey("miner0");
    std::fs::write(
        &scores,
        serde_json::json!([
            {"hotkey": miner0, "uid": null, "ema": 0.5, "last_reward": 0.5,
             "last_breakdown": null, "responses": 2, "failures": 0, "mean_reward": 0.5,
             "mean_wer": 0.0, "mean_mos": 3.0, "model_name": "espeak"},
        ])
        .to_string(),
    )
    .expect("scores file");
    let endpoint = cfg.endpoint();
    let mg = json_of(&run(
        dir.path(),
        &[
            "metagraph",
            "--json",
            "--netuid",
            &netuid,
            "--subtensor.chain_endpoint",
            &endpoint,
            "--scores",
            scores.to_str().expect("utf-8 path"),
        ],
    ));
    assert_eq!(
        keys(&mg),
        [
            "block",
            "hyperparameters",
            "leaderboard",
            "netuid",
            "neurons"
        ]
    );
    assert_eq!(mg["netuid"].as_u64().map(|n| n.to_string()), Some(netuid));
    assert_eq!(mg["hyperparameters"]["tempo"], cfg.tempo);
    let neurons = mg["neurons"].as_array().expect("neurons");
    let hotkeys: Vec<&str> = neurons
        .iter()
        .map(|n| n["hotkey"].as_str().expect("hotkey"))
        .collect();
    for wallet in ["validator", "miner0", "miner1"] {
        assert!(
            hotkeys.contains(&hotkey(wallet).as_str()),
            "{wallet} not in {hotkeys:?}"
        );
    }
    for n in neurons {
        assert_eq!(
            keys(n),
            [
                "active",
                "axon",
                "coldkey",
                "consensus",
                "dividends",
                "emission_rao",
                "hotkey",
                "incentive",
                "last_update",
                "rank",
                "stake_rao",
                "trust",
                "uid",
                "validator_permit",
                "validator_trust",
            ]
        );
        // Nobody serves yet.
        assert_eq!(n["axon"], Value::Null);
    }
    let leaderboard = mg["leaderboard"].as_array().expect("leaderboard");
    assert_eq!(leaderboard.len(), 1);
    let uid = neurons
        .iter()
        .find(|n| n["hotkey"] == miner0.as_str())
        .map(|n| n["uid"].clone());
    assert_eq!(Some(leaderboard[0]["uid"].clone()), uid);
    assert_eq!(leaderboard[0]["engine"], "espeak");
    assert!(leaderboard[0]["incentive"].is_number());
}

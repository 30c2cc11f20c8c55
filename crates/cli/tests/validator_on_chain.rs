//! The on-chain path end to end, as processes against the real runtime (chopsticks, spec 300):
//! a bootstrapped subnet with two pairs of miners serving on chain, each pair an espeak-ng miner
//! and a silent one, one pair serving only SDK 11 `btauth/1` (`--axon.transports btauth`) and
//! the other only the Synapse protocol; `audiosubnet validator` (`--neuron.transport auto`)
//! finds them in the metagraph, reaches each over the transport it serves, scores them and sets
//! weights; after the next epoch the chain's incentive ranks each honest miner above the silent
//! ones, whichever transport it speaks.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use audiosubnet_chain::{Metagraph, Subtensor};
use audiosubnet_localnet::{LocalnetConfig, free_port};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_audiosubnet")
}

/// Kills the child when dropped, so a failing test leaves no process behind.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Stops the chain (by the PIDs in its state file) even when an assertion fails.
struct Down(LocalnetConfig);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = audiosubnet_localnet::down(&self.0);
    }
}

fn chain_args(endpoint: &str, netuid: u16, wallets: &Path) -> Vec<String> {
    vec![
        "--subtensor.chain_endpoint".into(),
        endpoint.into(),
        "--netuid".into(),
        netuid.to_string(),
        "--wallet.path".into(),
        wallets.display().to_string(),
    ]
}

fn start_miner(
    chain: &[String],
    wallet: &str,
    model: &str,
    transports: &str,
    ip: &str,
    log: &Path,
) -> Guard {
    let port = free_port().expect("free port").to_string();
    let log = std::fs::File::create(log).expect("miner log");
    Guard(
        Command::new(bin())
            .arg("miner")
            .args(chain)
            .args(["--wallet.name", wallet, "--model", model])
            .args(["--axon.transports", transports])
            .args([
                "--axon.ip",
                ip,
                "--axon.external_ip",
                ip,
                "--axon.port",
                &port,
            ])
            .args(["--neuron.sync_interval", "2"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("miner starts"),
    )
}

/// Polls the metagraph until `ok` holds; panics after `secs`.
async fn wait_metagraph(
    st: &Subtensor,
    netuid: u16,
    secs: u64,
    what: &str,
    ok: impl Fn(&Metagraph) -> bool,
) -> Metagraph {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(mg) = st.metagraph(netuid).await
            && ok(&mg)
        {
            return mg;
        }
        assert!(Instant::now() < deadline, "no {what} within {secs} s");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local chain, espeak-ng and the scoring models; run scripts/test"]
async fn validator_scores_miners_from_the_metagraph_and_the_chain_rewards_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = LocalnetConfig {
        state_dir: dir.path().join("localnet"),
        port: free_port().expect("free port"),
        miners: 4,
        block_interval: Duration::from_secs(1),
        ..LocalnetConfig::default()
    };
    let _down = Down(cfg.clone());
    let (state, _) = audiosubnet_localnet::up(&cfg).await.expect("localnet up");
    let netuid = state.netuid.expect("netuid");
    let chain = chain_args(&state.endpoint, netuid, &state.wallets_dir);
    let st = Subtensor::connect(&state.endpoint).await.expect("connect");

    let logs = dir.path();
    // (wallet, engine, transports, ip)
    let miners = [
        ("miner0", "espeak", "btauth", "127.0.0.2"),
        ("miner1", "silence", "btauth", "127.0.0.3"),
        ("miner2", "espeak", "synapse", "127.0.0.4"),
        ("miner3", "silence", "synapse", "127.0.0.5"),
    ];
    let _miners: Vec<Guard> = miners
        .iter()
        .map(|(wallet, model, transports, ip)| {
            start_miner(
                &chain,
                wallet,
                model,
                transports,
                ip,
                &logs.join(format!("{wallet}.log")),
            )
        })
        .collect();
    // Every axon on chain, and the validator's permit (handed out at an epoch).
    let mg = wait_metagraph(&st, netuid, 240, "served axons and a permit", |mg| {
        mg.neurons.iter().filter(|n| n.axon.port != 0).count() == miners.len()
            && mg.neurons.iter().any(|n| n.validator_permit)
    })
    .await;
    let uid_of = |name: &str| {
        let w = audiosubnet_wallet::Wallet::new(name, "default", &state.wallets_dir);
        let hot = w.load_hotkey(None).expect("hotkey").account_id().0;
        mg.neurons
            .iter()
            .find(|n| n.hotkey == hot)
            .map(|n| n.uid)
            .expect("registered")
    };
    let vali = uid_of("validator");
    let honest = [uid_of("miner0"), uid_of("miner2")];
    let silent = [uid_of("miner1"), uid_of("miner3")];
    // One miner re-sync, so all know the validator's permit and answer it.
    tokio::time::sleep(Duration::from_secs(4)).await;

    let out = Command::new(bin())
        .arg("validator")
        .args(&chain)
        .args(["--wallet.name", "validator", "--rounds", "3"])
        .args(["--neuron.transport", "auto"])
        .args(["--neuron.round_interval", "0", "--neuron.timeout", "30"])
        .arg("--neuron.allow_private_ips")
        .arg("--state.path")
        .arg(dir.path().join("state.json"))
        .arg("--scores.out")
        .arg(dir.path().join("scores.json"))
        .output()
        .expect("validator runs");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("weights set"), "{log}");

    // Each miner was reached over the transport it serves.
    let scores: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("scores.json")).expect("scores.out"))
            .expect("scores JSON");
    for (wallet, _, transport, _) in &miners {
        let w = audiosubnet_wallet::Wallet::new(wallet, "default", &state.wallets_dir);
        let hotkey = w.load_hotkey(None).expect("hotkey").ss58();
        let row = scores
            .as_array()
            .and_then(|a| a.iter().find(|r| r["hotkey"] == hotkey.as_str()))
            .unwrap_or_else(|| panic!("{wallet} not in scores.out: {scores}"));
        assert_eq!(row["transport"], *transport, "{wallet}: {row}");
    }

    // The weights on chain: each honest miner has one, the silent miners none.
    let weights = st.weights_of(netuid, vali).await.expect("weights");
    let weight = |uid: u16| weights.iter().find(|(u, _)| *u == uid).map(|(_, w)| *w);
    for uid in honest {
        assert!(weight(uid).is_some_and(|w| w > 0), "{weights:?}");
    }
    for uid in silent {
        assert_eq!(weight(uid), None, "{weights:?}");
    }

    // After the next epoch, Yuma consensus turns them into incentive.
    let mg = wait_metagraph(&st, netuid, 120, "incentive", |mg| {
        honest
            .iter()
            .all(|uid| mg.neuron(*uid).is_some_and(|n| n.incentive > 0.0))
    })
    .await;
    let incentive = |uid: u16| mg.neuron(uid).map_or(0.0, |n| n.incentive);
    eprintln!(
        "weights {weights:?}; incentive honest (btauth, synapse) {:.5} {:.5}, silent {:.5} {:.5}",
        incentive(honest[0]),
        incentive(honest[1]),
        incentive(silent[0]),
        incentive(silent[1])
    );
    for uid in silent {
        assert_eq!(incentive(uid), 0.0);
        for h in honest {
            assert!(incentive(h) > incentive(uid));
        }
    }
}

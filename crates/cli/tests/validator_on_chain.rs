//! The on-chain path end to end, as processes against the real runtime (chopsticks, spec 300):
//! a bootstrapped subnet, an espeak-ng miner and a silent miner serving on chain, and
//! `audiosubnet validator` finding them in the metagraph, scoring them and setting weights; after
//! the next epoch the chain's incentive ranks the honest miner above the silent one.

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

fn start_miner(chain: &[String], wallet: &str, model: &str, ip: &str, log: &Path) -> Guard {
    let port = free_port().expect("free port").to_string();
    let log = std::fs::File::create(log).expect("miner log");
    Guard(
        Command::new(bin())
            .arg("miner")
            .args(chain)
            .args(["--wallet.name", wallet, "--model", model])
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
        miners: 2,
        block_interval: Duration::from_secs(1),
        ..LocalnetConfig::default()
    };
    let _down = Down(cfg.clone());
    let (state, _) = audiosubnet_localnet::up(&cfg).await.expect("localnet up");
    let netuid = state.netuid.expect("netuid");
    let chain = chain_args(&state.endpoint, netuid, &state.wallets_dir);
    let st = Subtensor::connect(&state.endpoint).await.expect("connect");

    let logs = dir.path();
    let _honest = start_miner(
        &chain,
        "miner0",
        "espeak",
        "127.0.0.2",
        &logs.join("honest.log"),
    );
    let _silent = start_miner(
        &chain,
        "miner1",
        "silence",
        "127.0.0.3",
        &logs.join("silent.log"),
    );
    // Both axons on chain, and the validator's permit (handed out at an epoch).
    let mg = wait_metagraph(&st, netuid, 240, "served axons and a permit", |mg| {
        mg.neurons.iter().filter(|n| n.axon.port != 0).count() == 2
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
    let (vali, honest, silent) = (uid_of("validator"), uid_of("miner0"), uid_of("miner1"));
    // One miner re-sync, so both know the validator's permit and answer it.
    tokio::time::sleep(Duration::from_secs(4)).await;

    let out = Command::new(bin())
        .arg("validator")
        .args(&chain)
        .args(["--wallet.name", "validator", "--rounds", "3"])
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

    // The weights on chain: the honest miner has one, the silent miner none.
    let weights = st.weights_of(netuid, vali).await.expect("weights");
    let weight = |uid: u16| weights.iter().find(|(u, _)| *u == uid).map(|(_, w)| *w);
    assert!(weight(honest).is_some_and(|w| w > 0), "{weights:?}");
    assert_eq!(weight(silent), None, "{weights:?}");

    // After the next epoch, Yuma consensus turns them into incentive.
    let mg = wait_metagraph(&st, netuid, 120, "incentive", |mg| {
        mg.neuron(honest).is_some_and(|n| n.incentive > 0.0)
    })
    .await;
    let incentive = |uid: u16| mg.neuron(uid).map_or(0.0, |n| n.incentive);
    eprintln!(
        "weights {weights:?}; incentive honest {:.5}, silent {:.5}",
        incentive(honest),
        incentive(silent)
    );
    assert!(incentive(honest) > incentive(silent));
    assert_eq!(incentive(silent), 0.0);
}

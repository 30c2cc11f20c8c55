//! The real subtensor runtime under chopsticks: subnet bootstrap, axons, weights and epochs (chain
//! faults: `chain_faults.rs`). Each test starts its own chain on a free port and stops it by PID.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use audiosubnet_chain::{ChainError, ServeOutcome, Subtensor};
use audiosubnet_localnet::{LocalAdmin, LocalnetConfig, free_port, pid_alive};
use audiosubnet_wallet::{Keypair, Wallet};

fn config(dir: &tempfile::TempDir, miners: u16, ticker: Duration) -> LocalnetConfig {
    LocalnetConfig {
        state_dir: dir.path().join("localnet"),
        port: free_port().expect("free port"),
        miners,
        block_interval: ticker,
        ..LocalnetConfig::default()
    }
}

fn keys(cfg: &LocalnetConfig, wallet: &str) -> (Keypair, Keypair) {
    let w = Wallet::new(wallet, "default", cfg.wallets_dir());
    (
        w.load_coldkey(None).expect("coldkey"),
        w.load_hotkey(None).expect("hotkey"),
    )
}

/// Stops a chain started with `up` even when an assertion fails.
struct Down(LocalnetConfig);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = audiosubnet_localnet::down(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local chain; run scripts/test"]
async fn subnet_axons_weights_and_epoch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&dir, 3, Duration::from_secs(3));

    let _guard = Down(cfg.clone());
    // `up` twice: the second finds the running chain and changes nothing.
    let t = Instant::now();
    let (state, reused) = audiosubnet_localnet::up(&cfg).await.expect("localnet up");
    eprintln!("up (install + start + bootstrap): {:?}", t.elapsed());
    assert!(!reused);
    assert!(pid_alive(state.chopsticks_pid, "chopsticks"));
    let ticker = state.ticker_pid.expect("ticker running");
    assert!(pid_alive(ticker, "ticker"));
    let t = Instant::now();
    let (again, reused) = audiosubnet_localnet::up(&cfg).await.expect("second up");
    eprintln!("second up: {:?}", t.elapsed());
    assert!(reused);
    assert_eq!(again.netuid, state.netuid);
    assert_eq!(again.chopsticks_pid, state.chopsticks_pid);
    let netuid = state.netuid.expect("netuid");

    let st = Subtensor::connect(&state.endpoint).await.expect("connect");
    assert!(st.subnet_exists(netuid).await.expect("exists"));
    let hp = st.hyperparameters(netuid).await.expect("hyperparameters");
    assert_eq!(hp.tempo, cfg.tempo);
    assert_eq!(hp.weights_rate_limit, 0);
    assert!(!hp.commit_reveal_enabled);

    let (vali_cold, vali_hot) = keys(&cfg, "validator");
    let miners: Vec<(Keypair, Keypair)> =
        state.miner_wallets.iter().map(|m| keys(&cfg, m)).collect();
    let vali_uid = st
        .uid_of(netuid, vali_hot.account_id().0)
        .await
        .expect("uid")
        .expect("validator registered");
    let mut miner_uids = Vec::new();
    for (_, hot) in &miners {
        miner_uids.push(
            st.uid_of(netuid, hot.account_id().0)
                .await
                .expect("uid")
                .expect("miner registered"),
        );
    }
    let mg = st.metagraph(netuid).await.expect("metagraph");
    assert_eq!(
        usize::from(mg.n()),
        2 + miners.len(),
        "owner + validator + miners"
    );
    assert_eq!(mg.uid_of(&vali_hot.account_id().0), Some(vali_uid));
    assert!(
        mg.neuron(vali_uid).expect("validator").stake_rao > 0,
        "validator staked"
    );

    // Axons on 127.0.0.2.. (the runtime rejects 127.0.0.1).
    for (i, (_, hot)) in miners.iter().enumerate() {
        let ip: IpAddr = format!("127.0.0.{}", i + 2).parse().expect("ip");
        let out = st
            .serve_axon(hot, netuid, ip, 8091 + i as u16, 7)
            .await
            .expect("serve_axon");
        assert_eq!(out, ServeOutcome::Served);
        let again = st
            .serve_axon(hot, netuid, ip, 8091 + i as u16, 7)
            .await
            .expect("serve_axon again");
        assert_eq!(again, ServeOutcome::AlreadyCurrent);
    }
    let refused = st
        .serve_axon(&miners[0].1, netuid, "127.0.0.1".parse().expect("ip"), 1, 7)
        .await;
    assert!(
        matches!(refused, Err(ChainError::InvalidInput(_))),
        "{refused:?}"
    );
    let mg = st.metagraph(netuid).await.expect("metagraph");
    for (i, uid) in miner_uids.iter().enumerate() {
        let axon = &mg.neuron(*uid).expect("miner").axon;
        assert_eq!(
            axon.ip_addr(),
            Some(format!("127.0.0.{}", i + 2).parse().expect("ip"))
        );
        assert_eq!(axon.port, 8091 + i as u16);
        assert_eq!((axon.ip_type, axon.version, axon.protocol), (4, 7, 4));
    }

    // One epoch gives the staked validator its permit.
    st.dev_new_blocks(u32::from(cfg.tempo) + 2)
        .await
        .expect("blocks");
    let mg = st.metagraph(netuid).await.expect("metagraph");
    assert!(
        mg.neuron(vali_uid).expect("validator").validator_permit,
        "validator permit after an epoch"
    );

    // The subnet policy (min allowed weights 1, no max limit) keeps 2:3:5 as fractions.
    let (p_uids, p_weights) = st
        .process_weights(netuid, &miner_uids, &[2.0, 3.0, 5.0])
        .await
        .expect("process_weights");
    assert_eq!(p_uids, miner_uids);
    assert!((p_weights[2] - 0.5).abs() < 1e-6, "{p_weights:?}");

    // Weights 2:3:5 are stored as max-upscaled u16 values.
    let t = Instant::now();
    let sent = st
        .set_weights(&vali_hot, netuid, &miner_uids, &[2.0, 3.0, 5.0], 0)
        .await
        .expect("set_weights");
    eprintln!("set_weights: {:?}", t.elapsed());
    assert_eq!(sent.values, vec![26214, 39321, 65535]);
    let stored = st.weights_of(netuid, vali_uid).await.expect("weights");
    let expected: Vec<(u16, u16)> = miner_uids
        .iter()
        .copied()
        .zip(sent.values.iter().copied())
        .collect();
    assert_eq!(stored, expected);
    let mg = st.metagraph(netuid).await.expect("metagraph");
    assert!(mg.neuron(vali_uid).expect("validator").last_update > 0);

    // After an epoch: incentive goes to the weighted miners (2:3:5) and dividends to the validator.
    let start_block = st.current_block().await.expect("block");
    let mut mg = st.metagraph(netuid).await.expect("metagraph");
    for _ in 0..2 * (u32::from(cfg.tempo) + 1) {
        st.dev_new_blocks(1).await.expect("block");
        mg = st.metagraph(netuid).await.expect("metagraph");
        if mg.neuron(miner_uids[0]).expect("miner").incentive > 0.0 {
            break;
        }
    }
    eprintln!(
        "incentive after {} blocks",
        mg.block.saturating_sub(start_block)
    );
    for n in &mg.neurons {
        eprintln!(
            "uid {} permit {} stake {} I {:.3} D {:.3} E {}",
            n.uid, n.validator_permit, n.stake_rao, n.incentive, n.dividends, n.emission_rao
        );
    }
    let incentives: Vec<f64> = miner_uids
        .iter()
        .map(|u| mg.neuron(*u).expect("miner").incentive)
        .collect();
    eprintln!(
        "incentives {incentives:?}, validator dividends {}",
        mg.neuron(vali_uid).expect("v").dividends
    );
    assert!(incentives.iter().all(|i| *i > 0.0), "{incentives:?}");
    assert!(
        incentives[0] < incentives[1] && incentives[1] < incentives[2],
        "{incentives:?}"
    );
    assert!((incentives[2] - 0.5).abs() < 0.05, "{incentives:?}");
    assert!(mg.neuron(vali_uid).expect("validator").dividends > 0.0);

    // A hotkey that is not registered gets a named dispatch error, not a panic.
    let stranger = Keypair::from_uri("//audiosubnet//stranger").expect("key");
    let err = st
        .set_weights(&stranger, netuid, &miner_uids, &[1.0, 1.0, 1.0], 0)
        .await
        .expect_err("not registered");
    eprintln!("unregistered set_weights: {err}");
    assert!(err.to_string().contains("NotRegistered"), "{err}");

    // Version key policy: we send at least the subnet's WeightsVersionKey.
    let alice = Keypair::from_uri("//Alice").expect("alice");
    st.sudo_set_weights_version_key(&alice, netuid, 5)
        .await
        .expect("sudo version key");
    let sent = st
        .set_weights(&vali_hot, netuid, &miner_uids, &[1.0, 1.0, 2.0], 0)
        .await
        .expect("set_weights with the chain's version key");
    assert_eq!(sent.version_key, 5);
    assert_eq!(sent.values, vec![32768, 32768, 65535]);

    // Rate limit: a second set_weights inside the window names the wait in blocks.
    st.sudo_set_weights_rate_limit(&alice, netuid, 1000)
        .await
        .expect("sudo rate limit");
    let err = st
        .set_weights(&vali_hot, netuid, &miner_uids, &[1.0, 1.0, 1.0], 0)
        .await
        .expect_err("rate limited");
    eprintln!("rate-limited set_weights: {err}");
    assert!(err.to_string().contains("WeightsRateLimit: wait"), "{err}");
    // Sudo from a key that is not sudo: a named dispatch error.
    let err = st
        .sudo_set_tempo(&vali_cold, netuid, 5)
        .await
        .expect_err("not sudo");
    eprintln!("non-sudo sudo call: {err}");
    assert!(matches!(err, ChainError::Dispatch { .. }), "{err:?}");

    // Idempotent bootstrap on a live chain keeps everything (and restores the rate limit).
    let (again, _) = audiosubnet_localnet::up(&cfg).await.expect("third up");
    assert_eq!(again.netuid, Some(netuid));
    assert_eq!(
        st.hyperparameters(netuid)
            .await
            .expect("hyperparameters")
            .weights_rate_limit,
        0
    );
    assert_eq!(
        st.uid_of(netuid, vali_hot.account_id().0)
            .await
            .expect("uid"),
        Some(vali_uid)
    );

    assert!(audiosubnet_localnet::down(&cfg).expect("down"));
    assert!(!pid_alive(state.chopsticks_pid, "chopsticks"));
    assert!(!pid_alive(ticker, "ticker"));
    assert!(!audiosubnet_localnet::down(&cfg).expect("second down"));
}

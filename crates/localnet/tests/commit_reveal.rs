//! Commit-reveal on the real runtime under chopsticks: with `CommitRevealWeightsEnabled` turned
//! on by sudo, the client's weight setting goes as a drand-timelocked commit and the commit lands
//! in the runtime's commit storage. (chopsticks has no drand pulses, so the reveal itself cannot
//! happen here; the ciphertext format is covered by crates/timelock's interop tests.)

use std::time::Duration;

use audiosubnet_chain::Subtensor;
use audiosubnet_localnet::{LocalAdmin, Localnet, LocalnetConfig, free_port};
use audiosubnet_wallet::{Keypair, Wallet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local chain; run scripts/test"]
async fn timelocked_commit_lands_in_storage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = LocalnetConfig {
        state_dir: dir.path().join("localnet"),
        port: free_port().expect("free port"),
        miners: 2,
        block_interval: Duration::ZERO,
        ..LocalnetConfig::default()
    };
    let mut net = Localnet::start(cfg.clone()).await.expect("start");
    let result = run(&mut net, &cfg).await;
    net.stop().expect("stop");
    result.expect("commit-reveal scenario");
}

async fn run(net: &mut Localnet, cfg: &LocalnetConfig) -> Result<(), String> {
    let b = net.bootstrap().await.map_err(|e| e.to_string())?;
    let st: Subtensor = net.client().await.map_err(|e| e.to_string())?;
    let netuid = b.netuid;
    let alice = Keypair::from_uri("//Alice").map_err(|e| e.to_string())?;
    let vali_hot = Wallet::new("validator", "default", cfg.wallets_dir())
        .load_hotkey(None)
        .map_err(|e| e.to_string())?;

    st.sudo_set_commit_reveal(&alice, netuid, true)
        .await
        .map_err(|e| format!("sudo commit-reveal on: {e}"))?;
    let hp = st
        .hyperparameters(netuid)
        .await
        .map_err(|e| e.to_string())?;
    assert!(hp.commit_reveal_enabled);
    assert!(
        st.timelocked_commits(netuid)
            .await
            .map_err(|e| e.to_string())?
            .is_empty()
    );

    // The ordinary entry point commits instead of failing with CommitRevealEnabled.
    let block = st.current_block().await.map_err(|e| e.to_string())?;
    let sent = st
        .set_weights(&vali_hot, netuid, &b.miner_uids, &[1.0, 3.0], 0)
        .await
        .map_err(|e| format!("set_weights with commit-reveal on: {e}"))?;
    eprintln!("committed at block ~{block}: {sent:?}");
    let round = sent.reveal_round.expect("a timelocked commit");
    assert_eq!(sent.values, vec![21845, 65535]);

    let commits = st
        .timelocked_commits(netuid)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("commits in storage: {commits:?}");
    assert_eq!(commits.len(), 1, "{commits:?}");
    let (epoch, who, stored_round) = commits[0];
    assert_eq!(who, vali_hot.account_id().0);
    assert_eq!(stored_round, round);
    // Block-modulo epochs on this runtime: the commit is keyed by the epoch of its block (or the
    // next one when an epoch runs in that block).
    let tempo = u64::from(hp.tempo);
    let epoch_of = |b: u64| (b + u64::from(netuid) + 1) / (tempo + 1);
    assert!(
        (epoch_of(block)..=epoch_of(block + 2) + 1).contains(&epoch),
        "epoch {epoch} for a commit near block {block}"
    );
    // Weights are not set until the reveal.
    let vali_uid = b.validator_uid;
    assert!(
        st.weights_of(netuid, vali_uid)
            .await
            .map_err(|e| e.to_string())?
            .is_empty()
    );

    // The explicit call works too and queues a second commit.
    let again = st
        .commit_timelocked_weights(&vali_hot, netuid, &b.miner_uids, &[2.0, 1.0], 0)
        .await
        .map_err(|e| format!("commit_timelocked_weights: {e}"))?;
    assert!(again.reveal_round.is_some());
    let commits = st
        .timelocked_commits(netuid)
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(commits.len(), 2, "{commits:?}");
    Ok(())
}

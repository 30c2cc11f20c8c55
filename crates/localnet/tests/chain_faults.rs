//! Chain faults on the real runtime under chopsticks: the chain is stalled (SIGSTOP) and then
//! killed (SIGKILL, by PID) while our client is reading and while a transaction waits for
//! inclusion. Every call must come back with a clear connection error within a bound (never a
//! panic, never a hang), and the same client must reconnect by itself once a chain listens on the
//! same port again.
//!
//! chopsticks keeps its state in memory (no `--db`), so the restarted chain starts again from
//! genesis. Nothing below depends on the state surviving: after the restart the test only asks
//! for things every fresh chain has (a block number, genesis subnet 1, Alice's balance) and sends
//! a new transaction.

use std::future::Future;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audiosubnet_chain::{ChainError, RetryPolicy, Subtensor};
use audiosubnet_localnet::{LocalAdmin, Localnet, LocalnetConfig, TAO, free_port, pid_alive};
use audiosubnet_wallet::Keypair;

/// No chain call may take longer than this, whatever state the chain is in.
const BOUND: Duration = Duration::from_secs(45);

/// Genesis subnet of the spec-218 chain (exists on every fresh chain).
const GENESIS_NETUID: u16 = 1;

async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    let t = Instant::now();
    match tokio::time::timeout(BOUND, fut).await {
        Ok(v) => {
            eprintln!("{what}: {:?}", t.elapsed());
            v
        }
        Err(_) => panic!("{what} hung for more than {BOUND:?}"),
    }
}

/// Sends `sig` to a process this test started (the chopsticks child), by PID.
fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{sig} {pid}: {status}");
}

/// A connection error that names the endpoint (what a neuron logs).
fn assert_connection_error(err: &ChainError, endpoint: &str) {
    assert!(err.is_connection(), "not a connection error: {err:?}");
    if matches!(err, ChainError::Connection { .. }) {
        assert!(err.to_string().contains(endpoint), "{err}");
    }
}

#[derive(Debug)]
enum Probe {
    Ok,
    Err { connection: bool, message: String },
    Hung,
}

/// Reads the block number in a loop (as a neuron's main loop would) until stopped.
fn spawn_reader(
    st: Subtensor,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<(Instant, Probe)>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            let probe = match tokio::time::timeout(BOUND, st.current_block()).await {
                Ok(Ok(_)) => Probe::Ok,
                Ok(Err(e)) => Probe::Err {
                    connection: e.is_connection(),
                    message: e.to_string(),
                },
                Err(_) => Probe::Hung,
            };
            log.lock().expect("log").push((started, probe));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the local chain; run scripts/test"]
async fn chain_stalled_killed_and_restarted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = LocalnetConfig {
        state_dir: dir.path().join("localnet"),
        port: free_port().expect("free port"),
        miners: 0,
        // No ticker: blocks come from transactions (Instant mode) or dev_newBlock, so the
        // in-flight transaction below stays pending while the chain is in Manual mode.
        block_interval: Duration::ZERO,
        ..LocalnetConfig::default()
    };
    let net = Localnet::start(cfg.clone()).await.expect("start");
    let endpoint = net.state().endpoint.clone();
    let pid = net.state().chopsticks_pid;
    assert!(pid_alive(pid, "chopsticks"));

    // The client under test: default policy (what the neurons use: 5 attempts, 250 ms .. 5 s).
    let st = bounded("connect", Subtensor::connect(&endpoint))
        .await
        .expect("connect");
    let block_before = bounded("current_block", st.current_block())
        .await
        .expect("block");
    assert!(block_before >= 1);
    let mg = bounded("metagraph", st.metagraph(GENESIS_NETUID))
        .await
        .expect("metagraph");
    assert_eq!(mg.netuid, GENESIS_NETUID);
    let alice = Keypair::from_uri("//Alice").expect("alice");
    let bob = Keypair::from_uri("//Bob").expect("bob").account_id().0;
    bounded("transfer", st.transfer(&alice, bob, u128::from(TAO)))
        .await
        .expect("transfer before the faults");

    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Vec::new()));
    let reader = spawn_reader(st.clone(), stop.clone(), log.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;

    // 1. Stalled chain (process stopped, socket open): a timeout, not a hang.
    let quick = RetryPolicy {
        attempts: 2,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(100),
        request_timeout: Duration::from_secs(2),
    };
    let st_quick = Subtensor::connect_with(&endpoint, quick)
        .await
        .expect("connect");
    signal(pid, "STOP");
    let t = Instant::now();
    let err = bounded("current_block on a stalled chain", st_quick.current_block())
        .await
        .expect_err("stalled chain must not answer");
    signal(pid, "CONT");
    eprintln!("stalled: {err}");
    assert!(matches!(err, ChainError::Timeout { .. }), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    // The same client recovers once the process runs again (on a loaded machine the first
    // answers may still exceed its 2 s timeout, so poll for a while).
    let resumed = Instant::now();
    let b = loop {
        match bounded("current_block after SIGCONT", st_quick.current_block()).await {
            Ok(b) => break b,
            Err(e) if resumed.elapsed() < Duration::from_secs(60) => {
                eprintln!("not yet after SIGCONT: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("no answer within 60 s after SIGCONT: {e:?}"),
        }
    };
    assert!(b >= block_before);

    // 2. Killed while a transaction waits for inclusion (Manual mode: no block gets built).
    st.rpc_raw("dev_setBlockBuildMode", vec![serde_json::json!("Manual")])
        .await
        .expect("manual block mode");
    let in_flight = {
        let st = st.clone();
        let alice = alice.clone();
        tokio::spawn(async move {
            tokio::time::timeout(BOUND, st.transfer(&alice, bob, u128::from(TAO))).await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending = st
            .rpc_raw("author_pendingExtrinsics", vec![])
            .await
            .expect("pending extrinsics");
        if pending.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "transfer never reached the pool");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What the chain holds right before the kill (Manual mode: nothing changes from here).
    let block_at_kill = st.current_block().await.expect("block");
    let bob_at_kill = st.balance(bob).await.expect("balance");
    let killed_at = Instant::now();
    signal(pid, "KILL");
    let t = Instant::now();
    let err = in_flight
        .await
        .expect("in-flight task panicked")
        .expect("in-flight transfer hung")
        .expect_err("the chain died before inclusion");
    eprintln!("in-flight transfer ({:?}): {err}", t.elapsed());
    assert_connection_error(&err, &endpoint);

    // 3. Calls while the chain is down: a clear connection error after the back-off.
    let t = Instant::now();
    let err = bounded("current_block while down", st.current_block())
        .await
        .expect_err("chain is down");
    let waited = t.elapsed();
    eprintln!("while down ({waited:?}): {err}");
    assert_connection_error(&err, &endpoint);
    assert!(
        matches!(err, ChainError::Connection { .. }),
        "a refused connection is a Connection error: {err:?}"
    );
    // Four back-offs (250 + 500 + 1000 + 2000 ms) before giving up.
    assert!(waited >= Duration::from_millis(3500), "{waited:?}");
    let err = bounded("metagraph while down", st.metagraph(GENESIS_NETUID))
        .await
        .expect_err("chain is down");
    assert_connection_error(&err, &endpoint);
    let err = bounded("transfer while down", st.transfer(&alice, bob, 1))
        .await
        .expect_err("chain is down");
    assert_connection_error(&err, &endpoint);
    let err = bounded(
        "connect while down",
        Subtensor::connect_with(&endpoint, quick),
    )
    .await
    .expect_err("nothing listens");
    assert_connection_error(&err, &endpoint);
    assert!(!pid_alive(pid, "chopsticks"));
    drop(net); // reaps the killed child

    // 4. A new chain on the same port: the same clients reconnect by themselves.
    let restarted_at = Instant::now();
    let net = Localnet::start(cfg)
        .await
        .expect("restart on the same port");
    assert_eq!(net.state().endpoint, endpoint);
    let block_after = bounded("current_block after restart", st.current_block())
        .await
        .expect("reconnected");
    let bob_after = bounded("balance after restart", st.balance(bob))
        .await
        .expect("balance after restart");
    eprintln!(
        "block at kill {block_at_kill}, after restart {block_after}; Bob {bob_at_kill} -> \
         {bob_after} rao ({})",
        if bob_after < bob_at_kill {
            "state reset: chopsticks keeps its state in memory"
        } else {
            "state kept"
        }
    );
    bounded("metagraph after restart", st.metagraph(GENESIS_NETUID))
        .await
        .expect("metagraph after restart");
    bounded("current_block (quick client)", st_quick.current_block())
        .await
        .expect("quick client reconnected");
    bounded(
        "transfer after restart",
        st.transfer(&alice, bob, u128::from(TAO)),
    )
    .await
    .expect("signed transaction after reconnect");

    // The reader loop saw answers, then connection errors, then answers again; never a hang.
    let deadline = Instant::now() + BOUND;
    loop {
        let answered_again = log
            .lock()
            .expect("log")
            .iter()
            .any(|(t, p)| *t > restarted_at && matches!(p, Probe::Ok));
        if answered_again {
            break;
        }
        assert!(Instant::now() < deadline, "reader never recovered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    bounded("reader exit", reader)
        .await
        .expect("reader task panicked");
    let log = log.lock().expect("log");
    let oks_before = log
        .iter()
        .filter(|(t, p)| *t < killed_at && matches!(p, Probe::Ok))
        .count();
    let errors: Vec<&Probe> = log
        .iter()
        .filter(|(_, p)| !matches!(p, Probe::Ok))
        .map(|(_, p)| p)
        .collect();
    eprintln!(
        "reader: {} probes, {oks_before} answers before the kill, {} errors",
        log.len(),
        errors.len()
    );
    assert!(oks_before > 0);
    assert!(!errors.is_empty(), "the reader never noticed the kill");
    for p in &errors {
        match p {
            Probe::Err { connection, .. } => assert!(*connection, "{p:?}"),
            Probe::Hung => panic!("a reader call hung"),
            Probe::Ok => unreachable!(),
        }
    }
    if let Some(Probe::Err { message, .. }) = errors.first() {
        eprintln!("reader error: {message}");
    }

    let pid = net.state().chopsticks_pid;
    net.stop().expect("stop");
    assert!(!pid_alive(pid, "chopsticks"));
}

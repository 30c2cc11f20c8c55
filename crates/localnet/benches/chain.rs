//! Chain benchmarks on the local chain (chopsticks + the real subtensor runtime, spec 300):
//!
//! * metagraph sync of a subnet with 256 registered neurons: our client
//!   (`NeuronInfoRuntimeApi_get_neurons_lite`) against the Python SDK (bittensor 10.5.0:
//!   `subtensor.metagraph(netuid)`, and `subtensor.neurons_lite(netuid)`, the same runtime API as
//!   ours) on the same chain in the same run;
//! * `set_weights` over all 256 uids, from the call to inclusion.
//!
//! Run: `AUDIOSUBNET_TEST_PYTHON=.cache/venv/bt10/bin/python cargo bench -p audiosubnet-localnet
//! --bench chain` (`source scripts/lib.sh; ensure_bittensor_venv` makes that venv). Optional:
//! `BENCH_ITERS` (default 10), `BENCH_NEURONS` (default 256).
//!
//! The local chain builds a block as soon as a transaction reaches its pool (chopsticks' Instant
//! mode) and otherwise only on `dev_newBlock`, so "inclusion" here is validation plus one block
//! built by chopsticks' WASM executor, not a 12 s block time. Before every timed metagraph read
//! one empty block is built (untimed), so each sync reads a new head, as a validator does.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use audiosubnet_chain::{ChainError, RetryPolicy, Subtensor, Value};
use audiosubnet_localnet::{LocalAdmin, Localnet, LocalnetConfig, TAO, free_port};
use audiosubnet_wallet::{Keypair, Wallet};
use tokio::sync::Semaphore;

/// Subnet tempo while measuring: long enough that no epoch runs in a timed block.
const MEASURE_TEMPO: u16 = 1000;
/// Registrations in flight at once and per block (one coldkey each, so nonces never collide).
const REGISTER_BATCH: usize = 24;

/// The Python peer. The two shims only let the SDK talk to this chain: chopsticks refuses
/// `state_call` data without a `0x` prefix (a real node accepts both), and bittensor 10.5.0's
/// fallback for runtimes without `get_selective_mechagraph` passes `[[netuid]]` to spec 300's
/// `get_metagraph(netuid: u16)`. Neither changes what is fetched.
const PYTHON_PEER: &str = r#"
import json, sys, time
from async_substrate_interface.sync_substrate import SubstrateInterface

_rpc = SubstrateInterface.rpc_request
def rpc_request(self, method, params, *a, **kw):
    if method == "state_call" and params and isinstance(params[1], str) and not params[1].startswith("0x"):
        params = [params[0], "0x" + params[1], *params[2:]]
    return _rpc(self, method, params, *a, **kw)
SubstrateInterface.rpc_request = rpc_request

_call = SubstrateInterface.runtime_call
def runtime_call(self, api, method, params=None, block_hash=None, *a, **kw):
    if method == "get_metagraph" and isinstance(params, list) and len(params) == 1 and isinstance(params[0], list):
        params = params[0]
    return _call(self, api, method, params, block_hash, *a, **kw)
SubstrateInterface.runtime_call = runtime_call

import bittensor as bt

endpoint, netuid, iters = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def timed(f):
    t = time.perf_counter()
    r = f()
    return time.perf_counter() - t, r

connect, st = timed(lambda: bt.Subtensor(network=endpoint))
first, mg = timed(lambda: st.metagraph(netuid))
out = {"version": bt.__version__, "connect_s": connect, "first_metagraph_s": first,
       "n": int(mg.n), "metagraph_s": [], "neurons_lite_s": []}
new_block = lambda: st.substrate.rpc_request("dev_newBlock", [{"count": 1}])
for _ in range(iters):
    new_block()
    d, mg = timed(lambda: st.metagraph(netuid))
    assert int(mg.n) == out["n"], (mg.n, out["n"])
    out["metagraph_s"].append(d)
for _ in range(iters):
    new_block()
    d, nl = timed(lambda: st.neurons_lite(netuid))
    out["neurons_lite_s"].append(d)
out["neurons_lite_n"] = len(nl)
print("BENCH_JSON " + json.dumps(out), flush=True)
"#;

/// Median, min and max in milliseconds.
#[derive(Debug, Clone, Copy)]
struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

impl Stats {
    fn of_secs(samples: &[f64]) -> Stats {
        let mut v: Vec<f64> = samples.iter().map(|s| s * 1e3).collect();
        v.sort_by(f64::total_cmp);
        let median = if v.len() % 2 == 1 {
            v[v.len() / 2]
        } else {
            (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
        };
        Stats {
            median,
            min: v[0],
            max: v[v.len() - 1],
        }
    }

    fn of(samples: &[Duration]) -> Stats {
        Stats::of_secs(
            &samples
                .iter()
                .map(Duration::as_secs_f64)
                .collect::<Vec<_>>(),
        )
    }

    fn single(d: Duration) -> Stats {
        Stats::of(&[d])
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A deterministic bench key (`role` 0 = coldkey, 1 = hotkey).
fn bench_key(role: u8, i: u16) -> Keypair {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(b"bench-ch");
    seed[8] = role;
    seed[9..11].copy_from_slice(&i.to_le_bytes());
    Keypair::from_seed(seed)
}

fn must<T>(what: &str, r: Result<T, ChainError>) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Sudo calls whose failure only makes registration slower (older/newer runtimes differ).
/// Retried once after a new block (the pool now and then refuses one with `exhaustsResources`).
async fn try_sudo(st: &Subtensor, alice: &Keypair, call: &str, args: Vec<Value>) {
    if st.sudo_admin(alice, call, args.clone()).await.is_ok() {
        return;
    }
    let _ = st.dev_new_blocks(1).await;
    if let Err(e) = st.sudo_admin(alice, call, args).await {
        eprintln!("note: sudo {call} failed: {e}");
    }
}

/// Registers neurons until the subnet has `target`: funds fresh coldkeys with one
/// `dev_setStorage`, switches chopsticks to Manual block mode, sends `burned_register` from many
/// coldkeys at once and builds one block whenever the pool has filled (or stopped growing).
async fn fill_subnet(st: &Subtensor, alice: &Keypair, netuid: u16, target: u16) -> Duration {
    let started = Instant::now();
    let n = must("metagraph", st.metagraph(netuid).await).n();
    let need = target.saturating_sub(n);
    let uids = Value::u128(u128::from(target));
    try_sudo(
        st,
        alice,
        "sudo_set_max_allowed_uids",
        vec![Value::u128(netuid.into()), uids.clone()],
    )
    .await;
    try_sudo(
        st,
        alice,
        "sudo_set_max_registrations_per_block",
        vec![Value::u128(netuid.into()), uids],
    )
    .await;
    try_sudo(
        st,
        alice,
        "sudo_set_target_registrations_per_interval",
        vec![
            Value::u128(netuid.into()),
            Value::u128(u128::from(target) * 2),
        ],
    )
    .await;

    let keys: Vec<(Keypair, Keypair)> = (0..need)
        .map(|i| (bench_key(0, i), bench_key(1, i)))
        .collect();
    let accounts: Vec<serde_json::Value> = keys
        .iter()
        .map(|(c, _)| {
            serde_json::json!([[c.account_id().to_ss58()], {
                "providers": 1,
                "data": { "free": (1_000 * TAO).to_string() }
            }])
        })
        .collect();
    must(
        "fund coldkeys",
        st.dev_set_storage(serde_json::json!({ "System": { "Account": accounts } }))
            .await,
    );
    // burned_register swaps the burn into the subnet's pool; deep reserves (price 1) keep it
    // from failing with ReservesTooLow when many registrations land in one block.
    let reserve = 1_000_000 * TAO;
    must(
        "subnet reserves",
        st.dev_set_storage(serde_json::json!({ "SubtensorModule": {
            "SubnetTAO": [[[netuid], reserve]],
            "SubnetAlphaIn": [[[netuid], reserve]],
        } }))
        .await,
    );
    must(
        "manual block mode",
        st.rpc_raw("dev_setBlockBuildMode", vec![serde_json::json!("Manual")])
            .await,
    );
    // chopsticks runs every validation and block on one WASM executor, so a batch waits in line
    // for longer than the default 60 s limit (the batch is sized for jsonrpsee's own 60 s).
    let slow = Subtensor::connect_with(
        st.endpoint(),
        RetryPolicy {
            request_timeout: Duration::from_secs(600),
            ..RetryPolicy::default()
        },
    )
    .await
    .expect("connect");
    for round in 0..3 {
        let registered: HashSet<[u8; 32]> = must("metagraph", st.metagraph(netuid).await)
            .neurons
            .iter()
            .map(|n| n.hotkey)
            .collect();
        let todo: Vec<(Keypair, Keypair)> = keys
            .iter()
            .filter(|(_, h)| !registered.contains(&h.account_id().0))
            .cloned()
            .collect();
        if todo.is_empty() {
            break;
        }
        eprintln!("registering {} neurons (round {round})", todo.len());
        let gate = Arc::new(Semaphore::new(REGISTER_BATCH));
        let mut tasks = tokio::task::JoinSet::new();
        for (c, h) in todo {
            let st = slow.clone();
            let gate = gate.clone();
            tasks.spawn(async move {
                let _permit = gate.acquire_owned().await;
                st.burned_register(&c, netuid, h.account_id().0).await
            });
        }
        let (mut failures, mut last_pending, mut blocks) = (0, 0, 0);
        while !tasks.is_empty() {
            while let Some(r) = tasks.try_join_next() {
                if let Err(e) = r.expect("registration task") {
                    failures += 1;
                    if failures <= 3 {
                        eprintln!("registration failed: {e}");
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            let pending = must(
                "pending",
                slow.rpc_raw("author_pendingExtrinsics", vec![]).await,
            )
            .as_array()
            .map_or(0, Vec::len);
            if pending > 0 && (pending >= REGISTER_BATCH || pending == last_pending) {
                must("block", slow.dev_new_blocks(1).await);
                blocks += 1;
                last_pending = 0;
            } else {
                last_pending = pending;
            }
        }
        eprintln!("round {round}: {blocks} blocks, {failures} registrations failed");
    }
    must(
        "instant block mode",
        st.rpc_raw("dev_setBlockBuildMode", vec![serde_json::json!("Instant")])
            .await,
    );
    started.elapsed()
}

struct PythonRun {
    version: String,
    n: u64,
    connect: Duration,
    first_metagraph: Duration,
    metagraph: Stats,
    neurons_lite: Stats,
    neurons_lite_n: u64,
}

fn run_python(python: &str, script: &Path, endpoint: &str, netuid: u16, iters: usize) -> PythonRun {
    let out = Command::new(python)
        .arg(script)
        .arg(endpoint)
        .arg(netuid.to_string())
        .arg(iters.to_string())
        .output()
        .expect("run the Python peer");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let Some(line) = stdout.lines().find_map(|l| l.strip_prefix("BENCH_JSON ")) else {
        panic!(
            "Python peer failed ({}): {}\n{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let v: serde_json::Value = serde_json::from_str(line).expect("peer JSON");
    let secs = |k: &str| -> Vec<f64> {
        v[k].as_array()
            .expect(k)
            .iter()
            .filter_map(serde_json::Value::as_f64)
            .collect()
    };
    let dur = |k: &str| Duration::from_secs_f64(v[k].as_f64().expect(k));
    PythonRun {
        version: v["version"].as_str().unwrap_or("?").to_string(),
        n: v["n"].as_u64().unwrap_or(0),
        connect: dur("connect_s"),
        first_metagraph: dur("first_metagraph_s"),
        metagraph: Stats::of_secs(&secs("metagraph_s")),
        neurons_lite: Stats::of_secs(&secs("neurons_lite_s")),
        neurons_lite_n: v["neurons_lite_n"].as_u64().unwrap_or(0),
    }
}

/// `/proc/loadavg`'s first three fields (other work on the machine skews the numbers).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn row(name: &str, s: Stats) {
    println!(
        "| {name:<58} | {:>9.1} | {:>9.1} | {:>9.1} |",
        s.median, s.min, s.max
    );
}

fn main() {
    let Ok(python) = std::env::var("AUDIOSUBNET_TEST_PYTHON") else {
        eprintln!(
            "set AUDIOSUBNET_TEST_PYTHON to the venv python with bittensor==10.5.0 \
             (`source scripts/lib.sh; ensure_bittensor_venv` prints it)"
        );
        std::process::exit(2);
    };
    let iters = env_usize("BENCH_ITERS", 10).max(1);
    let neurons = u16::try_from(env_usize("BENCH_NEURONS", 256)).unwrap_or(256);
    let dir = tempfile::tempdir().expect("tempdir");

    let script = dir.path().join("metagraph_peer.py");
    std::fs::write(&script, PYTHON_PEER).expect("write the Python peer");
    let cfg = LocalnetConfig {
        state_dir: dir.path().join("localnet"),
        port: free_port().expect("free port"),
        miners: 0,
        block_interval: Duration::ZERO,
        ..LocalnetConfig::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let t = Instant::now();
        let mut net = Localnet::start(cfg.clone())
            .await
            .expect("start the local chain");
        let boot = net.bootstrap().await.expect("bootstrap");
        let setup = t.elapsed();
        let netuid = boot.netuid;
        let endpoint = net.state().endpoint.clone();
        let st = Subtensor::connect(&endpoint).await.expect("connect");
        let alice = Keypair::from_uri("//Alice").expect("alice");

        let register = fill_subnet(&st, &alice, netuid, neurons).await;
        let mg = must("metagraph", st.metagraph(netuid).await);
        assert_eq!(mg.n(), neurons, "registered neurons");

        // One epoch gives the (only staked) validator its permit; then no epoch while measuring.
        let tempo = must("hyperparameters", st.hyperparameters(netuid).await).tempo;
        must("epoch", st.dev_new_blocks(u32::from(tempo) + 2).await);
        must(
            "tempo",
            st.sudo_set_tempo(&alice, netuid, MEASURE_TEMPO).await,
        );
        let vali_hot = Wallet::new("validator", "default", cfg.wallets_dir())
            .load_hotkey(None)
            .expect("validator hotkey");
        let vali_uid = boot.validator_uid;
        let mg = must("metagraph", st.metagraph(netuid).await);
        assert!(
            mg.neuron(vali_uid).is_some_and(|n| n.validator_permit),
            "validator permit after an epoch"
        );

        let load_before = loadavg();
        // Ours: connect + first read, then warm reads at a new head each time.
        let t = Instant::now();
        let fresh = Subtensor::connect(&endpoint).await.expect("connect");
        let first = must("metagraph", fresh.metagraph(netuid).await);
        let ours_cold = t.elapsed();
        assert_eq!(first.n(), neurons);
        drop(fresh);
        let mut ours = Vec::new();
        for _ in 0..iters {
            must("block", st.dev_new_blocks(1).await);
            let t = Instant::now();
            let mg = must("metagraph", st.metagraph(netuid).await);
            ours.push(t.elapsed());
            assert_eq!(mg.n(), neurons);
        }
        let ours = Stats::of(&ours);
        // What every read starts with: subxt's `at_current_block` (finalized head and header;
        // the runtime version is pinned per connection, so no `Core_version` call).
        let mut heads = Vec::new();
        for _ in 0..iters {
            must("block", st.dev_new_blocks(1).await);
            let t = Instant::now();
            must("current_block", st.current_block().await);
            heads.push(t.elapsed());
        }
        let heads = Stats::of(&heads);

        // The Python SDK against the same chain.
        let endpoint_py = endpoint.clone();
        let script_py = script.clone();
        let py = tokio::task::spawn_blocking(move || {
            run_python(&python, &script_py, &endpoint_py, netuid, iters)
        })
        .await
        .expect("python task");
        assert_eq!(py.n, u64::from(neurons), "Python metagraph size");
        assert_eq!(
            py.neurons_lite_n,
            u64::from(neurons),
            "Python neurons_lite size"
        );

        // set_weights over every uid, from the call to inclusion.
        let uids: Vec<u16> = mg.neurons.iter().map(|n| n.uid).collect();
        let raw: Vec<f32> = uids.iter().map(|u| f32::from(u % 17 + 1)).collect();
        let (w_uids, w_vals) = must(
            "process_weights",
            st.process_weights(netuid, &uids, &raw).await,
        );
        let mut pre = Vec::new();
        let mut total = Vec::new();
        let mut blocks = Vec::new();
        for _ in 0..iters {
            let t = Instant::now();
            must("hyperparameters", st.hyperparameters(netuid).await);
            pre.push(t.elapsed());
            let t = Instant::now();
            must(
                "set_weights",
                st.set_weights(&vali_hot, netuid, &w_uids, &w_vals, 0).await,
            );
            total.push(t.elapsed());
            let t = Instant::now();
            must("block", st.dev_new_blocks(1).await);
            blocks.push(t.elapsed());
        }
        let stored = must("weights", st.weights_of(netuid, vali_uid).await);
        assert_eq!(stored.len(), w_uids.len(), "weights stored for every uid");

        let load_after = loadavg();
        let cpus = std::thread::available_parallelism().map_or(0, usize::from);
        println!();
        println!(
            "chain bench: chopsticks + subtensor runtime spec 300 on 127.0.0.1, netuid {netuid}, \
             {neurons} neurons, {iters} iterations, {cpus} CPUs"
        );
        println!(
            "setup: chain start + bootstrap {:.1} s, registering {} neurons {:.1} s",
            setup.as_secs_f64(),
            neurons.saturating_sub(2),
            register.as_secs_f64()
        );
        println!("load average (1/5/15 min) before measuring: {load_before}, after: {load_after}");
        println!();
        println!(
            "| {:<58} | {:>9} | {:>9} | {:>9} |",
            "measurement (ms)", "median", "min", "max"
        );
        println!("|{:-<60}|{:-<11}|{:-<11}|{:-<11}|", "", "", "", "");
        row("ours: metagraph (get_neurons_lite), connected", ours);
        row("ours: connect + first metagraph", Stats::single(ours_cold));
        row("ours: current_block (head + header)", heads);
        row(
            &format!(
                "python bittensor {}: subtensor.metagraph(netuid)",
                py.version
            ),
            py.metagraph,
        );
        row("python: subtensor.neurons_lite(netuid)", py.neurons_lite);
        row(
            "python: Subtensor() + first metagraph",
            Stats::single(py.connect + py.first_metagraph),
        );
        row(
            &format!("ours: set_weights, {} uids, call to inBlock", w_uids.len()),
            Stats::of(&total),
        );
        row(
            "  of which reads before submit (hyperparameters)",
            Stats::of(&pre),
        );
        let submit: Vec<Duration> = total
            .iter()
            .zip(&pre)
            .map(|(t, p)| t.saturating_sub(*p))
            .collect();
        row(
            "  so submit to inBlock (call minus reads), approx.",
            Stats::of(&submit),
        );
        row(
            "chain: empty block (dev_newBlock), for scale",
            Stats::of(&blocks),
        );
        println!();
        println!(
            "metagraph sync, python / ours (median): subtensor.metagraph {:.1}x, \
             neurons_lite {:.1}x; cold {:.1}x",
            py.metagraph.median / ours.median,
            py.neurons_lite.median / ours.median,
            (py.connect + py.first_metagraph).as_secs_f64() / ours_cold.as_secs_f64()
        );
        println!(
            "set_weights: the local chain builds a block as soon as the transaction reaches its \
             pool (Instant mode), so this is client reads + signing + validation + one block on \
             chopsticks' WASM executor; a real chain adds the wait for its next block (up to 12 s)."
        );

        drop(st);
        net.stop().expect("stop the local chain");
    });
}

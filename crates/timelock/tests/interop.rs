//! Interop with the Python `bittensor-drand` package: each side decrypts what the other encrypted
//! (with drand's published signature of quicknet round 1000), and the weights commits agree on
//! payload size and reveal round.
//!
//! * `AUDIOSUBNET_TEST_PYTHON_DRAND`: a Python with `bittensor-drand` 2.x
//!   (`get_encrypted_commit_v2`, stateful epochs); `scripts/lib.sh` `ensure_drand_venv`.
//! * `AUDIOSUBNET_TEST_PYTHON_BT9`: the bittensor 9 venv, whose `bittensor-drand` 1.x has the v1
//!   `get_encrypted_commit` (block-modulo epochs); `scripts/lib.sh` `ensure_bittensor9_venv`.

use std::io::Write;
use std::process::{Command, Stdio};

use audiosubnet_timelock::{
    EpochSchedule, TimelockError, WeightsCommit, WeightsTlockPayload, decrypt, encrypt,
    reveal_round_v1, reveal_round_v2,
};
use codec::{Decode, Encode};
use serde_json::{Value, json};

/// Quicknet round 1000 and drand's published signature of it.
const ROUND: u64 = 1000;
const SIGNATURE: &str = "b44679b9a59af2ec876b1a6b1ad52ea9b1615fc3982b19576350f93447cb1125e342b73a8dd2bacbe47e4b6b63ed5e39";

/// bittensor-drand's `encrypt_at_round` output and `decrypt_with_signature` input.
#[derive(Encode, Decode)]
struct UserData {
    encrypted_data: Vec<u8>,
    reveal_round: u64,
}

fn python(var: &str) -> String {
    let ensure = if var == "AUDIOSUBNET_TEST_PYTHON_BT9" {
        "ensure_bittensor9_venv"
    } else {
        "ensure_drand_venv"
    };
    match std::env::var(var) {
        Ok(p) if !p.is_empty() => p,
        _ => panic!(
            "{var} is not set: it must name a Python interpreter with bittensor-drand installed \
             (scripts/test sets it; by hand: source scripts/lib.sh; export {var}=$({ensure}))"
        ),
    }
}

/// Runs `script` with `input` as JSON on stdin; returns its JSON stdout.
fn run_python(var: &str, script: &str, input: &Value) -> Value {
    let py = python(var);
    let mut child = Command::new(&py)
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {py} (from {var}): {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("python output");
    assert!(
        out.status.success(),
        "{py} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad JSON from python ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Shared Python part: both directions of encryption with the round-1000 signature.
const PY_CRYPTO: &str = r#"
import json, sys, time
import bittensor_drand as d
req = json.load(sys.stdin)
out = {}
out["version"] = getattr(d, "__version__", "")
out["decrypted"] = d.decrypt_with_signature(bytes.fromhex(req["userdata"]), req["sig"]).hex()
ct, rnd = d.encrypt_at_round(bytes.fromhex(req["payload"]), req["round"])
out["encrypted"] = ct.hex()
out["encrypted_round"] = rnd
"#;

const PY_COMMITS: &str = r#"
commits = []
for c in req["commits"]:
    kwargs = dict(c)
    kwargs["hotkey"] = bytes.fromhex(kwargs["hotkey"])
    t0 = time.time()
    try:
        ct, rnd = FN(**kwargs)
        res = {"ct": ct.hex(), "round": rnd}
    except Exception as e:
        res = {"error": str(e)}
    res["t0"] = t0
    res["t1"] = time.time()
    commits.append(res)
out["commits"] = commits
print(json.dumps(out))
"#;

fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(
        v[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} missing: {v}")),
    )
    .expect("hex")
}

/// Both directions of the encryption, checked on `payload`.
fn check_crypto(out: &Value, payload: &[u8]) {
    let sig = hex::decode(SIGNATURE).expect("hex");
    // (i) Python decrypted our ciphertext.
    assert_eq!(
        hex_field(out, "decrypted"),
        payload,
        "python decrypt of our ciphertext"
    );
    // (ii) We decrypt Python's ciphertext.
    assert_eq!(out["encrypted_round"].as_u64(), Some(ROUND));
    let ud = UserData::decode(&mut hex_field(out, "encrypted").as_slice()).expect("UserData");
    assert_eq!(ud.reveal_round, ROUND);
    assert_eq!(
        decrypt(&ud.encrypted_data, &sig).expect("decrypt python ciphertext"),
        payload
    );
    // Same layout: same length for the same plaintext.
    assert_eq!(
        ud.encrypted_data.len(),
        encrypt(payload, ROUND).expect("encrypt").len()
    );
}

fn crypto_input(payload: &[u8]) -> serde_json::Map<String, Value> {
    let ours = encrypt(payload, ROUND).expect("encrypt");
    let userdata = UserData {
        encrypted_data: ours,
        reveal_round: ROUND,
    }
    .encode();
    let mut m = serde_json::Map::new();
    m.insert("sig".into(), json!(SIGNATURE));
    m.insert("round".into(), json!(ROUND));
    m.insert("payload".into(), json!(hex::encode(payload)));
    m.insert("userdata".into(), json!(hex::encode(userdata)));
    m
}

/// A Python commit for a future round: it parses as a ciphertext (the round-1000 signature is
/// the wrong key, not a format error) and has our size for the same payload.
fn check_python_commit(res: &Value, payload: &[u8]) {
    let ct = hex_field(res, "ct");
    let sig = hex::decode(SIGNATURE).expect("hex");
    assert!(
        matches!(decrypt(&ct, &sig), Err(TimelockError::WrongSignature)),
        "python commit does not parse as a tle ciphertext"
    );
    assert_eq!(
        ct.len(),
        encrypt(payload, ROUND).expect("encrypt").len(),
        "python commit length differs: payload encoding differs"
    );
}

fn payload(hotkey: [u8; 32], uids: &[u16], values: &[u16], version_key: u64) -> Vec<u8> {
    WeightsTlockPayload {
        hotkey: hotkey.to_vec(),
        uids: uids.to_vec(),
        values: values.to_vec(),
        version_key,
    }
    .to_bytes()
}

#[test]
#[ignore = "needs the bittensor-drand venv; run scripts/test"]
fn bittensor_drand_2_interop() {
    let hotkey = [0x42; 32];
    let uids: Vec<u16> = vec![0, 3, 17, 255];
    let values: Vec<u16> = vec![65535, 12, 0, 4096];
    let version_key = 10_005_000;
    let pl = payload(hotkey, &uids, &values, version_key);

    // (last_epoch_block, pending_epoch_at, subnet_epoch_index, tempo, blocks_since_last_step,
    //  current_block, reveal_period_epochs, block_time)
    type Case = (u64, u64, u64, u16, u64, u64, u64, f64);
    let cases: [Case; 7] = [
        (10, 0, 0, 50, 0, 10, 1, 12.0),
        (4900, 0, 13, 360, 100, 5000, 1, 12.0),
        (4900, 0, 13, 360, 359, 5259, 1, 12.0),
        (4900, 0, 13, 360, 100, 5000, 3, 12.0),
        (100, 130, 2, 360, 5, 105, 1, 12.0),
        (0, 0, 0, 10, 60_000, 7, 2, 0.25),
        (1000, 0, 5, 0, 0, 1010, 1, 12.0),
    ];
    let commits: Vec<Value> = cases
        .iter()
        .map(|c| {
            json!({
                "uids": uids, "weights": values, "version_key": version_key,
                "last_epoch_block": c.0, "pending_epoch_at": c.1, "subnet_epoch_index": c.2,
                "tempo": c.3, "blocks_since_last_step": c.4, "current_block": c.5,
                "subnet_reveal_period_epochs": c.6, "block_time": c.7,
                "hotkey": hex::encode(hotkey),
            })
        })
        .collect();
    let mut input = crypto_input(&pl);
    input.insert("commits".into(), Value::Array(commits));
    let script = format!("{PY_CRYPTO}\nFN = d.get_encrypted_commit_v2\n{PY_COMMITS}");
    let out = run_python(
        "AUDIOSUBNET_TEST_PYTHON_DRAND",
        &script,
        &Value::Object(input),
    );
    check_crypto(&out, &pl);

    let results = out["commits"].as_array().expect("commits");
    assert_eq!(results.len(), cases.len());
    for (c, res) in cases.iter().zip(results) {
        let schedule = EpochSchedule {
            last_epoch_block: c.0,
            pending_epoch_at: c.1,
            subnet_epoch_index: c.2,
            tempo: c.3,
            blocks_since_last_step: c.4,
            current_block: c.5,
        };
        let (t0, t1) = (
            res["t0"].as_f64().expect("t0"),
            res["t1"].as_f64().expect("t1"),
        );
        let ours = |t: f64| reveal_round_v2(&schedule, c.6, c.7, t);
        if c.3 == 0 {
            assert!(res.get("error").is_some(), "python accepted tempo 0: {res}");
            assert!(matches!(ours(t0), Err(TimelockError::Schedule(_))));
            continue;
        }
        assert!(res.get("error").is_none(), "case {c:?}: {res}");
        let (lo, hi) = (ours(t0).expect("round"), ours(t1).expect("round"));
        let theirs = res["round"].as_u64().expect("round");
        assert!(
            (lo..=hi).contains(&theirs),
            "case {c:?}: python round {theirs}, ours {lo}..={hi}"
        );
        eprintln!(
            "v2 {c:?}: reveal block {}, round {theirs}",
            schedule.first_reveal_block(c.6).expect("block")
        );
        check_python_commit(res, &pl);
    }
}

#[test]
#[ignore = "needs the bittensor 9 venv (bittensor-drand 1.x); run scripts/test"]
fn bittensor_drand_1_interop() {
    let hotkey = [0x07; 32];
    let uids: Vec<u16> = vec![1, 2, 3];
    let values: Vec<u16> = vec![100, 200, 65535];
    let version_key = 9_012_002;
    let pl = payload(hotkey, &uids, &values, version_key);

    // (tempo, current_block, netuid, reveal_period_epochs, block_time)
    let cases: [(u16, u64, u16, u64, f64); 5] = [
        (360, 1000, 1, 1, 12.0),
        (360, 1081, 1, 1, 12.0),
        (20, 1000, 1, 3, 12.0),
        (10, 7, 4097, 2, 0.25),
        (99, 123_456, 0, 0, 12.0),
    ];
    let commits: Vec<Value> = cases
        .iter()
        .map(|c| {
            json!({
                "uids": uids, "weights": values, "version_key": version_key,
                "tempo": c.0, "current_block": c.1, "netuid": c.2,
                "subnet_reveal_period_epochs": c.3, "block_time": c.4,
                "hotkey": hex::encode(hotkey),
            })
        })
        .collect();
    let mut input = crypto_input(&pl);
    input.insert("commits".into(), Value::Array(commits));
    let script = format!("{PY_CRYPTO}\nFN = d.get_encrypted_commit\n{PY_COMMITS}");
    let out = run_python(
        "AUDIOSUBNET_TEST_PYTHON_BT9",
        &script,
        &Value::Object(input),
    );
    check_crypto(&out, &pl);

    let results = out["commits"].as_array().expect("commits");
    for (c, res) in cases.iter().zip(results) {
        assert!(res.get("error").is_none(), "case {c:?}: {res}");
        let (t0, t1) = (
            res["t0"].as_f64().expect("t0"),
            res["t1"].as_f64().expect("t1"),
        );
        let ours = |t: f64| reveal_round_v1(u64::from(c.0), c.1, c.2, c.3, c.4, t);
        let theirs = res["round"].as_u64().expect("round");
        assert!(
            (ours(t0)..=ours(t1)).contains(&theirs),
            "case {c:?}: python round {theirs}, ours {}..={}",
            ours(t0),
            ours(t1)
        );
        check_python_commit(res, &pl);
    }

    // The same commit through our `WeightsCommit` builds the same payload.
    let commit = WeightsCommit {
        hotkey: Some(hotkey),
        uids,
        values,
        version_key,
        epochs: audiosubnet_timelock::EpochModel::Modulo {
            tempo: 360,
            netuid: 1,
            current_block: 1000,
        },
        reveal_period_epochs: 1,
        block_time: 12.0,
    };
    assert_eq!(commit.payload(), pl);
}

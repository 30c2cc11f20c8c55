//! Stopping the neurons as a service manager does, with SIGTERM: a miner under load answers
//! every request it had accepted before it exits, and meanwhile refuses new ones with 503; a
//! validator stopped in the middle of a round exits 0 and, restarted, carries on from the EMAs it
//! had.

mod common;

use common::{Guard, bin, free_port, hotkey, regen, start_miner, start_miner_with};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use audiosubnet_dendrite::{AxonTarget, Dendrite};
use audiosubnet_protocol::TextToSpeech;
use audiosubnet_wallet::Keypair;

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const CHARLIE: &str = "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y";

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

fn wait_exit(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "still running after {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A sentence long enough that espeak-ng takes a noticeable time over it.
fn long_prompt(n: usize) -> String {
    format!(
        "Request number {n}. The validator asks every miner for the same sentence, listens to the \
         answer with a speech recogniser, rates how natural it sounds, and keeps a moving average \
         of the rewards, which it turns into weights on the chain at the end of every epoch. \
         A miner that is stopping must still answer the requests it has already taken."
    )
}

#[test]
#[ignore = "needs espeak-ng; run scripts/test"]
fn a_miner_stopped_under_load_answers_every_accepted_request() {
    // Enough work that the drain outlasts the late request: with 24 prompts espeak-ng on an
    // idle machine sometimes finished them all within milliseconds of the signal, the miner
    // exited, and the late request met a closed port instead of the 503 (about one run in ten).
    const LOAD: usize = 60;
    let dir = tempfile::tempdir().expect("tempdir");
    let wallets = dir.path().join("wallets");
    regen(&wallets, "miner", "//Bob");
    let bob = hotkey(&wallets, "miner");
    let port = free_port();
    // Its log says when it has seen the signal and drains.
    let log = dir.path().join("miner.log");
    let mut miner = start_miner_with(
        &wallets,
        "miner",
        "espeak",
        port,
        &[
            "--blacklist.allowed_hotkeys",
            ALICE,
            "--miner.queue",
            "64",
            "--axon.drain_timeout",
            "120",
        ],
        |command| {
            command.stderr(std::fs::File::create(&log).expect("log file"));
        },
    );
    let target: AxonTarget = format!("{bob}@127.0.0.1:{port}").parse().expect("target");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (accepted, late, signalled) = runtime.block_on(async {
        let dendrite = std::sync::Arc::new(Dendrite::new(
            Keypair::from_uri("//Alice").expect("dev uri"),
        ));
        // Warm up: the first synthesis loads the voice.
        let warm = dendrite
            .call(
                &target,
                &TextToSpeech::request("Hello."),
                Duration::from_secs(60),
            )
            .await;
        assert_eq!(warm.status_code, 200, "{}", warm.status_message);

        let load: Vec<_> = (0..LOAD)
            .map(|n| {
                let (dendrite, target) = (dendrite.clone(), target.clone());
                tokio::spawn(async move {
                    let prompt = TextToSpeech::request(long_prompt(n));
                    let reply = dendrite
                        .call(&target, &prompt, Duration::from_secs(180))
                        .await;
                    (reply, Instant::now())
                })
            })
            .collect();
        // Every request is on the wire and queued (one synthesis worker) before the signal.
        tokio::time::sleep(Duration::from_secs(1)).await;
        sigterm(&miner.0);
        let signalled = Instant::now();
        // On a loaded machine the signal can take a while to be handled; ask once it drains.
        while !read(&log).contains("draining") {
            assert!(
                signalled.elapsed() < Duration::from_secs(60),
                "{}",
                read(&log)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let late = Dendrite::new(Keypair::from_uri("//Alice").expect("dev uri"))
            .call(
                &target,
                &TextToSpeech::request("Too late."),
                Duration::from_secs(30),
            )
            .await;
        let mut accepted = Vec::new();
        for task in load {
            accepted.push(task.await.expect("request task"));
        }
        (accepted, late, signalled)
    });
    let status = wait_exit(&mut miner.0, Duration::from_secs(60));
    assert!(status.success(), "the miner exited with {status}");
    assert_eq!(
        late.status_code,
        503,
        "{}\n{}",
        late.status_message,
        read(&log)
    );
    // The drain was real: some of the accepted requests were still being served at the signal.
    assert!(
        accepted.iter().any(|(_, done)| *done > signalled),
        "every request was answered before SIGTERM; the test needs more load"
    );
    for (n, (reply, _)) in accepted.iter().enumerate() {
        let audio = reply
            .synapse
            .as_ref()
            .and_then(|s| s.speech_output.as_ref())
            .map_or(0, Vec::len);
        assert!(
            reply.status_code == 200 && audio > 0,
            "request {n} accepted before SIGTERM got {} {:?} ({audio} samples)",
            reply.status_code,
            reply.status_message
        );
    }
}

/// Every miner's EMA in the validator's state file.
fn emas(state: &Path) -> Vec<(String, f64)> {
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state).expect("state file")).expect("json");
    let miners = state["miners"].as_object().expect("miners");
    miners
        .iter()
        .map(|(k, m)| (k.clone(), m["ema"].as_f64().expect("ema")))
        .collect()
}

fn validator(dir: &Path, axons: &str, extra: &[&str], log: &Path) -> Child {
    // Plain sentences espeak-ng says intelligibly: with generated prompts the judge sometimes
    // (about one run in three) gave espeak's clip a reward of 0 (names it mangled), and the
    // first round left no EMA to carry over.
    let prompts = dir.join("prompts.txt");
    std::fs::write(
        &prompts,
        "The weather is warm and sunny today.\nPlease open the window in the kitchen.\n",
    )
    .expect("prompts file");
    Command::new(bin())
        .args(["validator", "--offline", "--axons", axons])
        .arg("--prompts.file")
        .arg(&prompts)
        .args(["--wallet.name", "validator", "--models.offline"])
        .args(["--neuron.round_interval", "0", "--neuron.timeout", "30"])
        .arg("--wallet.path")
        .arg(dir.join("wallets"))
        .arg("--state.path")
        .arg(dir.join("state.json"))
        .arg("--scores.out")
        .arg(dir.join("scores.json"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("validator starts")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
#[ignore = "needs the scoring models and espeak-ng; run scripts/test"]
fn a_validator_stopped_mid_round_restarts_with_the_same_emas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wallets = dir.path().join("wallets");
    regen(&wallets, "miner", "//Bob");
    regen(&wallets, "validator", "//Alice");
    let bob = hotkey(&wallets, "miner");
    let port = free_port();
    let _miner = start_miner(
        &wallets,
        "miner",
        "espeak",
        port,
        &["--blacklist.allowed_hotkeys", ALICE],
    );
    // A miner that accepts connections and never answers: a round that includes it lasts the
    // whole --neuron.timeout, so a signal sent a few seconds in lands mid-round.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming() {
            held.push(stream);
        }
    });
    let speaking = format!("{bob}@127.0.0.1:{port}");
    let both = format!("{speaking},{CHARLIE}@127.0.0.1:{silent_port}");

    // One whole round: Bob gets an EMA.
    let log = dir.path().join("first.log");
    let mut first = validator(dir.path(), &speaking, &["--rounds", "1"], &log);
    let status = wait_exit(&mut first, Duration::from_secs(300));
    assert!(status.success(), "{}", read(&log));
    let before = emas(&dir.path().join("state.json"));
    assert!(
        before.iter().any(|(k, ema)| *k == bob && *ema > 0.0),
        "{before:?}\n{}",
        read(&log)
    );

    // Stopped mid-round: exits 0 at once, and the state is the last whole round's.
    let log = dir.path().join("stopped.log");
    let child = validator(dir.path(), &both, &[], &log);
    let mut stopped = Guard(child);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !read(&log).contains("validator running") {
        assert!(Instant::now() < deadline, "{}", read(&log));
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(5));
    sigterm(&stopped.0);
    let signalled = Instant::now();
    let status = wait_exit(&mut stopped.0, Duration::from_secs(20));
    assert!(status.success(), "exit {status}: {}", read(&log));
    assert!(
        signalled.elapsed() < Duration::from_secs(15),
        "waited out the round"
    );
    assert_eq!(
        emas(&dir.path().join("state.json")),
        before,
        "{}",
        read(&log)
    );

    // Restarted: the next round moves Bob's EMA from where it was.
    let log = dir.path().join("restarted.log");
    let mut restarted = validator(dir.path(), &speaking, &["--rounds", "1"], &log);
    let status = wait_exit(&mut restarted, Duration::from_secs(300));
    assert!(status.success(), "{}", read(&log));
    assert!(read(&log).contains("resumed state"), "{}", read(&log));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("scores.json")).expect("scores"))
            .expect("json");
    let row = summary
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["hotkey"] == bob.as_str())
        .expect("Bob's row");
    let reward = row["last_reward"].as_f64().expect("reward");
    let ema_before = before.iter().find(|(k, _)| *k == bob).expect("Bob").1;
    let ema = row["ema"].as_f64().expect("ema");
    let expected = 0.9 * ema_before + 0.1 * reward;
    assert!(
        (ema - expected).abs() < 1e-9,
        "EMA {ema}, expected 0.9 × {ema_before} + 0.1 × {reward} = {expected}"
    );
}

//! A music miner (`audiosubnet miner --task music`) queried by the Python SDK 10.5 dendrite with
//! the original `MusicGeneration` declarations (AudioSubnet's HEAD and BittAudio's), and by an
//! SDK 11.3 client signing `btauth/1` for `POST /music`: real music from the SoundFont engine
//! comes back; a length over the miner's limit gets a clear 400; a miner serving both tasks
//! answers both on one port.

mod common;

use common::{free_port, python_script, regen, start_miner};
use std::process::Command;

const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

fn query_music(port: u16, variant: &str, text: &str, tokens: i64) -> serde_json::Value {
    let port = port.to_string();
    let tokens = tokens.to_string();
    python_script(
        "query_music.py",
        &[BOB, "127.0.0.1", &port, variant, text, &tokens, "60"],
    )
}

#[test]
#[ignore = "needs the Python SDK venv and fluid-soundfont-gm; run scripts/test"]
fn python_dendrite_gets_music_from_our_music_miner() {
    let home = tempfile::tempdir().expect("tempdir");
    let wallets = home.path().join("wallets");
    regen(&wallets, "miner", "//Bob");
    let port = free_port();
    let _miner = start_miner(
        &wallets,
        "miner",
        "fluidsynth",
        port,
        &["--task", "music", "--music.max_seconds", "20"],
    );

    for (variant, prompt) in [
        (
            "head",
            "upbeat jazz trio with piano and brushed drums, 120 bpm",
        ),
        ("bittaudio", "melancholic ambient pads in D minor"),
    ] {
        // 250 MusicGen tokens: 5 s, as the original validators counted.
        let r = query_music(port, variant, prompt, 250);
        assert_eq!(r["status_code"], 200, "{variant}: {r}");
        assert_eq!(r["is_success"], true, "{variant}: {r}");
        // HEAD's class leaves model_name unset and the miner names its engine; BittAudio's
        // sends its Literal default, which must come back unchanged or its dendrite refuses
        // the reply.
        let model = if variant == "head" {
            "soundfont"
        } else {
            "facebook/musicgen-medium"
        };
        assert_eq!(r["model_name"], model, "{variant}: {r}");
        assert_eq!(r["all_floats"], true, "{variant}: {r}");
        assert_eq!(r["text_input"], prompt, "{variant}: {r}");
        let rate = r["sample_rate"].as_f64().unwrap_or(32_000.0);
        assert_eq!(rate, 32_000.0, "{variant}: {r}");
        let seconds = r["samples"].as_f64().expect("samples") / rate;
        assert!((seconds - 5.0).abs() <= 0.5, "{variant}: {seconds} s: {r}");
        let (peak, rms) = (
            r["peak"].as_f64().expect("peak"),
            r["rms"].as_f64().expect("rms"),
        );
        assert!(
            peak <= 1.0 && rms > 0.01,
            "{variant}: peak {peak}, rms {rms}: {r}"
        );
    }

    // 2000 s is over --music.max_seconds: a 400 that says the limit.
    let long = query_music(port, "head", "an endless drone", 100_000);
    assert_eq!(long["status_code"], 400, "{long}");
    let message = long["status_message"].as_str().unwrap_or("");
    assert!(message.contains("20 s"), "{long}");
    // A blank prompt is a 400 too, and the miner keeps serving.
    assert_eq!(query_music(port, "head", "  ", 100)["status_code"], 400);
    assert_eq!(
        query_music(port, "head", "a folk song", 100)["status_code"],
        200
    );

    // SDK 11: `btauth/1` signed by `bittensor.http_auth`, binary WAV back.
    let bt11 = std::env::var("AUDIOSUBNET_TEST_PYTHON_BT11")
        .expect("AUDIOSUBNET_TEST_PYTHON_BT11 (scripts/test sets it)");
    let base = format!("http://127.0.0.1:{port}");
    let sdk11 = |text: &str, seconds: &str| {
        let out = Command::new(&bt11)
            .args(["btauth11.py", "music", &base, BOB, text, seconds])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/python"))
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str::<serde_json::Value>(stdout.lines().last().unwrap_or(""))
            .unwrap_or_else(|e| panic!("{stdout}: {e}"))
    };
    let wav = sdk11("a waltz for strings in G major", "3");
    assert_eq!(wav["status"], 200, "{wav}");
    assert_eq!(wav["model"], "soundfont", "{wav}");
    assert_eq!(wav["wav_rate"], 32_000, "{wav}");
    let frames = wav["wav_frames"].as_f64().expect("frames");
    assert!((frames / 32_000.0 - 3.0).abs() <= 0.5, "{wav}");
    let too_long = sdk11("an endless drone", "600");
    assert_eq!(too_long["status"], 400, "{too_long}");
    assert!(
        too_long["error"].as_str().unwrap_or("").contains("20 s"),
        "{too_long}"
    );
}

#[test]
#[ignore = "needs the Python SDK venv, espeak-ng and fluid-soundfont-gm; run scripts/test"]
fn one_miner_serves_speech_and_music_on_one_port() {
    let home = tempfile::tempdir().expect("tempdir");
    let wallets = home.path().join("wallets");
    regen(&wallets, "miner", "//Bob");
    let port = free_port();
    let _miner = start_miner(
        &wallets,
        "miner",
        "espeak",
        port,
        &["--task", "speech,music"],
    );
    let music = query_music(port, "head", "a calm piano piece in C major", 150);
    assert_eq!(music["status_code"], 200, "{music}");
    let port_s = port.to_string();
    let speech = python_script(
        "query_axon.py",
        &[
            BOB,
            "127.0.0.1",
            &port_s,
            "hashed",
            "Speech and music on one axon.",
        ],
    );
    assert_eq!(speech["status_code"], 200, "{speech}");
    assert_eq!(speech["model_name"], "espeak", "{speech}");

    // A speech-only miner has no music route: 404, as the Python axon answers unknown synapses.
    let speech_only = free_port();
    let _speech_miner = start_miner(&wallets, "miner", "espeak", speech_only, &[]);
    let none = query_music(speech_only, "head", "a folk song", 100);
    assert_eq!(none["status_code"], 404, "{none}");
}

/// Our validator's dendrite asks for music over each transport and reads the same clip back;
/// a miner without music answers 404 without teaching the dendrite that it lacks `btauth/1`.
#[test]
#[ignore = "needs espeak-ng and fluid-soundfont-gm; run scripts/test"]
fn our_dendrite_asks_for_music_over_both_transports() {
    use audiosubnet_dendrite::{AudioAsk, AxonTarget, Dendrite, Transport, TransportMode};
    use audiosubnet_wallet::Keypair;
    use std::time::Duration;

    let home = tempfile::tempdir().expect("tempdir");
    let wallets = home.path().join("wallets");
    regen(&wallets, "miner", "//Bob");
    let port = free_port();
    let _miner = start_miner(
        &wallets,
        "miner",
        "espeak",
        port,
        &["--task", "speech,music"],
    );
    let speech_only = free_port();
    let _speech_miner = start_miner(&wallets, "miner", "espeak", speech_only, &[]);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let dendrite = Dendrite::new(Keypair::from_uri("//Alice").expect("dev uri"));
        let target: AxonTarget = format!("{BOB}@127.0.0.1:{port}").parse().expect("target");
        let ask = AudioAsk::Music {
            text: "a driving rock song in E minor at 128 BPM with electric guitar",
            seconds: 4.0,
        };
        for (mode, expected) in [
            (TransportMode::Synapse, Transport::Synapse),
            (TransportMode::Btauth, Transport::Btauth),
            (TransportMode::Auto, Transport::Btauth),
        ] {
            let got = dendrite
                .ask(&target, &ask, Duration::from_secs(60), mode)
                .await;
            let r = &got.response;
            assert_eq!(r.status_code, 200, "{mode:?}: {}", r.status_message);
            assert_eq!(got.transport, expected);
            let reply = r.synapse.as_ref().expect("reply");
            assert_eq!(reply.effective_sample_rate(), 32_000, "{mode:?}");
            let samples = reply.speech_output.as_ref().expect("music");
            let seconds = samples.len() as f64 / 32_000.0;
            assert!((seconds - 4.0).abs() < 0.1, "{mode:?}: {seconds} s");
        }
        let none: AxonTarget = format!("{BOB}@127.0.0.1:{speech_only}")
            .parse()
            .expect("target");
        let got = dendrite
            .ask(&none, &ask, Duration::from_secs(30), TransportMode::Auto)
            .await;
        assert_eq!(
            got.response.status_code, 404,
            "{}",
            got.response.status_message
        );
        assert_eq!(dendrite.known_transport(BOB), None);
        let spoken = dendrite
            .speak(
                &none,
                "Still speaking.",
                Duration::from_secs(30),
                TransportMode::Auto,
            )
            .await;
        assert_eq!(spoken.response.status_code, 200);
        assert_eq!(spoken.transport, Transport::Btauth);
    });
}

/// `audiosubnet validator --tasks speech,music`: one miner serving both is asked for each in
/// turn; the scores file has an EMA per task and a combined one that is their even blend.
#[test]
#[ignore = "needs the scoring models, espeak-ng and fluid-soundfont-gm; run scripts/test"]
fn a_validator_scores_speech_and_music_and_blends_them() {
    let home = tempfile::tempdir().expect("tempdir");
    let wallets = home.path().join("wallets");
    regen(&wallets, "miner", "//Bob");
    regen(&wallets, "validator", "//Alice");
    let port = free_port();
    let _miner = start_miner(
        &wallets,
        "miner",
        "espeak",
        port,
        &["--task", "speech,music"],
    );
    let prompts = home.path().join("prompts.txt");
    std::fs::write(&prompts, "The weather is warm and sunny today.\n").expect("prompts");
    let validate = |run: &str, tasks: &str, extra: &[&std::ffi::OsStr]| {
        let scores = home.path().join(format!("scores-{run}.json"));
        let out = Command::new(common::bin())
            .args(["validator", "--offline", "--axons"])
            .arg(format!("{BOB}@127.0.0.1:{port}"))
            .args(["--tasks", tasks, "--rounds", "4", "--music.duration", "6"])
            .arg("--prompts.file")
            .arg(&prompts)
            .args(["--wallet.name", "validator", "--models.offline"])
            .args(["--neuron.round_interval", "0"])
            .arg("--wallet.path")
            .arg(&wallets)
            .arg("--state.path")
            .arg(home.path().join(format!("state-{run}.json")))
            .arg("--scores.out")
            .arg(&scores)
            .args(extra)
            // Hermetic: the default CLAP checkpoint is not fetched from the hub.
            .env("HF_HUB_OFFLINE", "1")
            .output()
            .expect("validator runs");
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{log}");
        let rows: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&scores).expect("scores")).expect("json");
        (rows[0].clone(), log)
    };

    // Without CLAP weights the validator says so and judges on the measurable terms.
    let (row, log) = validate("plain", "speech,music", &[]);
    assert!(
        log.contains("no CLAP") && log.contains("HF_HUB_OFFLINE"),
        "the validator says what music is judged on\n{log}"
    );
    let speech = row["tasks"]["speech"]["ema"].as_f64().expect("speech EMA");
    let music = row["tasks"]["music"]["ema"].as_f64().expect("music EMA");
    assert_eq!(row["tasks"]["speech"]["responses"], 2, "{row}");
    assert_eq!(row["tasks"]["music"]["responses"], 2, "{row}");
    assert!(speech > 0.0 && music > 0.0, "{row}\n{log}");
    let ema = row["ema"].as_f64().expect("ema");
    assert!((ema - 0.5 * (speech + music)).abs() < 1e-9, "{row}");

    // With a CLAP checkpoint (the tiny random one of the parity tests) its term is in the
    // breakdown and scales the adherence product.
    let tiny_clap = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../clap/tests/fixtures/tiny")
        .into_os_string();
    let (row, log) = validate(
        "clap",
        "music",
        &[std::ffi::OsStr::new("--music.clap.path"), &tiny_clap],
    );
    assert!(log.contains("scaled by CLAP"), "{log}");
    let last = &row["last_breakdown"];
    let clap = last["clap"]
        .as_f64()
        .expect("CLAP term in the music breakdown");
    let adherence = last["adherence"].as_f64().expect("adherence");
    let reward = last["reward"].as_f64().expect("reward");
    assert!((0.0..=1.0).contains(&clap), "{last}");
    assert!(last["clap_similarity"].as_f64().is_some(), "{last}");
    assert!(
        (reward - adherence * (0.5 + 0.5 * clap)).abs() < 1e-6,
        "{last}"
    );

    // A checkpoint directory that is not one is an error, not a silent fallback.
    let out = Command::new(common::bin())
        .args(["validator", "--offline", "--axons"])
        .arg(format!("{BOB}@127.0.0.1:{port}"))
        .args(["--tasks", "music", "--rounds", "1", "--models.offline"])
        .args(["--wallet.name", "validator"])
        .arg("--wallet.path")
        .arg(&wallets)
        .arg("--music.clap.path")
        .arg(home.path())
        .output()
        .expect("validator runs");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{log}");
    assert!(log.contains("--music.clap.path"), "{log}");
}

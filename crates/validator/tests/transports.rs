//! Both wire protocols through the real round: one miner answering over Synapse (f32 JSON) and
//! `btauth/1` `/tts` (16-bit WAV) hands the judge bit-identical samples and gets the same reward;
//! `--neuron.transport auto` picks btauth where a miner serves it and Synapse otherwise, probing
//! a Synapse-only miner once and then remembering it; the transport is recorded in the round,
//! the state and `--scores.out`; a btauth miner that fails is not moved to Synapse. No models:
//! the judge records what it was given.

use audiosubnet_axon::{
    AudioEncoding, Axon, AxonConfig, Caller, ConnectionLimits, ForwardError, TtsAudio, TtsRequest,
};
use audiosubnet_dendrite::{AxonTarget, Dendrite, Transport, TransportMode};
use audiosubnet_protocol::TextToSpeech;
use audiosubnet_validator::judge::{Judge, JudgeError, Judgement};
use audiosubnet_validator::round::{RoundConfig, RoundReport, Target, run_round};
use audiosubnet_validator::state::ScoreState;
use audiosubnet_wallet::Keypair;
use futures::future::BoxFuture;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const RATE: u32 = 22_050;

/// A speech-like clip: a tone under a syllable-rate envelope, values not on the 16-bit grid.
fn clip() -> Vec<f32> {
    (0..RATE as usize)
        .map(|i| {
            let t = i as f32 / RATE as f32;
            let env = 0.5 + 0.45 * (t * 2.0 * std::f32::consts::PI * 4.0).sin();
            env * 0.6 * (t * 2.0 * std::f32::consts::PI * 180.0).sin() + 1e-6 * (i % 7) as f32
        })
        .collect()
}

/// Requests the miner saw, by route.
#[derive(Default)]
struct Seen {
    synapse: AtomicUsize,
    tts: AtomicUsize,
    tts_probes: AtomicUsize,
}

/// Starts a miner speaking [`clip`] over the given transports; `fail_tts` answers `/tts` with
/// 500. Every request to `/tts` is counted, served or not.
async fn miner(uri: &str, synapse: bool, btauth: bool, fail_tts: bool) -> (AxonTarget, Arc<Seen>) {
    let keypair = Keypair::from_uri(uri).expect("dev uri");
    let hotkey = keypair.ss58();
    let seen = Arc::new(Seen::default());
    let mut builder = Axon::builder(keypair, AxonConfig::default()).synapse(synapse);
    let s = seen.clone();
    builder = builder.attach(move |_c: Caller, mut req: TextToSpeech| {
        let s = s.clone();
        async move {
            s.synapse.fetch_add(1, Ordering::SeqCst);
            req.speech_output = Some(clip());
            req.sample_rate = Some(RATE);
            req.model_name = Some("fixed-clip".into());
            Ok::<_, ForwardError>(req)
        }
    });
    if btauth {
        let s = seen.clone();
        builder = builder.attach_tts(move |_c: Caller, _req: TtsRequest, enc: AudioEncoding| {
            let s = s.clone();
            async move {
                s.tts.fetch_add(1, Ordering::SeqCst);
                if fail_tts {
                    return Err(ForwardError::Internal("engine down".into()));
                }
                assert_eq!(enc, AudioEncoding::Wav, "the validator asks for WAV");
                let body = audiosubnet_audio::encode_wav16(&clip(), RATE)
                    .map_err(|e| ForwardError::Internal(e.to_string()))?;
                Ok(TtsAudio {
                    body: body.into(),
                    sample_rate: RATE,
                    model: "fixed-clip".into(),
                })
            }
        });
    }
    let axon = builder.build();
    let s = seen.clone();
    let router = axon.router().layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            if req.uri().path() == "/tts" {
                s.tts_probes.fetch_add(1, Ordering::SeqCst);
            }
            next.run(req)
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(audiosubnet_axon::serve_with_limits(
        listener,
        router,
        ConnectionLimits::default(),
        std::future::pending(),
    ));
    let target = format!("{hotkey}@{addr}").parse().expect("target");
    (target, seen)
}

/// Records every clip it is given; the reward is a fixed function of the samples, so equal
/// samples get equal rewards and any difference would show.
#[derive(Default)]
struct Recording(Mutex<Vec<(String, Vec<f32>, u32)>>);

impl Judge for Recording {
    fn judge(
        &self,
        hotkey: String,
        _prompt: String,
        samples: Arc<Vec<f32>>,
        sample_rate: u32,
    ) -> BoxFuture<'static, Result<Judgement, JudgeError>> {
        let energy: f64 =
            samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len() as f64;
        self.0
            .lock()
            .expect("lock")
            .push((hotkey, samples.to_vec(), sample_rate));
        Box::pin(async move {
            Ok(Judgement {
                reward: (energy * 5.0).min(1.0),
                breakdown: serde_json::json!({ "energy": energy }),
                fingerprint: None,
                exact_hash: None,
                indexed: false,
                wer: None,
                mos: None,
                transcript: None,
            })
        })
    }
}

fn config(transport: TransportMode) -> RoundConfig {
    RoundConfig {
        timeout: Duration::from_secs(10),
        alpha: 0.9,
        threshold: 0.0,
        transport,
    }
}

async fn round(
    dendrite: &Dendrite,
    judge: &Arc<dyn Judge>,
    targets: &[AxonTarget],
    state: &mut ScoreState,
    mode: TransportMode,
) -> RoundReport {
    let targets: Vec<Target> = targets
        .iter()
        .map(|a| Target {
            uid: None,
            axon: a.clone(),
        })
        .collect();
    run_round(
        dendrite,
        judge,
        "Hello there.",
        &targets,
        state,
        &config(mode),
        true,
    )
    .await
}

#[tokio::test]
async fn the_same_audio_scores_identically_over_both_transports() {
    let (target, seen) = miner("//Bob", true, true, false).await;
    let dendrite = Dendrite::new(Keypair::from_uri("//Alice").expect("dev uri"));
    let recording = Arc::new(Recording::default());
    let judge: Arc<dyn Judge> = recording.clone();
    let mut rewards = Vec::new();
    for mode in [TransportMode::Synapse, TransportMode::Btauth] {
        let mut state = ScoreState::default();
        let report = round(
            &dendrite,
            &judge,
            std::slice::from_ref(&target),
            &mut state,
            mode,
        )
        .await;
        let r = &report.results[0];
        assert_eq!(r.status, 200, "{:?}", r.reason);
        let expected = match mode {
            TransportMode::Synapse => Transport::Synapse,
            _ => Transport::Btauth,
        };
        assert_eq!(r.transport, expected);
        assert_eq!(state.miners[&target.hotkey].transport, Some(expected));
        let line = serde_json::to_value(r).expect("serializes");
        assert_eq!(line["transport"], expected.name());
        assert_eq!(r.model_name.as_deref(), Some("fixed-clip"));
        rewards.push(r.reward.expect("scored"));
    }
    assert_eq!(seen.synapse.load(Ordering::SeqCst), 1);
    assert_eq!(seen.tts.load(Ordering::SeqCst), 1);
    let clips = recording.0.lock().expect("lock");
    let (_, over_synapse, rate_a) = &clips[0];
    let (_, over_btauth, rate_b) = &clips[1];
    assert_eq!(rate_a, rate_b);
    assert_eq!(over_synapse.len(), over_btauth.len());
    // Bit-identical: the Synapse floats were put on the 16-bit grid the WAV carried.
    assert!(
        over_synapse
            .iter()
            .zip(over_btauth)
            .all(|(a, b)| a.to_bits() == b.to_bits()),
        "the judge saw different samples"
    );
    assert_eq!(rewards[0].to_bits(), rewards[1].to_bits(), "{rewards:?}");
    // …and they are the miner's clip within one 16-bit step.
    let original = clip();
    assert!(
        original
            .iter()
            .zip(over_btauth)
            .all(|(a, b)| (a - b).abs() <= 1.5 / 32_768.0)
    );
}

#[tokio::test]
async fn auto_uses_btauth_where_served_and_probes_synapse_miners_once() {
    let (both, seen_both) = miner("//Bob", true, true, false).await;
    let (synapse_only, seen_syn) = miner("//Charlie", true, false, false).await;
    let (btauth_only, seen_bt) = miner("//Dave", false, true, false).await;
    let dendrite = Dendrite::new(Keypair::from_uri("//Alice").expect("dev uri"));
    let judge: Arc<dyn Judge> = Arc::new(Recording::default());
    let mut state = ScoreState::default();
    let targets = [both.clone(), synapse_only.clone(), btauth_only.clone()];
    for n in 1..=3usize {
        let report = round(&dendrite, &judge, &targets, &mut state, TransportMode::Auto).await;
        let via: Vec<Transport> = report.results.iter().map(|r| r.transport).collect();
        assert_eq!(
            via,
            [Transport::Btauth, Transport::Synapse, Transport::Btauth]
        );
        for r in &report.results {
            assert_eq!(r.status, 200, "{}: {:?}", r.hotkey, r.reason);
            assert!(r.reward.is_some_and(|x| x > 0.0));
        }
        assert_eq!(seen_both.tts.load(Ordering::SeqCst), n);
        assert_eq!(seen_both.synapse.load(Ordering::SeqCst), 0);
        assert_eq!(seen_bt.tts.load(Ordering::SeqCst), n);
        assert_eq!(seen_syn.synapse.load(Ordering::SeqCst), n);
        // One probe on /tts, in the first round only.
        assert_eq!(seen_syn.tts_probes.load(Ordering::SeqCst), 1);
    }
    assert_eq!(
        dendrite.known_transport(&synapse_only.hotkey),
        Some(Transport::Synapse)
    );
    assert_eq!(
        dendrite.known_transport(&both.hotkey),
        Some(Transport::Btauth)
    );
    // Recorded in the state and in --scores.out.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("scores.json");
    audiosubnet_validator::service::write_scores(&out, &state).expect("written");
    let lines: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("read")).expect("json");
    for line in lines.as_array().expect("array") {
        let want = if line["hotkey"] == synapse_only.hotkey.as_str() {
            "synapse"
        } else {
            "btauth"
        };
        assert_eq!(line["transport"], want, "{line}");
    }
}

#[tokio::test]
async fn a_failing_btauth_miner_is_charged_and_not_switched() {
    let (target, seen) = miner("//Eve", true, true, true).await;
    let dendrite = Dendrite::new(Keypair::from_uri("//Alice").expect("dev uri"));
    let judge: Arc<dyn Judge> = Arc::new(Recording::default());
    let mut state = ScoreState::default();
    for _ in 0..2 {
        let report = round(
            &dendrite,
            &judge,
            std::slice::from_ref(&target),
            &mut state,
            TransportMode::Auto,
        )
        .await;
        let r = &report.results[0];
        assert_eq!(r.transport, Transport::Btauth);
        assert_eq!(r.status, 500);
        assert!(r.failed);
        assert_eq!(r.reward, Some(0.0));
    }
    assert_eq!(seen.tts.load(Ordering::SeqCst), 2);
    assert_eq!(
        seen.synapse.load(Ordering::SeqCst),
        0,
        "5xx is no reason to switch"
    );
    assert_eq!(dendrite.known_transport(&target.hotkey), None);
    assert_eq!(state.miners[&target.hotkey].failures, 2);
}

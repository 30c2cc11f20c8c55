//! The validator against real engines and cheating miners, over real axons on loopback: honest
//! engines are ranked by quality, every cheat earns far less than the worst honest engine, and
//! nothing crashes or stalls the validator. Then the validator is "killed" (its task aborted
//! mid-round) and restarted: it resumes with the same scores.
//!
//! Needs the scoring models and the engines (`scripts/test` installs them).

use audiosubnet_axon::{AllowAll, Axon, AxonConfig, Caller, ForwardError};
use audiosubnet_dendrite::{AxonTarget, Dendrite};
use audiosubnet_miner::build_axon;
use audiosubnet_protocol::TextToSpeech;
use audiosubnet_scoring::{Scorer, ScorerConfig};
use audiosubnet_tts::{EngineOptions, PoolConfig, Speech, SynthesisPool};
use audiosubnet_validator::judge::ScoringJudge;
use audiosubnet_validator::network::FixedMiners;
use audiosubnet_validator::prompts::PromptSource;
use audiosubnet_validator::round::{RoundConfig, Target};
use audiosubnet_validator::service::{LoopConfig, run_rounds};
use audiosubnet_validator::state::ScoreState;
use audiosubnet_wallet::Keypair;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PROMPTS: [&str; 20] = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Amelia booked a table for four at seven thirty on Friday evening.",
    "Please remember to water the plants while I am away next week.",
    "On March 3rd, 2021, the museum welcomed 1,250 visitors.",
    "Why did the train stop in the middle of the bridge this morning?",
    "The recipe calls for two cups of flour and a pinch of salt.",
    "Kwame found his keys under the sofa after searching for an hour.",
    "Our flight to Lisbon leaves at 6:45 am from gate twelve.",
    "She paid $42.50 for the tickets and saved the receipts.",
    "A gentle breeze carried the scent of pine across the valley.",
    "Can you explain how the new library system works?",
    "The children built a sandcastle with towers, walls and a moat.",
    "Dr. Chen will present the results of the study on Tuesday.",
    "Turn left at the bakery, then walk two blocks to the station.",
    "The orchestra played for nearly three hours without a break.",
    "Sofia learned to play the violin when she was nine years old.",
    "The storm knocked out power to 3,000 homes along the coast.",
    "Is it true that octopuses have three hearts and blue blood?",
    "He wrote the letter by hand and mailed it the next morning.",
    "Bright lanterns lit the narrow streets during the festival.",
];

type Handler = Arc<
    dyn Fn(String) -> Pin<Box<dyn Future<Output = Result<(Vec<f32>, u32), ForwardError>> + Send>>
        + Send
        + Sync,
>;

async fn speak(pool: &SynthesisPool, text: &str) -> Speech {
    pool.try_submit(text.to_owned())
        .expect("queue has room")
        .await
        .expect("worker alive")
        .expect("synthesis")
}

async fn serve(axon: Axon) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(axon.serve(listener, std::future::pending()));
    addr
}

/// A miner whose reply is computed by `handler` from the prompt.
async fn cheat_miner(key: &Keypair, handler: Handler) -> std::net::SocketAddr {
    let axon = Axon::builder(key.clone(), AxonConfig::default())
        .hooks(Arc::new(AllowAll))
        .attach(move |_caller: Caller, mut request: TextToSpeech| {
            let handler = handler.clone();
            async move {
                let text = request.text_input.clone().unwrap_or_default();
                let (samples, rate) = handler(text).await?;
                request.speech_output = Some(samples);
                request.sample_rate = Some(rate);
                request.model_name = Some("cheat".into());
                Ok(request)
            }
        })
        .build();
    serve(axon).await
}

fn noise(n: usize, amplitude: f32) -> Vec<f32> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * amplitude
        })
        .collect()
}

struct Fleet {
    targets: Vec<Target>,
    names: BTreeMap<String, &'static str>,
}

async fn start_fleet(timeout: Duration) -> Fleet {
    let engine = |name: &str, queue: usize| {
        Arc::new(
            SynthesisPool::start(
                name,
                &EngineOptions::default(),
                PoolConfig {
                    workers: 1,
                    queue_capacity: queue,
                    ..Default::default()
                },
            )
            .unwrap_or_else(|e| panic!("{name}: {e} (run scripts/test to install the engines)")),
        )
    };
    let piper = engine("piper", 32);
    let mut targets = Vec::new();
    let mut names = BTreeMap::new();
    let mut add = |key: &Keypair, addr: std::net::SocketAddr, name: &'static str| {
        let target: AxonTarget = format!("{}@{addr}", key.ss58()).parse().expect("target");
        names.insert(target.hotkey.clone(), name);
        targets.push(Target {
            uid: None,
            axon: target,
        });
    };

    for (i, name) in ["piper", "festival", "espeak"].into_iter().enumerate() {
        let key = Keypair::from_uri(&format!("//Honest{i}")).expect("uri");
        let pool = if name == "piper" {
            piper.clone()
        } else {
            engine(name, 8)
        };
        let axon = build_axon(key.clone(), AxonConfig::default(), pool, Arc::new(AllowAll));
        add(&key, serve(axon).await, name);
    }

    let fixed = speak(
        &piper,
        "I am the same recording every single time you ask me.",
    )
    .await;
    let mut cheats: Vec<(&'static str, Handler)> = Vec::new();
    cheats.push((
        "silence",
        Arc::new(|_| Box::pin(async { Ok((vec![0.0; 22_050 * 4], 22_050)) })),
    ));
    cheats.push((
        "white noise",
        Arc::new(|_| Box::pin(async { Ok((noise(22_050 * 4, 0.3), 22_050)) })),
    ));
    let clip = fixed.clone();
    cheats.push((
        "fixed clip",
        Arc::new(move |_| {
            let clip = clip.clone();
            Box::pin(async move { Ok((clip.samples, clip.sample_rate)) })
        }),
    ));
    let p = piper.clone();
    cheats.push((
        "other prompt",
        Arc::new(move |text: String| {
            let p = p.clone();
            Box::pin(async move {
                let i = PROMPTS.iter().position(|x| *x == text).unwrap_or(0);
                let s = speak(&p, PROMPTS[(i + 7) % PROMPTS.len()]).await;
                Ok((s.samples, s.sample_rate))
            })
        }),
    ));
    // Always the audio of the request before (real speech of an earlier prompt, heard by the
    // validator from the honest Piper miner in the earlier round).
    let p = piper.clone();
    let earlier = speak(&piper, "A clip kept from a request before this test began.").await;
    let last: Arc<Mutex<Option<Speech>>> = Arc::new(Mutex::new(Some(earlier)));
    cheats.push((
        "replay",
        Arc::new(move |text: String| {
            let (p, last) = (p.clone(), last.clone());
            Box::pin(async move {
                let fresh = speak(&p, &text).await;
                let previous = last.lock().expect("lock").replace(fresh.clone());
                let s = previous.unwrap_or(fresh);
                Ok((s.samples, s.sample_rate))
            })
        }),
    ));
    let p = piper.clone();
    cheats.push((
        "wrong rate",
        Arc::new(move |text: String| {
            let p = p.clone();
            Box::pin(async move {
                let s = speak(&p, &text).await;
                Ok((s.samples, 44_100))
            })
        }),
    ));
    let p = piper.clone();
    cheats.push((
        "truncated",
        Arc::new(move |text: String| {
            let p = p.clone();
            Box::pin(async move {
                let mut s = speak(&p, &text).await;
                s.samples.truncate(s.samples.len() * 2 / 5);
                Ok((s.samples, s.sample_rate))
            })
        }),
    ));
    let p = piper.clone();
    cheats.push((
        "padded",
        Arc::new(move |text: String| {
            let p = p.clone();
            Box::pin(async move {
                let s = speak(&p, &text).await;
                let pad = vec![0.0; s.sample_rate as usize * 4];
                let samples = [pad.clone(), s.samples, pad].concat();
                Ok((samples, s.sample_rate))
            })
        }),
    ));
    cheats.push((
        "nan",
        Arc::new(|_| Box::pin(async { Ok((vec![f32::NAN; 22_050 * 3], 22_050)) })),
    ));
    cheats.push((
        "huge",
        Arc::new(|_| Box::pin(async { Ok((vec![f32::MAX; 22_050 * 3], 22_050)) })),
    ));
    cheats.push((
        "empty",
        Arc::new(|_| Box::pin(async { Ok((vec![], 22_050)) })),
    ));
    cheats.push((
        "error status",
        Arc::new(|_| Box::pin(async { Err(ForwardError::Internal("boom".into())) })),
    ));
    cheats.push((
        "timeout",
        Arc::new(move |_| {
            Box::pin(async move {
                tokio::time::sleep(timeout * 3).await;
                Ok((noise(22_050, 0.1), 22_050))
            })
        }),
    ));
    for (i, (name, handler)) in cheats.into_iter().enumerate() {
        let key = Keypair::from_uri(&format!("//Cheat{i}")).expect("uri");
        add(&key, cheat_miner(&key, handler).await, name);
    }
    Fleet { targets, names }
}

fn scorer() -> Arc<Scorer> {
    Arc::new(
        Scorer::start(&ScorerConfig {
            queue_capacity: 32,
            ..Default::default()
        })
        .expect("scoring models (run scripts/test to fetch them)"),
    )
}

/// Prompts in a fixed order, for repeatable runs.
struct InOrder(usize);

impl PromptSource for InOrder {
    fn next_prompt(&mut self) -> String {
        let p = PROMPTS[self.0 % PROMPTS.len()];
        self.0 += 1;
        audiosubnet_validator::prompts::normalize_prompt(p).expect("prompt")
    }
}

fn loop_config(dir: &std::path::Path, rounds: u64, timeout: Duration) -> LoopConfig {
    LoopConfig {
        round: RoundConfig {
            timeout,
            alpha: 0.9,
            threshold: 0.68,
            transport: audiosubnet_dendrite::TransportMode::Synapse,
        },
        chunk_size: 64,
        rounds: Some(rounds),
        interval: Duration::ZERO,
        state_path: dir.join("state.json"),
        scores_out: Some(dir.join("scores.json")),
        report_dir: Some(dir.join("report")),
        dashboard: None,
    }
}

async fn run(
    config: &LoopConfig,
    judge: Arc<ScoringJudge>,
    targets: &[Target],
    first_prompt: usize,
) -> ScoreState {
    let dendrite = Dendrite::new(Keypair::from_uri("//Validator").expect("uri"));
    let mut prompts = InOrder(first_prompt);
    let mut network = FixedMiners(targets.to_vec());
    tokio::time::timeout(
        Duration::from_secs(1800),
        run_rounds(
            config,
            &dendrite,
            judge,
            &mut prompts,
            &mut network,
            std::future::pending(),
        ),
    )
    .await
    .expect("the validator never stalls")
    .expect("rounds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the scoring models and the speech engines; run scripts/test"]
async fn honest_engines_rank_by_quality_and_every_cheat_scores_far_below() {
    let timeout = Duration::from_secs(12);
    let fleet = start_fleet(timeout).await;
    let scorer = scorer();
    let hotkey_of = |name: &str| {
        fleet
            .names
            .iter()
            .find(|(_, n)| **n == name)
            .map(|(h, _)| h.clone())
            .expect("miner")
    };
    let honest = ["piper", "festival", "espeak"];
    let mean = |state: &ScoreState, name: &str| {
        state
            .miners
            .get(&hotkey_of(name))
            .and_then(|m| m.mean_reward)
            .unwrap_or(0.0)
    };

    // 1. The honest engines on the first 14 prompts: ranked by quality. (Engines and scoring are
    // deterministic, so the ladder is too; 14 keep the test within the suite's time budget.)
    const LADDER_ROUNDS: u64 = 14;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = loop_config(dir.path(), LADDER_ROUNDS, timeout);
    let honest_targets: Vec<Target> = fleet
        .targets
        .iter()
        .filter(|t| honest.contains(&fleet.names[&t.axon.hotkey]))
        .cloned()
        .collect();
    let judge = Arc::new(ScoringJudge::new(scorer.clone(), []));
    let state = run(&config, judge, &honest_targets, 0).await;
    assert_eq!(state.rounds, LADDER_ROUNDS);
    let means: Vec<String> = honest
        .iter()
        .map(|n| format!("{n}: {:.3}", mean(&state, n)))
        .collect();
    eprintln!(
        "mean reward over {LADDER_ROUNDS} prompts: {}",
        means.join(", ")
    );
    let (piper, festival, espeak) = (
        mean(&state, "piper"),
        mean(&state, "festival"),
        mean(&state, "espeak"),
    );
    assert!(
        piper > festival && festival > espeak,
        "quality ladder piper > festival > espeak: {means:?}"
    );
    assert!(espeak > 0.15, "honest speech earns: {means:?}");

    // 2. Everyone, cheats included, for a few rounds on the same validator state.
    let rounds = 4;
    let config = loop_config(dir.path(), rounds, timeout);
    let judge = Arc::new(ScoringJudge::new(
        scorer.clone(),
        state.fingerprints.clone(),
    ));
    let before = state;
    let state = run(&config, judge, &fleet.targets, 7).await;
    assert_eq!(state.rounds, before.rounds + rounds);
    let mut report = Vec::new();
    for name in fleet.names.values() {
        let m = &state.miners[&hotkey_of(name)];
        report.push(format!(
            "{name}: mean {:.3} ema {:.3} failures {}/{}",
            m.mean_reward.unwrap_or(0.0),
            m.ema,
            m.failures,
            m.responses
        ));
    }
    eprintln!("{}", report.join("\n"));
    for name in fleet.names.values() {
        if honest.contains(name) {
            continue;
        }
        let cheat = mean(&state, name);
        assert!(
            cheat < 0.5 * espeak,
            "cheat {name} (mean {cheat:.3}) must earn far below the worst honest engine \
             (espeak, mean {espeak:.3})"
        );
    }
    let scores: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("scores.json")).expect("scores.out written"),
    )
    .expect("scores.out is JSON");
    assert_eq!(
        scores.as_array().map(Vec::len),
        Some(fleet.targets.len()),
        "one summary per miner"
    );
    let html = std::fs::read_to_string(dir.path().join("report/index.html")).expect("report");
    assert!(html.contains("<svg") && html.contains("<audio"));

    // 3. Restart: kill the validator mid-round; the saved state is what the last whole round
    // left, and a restarted validator continues from it.
    let saved = ScoreState::load(&config.state_path).expect("state");
    let mut again = loop_config(dir.path(), 3, timeout);
    again.scores_out = None;
    again.report_dir = None;
    let judge = Arc::new(ScoringJudge::new(
        scorer.clone(),
        saved.fingerprints.clone(),
    ));
    // Cut mid-round (the timeout miner holds every round open for 12 s): the future is dropped
    // where it stands, as a killed process would stop.
    let cut = tokio::time::timeout(
        Duration::from_millis(1500),
        run(&again, judge, &fleet.targets, 3),
    )
    .await;
    assert!(cut.is_err(), "the round was still running when cut");
    let after_kill = ScoreState::load(&config.state_path).expect("state after the kill");
    assert_eq!(
        after_kill, saved,
        "a round cut short leaves the saved state as it was"
    );
}

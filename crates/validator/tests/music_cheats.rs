//! The music judge in the validator's loop against the honest CPU engine and cheating music
//! miners, over real axons on loopback: every cheat earns at most half of what the honest engine
//! earns over six rounds, the honest engine's rewards are bit-identical on a second validator
//! run, and the judge prefers the clip that matches the prompt's tempo and key.
//!
//! Needs the SoundFont (`fluid-soundfont-gm`; `scripts/test` installs it).

use audiosubnet_axon::{AllowAll, Axon, AxonConfig, Caller, ForwardError};
use audiosubnet_dendrite::{AxonTarget, Dendrite, TransportMode};
use audiosubnet_music::{ClassicMusicEngine, DEFAULT_SOUNDFONT, read_prompt};
use audiosubnet_protocol::MusicGeneration;
use audiosubnet_validator::judge::Judge;
use audiosubnet_validator::music_judge::{MusicJudge, measure};
use audiosubnet_validator::network::FixedMiners;
use audiosubnet_validator::prompts::PromptSource;
use audiosubnet_validator::round::{RoundConfig, Target};
use audiosubnet_validator::service::{LoopConfig, TaskSetup, Tasks, run_task_rounds};
use audiosubnet_validator::state::ScoreState;
use audiosubnet_validator::tasks::Task;
use audiosubnet_wallet::Keypair;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Seconds asked for.
const SECONDS: f64 = 8.0;
const RATE: u32 = 32_000;

/// Style, tempo, key: the prompts are written from these so the cheats can change one.
const PROMPTS: [(&str, u16, &str); 6] = [
    ("funk groove with slap bass and brass", 104, "E minor"),
    (
        "jazz trio piece with piano and upright bass",
        120,
        "F major",
    ),
    ("rock song with electric guitar and organ", 132, "A minor"),
    ("house track with piano and synth bass", 124, "D major"),
    ("folk tune with acoustic guitar and violin", 96, "G major"),
    ("lo-fi hip hop beat with electric piano", 84, "C minor"),
];

fn prompt_text(style: &str, bpm: u16, key: &str) -> String {
    format!("An upbeat {style} in {key} at {bpm} BPM")
}

fn engine() -> &'static ClassicMusicEngine {
    static ENGINE: OnceLock<ClassicMusicEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        ClassicMusicEngine::load(DEFAULT_SOUNDFONT)
            .expect("the SoundFont (run scripts/test to install fluid-soundfont-gm)")
    })
}

/// A seed from the prompt: the honest engine plays the same track for the same prompt.
fn seed_of(prompt: &str) -> u64 {
    prompt.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn render(prompt: &str, seconds: f64) -> Vec<f32> {
    engine()
        .generate(prompt, seconds as f32, seed_of(prompt))
        .expect("engine")
        .samples
}

/// The prompt's parts, for cheats that change one of them.
fn parts_of(prompt: &str) -> (&'static str, u16, &'static str) {
    PROMPTS
        .iter()
        .copied()
        .find(|(s, b, k)| prompt_text(s, *b, k) == prompt)
        .unwrap_or(PROMPTS[0])
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

type Reply = (Vec<f32>, u32);
type Behaviour = Arc<dyn Fn(&str, f64) -> Reply + Send + Sync>;

async fn music_miner(key: &Keypair, behaviour: Behaviour) -> std::net::SocketAddr {
    let axon = Axon::builder(key.clone(), AxonConfig::default())
        .hooks(Arc::new(AllowAll))
        .attach(move |_caller: Caller, mut request: MusicGeneration| {
            let behaviour = behaviour.clone();
            async move {
                let text = request.text_input.clone().unwrap_or_default();
                let seconds = request.requested_seconds();
                let (samples, rate) =
                    tokio::task::spawn_blocking(move || behaviour(&text, seconds))
                        .await
                        .map_err(|e| ForwardError::Internal(e.to_string()))?;
                request.music_output = Some(samples);
                request.sample_rate = Some(rate);
                Ok(request)
            }
        })
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(axon.serve(listener, std::future::pending()));
    addr
}

fn behaviours() -> Vec<(&'static str, Behaviour)> {
    let fixed_loop = {
        let track = render(&prompt_text("techno track with synth", 128, "A minor"), 2.0);
        Arc::new(move |_: &str, seconds: f64| {
            let n = (seconds * f64::from(RATE)) as usize;
            (track.iter().copied().cycle().take(n).collect(), RATE)
        })
    };
    let previous: Arc<Mutex<Option<Vec<f32>>>> = Arc::default();
    let replay = Arc::new(move |prompt: &str, seconds: f64| {
        let now = render(prompt, seconds);
        let mut last = previous.lock().expect("lock");
        let reply = last.replace(now.clone()).unwrap_or(now);
        (reply, RATE)
    });
    vec![
        (
            "honest",
            Arc::new(|p: &str, s: f64| (render(p, s), RATE)) as Behaviour,
        ),
        (
            "silence",
            Arc::new(|_: &str, s: f64| (vec![0.0; (s * 32_000.0) as usize], RATE)),
        ),
        (
            "white noise",
            Arc::new(|_: &str, s: f64| (noise((s * 32_000.0) as usize, 0.3), RATE)),
        ),
        (
            "pure tone",
            Arc::new(|_: &str, s: f64| {
                let n = (s * 32_000.0) as usize;
                let tone = (0..n)
                    .map(|i| 0.4 * (std::f32::consts::TAU * 440.0 * i as f32 / 32_000.0).sin())
                    .collect();
                (tone, RATE)
            }),
        ),
        ("fixed loop", fixed_loop),
        ("previous prompt's track", replay),
        (
            "wrong tempo",
            Arc::new(|p: &str, s: f64| {
                let (style, bpm, key) = parts_of(p);
                let off = if bpm < 110 { bpm + 40 } else { bpm - 40 };
                (render(&prompt_text(style, off, key), s), RATE)
            }),
        ),
        (
            "wrong key",
            Arc::new(|p: &str, s: f64| {
                let (style, bpm, key) = parts_of(p);
                let other = if key.ends_with("minor") {
                    "F# major"
                } else {
                    "Bb minor"
                };
                (render(&prompt_text(style, bpm, other), s), RATE)
            }),
        ),
        (
            "padded with silence",
            Arc::new(|p: &str, s: f64| {
                let mut clip = render(p, s / 2.0);
                clip.resize((s * 32_000.0) as usize, 0.0);
                (clip, RATE)
            }),
        ),
        (
            "declared at 16 kHz",
            Arc::new(|p: &str, s: f64| (render(p, s), 16_000)),
        ),
        (
            "over-long reply",
            // 60 s at 32 kHz: over the dendrite's sample cap, which stops a 30-minute reply the
            // same way, before it is read in full.
            Arc::new(|p: &str, _: f64| (render(p, 30.0).repeat(2), RATE)),
        ),
        (
            "NaN samples",
            Arc::new(|p: &str, s: f64| {
                let mut clip = render(p, s);
                clip[1000] = f32::NAN;
                (clip, RATE)
            }),
        ),
    ]
}

struct InOrder(usize);

impl PromptSource for InOrder {
    fn next_prompt(&mut self) -> String {
        let (style, bpm, key) = PROMPTS[self.0 % PROMPTS.len()];
        self.0 += 1;
        prompt_text(style, bpm, key)
    }
}

async fn run_validator(dir: &std::path::Path, targets: &[Target]) -> ScoreState {
    let config = LoopConfig {
        round: RoundConfig {
            timeout: Duration::from_secs(30),
            alpha: 0.9,
            threshold: 0.5,
            transport: TransportMode::Synapse,
        },
        chunk_size: 64,
        rounds: Some(PROMPTS.len() as u64),
        interval: Duration::ZERO,
        state_path: dir.join("state.json"),
        scores_out: Some(dir.join("scores.json")),
        report_dir: Some(dir.join("report")),
        dashboard: None,
    };
    let mut prompts = InOrder(0);
    let tasks = Tasks {
        mix: "music".parse().expect("mix"),
        speech: None,
        music: Some(TaskSetup {
            judge: Arc::new(MusicJudge::new(SECONDS, [])),
            prompts: &mut prompts,
        }),
        music_seconds: SECONDS,
        music_timeout: Duration::from_secs(60),
    };
    let dendrite = Dendrite::new(Keypair::from_uri("//Validator").expect("uri"));
    let mut network = FixedMiners(targets.to_vec());
    tokio::time::timeout(
        Duration::from_secs(900),
        run_task_rounds(
            &config,
            &dendrite,
            tasks,
            &mut network,
            std::future::pending(),
        ),
    )
    .await
    .expect("the validator never stalls")
    .expect("rounds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs fluid-soundfont-gm; run scripts/test"]
async fn every_music_cheat_earns_at_most_half_of_the_honest_engine() {
    let mut targets = Vec::new();
    let mut names = BTreeMap::new();
    for (i, (name, behaviour)) in behaviours().into_iter().enumerate() {
        let key = Keypair::from_uri(&format!("//Music{i}")).expect("uri");
        let addr = music_miner(&key, behaviour).await;
        let axon: AxonTarget = format!("{}@{addr}", key.ss58()).parse().expect("target");
        names.insert(axon.hotkey.clone(), name);
        targets.push(Target { uid: None, axon });
    }
    let first = tempfile::tempdir().expect("tempdir");
    let state = run_validator(first.path(), &targets).await;
    assert_eq!(state.rounds_by_task.get(&Task::Music), Some(&6));
    let mean = |state: &ScoreState, name: &str| {
        let (hotkey, _) = names.iter().find(|(_, n)| **n == name).expect("miner");
        let m = &state.miners[hotkey];
        assert_eq!(m.tasks[&Task::Music].responses, 6, "{name}");
        m.mean_reward.unwrap_or(0.0)
    };
    let honest = mean(&state, "honest");
    let mut table = String::new();
    for name in names.values() {
        let (hotkey, _) = names.iter().find(|(_, n)| *n == name).expect("miner");
        table.push_str(&format!(
            "{name:<24} mean {:.3}  last {}\n",
            mean(&state, name),
            state.miners[hotkey]
                .last_breakdown
                .as_ref()
                .map_or(String::new(), |b| b.to_string())
        ));
    }
    println!("{table}");
    assert!(
        honest >= 0.6,
        "the honest engine earns {honest:.3}\n{table}"
    );
    for name in names.values().filter(|n| **n != "honest") {
        let cheat = mean(&state, name);
        assert!(
            cheat <= 0.5 * honest,
            "{name} earns {cheat:.3} against the honest engine's {honest:.3}\n{table}"
        );
    }

    // A second validator, from scratch: the honest engine's rewards are the same to the bit.
    let second = tempfile::tempdir().expect("tempdir");
    let again = run_validator(second.path(), &targets[..1]).await;
    let (hotkey, _) = names.iter().find(|(_, n)| **n == "honest").expect("miner");
    assert_eq!(
        again.miners[hotkey].tasks[&Task::Music].ema.to_bits(),
        state.miners[hotkey].tasks[&Task::Music].ema.to_bits()
    );
    assert_eq!(
        again.miners[hotkey].history, state.miners[hotkey].history,
        "round-by-round EMAs differ"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs fluid-soundfont-gm; run scripts/test"]
async fn the_judge_prefers_the_clip_that_plays_the_asked_tempo_key_and_drums() {
    let judge = MusicJudge::new(SECONDS, []);
    let reward = |prompt: String, clip: Vec<f32>| {
        let judge = judge.clone();
        async move {
            judge
                .judge("5Judge".into(), prompt, Arc::new(clip), RATE)
                .await
                .map_or(0.0, |j| j.reward)
        }
    };
    for seed in 0..3u64 {
        for (asked, other) in [(90u16, 140u16), (140, 90)] {
            let prompt = format!("A driving rock song in A minor at {asked} BPM");
            let right = engine()
                .generate(&prompt, SECONDS as f32, seed)
                .expect("engine")
                .samples;
            let wrong = engine()
                .generate(
                    &format!("A driving rock song in A minor at {other} BPM"),
                    SECONDS as f32,
                    seed,
                )
                .expect("engine")
                .samples;
            let (r, w) = (
                reward(prompt.clone(), right).await,
                reward(prompt.clone(), wrong).await,
            );
            assert!(
                r > w,
                "{prompt} (seed {seed}): matching {r:.3}, at {other} BPM {w:.3}"
            );
        }
        for (asked, other) in [("A minor", "C major"), ("C major", "A minor")] {
            let prompt = format!("A calm folk tune with acoustic guitar in {asked} at 100 BPM");
            let clip = |key: &str| {
                engine()
                    .generate(
                        &format!("A calm folk tune with acoustic guitar in {key} at 100 BPM"),
                        SECONDS as f32,
                        seed,
                    )
                    .expect("engine")
                    .samples
            };
            let facts = read_prompt(&prompt);
            let right = measure(&clip(asked), RATE, &facts, SECONDS as f32).expect("measured");
            let wrong =
                measure(&clip(other), RATE, &facts, SECONDS as f32).map_or(0.0, |b| b.reward);
            assert!(
                right.reward > wrong,
                "{prompt} (seed {seed}): matching {:.3}, in {other} {wrong:.3} ({right:?})",
                right.reward
            );
        }
        for (asked, other) in [
            (", with drums", ", no drums"),
            (", no drums", ", with drums"),
        ] {
            let text =
                |drums: &str| format!("A happy pop song with piano in C major at 110 BPM{drums}");
            let clip = |drums: &str| {
                engine()
                    .generate(&text(drums), SECONDS as f32, seed)
                    .expect("engine")
                    .samples
            };
            let prompt = text(asked);
            let facts = read_prompt(&prompt);
            let right = measure(&clip(asked), RATE, &facts, SECONDS as f32).expect("measured");
            let wrong = measure(&clip(other), RATE, &facts, SECONDS as f32).expect("measured");
            assert!(
                right.reward > wrong.reward,
                "{prompt} (seed {seed}): matching {right:?}, played{other} {wrong:?}"
            );
        }
    }
}

/// No false alarms: the honest engine playing 80 prompts from the validator's own generator is
/// never taken for a cheat, and earns a high reward on average.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs fluid-soundfont-gm; run scripts/test"]
async fn the_honest_engine_is_never_taken_for_a_cheat() {
    use audiosubnet_validator::music_prompts::GeneratedMusicPrompts;
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut flagged = Vec::new();
    let mut total = 0.0;
    const N: u64 = 80;
    for seed in 0..N {
        let prompt = GeneratedMusicPrompts::render(&mut rng);
        let clip = engine()
            .generate(&prompt, SECONDS as f32, seed)
            .expect("engine");
        let facts = read_prompt(&prompt);
        match measure(&clip.samples, RATE, &facts, SECONDS as f32) {
            Ok(b) => total += b.reward,
            Err(e) => flagged.push(format!("{prompt} (seed {seed}): {e}")),
        }
    }
    assert!(flagged.is_empty(), "{flagged:#?}");
    let mean = total / N as f64;
    println!("mean reward over {N} generated prompts: {mean:.3}");
    assert!(mean >= 0.7, "mean reward {mean:.3}");
}

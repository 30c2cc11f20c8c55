//! The judge on the real models and a real, deterministic engine (espeak-ng): a panic while
//! scoring a clip is the validator's fault and the scoring thread carries on; and audio planted
//! for the wrong prompt cannot get an honest miner flagged as a replay later.
//!
//! Needs the scoring models and espeak-ng (`scripts/test` installs them).

use audiosubnet_scoring::{Scorer, ScorerConfig, ScoringError};
use audiosubnet_tts::SpeechEngine;
use audiosubnet_validator::judge::ScoringJudge;
use audiosubnet_validator::judge::{Judge, JudgeError, ValidatorFault};
use std::sync::Arc;

const P1: &str = "Please open the window before you leave the house.";
const P2: &str = "My brother likes to read books about the ocean.";

fn scorer() -> Arc<Scorer> {
    Arc::new(
        Scorer::start(&ScorerConfig {
            queue_capacity: 4,
            ..Default::default()
        })
        .expect("scoring models (run scripts/test to fetch them)"),
    )
}

fn espeak() -> Box<dyn SpeechEngine> {
    audiosubnet_tts::load_engine("espeak", &Default::default())
        .expect("espeak-ng (run scripts/test to install it)")
}

fn speak(engine: &mut Box<dyn SpeechEngine>, text: &str) -> (Arc<Vec<f32>>, u32) {
    let s = engine.synthesize(text).expect("synthesis");
    (Arc::new(s.samples), s.sample_rate)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the scoring models and espeak-ng; run scripts/test"]
async fn a_panic_while_scoring_is_the_validators_fault_and_the_worker_survives() {
    let scorer = scorer();
    let judge = ScoringJudge::new(scorer.clone(), []);
    let mut engine = espeak();
    let (samples, rate) = speak(&mut engine, P1);

    scorer.inject_panics(1);
    let err = judge
        .judge("5Miner".into(), P1.into(), samples.clone(), rate)
        .await
        .expect_err("the injected panic");
    assert!(
        matches!(
            err,
            JudgeError::Validator(ValidatorFault::Scoring(ScoringError::Panicked(_)))
        ),
        "{err:?}"
    );
    // The same clip, again: the worker is alive and scores it.
    let j = judge
        .judge("5Miner".into(), P1.into(), samples, rate)
        .await
        .expect("scored after the panic");
    assert!(j.reward > 0.3, "reward {}", j.reward);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the scoring models and espeak-ng; run scripts/test"]
async fn planted_audio_does_not_get_honest_miners_flagged() {
    let judge = ScoringJudge::new(scorer(), []);
    let mut engine = espeak();
    // Miner A answers P1 with exactly what the honest deterministic engine says for P2.
    let (planted, rate) = speak(&mut engine, P2);
    let a = judge
        .judge("5MinerA".into(), P1.into(), planted, rate)
        .await;
    match &a {
        Ok(j) => assert!(
            !j.indexed,
            "another prompt's audio entered the index: {j:?}"
        ),
        Err(e) => assert!(matches!(e, JudgeError::Rejected(_)), "{e:?}"),
    }
    // Miner B later answers P2 honestly with the same engine: not a replay.
    let (honest, rate) = speak(&mut engine, P2);
    let b = judge
        .judge("5MinerB".into(), P2.into(), honest, rate)
        .await
        .expect("the honest answer is scored, not flagged");
    assert!(b.indexed);
    assert!(b.reward > 0.3, "reward {}", b.reward);
    // And a real replay is still caught: B's clip sent again for P1.
    let (again, rate) = speak(&mut engine, P2);
    let c = judge.judge("5MinerC".into(), P1.into(), again, rate).await;
    assert!(
        matches!(&c, Err(JudgeError::Rejected(r)) if r.contains("replayed")),
        "{c:?}"
    );
}

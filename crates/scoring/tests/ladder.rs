//! The judge hears the quality ladder: on the first 14 prompts of `common/ladder.rs`, the default
//! judge (`ScorerConfig::default()`, what a validator runs without `--scoring.*` flags) ranks
//! Kokoro > Piper > Festival HTS > espeak-ng by mean reward, and scoring Kokoro's clips again
//! gives bit-identical rewards. The full ladder on 40 prompts, with every judge, is
//! `cargo bench -p audiosubnet-scoring --bench ladder`. Needs the models (`scripts/test` fetches
//! them).

mod common;

use audiosubnet_scoring::{Samples, ScorerConfig, ScoringModels};
use common::ladder::{CI_PROMPTS, LADDER, PROMPTS, speak};

#[test]
#[ignore = "needs the speech engines and the scoring models; run scripts/test"]
fn the_default_judge_ranks_the_ladder_deterministically() {
    let prompts = &PROMPTS[..CI_PROMPTS];
    let rungs: Vec<_> = LADDER
        .iter()
        .filter(|r| ["kokoro af_heart", "piper", "festival", "espeak-ng"].contains(&r.label))
        .collect();
    let clips: Vec<_> = rungs.iter().map(|r| speak(r, prompts)).collect();
    let mut models = ScoringModels::load(&ScorerConfig::default()).expect("scoring models");

    let mut score = |rungs_scored: usize| -> Vec<Vec<f64>> {
        clips
            .iter()
            .zip(&rungs)
            .take(rungs_scored)
            .map(|(speech, rung)| {
                prompts
                    .iter()
                    .zip(speech)
                    .map(|(prompt, s)| {
                        let b = models
                            .score(prompt, &Samples::F32(s.samples.clone()), s.sample_rate)
                            .unwrap_or_else(|e| panic!("{} on {prompt:?}: {e}", rung.label));
                        b.reward
                    })
                    .collect()
            })
            .collect()
    };
    let first = score(rungs.len());
    let means: Vec<f64> = first
        .iter()
        .map(|r| r.iter().sum::<f64>() / r.len() as f64)
        .collect();
    let table: Vec<String> = rungs
        .iter()
        .zip(&means)
        .map(|(r, m)| format!("{} {m:.3}", r.label))
        .collect();
    for pair in means.windows(2) {
        assert!(pair[0] > pair[1], "the ladder is out of order: {table:?}");
    }

    // Determinism: the top rung's clips again (one rung is enough to catch a judge that drifts).
    let second = score(1);
    let bits = |v: &[Vec<f64>]| -> Vec<u64> { v.iter().flatten().map(|x| x.to_bits()).collect() };
    assert_eq!(
        bits(&first[..1]),
        bits(&second),
        "rewards differ between two passes"
    );
}

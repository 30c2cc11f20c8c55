//! Any prompt text, however hostile, gives a valid arrangement and score without panicking.

use audiosubnet_music::{arrange, compose};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_text_arranges_and_composes(prompt in any::<String>(), seed in any::<u64>(), secs in 0.0f32..20.0) {
        let a = arrange(&prompt, seed);
        prop_assert!((40.0..=240.0).contains(&a.tempo_bpm));
        prop_assert!(a.key.tonic < 12);
        prop_assert!((1..=7).contains(&a.beats_per_bar));
        prop_assert!(a.progression.iter().all(|d| (1..=7).contains(d)));
        prop_assert_eq!(&a, &arrange(&prompt, seed));
        let s = compose(&a, secs);
        for n in &s.notes {
            prop_assert!(n.key < 128 && (1..128).contains(&n.velocity));
            prop_assert!(n.start_s >= 0.0 && n.end_s > n.start_s && n.end_s <= f64::from(secs) + 1e-9);
        }
        prop_assert!(!s.to_smf().is_empty());
    }

    #[test]
    fn musical_words_in_noise(
        pre in "\\PC{0,20}",
        post in "\\PC{0,20}",
        word in prop::sample::select(vec![
            "90 bpm", "tempo", "bpm", "in F# minor", "b♭ major", "3/4", "6/8", "waltz", "solo",
            "no drums", "e flat", "key of", "lo-fi", "synth bass", "1e309 bpm", "99999999999999999999 bpm",
        ]),
        seed in any::<u64>(),
    ) {
        let a = arrange(&format!("{pre}{word}{post}"), seed);
        prop_assert!(a.tempo_bpm.is_finite() && (40.0..=240.0).contains(&a.tempo_bpm));
    }
}

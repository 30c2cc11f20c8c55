//! How well a measured attribute matches what a prompt asked for, each as a factor in [0, 1]
//! with a stated tolerance: the judge multiplies or weighs these; the tolerances are here so
//! that one place says how strict each check is and why.

use crate::{Mode, PitchClass};

/// A tempo within this fraction of the request is fully on tempo: the estimator measures a
/// steady beat within ~1 %, and real performances drift a little.
pub const TEMPO_TOLERANCE: f32 = 0.04;
/// Beyond [`TEMPO_TOLERANCE`] the factor falls linearly to 0 at this relative error.
pub const TEMPO_ZERO_AT: f32 = 0.12;
/// Credit for a half- or double-tempo reading. Beat trackers make octave errors on honest music
/// (a 180 BPM track often reads as 90), so such a reading is not proof of a wrong tempo; but a
/// track at exactly half the tempo is also the cheapest wrong answer, so it earns only half.
pub const OCTAVE_CREDIT: f32 = 0.5;
/// A duration within this many seconds of the request is on length (the protocol allows
/// rounding to frames and a short fade).
pub const DURATION_TOLERANCE_S: f32 = 0.5;
/// Beyond [`DURATION_TOLERANCE_S`], the factor falls linearly to 0 at this fraction of the
/// request missing or added.
pub const DURATION_ZERO_AT: f32 = 0.5;

/// The factor for a measured tempo against the requested one: 1 within [`TEMPO_TOLERANCE`],
/// falling to 0 at [`TEMPO_ZERO_AT`]; a reading at half or double the request scores at most
/// [`OCTAVE_CREDIT`] on the same scale. Non-positive or non-finite inputs score 0.
pub fn tempo_adherence(measured_bpm: f32, requested_bpm: f32) -> f32 {
    if !(measured_bpm.is_finite() && requested_bpm.is_finite())
        || measured_bpm <= 0.0
        || requested_bpm <= 0.0
    {
        return 0.0;
    }
    let direct = relative_match(measured_bpm, requested_bpm);
    let octave = relative_match(measured_bpm, requested_bpm * 2.0)
        .max(relative_match(measured_bpm, requested_bpm / 2.0));
    direct.max(OCTAVE_CREDIT * octave)
}

/// 1 within [`TEMPO_TOLERANCE`] relative error, linear to 0 at [`TEMPO_ZERO_AT`].
fn relative_match(measured: f32, target: f32) -> f32 {
    let error = (measured - target).abs() / target;
    ramp(error, TEMPO_TOLERANCE, TEMPO_ZERO_AT)
}

/// 1 up to `full`, linear to 0 at `zero`.
fn ramp(error: f32, full: f32, zero: f32) -> f32 {
    if error <= full {
        1.0
    } else if error >= zero {
        0.0
    } else {
        (zero - error) / (zero - full)
    }
}

/// Credit for each relation between the measured and the requested key.
pub mod key_credit {
    /// The requested tonic and mode.
    pub const EXACT: f32 = 1.0;
    /// The relative key (same notes, other mode: C major and A minor). Key profiles confuse the
    /// two on honest music, and the notes are what the listener hears.
    pub const RELATIVE: f32 = 0.5;
    /// The parallel key (same tonic, other mode) or the dominant (a fifth up, same mode): the
    /// estimator's other usual confusions; right tonal centre or right neighbourhood.
    pub const NEIGHBOUR: f32 = 0.25;
}

/// The factor for a measured key against the requested one (see [`key_credit`]); 0 for any
/// other key.
pub fn key_adherence(measured: (PitchClass, Mode), requested: (PitchClass, Mode)) -> f32 {
    let ((mt, mm), (rt, rm)) = (measured, requested);
    let up = |from: PitchClass, semitones: i32| {
        PitchClass::from_semitones(i32::from(from.index()) + semitones)
    };
    if mt == rt && mm == rm {
        return key_credit::EXACT;
    }
    // The relative minor is three semitones below the major's tonic.
    let relative = match rm {
        Mode::Major => up(rt, -3),
        Mode::Minor => up(rt, 3),
    };
    if mm != rm && mt == relative {
        return key_credit::RELATIVE;
    }
    if (mt == rt && mm != rm) || (mm == rm && mt == up(rt, 7)) {
        return key_credit::NEIGHBOUR;
    }
    0.0
}

/// The factor for a clip's length against the request: 1 within [`DURATION_TOLERANCE_S`],
/// falling to 0 when [`DURATION_ZERO_AT`] of the request is missing or added.
pub fn duration_adherence(measured_s: f32, requested_s: f32) -> f32 {
    if !(measured_s.is_finite() && requested_s.is_finite()) || requested_s <= 0.0 {
        return 0.0;
    }
    let off = (measured_s - requested_s).abs();
    if off <= DURATION_TOLERANCE_S {
        return 1.0;
    }
    ramp(
        off / requested_s,
        DURATION_TOLERANCE_S / requested_s,
        DURATION_ZERO_AT.max(DURATION_TOLERANCE_S / requested_s),
    )
}

/// Asked for drums: a [`drum_noise`](crate::MusicHonesty::drum_noise) of at least this is full
/// credit. The engine's renders with drums measure 0.20–0.45 (house and techno kits lowest).
pub const DRUMS_PRESENT_AT: f32 = 0.17;
/// Asked for drums: at or below this the clip has none (the engine's drumless piano 0.11–0.13,
/// pads and strings 0) and earns [`DRUMS_FLOOR`]; linear in between.
pub const DRUMS_PRESENT_FLOOR_AT: f32 = 0.12;
/// Asked for no drums: up to this is full credit. Drumless renders reach 0.29 (a bowed violin's
/// noisy upper band); pitched instruments overlap the softer kits here, so this side only
/// catches clear drums.
pub const NO_DRUMS_CLEAR_AT: f32 = 0.32;
/// Asked for no drums: at or above this (a kit with open hats: the engine's pop and lo-fi kits
/// 0.40–0.45) the factor is [`DRUMS_FLOOR`]; linear in between.
pub const NO_DRUMS_FLOOR_AT: f32 = 0.42;
/// The least the drums check leaves: half. It is a coarse, hand-set measure of one band, not
/// proof, so a wrong reading can cost an honest clip at most half its reward.
pub const DRUMS_FLOOR: f32 = 0.5;

/// The factor for a clip's measured `drum_noise` when the prompt asked for drums (`true`) or
/// for none (`false`): 1 on the asked side of the bounds above, falling linearly to
/// [`DRUMS_FLOOR`] on the other. Non-finite input scores the floor.
pub fn drums_adherence(drum_noise: f32, drums_asked: bool) -> f32 {
    if !drum_noise.is_finite() {
        return DRUMS_FLOOR;
    }
    let agreement = if drums_asked {
        ramp(
            DRUMS_PRESENT_AT - drum_noise,
            0.0,
            DRUMS_PRESENT_AT - DRUMS_PRESENT_FLOOR_AT,
        )
    } else {
        ramp(
            drum_noise - NO_DRUMS_CLEAR_AT,
            0.0,
            NO_DRUMS_FLOOR_AT - NO_DRUMS_CLEAR_AT,
        )
    };
    DRUMS_FLOOR + (1.0 - DRUMS_FLOOR) * agreement
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{estimate_key, estimate_tempo};

    fn pc(name: &str) -> PitchClass {
        let i = PitchClass::NAMES
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("{name}"));
        PitchClass::from_semitones(i as i32)
    }

    #[test]
    fn tempo_factor_has_its_tolerances_and_octave_credit() {
        assert_eq!(tempo_adherence(120.0, 120.0), 1.0);
        assert_eq!(tempo_adherence(124.0, 120.0), 1.0);
        assert!((tempo_adherence(129.6, 120.0) - 0.5).abs() < 1e-4);
        assert_eq!(tempo_adherence(140.0, 120.0), 0.0);
        assert_eq!(tempo_adherence(60.0, 120.0), OCTAVE_CREDIT);
        assert_eq!(tempo_adherence(240.0, 120.0), OCTAVE_CREDIT);
        assert_eq!(tempo_adherence(90.0, 120.0), 0.0);
        for bad in [f32::NAN, f32::INFINITY, 0.0, -120.0] {
            assert_eq!(tempo_adherence(bad, 120.0), 0.0);
            assert_eq!(tempo_adherence(120.0, bad), 0.0);
        }
    }

    #[test]
    fn key_factor_credits_the_usual_confusions_only() {
        let c_major = (pc("C"), Mode::Major);
        assert_eq!(key_adherence(c_major, c_major), key_credit::EXACT);
        assert_eq!(
            key_adherence((pc("A"), Mode::Minor), c_major),
            key_credit::RELATIVE
        );
        assert_eq!(
            key_adherence(c_major, (pc("A"), Mode::Minor)),
            key_credit::RELATIVE
        );
        assert_eq!(
            key_adherence((pc("C"), Mode::Minor), c_major),
            key_credit::NEIGHBOUR
        );
        assert_eq!(
            key_adherence((pc("G"), Mode::Major), c_major),
            key_credit::NEIGHBOUR
        );
        assert_eq!(key_adherence((pc("F#"), Mode::Major), c_major), 0.0);
        assert_eq!(key_adherence((pc("E"), Mode::Minor), c_major), 0.0);
        // Across the octave boundary: A minor's relative is C major, B's dominant is F#.
        assert_eq!(
            key_adherence((pc("F#"), Mode::Major), (pc("B"), Mode::Major)),
            key_credit::NEIGHBOUR
        );
    }

    #[test]
    fn duration_factor_has_its_tolerances() {
        assert_eq!(duration_adherence(15.4, 15.0), 1.0);
        assert_eq!(duration_adherence(14.6, 15.0), 1.0);
        assert_eq!(duration_adherence(7.5, 15.0), 0.0);
        assert_eq!(duration_adherence(30.0, 15.0), 0.0);
        let half_way = duration_adherence(11.5, 15.0);
        assert!(half_way > 0.0 && half_way < 1.0, "{half_way}");
        assert_eq!(duration_adherence(f32::NAN, 15.0), 0.0);
        assert_eq!(duration_adherence(1.0, 0.0), 0.0);
        // Very short requests keep the absolute tolerance.
        assert_eq!(duration_adherence(1.4, 1.0), 1.0);
    }

    /// A synthetic track with a known answer: a kick on every beat and the key's tonic triad
    /// held, measured by the estimators and scored against right and wrong requests.
    #[test]
    fn measured_synthetic_tracks_score_against_their_requests() {
        const SR: u32 = 16_000;
        let track = |bpm: f32, tonic_hz: f32, minor: bool, seconds: f32| -> Vec<f32> {
            let n = (seconds * SR as f32) as usize;
            let beat = 60.0 / bpm;
            let third = if minor { 1.189_207 } else { 1.259_921 };
            (0..n)
                .map(|i| {
                    let t = i as f32 / SR as f32;
                    let since = t % beat;
                    let kick =
                        (-since * 40.0).exp() * (2.0 * std::f32::consts::PI * 60.0 * since).sin();
                    let chord: f32 = [1.0, third, 1.498_307]
                        .iter()
                        .map(|r| (2.0 * std::f32::consts::PI * tonic_hz * r * t).sin())
                        .sum();
                    0.5 * kick + 0.1 * chord
                })
                .collect()
        };
        // 100 BPM in A minor (A3 = 220 Hz), 12 s.
        let clip = track(100.0, 220.0, true, 12.0);
        let tempo = estimate_tempo(&clip, SR).expect("a tempo").bpm;
        assert_eq!(tempo_adherence(tempo, 100.0), 1.0, "measured {tempo}");
        assert_eq!(tempo_adherence(tempo, 140.0), 0.0, "measured {tempo}");
        let key = estimate_key(&clip, SR).expect("a key");
        let measured = (key.tonic, key.mode);
        assert_eq!(
            key_adherence(measured, (pc("A"), Mode::Minor)),
            1.0,
            "{key:?}"
        );
        assert!(key_adherence(measured, (pc("C"), Mode::Major)) < 1.0);
        assert_eq!(key_adherence(measured, (pc("F#"), Mode::Major)), 0.0);
        let seconds = clip.len() as f32 / SR as f32;
        assert_eq!(duration_adherence(seconds, 12.0), 1.0);
        assert!(duration_adherence(seconds, 30.0) < 0.5);
    }

    #[test]
    fn the_drums_factor_is_full_on_the_asked_side_and_half_on_the_other() {
        assert_eq!(drums_adherence(0.35, true), 1.0);
        assert_eq!(drums_adherence(DRUMS_PRESENT_AT, true), 1.0);
        assert_eq!(drums_adherence(0.05, true), DRUMS_FLOOR);
        assert_eq!(drums_adherence(DRUMS_PRESENT_FLOOR_AT, true), DRUMS_FLOOR);
        let mid = drums_adherence((DRUMS_PRESENT_AT + DRUMS_PRESENT_FLOOR_AT) / 2.0, true);
        assert!((mid - 0.75).abs() < 1e-5, "{mid}");

        assert_eq!(drums_adherence(0.0, false), 1.0);
        assert_eq!(drums_adherence(NO_DRUMS_CLEAR_AT, false), 1.0);
        assert_eq!(drums_adherence(0.9, false), DRUMS_FLOOR);
        let mid = drums_adherence((NO_DRUMS_CLEAR_AT + NO_DRUMS_FLOOR_AT) / 2.0, false);
        assert!((mid - 0.75).abs() < 1e-5, "{mid}");

        assert_eq!(drums_adherence(f32::NAN, true), DRUMS_FLOOR);
        assert_eq!(drums_adherence(f32::INFINITY, false), DRUMS_FLOOR);
    }
}

//! The reward formula: one product of factors in [0, 1], so no term can be farmed while another
//! fails (silence gets no credit for "naturalness", a clean recording of the wrong text gets none
//! for quality). `docs/scoring.md` gives the reasons for each bound.

use serde::Serialize;

/// WER at which intelligibility reaches 0: `1 − WER / WER_ZERO`. The original validator zeroed
/// at 0.7; two thirds of the words wrong is not the prompt.
pub const WER_ZERO: f64 = 2.0 / 3.0;
/// DNSMOS OVRL that earns nothing (white noise, babble and buzz score about 1–1.5).
pub const OVRL_FLOOR: f64 = 1.5;
/// DNSMOS OVRL that earns full naturalness (clean neural TTS scores 3.1–3.4; 3.6 leaves room).
pub const OVRL_CEIL: f64 = 3.6;
/// Distill-MOS that earns nothing: the bottom of its own scale (1 + 4·sigmoid, "bad"). On the
/// ladder (docs/scoring.md) espeak-ng averages 2.21 and flite 2.91: robotic but honest engines
/// keep a share, as they did under DNSMOS, while the order of the engines is unchanged.
pub const DISTILL_FLOOR: f64 = 1.0;
/// Distill-MOS that earns full naturalness: Kokoro averages 4.42–4.56 and its best clips pass
/// 4.5, so 4.75 leaves room for better miners instead of saturating.
pub const DISTILL_CEIL: f64 = 4.75;

/// Which model rates naturalness (`--scoring.mos`), and so which bounds map its MOS to [0, 1].
/// Distill-MOS by default: on the measured ladder it separates neighbouring engines on 90 % of
/// prompts, DNSMOS on 79–81 % (docs/scoring.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Naturalness {
    /// DNSMOS P.835 OVRL (a noise-suppression MOS; never trained on synthetic speech).
    Dnsmos,
    /// Distill-MOS v7 (trained on speech-quality ratings, including synthetic speech).
    #[default]
    DistillMos,
}

impl Naturalness {
    /// Every model, in command-line order.
    pub const ALL: [Naturalness; 2] = [Naturalness::Dnsmos, Naturalness::DistillMos];

    /// The command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dnsmos => "dnsmos",
            Self::DistillMos => "distill-mos",
        }
    }

    /// The MOS that earns nothing and the MOS that earns everything.
    pub fn bounds(self) -> (f64, f64) {
        match self {
            Self::Dnsmos => (OVRL_FLOOR, OVRL_CEIL),
            Self::DistillMos => (DISTILL_FLOOR, DISTILL_CEIL),
        }
    }
}

impl std::str::FromStr for Naturalness {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|n| n.as_str() == s || (s == "distillmos" && *n == Self::DistillMos))
            .ok_or_else(|| format!("unknown naturalness model `{s}`; use dnsmos or distill-mos"))
    }
}
/// Speech fraction (VAD speech time over clip time) below which activity is 0.
pub const ACTIVITY_FLOOR: f64 = 0.3;
/// Speech fraction from which activity is 1.
pub const ACTIVITY_FULL: f64 = 0.65;
/// Plausible speaking rates in spoken characters (letters and digits of the normalised prompt)
/// per second from the first to the last speech. Honest engines measure 11.9–17.1 (Festival,
/// Piper, espeak-ng on the test sentences); careful human reading is about 10–11.
pub const RATE_MIN: f64 = 10.0;
/// Upper end of the plausible speaking rates.
pub const RATE_MAX: f64 = 18.0;
/// Outside the band the rate factor is a Gaussian in the log of the ratio to the nearest bound,
/// with this standard deviation: a rate 1.2× beyond the band keeps 61 %, 1.5× beyond 8 %, 2× beyond 0.07 %.
pub const RATE_LOG_SIGMA: f64 = 0.182_321_556_793_954_6; // ln(1.2)
/// Leading silence allowed before a penalty, seconds.
pub const LEAD_ALLOWED_S: f64 = 0.75;
/// Trailing silence allowed before a penalty, seconds.
pub const TRAIL_ALLOWED_S: f64 = 1.0;
/// Excess silence (seconds) that costs a factor e: 1 s of padding beyond the allowance keeps
/// about 37 %.
pub const SILENCE_DECAY_S: f64 = 1.0;

/// The measurements the reward is computed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurements {
    /// Word error rate of the transcript against the prompt (normalised).
    pub wer: f64,
    /// The naturalness model's MOS (1–5): DNSMOS OVRL or Distill-MOS, as `naturalness` says.
    pub mos: f64,
    /// Which model gave `mos`.
    pub naturalness: Naturalness,
    /// Fraction of the clip the VAD calls speech.
    pub speech_fraction: f64,
    /// Spoken characters per second of speech; `None` when there is no speech.
    pub speaking_rate: Option<f64>,
    /// Silence before the first speech, seconds.
    pub leading_silence_s: f64,
    /// Silence after the last speech, seconds.
    pub trailing_silence_s: f64,
}

/// The factors and their product.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Factors {
    /// From WER: `clip(1 − WER / WER_ZERO)`.
    pub intelligibility: f64,
    /// From the MOS: `clip((MOS − floor) / (ceil − floor))` with the model's bounds.
    pub naturalness: f64,
    /// From the speech fraction.
    pub activity: f64,
    /// From the speaking rate.
    pub rate: f64,
    /// From the leading and trailing silence.
    pub silence: f64,
    /// `rate × silence`.
    pub pacing: f64,
    /// The product of all factors, in [0, 1].
    pub reward: f64,
}

fn clip01(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

/// Intelligibility from WER.
pub fn intelligibility(wer: f64) -> f64 {
    clip01(1.0 - wer / WER_ZERO)
}

/// Naturalness from a MOS of the model `model`.
pub fn naturalness(mos: f64, model: Naturalness) -> f64 {
    let (floor, ceil) = model.bounds();
    clip01((mos - floor) / (ceil - floor))
}

/// Activity from the speech fraction.
pub fn activity(speech_fraction: f64) -> f64 {
    clip01((speech_fraction - ACTIVITY_FLOOR) / (ACTIVITY_FULL - ACTIVITY_FLOOR))
}

/// Rate factor: 1 inside [`RATE_MIN`, `RATE_MAX`], a log-Gaussian fall-off outside, 0 without
/// speech.
pub fn rate(speaking_rate: Option<f64>) -> f64 {
    match speaking_rate {
        Some(r) if r.is_finite() && r > 0.0 => {
            let off = if r < RATE_MIN {
                (RATE_MIN / r).ln()
            } else if r > RATE_MAX {
                (r / RATE_MAX).ln()
            } else {
                0.0
            };
            clip01((-0.5 * (off / RATE_LOG_SIGMA).powi(2)).exp())
        }
        _ => 0.0,
    }
}

/// Silence factor: `exp(−excess / SILENCE_DECAY_S)` over the silence beyond the allowances.
pub fn silence(leading_s: f64, trailing_s: f64) -> f64 {
    let excess = (leading_s - LEAD_ALLOWED_S).max(0.0) + (trailing_s - TRAIL_ALLOWED_S).max(0.0);
    if excess.is_nan() {
        return 0.0;
    }
    clip01((-excess / SILENCE_DECAY_S).exp())
}

/// All factors and the reward.
pub fn factors(m: &Measurements) -> Factors {
    let intelligibility = intelligibility(m.wer);
    let naturalness = naturalness(m.mos, m.naturalness);
    let activity = activity(m.speech_fraction);
    let rate = rate(m.speaking_rate);
    let silence = silence(m.leading_silence_s, m.trailing_silence_s);
    let pacing = rate * silence;
    let reward = clip01(intelligibility * naturalness * activity * pacing);
    Factors {
        intelligibility,
        naturalness,
        activity,
        rate,
        silence,
        pacing,
        reward,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn honest() -> Measurements {
        Measurements {
            wer: 0.04,
            mos: 3.1,
            naturalness: Naturalness::Dnsmos,
            speech_fraction: 0.85,
            speaking_rate: Some(13.0),
            leading_silence_s: 0.2,
            trailing_silence_s: 0.3,
        }
    }

    #[test]
    fn honest_speech_scores_high() {
        let f = factors(&honest());
        assert!(f.reward > 0.65, "{f:?}");
        assert_eq!(f.pacing, 1.0);
    }

    #[test]
    fn one_failing_term_sinks_the_reward() {
        let base = factors(&honest()).reward;
        let cases = [
            Measurements {
                wer: 0.9,
                ..honest()
            },
            Measurements {
                mos: 1.3,
                ..honest()
            },
            Measurements {
                speech_fraction: 0.1,
                ..honest()
            },
            Measurements {
                speaking_rate: None,
                ..honest()
            },
        ];
        for m in cases {
            assert_eq!(factors(&m).reward, 0.0, "{m:?}");
        }
        let stretched = factors(&Measurements {
            speaking_rate: Some(13.0 / 2.0),
            ..honest()
        });
        assert!(stretched.reward < 0.5 * base, "{stretched:?}");
        assert!((rate(Some(RATE_MAX * 1.2)) - (-0.5f64).exp()).abs() < 1e-12);
        assert_eq!(rate(Some(RATE_MIN)), 1.0);
        let padded = factors(&Measurements {
            leading_silence_s: 2.5,
            trailing_silence_s: 2.5,
            ..honest()
        });
        assert!(padded.reward < 0.1 * base, "{padded:?}");
    }

    #[test]
    fn factors_stay_in_range_for_any_input() {
        for (v, naturalness) in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 0.0, 1e9]
            .into_iter()
            .flat_map(|v| Naturalness::ALL.map(|n| (v, n)))
        {
            let f = factors(&Measurements {
                wer: v,
                mos: v,
                naturalness,
                speech_fraction: v,
                speaking_rate: Some(v),
                leading_silence_s: v,
                trailing_silence_s: v,
            });
            for x in [
                f.intelligibility,
                f.naturalness,
                f.activity,
                f.rate,
                f.silence,
                f.reward,
            ] {
                assert!((0.0..=1.0).contains(&x), "{v}: {f:?}");
            }
        }
    }
}

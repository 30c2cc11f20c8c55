//! Response checks that run before any model: pure functions that turn a miner's sample array
//! into clean `f32` audio in [-1, 1], or a typed [`Rejection`]. Nothing here panics on any input
//! (see the proptest), because a miner's garbage must never take the validator down.

use serde::Serialize;

/// Sample rates a response may declare. Anything else is a rejection: the rate decides how the
/// samples are read, and an odd rate is either a bug or an attempt to time-stretch for free.
pub const ALLOWED_SAMPLE_RATES: [u32; 7] = [8000, 16000, 22050, 24000, 32000, 44100, 48000];

/// Shortest accepted clip.
pub const MIN_DURATION_S: f64 = 0.3;
/// Longest accepted clip: one Whisper window. Prompts are sentences (≤ 256 characters), which
/// take well under 30 s to say.
pub const MAX_DURATION_S: f64 = 30.0;
/// Float samples above this peak are not audio. Integer PCM is recognised and rescaled instead
/// (see [`check_response`]).
pub const MAX_FLOAT_PEAK: f32 = 1.5;
/// RMS below this (−60 dBFS) is silence.
pub const MIN_RMS: f64 = 1e-3;
/// More than this fraction of samples at full scale is a square wave or hard clipping, not speech.
pub const MAX_CLIPPED_FRACTION: f64 = 0.05;
/// Fastest plausible speech, in spoken characters per second of the whole clip. A clip shorter
/// than `chars / MAX_CHARS_PER_S` cannot contain the prompt (truncated or sped up).
pub const MAX_CHARS_PER_S: f64 = 40.0;
/// Slowest plausible speech for the length limit: a clip longer than
/// `SLACK_S + chars / MIN_CHARS_PER_S` is padded or stretched far beyond any reading speed.
pub const MIN_CHARS_PER_S: f64 = 3.0;
/// Fixed allowance (pauses, leading and trailing silence) in the upper length bound.
pub const SLACK_S: f64 = 3.0;

/// Why a response is not scored (it gets reward 0).
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rejection {
    /// No samples.
    #[error("empty audio")]
    Empty,
    /// The validator's prompt has nothing to say (a validator bug, not the miner's fault).
    #[error("the prompt has no words")]
    EmptyPrompt,
    /// The declared sample rate is not in [`ALLOWED_SAMPLE_RATES`].
    #[error("sample rate {sample_rate} Hz is not allowed")]
    UnsupportedSampleRate {
        /// The declared rate.
        sample_rate: u32,
    },
    /// A NaN or infinite sample.
    #[error("sample {index} is not finite")]
    NonFinite {
        /// Index of the first bad sample.
        index: usize,
    },
    /// Float samples beyond [`MAX_FLOAT_PEAK`] that are not integer PCM.
    #[error("peak {peak} is out of range")]
    OutOfRange {
        /// The largest absolute sample.
        peak: f64,
    },
    /// Shorter than [`MIN_DURATION_S`] or than the prompt can be said in.
    #[error("{duration_s:.2} s is too short (at least {min_s:.2} s)")]
    TooShort {
        /// Clip duration.
        duration_s: f64,
        /// The bound.
        min_s: f64,
    },
    /// Longer than [`MAX_DURATION_S`] or than the prompt can plausibly take.
    #[error("{duration_s:.2} s is too long (at most {max_s:.2} s)")]
    TooLong {
        /// Clip duration.
        duration_s: f64,
        /// The bound.
        max_s: f64,
    },
    /// RMS below [`MIN_RMS`].
    #[error("silent (RMS {rms:.2e})")]
    Silent {
        /// Root mean square of the samples.
        rms: f64,
    },
    /// More than [`MAX_CLIPPED_FRACTION`] of the samples at full scale.
    #[error("{percent:.1} % of the samples are clipped")]
    Clipped {
        /// Percentage of samples with |x| ≥ 0.999.
        percent: f64,
    },
}

/// Audio that passed the checks.
#[derive(Debug, Clone)]
pub struct CheckedAudio {
    /// Samples in [-1, 1] at `sample_rate`.
    pub samples: Vec<f32>,
    /// The declared (allowed) sample rate.
    pub sample_rate: u32,
    /// `samples.len() / sample_rate`.
    pub duration_s: f64,
    /// RMS of `samples`.
    pub rms: f64,
    /// Full scale the input was divided by: 1 for float audio, 32768 or 2^31 for integer PCM.
    pub pcm_scale: f64,
}

/// Duration bounds `(min, max)` in seconds for a prompt with `spoken_chars` letters and digits.
pub fn duration_bounds(spoken_chars: usize) -> (f64, f64) {
    let chars = spoken_chars as f64;
    let min = (chars / MAX_CHARS_PER_S).max(MIN_DURATION_S);
    let max = (SLACK_S + chars / MIN_CHARS_PER_S).min(MAX_DURATION_S);
    (min, max.max(min))
}

/// Checks a response and converts it to float audio in [-1, 1].
///
/// Integer PCM is accepted, because the original miners sent int32 PCM as JSON numbers: when the
/// peak exceeds [`MAX_FLOAT_PEAK`] and every sample is a whole number, the samples are divided by
/// the full scale of the smallest integer type that holds them (32768 for 16-bit, 2^31 for
/// 32-bit). A fixed full scale, not the peak, so a quiet integer clip stays quiet. Non-integer
/// values above the float range are rejected.
///
/// `prompt` is the validator's own text (never the miner's echo); its spoken length bounds the
/// duration.
pub fn check_response<T: Into<f64> + Copy>(
    prompt: &str,
    samples: &[T],
    sample_rate: u32,
) -> Result<CheckedAudio, Rejection> {
    let chars = crate::text::spoken_chars(prompt);
    if chars == 0 {
        return Err(Rejection::EmptyPrompt);
    }
    if samples.is_empty() {
        return Err(Rejection::Empty);
    }
    if !ALLOWED_SAMPLE_RATES.contains(&sample_rate) {
        return Err(Rejection::UnsupportedSampleRate { sample_rate });
    }
    let duration_s = samples.len() as f64 / f64::from(sample_rate);
    let (min_s, max_s) = duration_bounds(chars);
    // Length first: it is O(1) and bounds all the work below.
    if duration_s > max_s {
        return Err(Rejection::TooLong { duration_s, max_s });
    }
    if duration_s < min_s {
        return Err(Rejection::TooShort { duration_s, min_s });
    }
    let mut peak = 0f64;
    let mut all_integer = true;
    for (index, s) in samples.iter().enumerate() {
        let v: f64 = (*s).into();
        if !v.is_finite() {
            return Err(Rejection::NonFinite { index });
        }
        peak = peak.max(v.abs());
        all_integer &= v.fract() == 0.0;
    }
    let pcm_scale = if peak <= f64::from(MAX_FLOAT_PEAK) {
        1.0
    } else if all_integer && peak <= 32768.0 {
        32768.0
    } else if all_integer && peak <= 2_147_483_648.0 {
        2_147_483_648.0
    } else {
        return Err(Rejection::OutOfRange { peak });
    };
    let mut out = Vec::with_capacity(samples.len());
    let mut energy = 0f64;
    let mut clipped = 0usize;
    for s in samples {
        // Float audio slightly above 1 (up to MAX_FLOAT_PEAK) is clamped, as a DAC would.
        let v = ((*s).into() / pcm_scale).clamp(-1.0, 1.0);
        energy += v * v;
        clipped += usize::from(v.abs() >= 0.999);
        out.push(v as f32);
    }
    let rms = (energy / samples.len() as f64).sqrt();
    if rms < MIN_RMS {
        return Err(Rejection::Silent { rms });
    }
    let clipped_fraction = clipped as f64 / samples.len() as f64;
    if clipped_fraction > MAX_CLIPPED_FRACTION {
        return Err(Rejection::Clipped {
            percent: 100.0 * clipped_fraction,
        });
    }
    Ok(CheckedAudio {
        samples: out,
        sample_rate,
        duration_s,
        rms,
        pcm_scale,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMPT: &str = "The quick brown fox jumps over the lazy dog.";

    fn tone(rate: u32, seconds: f64, amp: f32) -> Vec<f32> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .map(|i| amp * (i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin())
            .collect()
    }

    #[test]
    fn accepts_plain_float_audio() {
        let a = check_response(PROMPT, &tone(22050, 3.0, 0.5), 22050).unwrap();
        assert_eq!(a.sample_rate, 22050);
        assert!((a.duration_s - 3.0).abs() < 1e-9);
        assert!((a.rms - 0.5 / 2f64.sqrt()).abs() < 1e-3);
        assert_eq!(a.pcm_scale, 1.0);
    }

    #[test]
    fn rescales_integer_pcm() {
        let f = tone(16000, 3.0, 0.5);
        let i16s: Vec<f64> = f.iter().map(|x| f64::from((x * 32767.0).round())).collect();
        let a = check_response(PROMPT, &i16s, 16000).unwrap();
        assert_eq!(a.pcm_scale, 32768.0);
        assert!((a.rms - 0.5 / 2f64.sqrt()).abs() < 1e-3);
        let i32s: Vec<f64> = f.iter().map(|x| (f64::from(*x) * 2e9).round()).collect();
        let a = check_response(PROMPT, &i32s, 16000).unwrap();
        assert_eq!(a.pcm_scale, 2_147_483_648.0);
    }

    #[test]
    fn rejects_garbage() {
        let ok = tone(16000, 3.0, 0.5);
        assert_eq!(
            check_response::<f32>(PROMPT, &[], 16000).unwrap_err(),
            Rejection::Empty
        );
        assert_eq!(
            check_response(" ?! ", &ok, 16000).unwrap_err(),
            Rejection::EmptyPrompt
        );
        assert_eq!(
            check_response(PROMPT, &ok, 44000).unwrap_err(),
            Rejection::UnsupportedSampleRate { sample_rate: 44000 }
        );
        let mut nan = ok.clone();
        nan[7] = f32::NAN;
        assert_eq!(
            check_response(PROMPT, &nan, 16000).unwrap_err(),
            Rejection::NonFinite { index: 7 }
        );
        let mut inf = ok.clone();
        inf[9] = f32::NEG_INFINITY;
        assert!(matches!(
            check_response(PROMPT, &inf, 16000),
            Err(Rejection::NonFinite { index: 9 })
        ));
        let huge: Vec<f32> = ok.iter().map(|x| x * 1e6 + 0.25).collect();
        assert!(matches!(
            check_response(PROMPT, &huge, 16000),
            Err(Rejection::OutOfRange { .. })
        ));
        let too_big_int: Vec<f64> = ok.iter().map(|x| (f64::from(*x) * 1e12).round()).collect();
        assert!(matches!(
            check_response(PROMPT, &too_big_int, 16000),
            Err(Rejection::OutOfRange { .. })
        ));
        assert!(matches!(
            check_response(PROMPT, &vec![0f32; 48000], 16000),
            Err(Rejection::Silent { .. })
        ));
        assert!(matches!(
            check_response(PROMPT, &tone(16000, 3.0, 1e-4), 16000),
            Err(Rejection::Silent { .. })
        ));
        let square: Vec<f32> = ok.iter().map(|x| x.signum()).collect();
        assert!(matches!(
            check_response(PROMPT, &square, 16000),
            Err(Rejection::Clipped { .. })
        ));
    }

    #[test]
    fn duration_must_fit_the_prompt() {
        // 35 spoken characters: at most 3 + 35/3 ≈ 14.7 s, at least 0.875 s.
        assert!(matches!(
            check_response(PROMPT, &tone(16000, 0.5, 0.5), 16000),
            Err(Rejection::TooShort { .. })
        ));
        assert!(matches!(
            check_response(PROMPT, &tone(16000, 20.0, 0.5), 16000),
            Err(Rejection::TooLong { .. })
        ));
        assert!(matches!(
            check_response("Hi.", &tone(16000, 0.2, 0.5), 16000),
            Err(Rejection::TooShort { .. })
        ));
        let long_prompt = "word ".repeat(200);
        assert!(matches!(
            check_response(&long_prompt, &tone(8000, 31.0, 0.5), 8000),
            Err(Rejection::TooLong { .. })
        ));
        let (min, max) = duration_bounds(0);
        assert!(min <= max);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_samples(
            samples in proptest::collection::vec(proptest::num::f64::ANY, 0..4000),
            rate in proptest::prop_oneof![
                proptest::sample::select(ALLOWED_SAMPLE_RATES.to_vec()),
                proptest::num::u32::ANY,
            ],
            prompt in "\\PC{0,20}",
        ) {
            if let Ok(a) = check_response(&prompt, &samples, rate) {
                proptest::prop_assert!(a.samples.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
                proptest::prop_assert!(a.rms >= MIN_RMS);
            }
        }

        #[test]
        fn never_panics_on_f32_samples(
            samples in proptest::collection::vec(proptest::num::f32::ANY, 0..4000),
        ) {
            let _ = check_response("a b", &samples, 8000);
        }
    }
}

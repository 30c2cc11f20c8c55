//! Whether a clip has drums: how noise-like its upper band (4.5–7.2 kHz) is where the clip is
//! playing. Hi-hats, snares, cymbals, shakers and brushes are broadband noise bursts and fill
//! that band with a flat spectrum; pitched instruments leave it tonal (partials) or nearly
//! empty. The energy share of a harmonic/percussive separation cannot tell the two apart
//! (piano attacks count as percussive), which is why this is measured on the band's shape.

use crate::stft;

/// The band whose flatness is measured, Hz: above most pitched partials' energy, below the
/// 0.45 × 16 kHz low-pass of the analysis rate.
pub const DRUM_BAND_HZ: (f32, f32) = (4_500.0, 7_200.0);
/// A frame whose band holds less than this share (dB) of the frame's energy counts as a
/// tonal frame (flatness 0): a pad's faint upper band is flat noise, but it is not a drum.
pub const DRUM_BAND_MIN_DB: f64 = -35.0;
/// Frames more than this many dB below the clip's loudest frame are not measured (tails and
/// pauses).
const FRAME_RANGE_DB: f64 = 40.0;
/// The reported figure is this quantile of the frames' band flatness: drums hit on a fraction
/// of the frames, so a high quantile sees them where the median would not.
const QUANTILE: f32 = 0.9;

/// The [`QUANTILE`] over frames (about 32 ms, without overlap) within [`FRAME_RANGE_DB`] of
/// the loudest of the spectral flatness of [`DRUM_BAND_HZ`] (0 for frames where the band is
/// under [`DRUM_BAND_MIN_DB`] of the frame). In [0, 1]; 0 when the clip is too short or the
/// rate too low to hold the band. `y` is at `sr` Hz, at least 16 kHz.
pub(crate) fn drum_noise(y: &[f32], sr: f32) -> f32 {
    let n_fft = stft::next_pow2(sr * 0.03);
    let Some(spec) = stft::magnitudes(y, n_fft, n_fft) else {
        return 0.0;
    };
    let bin_hz = sr / n_fft as f32;
    let lo = (DRUM_BAND_HZ.0 / bin_hz).ceil() as usize;
    let hi = ((DRUM_BAND_HZ.1.min(0.45 * sr) / bin_hz).floor() as usize).min(spec.bins);
    if hi < lo + 8 {
        return 0.0;
    }
    let power = |m: f32| f64::from(m) * f64::from(m);
    let frame_energy: Vec<f64> = (0..spec.frames)
        .map(|t| spec.frame(t).iter().map(|&m| power(m)).sum())
        .collect();
    let loudest = frame_energy.iter().copied().fold(0.0_f64, f64::max);
    if loudest <= 0.0 || !loudest.is_finite() {
        return 0.0;
    }
    let db = |ratio: f64| 10.0 * ratio.log10();
    let mut flatness: Vec<f32> = Vec::with_capacity(spec.frames);
    for (t, &energy) in frame_energy.iter().enumerate() {
        if energy <= 0.0 || db(energy / loudest) < -FRAME_RANGE_DB {
            continue;
        }
        let band = &spec.frame(t)[lo..hi];
        let band_energy: f64 = band.iter().map(|&m| power(m)).sum();
        if band_energy <= 0.0 || db(band_energy / energy) < DRUM_BAND_MIN_DB {
            flatness.push(0.0);
            continue;
        }
        // Geometric over arithmetic mean of the band's power; a floor keeps empty bins finite.
        let floor = band_energy / band.len() as f64 * 1e-9;
        let log_mean =
            band.iter().map(|&m| (power(m) + floor).ln()).sum::<f64>() / band.len() as f64;
        let arithmetic = band_energy / band.len() as f64 + floor;
        flatness.push((log_mean.exp() / arithmetic).clamp(0.0, 1.0) as f32);
    }
    if flatness.is_empty() {
        return 0.0;
    }
    let at = ((flatness.len() - 1) as f32 * QUANTILE).round() as usize;
    let (_, q, _) = flatness.select_nth_unstable_by(at, f32::total_cmp);
    *q
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: f32 = 16_000.0;

    /// SplitMix64 noise in [-1, 1], so every run measures the same signal.
    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                2.0 * ((z >> 40) as f32 / (1u64 << 24) as f32) - 1.0
            })
            .collect()
    }

    /// Piano-like notes: eight partials at 1/k, decaying, a new note every half second.
    fn notes(seconds: f32) -> Vec<f32> {
        let n = (seconds * SR) as usize;
        let step = (0.5 * SR) as usize;
        let pitches = [220.0_f32, 277.2, 329.6, 440.0, 392.0, 261.6, 349.2, 293.7];
        (0..n)
            .map(|i| {
                let note = i / step;
                let t = (i % step) as f32 / SR;
                let f0 = pitches[note % pitches.len()];
                let env = (-4.0 * t).exp();
                (1..=8)
                    .map(|k| {
                        let k = k as f32;
                        (std::f32::consts::TAU * f0 * k * t).sin() / k
                    })
                    .sum::<f32>()
                    * 0.2
                    * env
            })
            .collect()
    }

    /// A closed hi-hat every quarter second: white noise with a 30 ms decay, high-passed by a
    /// first difference.
    fn hats(seconds: f32, gain: f32) -> Vec<f32> {
        let n = (seconds * SR) as usize;
        let step = (0.25 * SR) as usize;
        let white = noise(n + 1, 7);
        (0..n)
            .map(|i| {
                let t = (i % step) as f32 / SR;
                gain * (white[i + 1] - white[i]) * (-t / 0.03).exp()
            })
            .collect()
    }

    fn mix(a: &[f32], b: &[f32]) -> Vec<f32> {
        a.iter().zip(b).map(|(x, y)| x + y).collect()
    }

    #[test]
    fn pitched_notes_read_as_no_drums_and_hats_over_them_as_drums() {
        let piano = notes(8.0);
        let without = drum_noise(&piano, SR);
        let with = drum_noise(&mix(&piano, &hats(8.0, 0.1)), SR);
        assert!(without < 0.1, "notes alone: {without}");
        assert!(with > 0.3, "notes and hats: {with}");
    }

    #[test]
    fn a_pad_with_a_faint_noise_floor_is_not_a_drum() {
        let n = (8.0 * SR) as usize;
        let hiss = noise(n, 3);
        let pad: Vec<f32> = (0..n)
            .map(|i| {
                let t = i as f32 / SR;
                let chord: f32 = [220.0_f32, 277.2, 329.6]
                    .iter()
                    .map(|f| (std::f32::consts::TAU * f * t).sin())
                    .sum();
                0.2 * chord + 1e-4 * hiss[i]
            })
            .collect();
        assert_eq!(drum_noise(&pad, SR), 0.0);
        // The same hiss loud enough to matter is noise in the band (the noise check's job).
        let loud: Vec<f32> = pad.iter().zip(&hiss).map(|(p, h)| p + 0.05 * h).collect();
        assert!(drum_noise(&loud, SR) > 0.5);
    }

    #[test]
    fn silence_short_clips_and_low_rates_read_as_zero() {
        assert_eq!(drum_noise(&[0.0; 16_000], SR), 0.0);
        assert_eq!(drum_noise(&[0.5; 100], SR), 0.0);
        // At 8 kHz the band is above Nyquist.
        assert_eq!(drum_noise(&hats(4.0, 0.5), 8_000.0), 0.0);
    }
}

//! Tempo: a spectral-flux onset envelope, its autocorrelation over 40–240 BPM weighted by a
//! prior that settles octave ambiguity, and a sub-frame refinement over several beat multiples.

use crate::stft;

/// The slowest tempo [`estimate_tempo`] reports.
pub const MIN_BPM: f32 = 40.0;
/// The fastest tempo [`estimate_tempo`] reports.
pub const MAX_BPM: f32 = 240.0;

/// Onset-envelope frames per second (5 ms hop): one frame is 1 % of a 120 BPM beat before the
/// sub-frame refinement.
const ENVELOPE_RATE: f32 = 200.0;
/// The prior's centre and width: log-normal around 120 BPM, one octave standard deviation (as
/// in Ellis's beat tracker and librosa); it only decides between tempi the signal supports
/// about equally, such as a beat and its double.
const PRIOR_CENTRE_BPM: f32 = 120.0;
const PRIOR_OCTAVES: f32 = 1.0;
/// The smallest per-bin log-magnitude rise counted as onset energy.
const FLUX_FLOOR: f32 = 0.05;
/// Shortest clip measured: two beats at the slowest tempo plus a window.
const MIN_SECONDS: f32 = 3.0;

/// A tempo estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TempoEstimate {
    /// Beats per minute, in [`MIN_BPM`, `MAX_BPM`].
    pub bpm: f32,
    /// The onset envelope's normalised autocorrelation at the beat period, in [0, 1]: near 1
    /// for a metronome, near 0 when nothing repeats.
    pub confidence: f32,
}

/// Estimates the tempo of mono `samples` at `sample_rate`; `None` for clips shorter than 3 s,
/// silence, non-finite samples, sample rates under 4 kHz, or a signal without periodic onsets.
pub fn estimate_tempo(samples: &[f32], sample_rate: u32) -> Option<TempoEstimate> {
    if sample_rate < 4_000 || samples.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let sr = sample_rate as f32;
    if (samples.len() as f32) < MIN_SECONDS * sr {
        return None;
    }
    let hop = (sr / ENVELOPE_RATE).round().max(1.0) as usize;
    let fps = sr / hop as f32;
    let envelope = onset_envelope(samples, sr, hop)?;
    let ac = autocorrelation(&envelope, envelope.len() / 2);
    if ac[0].is_nan() || ac[0] <= 0.0 {
        return None;
    }
    let lag_of = |bpm: f32| 60.0 * fps / bpm;
    let lag_min = lag_of(MAX_BPM).floor().max(1.0) as usize;
    let lag_max = (lag_of(MIN_BPM).ceil() as usize).min(ac.len().saturating_sub(2));
    if lag_min + 2 > lag_max {
        return None;
    }
    let mut best: Option<(usize, f32)> = None;
    for lag in lag_min.max(1)..=lag_max {
        let v = ac[lag];
        if v <= 0.0 || v < ac[lag - 1] || v < ac[lag + 1] {
            continue;
        }
        let bpm = 60.0 * fps / lag as f32;
        let octaves = (bpm / PRIOR_CENTRE_BPM).log2() / PRIOR_OCTAVES;
        let score = v * (-0.5 * octaves * octaves).exp();
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((lag, score));
        }
    }
    let (lag, _) = best?;
    let period = refine_period(&ac, lag);
    let bpm = (60.0 * fps / period).clamp(MIN_BPM, MAX_BPM);
    let confidence = (ac[lag] / ac[0]).clamp(0.0, 1.0);
    Some(TempoEstimate { bpm, confidence })
}

/// Half-wave-rectified spectral flux of the log-magnitude spectrogram, with its local mean
/// (±0.25 s) removed so slow loudness changes do not read as periodicity.
fn onset_envelope(samples: &[f32], sr: f32, hop: usize) -> Option<Vec<f32>> {
    let n_fft = stft::next_pow2(sr * 0.032);
    let spec = stft::magnitudes(samples, n_fft, hop)?;
    if spec.frames < 3 {
        return None;
    }
    // Scale so a full-scale sine peaks near 1 whatever the window, then compress: onsets of
    // quiet instruments count, not only the loudest.
    let norm = 2.0 / n_fft as f32;
    let mut prev: Vec<f32> = spec
        .frame(0)
        .iter()
        .map(|m| (1.0 + 1000.0 * m * norm).ln())
        .collect();
    let mut flux = Vec::with_capacity(spec.frames);
    flux.push(0.0_f32);
    for t in 1..spec.frames {
        let mut sum = 0.0;
        for (p, &m) in prev.iter_mut().zip(spec.frame(t)) {
            let l = (1.0 + 1000.0 * m * norm).ln();
            // Rises under 5 % are window-phase ripple of steady partials, not onsets.
            let rise = l - *p;
            if rise > FLUX_FLOOR {
                sum += rise;
            }
            *p = l;
        }
        flux.push(sum);
    }
    let half = (0.25 * sr / hop as f32).round().max(1.0) as usize;
    let mut prefix = Vec::with_capacity(flux.len() + 1);
    prefix.push(0.0_f64);
    for &f in &flux {
        let last = prefix.last().copied().unwrap_or(0.0);
        prefix.push(last + f64::from(f));
    }
    let envelope = (0..flux.len())
        .map(|t| {
            let lo = t.saturating_sub(half);
            let hi = (t + half + 1).min(flux.len());
            let mean = (prefix[hi] - prefix[lo]) / (hi - lo) as f64;
            (flux[t] - mean as f32).max(0.0)
        })
        .collect();
    Some(envelope)
}

/// Unbiased autocorrelation (each lag divided by its overlap) of the zero-mean `x`, lags
/// `0..=max_lag`.
fn autocorrelation(x: &[f32], max_lag: usize) -> Vec<f32> {
    let n = x.len();
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n.max(1) as f64;
    let centred: Vec<f64> = x.iter().map(|&v| f64::from(v) - mean).collect();
    (0..=max_lag.min(n.saturating_sub(1)))
        .map(|lag| {
            let s: f64 = centred[..n - lag]
                .iter()
                .zip(&centred[lag..])
                .map(|(a, b)| a * b)
                .sum();
            (s / (n - lag) as f64) as f32
        })
        .collect()
}

/// The peak near `lag` to sub-frame precision, then the same at its multiples (2·lag, 3·lag …
/// while they fit): the period is the least-squares slope through those peaks, so the error of
/// one frame at the k-th multiple costs only 1/k of a frame.
fn refine_period(ac: &[f32], lag: usize) -> f32 {
    let mut num = 0.0_f64;
    let mut den = 0.0_f64;
    let mut period = parabolic_peak(ac, lag);
    num += f64::from(period);
    den += 1.0;
    for k in 2..=8_usize {
        let target = period * k as f32;
        let centre = target.round() as usize;
        let radius = 2 + k / 2;
        if centre + radius + 1 >= ac.len() {
            break;
        }
        let lo = centre.saturating_sub(radius).max(1);
        let hi = centre + radius;
        let mut at = lo;
        for i in lo..=hi {
            if ac[i] > ac[at] {
                at = i;
            }
        }
        // A multiple without a real peak (an edge of the window, or a weak one) says nothing.
        if at == lo || at == hi || ac[at] <= 0.0 {
            continue;
        }
        let p = parabolic_peak(ac, at);
        num += k as f64 * f64::from(p);
        den += (k * k) as f64;
        period = (num / den) as f32;
    }
    period
}

/// The vertex of the parabola through `ac[i - 1]`, `ac[i]`, `ac[i + 1]`.
fn parabolic_peak(ac: &[f32], i: usize) -> f32 {
    if i == 0 || i + 1 >= ac.len() {
        return i as f32;
    }
    let (a, b, c) = (ac[i - 1], ac[i], ac[i + 1]);
    let denom = a - 2.0 * b + c;
    if denom.abs() < f32::EPSILON {
        return i as f32;
    }
    let delta = (0.5 * (a - c) / denom).clamp(-0.5, 0.5);
    i as f32 + delta
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: u32 = 22_050;

    /// Decaying noise bursts (a deterministic LCG) every beat, accented on the bar.
    fn click_track(bpm: f32, seconds: f32, beats_per_bar: usize) -> Vec<f32> {
        let n = (seconds * SR as f32) as usize;
        let mut out = vec![0.0_f32; n];
        let period = 60.0 / bpm * SR as f32;
        let mut state = 0x1234_5678_u32;
        let mut beat = 0;
        loop {
            let start = (beat as f32 * period).round() as usize;
            if start >= n {
                break;
            }
            let gain = if beat % beats_per_bar == 0 { 0.8 } else { 0.5 };
            for i in 0..(0.03 * SR as f32) as usize {
                if start + i >= n {
                    break;
                }
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (state >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0;
                out[start + i] += gain * noise * (-(i as f32) / (0.006 * SR as f32)).exp();
            }
            beat += 1;
        }
        out
    }

    #[test]
    fn click_tracks_measure_within_one_percent() {
        for (bpm, meter) in [(75.0, 4), (96.0, 4), (120.0, 4), (140.0, 4), (60.0, 3)] {
            let est = estimate_tempo(&click_track(bpm, 12.0, meter), SR)
                .unwrap_or_else(|| panic!("no tempo for {bpm} BPM"));
            let err = (est.bpm - bpm).abs() / bpm;
            assert!(
                err < 0.01,
                "{bpm} BPM measured {} ({:.2} %)",
                est.bpm,
                err * 100.0
            );
            assert!(
                est.confidence > 0.3,
                "{bpm} BPM confidence {}",
                est.confidence
            );
        }
    }

    #[test]
    fn backbeat_with_eighth_hats_is_not_doubled() {
        // Kick on 1 and 3, snare on 2 and 4, quieter hats on every eighth: the beat, not the
        // eighth, is the tempo.
        let bpm = 90.0_f32;
        let beats = click_track(bpm, 12.0, 2);
        let eighths = click_track(bpm * 2.0, 12.0, 2);
        let mix: Vec<f32> = beats
            .iter()
            .zip(&eighths)
            .map(|(a, b)| a + 0.3 * b)
            .collect();
        let est = estimate_tempo(&mix, SR).unwrap_or_else(|| panic!("no tempo"));
        assert!((est.bpm - bpm).abs() / bpm < 0.01, "measured {}", est.bpm);
    }

    #[test]
    fn nothing_to_measure_is_none() {
        assert!(estimate_tempo(&[], SR).is_none());
        assert!(estimate_tempo(&[0.0; 1000], SR).is_none());
        assert!(estimate_tempo(&vec![0.0; 10 * SR as usize], SR).is_none());
        assert!(estimate_tempo(&click_track(120.0, 2.0, 4), SR).is_none());
        let mut nan = click_track(120.0, 6.0, 4);
        nan[100] = f32::NAN;
        assert!(estimate_tempo(&nan, SR).is_none());
        assert!(estimate_tempo(&click_track(120.0, 6.0, 4), 0).is_none());
        // A steady tone has no onsets after its start.
        let tone: Vec<f32> = (0..8 * SR)
            .map(|i| 0.5 * (std::f32::consts::TAU * 440.0 * i as f32 / SR as f32).sin())
            .collect();
        if let Some(est) = estimate_tempo(&tone, SR) {
            assert!(
                est.confidence < 0.3,
                "a steady tone has confidence {}",
                est.confidence
            );
        }
    }
}

//! Time-stretching without a change of pitch: WSOLA (waveform-similarity overlap-add,
//! Verhelst and Roelands 1993). The miner applies OpenAI's `speed` with it, since engines run at
//! their own pace and resampling to change the tempo would also shift the voice up or down.
//!
//! Output frames of 30 ms step by half a frame (Hann windows at 50 % overlap sum to one). Frame
//! `k` is taken from the input near `k · hop · speed`, moved by up to ±10 ms to where the
//! waveform best continues the previous frame (normalised cross-correlation over the overlap), so
//! pitch periods line up and no phasing is heard.

/// Fastest and slowest `speed` [`time_stretch`] accepts (OpenAI's range).
pub const SPEED_RANGE: std::ops::RangeInclusive<f64> = 0.25..=4.0;

/// `samples` at `sample_rate` played `speed` times as fast (1.5: two thirds as long), at the same
/// pitch. The result has `round(len / speed)` samples. `speed` outside [`SPEED_RANGE`] is clamped
/// into it; a `speed` of 1 (or NaN) returns the input unchanged.
pub fn time_stretch(samples: &[f32], sample_rate: u32, speed: f64) -> Vec<f32> {
    if speed.is_nan() || (speed - 1.0).abs() < 1e-9 || samples.is_empty() || sample_rate == 0 {
        return samples.to_vec();
    }
    let speed = speed.clamp(*SPEED_RANGE.start(), *SPEED_RANGE.end());
    let rate = f64::from(sample_rate);
    // Even frame length, so half a frame is a whole hop.
    let frame = (((rate * 0.030).round() as usize) / 2 * 2).max(8);
    let hop = frame / 2;
    let tolerance = ((rate * 0.010).round() as usize).max(1);
    let out_len = (samples.len() as f64 / speed).round() as usize;
    // Periodic Hann: at 50 % overlap the windows add up to exactly one.
    let window: Vec<f32> = (0..frame)
        .map(|i| (0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / frame as f64).cos()) as f32)
        .collect();

    // Zeros around the input, so every candidate frame (centred near `k · hop · speed`, moved by
    // up to the tolerance) lies inside.
    let front = hop + tolerance;
    let back = front + frame + (hop as f64 * speed).ceil() as usize * 2;
    let mut x = vec![0.0f32; front + samples.len() + back];
    x[front..front + samples.len()].copy_from_slice(samples);

    // Frame k is centred on output sample k · hop; `out` is shifted by `hop` so that frame 0's
    // first half (before output sample 0) has somewhere to go.
    let frames = out_len.div_ceil(hop) + 1;
    let mut out = vec![0.0f32; (frames + 1) * hop + frame];
    let mut previous: Option<usize> = None;
    for k in 0..frames {
        // Start of the frame in `x` if it were taken exactly where the tempo says.
        let nominal = (k as f64 * hop as f64 * speed).round() as usize + tolerance;
        let start = match previous {
            None => nominal,
            // What would naturally follow the previous frame is `previous + hop`; find the
            // candidate whose overlap half looks most like it.
            Some(prev) => best_match(&x, prev + hop, nominal, tolerance, hop),
        };
        let segment = &x[start..start + frame];
        let dest = &mut out[k * hop..k * hop + frame];
        for ((o, s), w) in dest.iter_mut().zip(segment).zip(&window) {
            *o += s * w;
        }
        previous = Some(start);
    }
    out.drain(..hop);
    out.truncate(out_len);
    out
}

/// The start in `nominal - tolerance ..= nominal + tolerance` whose first `len` samples correlate
/// best (normalised) with `x[natural..natural + len]`.
fn best_match(x: &[f32], natural: usize, nominal: usize, tolerance: usize, len: usize) -> usize {
    let template = &x[natural..natural + len];
    // Every other sample is enough to find the alignment and halves the cost.
    let mut best = nominal;
    let mut best_score = f32::NEG_INFINITY;
    for start in nominal.saturating_sub(tolerance)..=nominal + tolerance {
        let candidate = &x[start..start + len];
        let (mut dot, mut energy) = (0.0f32, 0.0f32);
        for (a, b) in template.iter().zip(candidate).step_by(2) {
            dot += a * b;
            energy += b * b;
        }
        let score = if energy > 0.0 {
            dot / energy.sqrt()
        } else {
            0.0
        };
        if score > best_score {
            best_score = score;
            best = start;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: u32, secs: f64) -> Vec<f32> {
        let n = (f64::from(rate) * secs) as usize;
        (0..n)
            .map(|i| {
                (0.5 * (std::f64::consts::TAU * freq * i as f64 / f64::from(rate)).sin()) as f32
            })
            .collect()
    }

    /// Frequency from upward zero crossings over the middle of the signal.
    fn frequency(s: &[f32], rate: u32) -> f64 {
        let mid = &s[s.len() / 10..s.len() * 9 / 10];
        let ups: Vec<usize> = (1..mid.len())
            .filter(|&i| mid[i - 1] < 0.0 && mid[i] >= 0.0)
            .collect();
        let (first, last) = (ups[0], ups[ups.len() - 1]);
        (ups.len() - 1) as f64 * f64::from(rate) / (last - first) as f64
    }

    fn rms(s: &[f32]) -> f32 {
        (s.iter().map(|x| x * x).sum::<f32>() / s.len().max(1) as f32).sqrt()
    }

    #[test]
    fn changes_length_but_not_pitch() {
        for rate in [16_000, 22_050, 24_000] {
            let input = tone(220.0, rate, 2.0);
            for speed in [0.25, 0.5, 0.8, 1.5, 2.0, 4.0] {
                let out = time_stretch(&input, rate, speed);
                let expected = (input.len() as f64 / speed).round() as usize;
                assert_eq!(out.len(), expected, "{rate} Hz × {speed}");
                let f = frequency(&out, rate);
                // Resampling would give 220 × speed.
                assert!((f - 220.0).abs() < 2.0, "{rate} Hz × {speed}: {f} Hz");
                // No holes or doubled overlaps: the level stays that of the input.
                let level = rms(&out[out.len() / 10..out.len() * 9 / 10]);
                assert!(
                    (level - rms(&input)).abs() < 0.03,
                    "{rate} Hz × {speed}: rms {level}"
                );
            }
        }
    }

    #[test]
    fn speech_like_signals_keep_their_spectrum() {
        // A 150 Hz buzz with harmonics, gated on and off like syllables.
        let rate = 24_000;
        let input: Vec<f32> = (0..rate as usize * 2)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                let gate = if (t * 4.0).fract() < 0.6 { 1.0 } else { 0.0 };
                let buzz: f64 = (1..6)
                    .map(|h| (std::f64::consts::TAU * 150.0 * h as f64 * t).sin() / h as f64)
                    .sum();
                (0.2 * gate * buzz) as f32
            })
            .collect();
        let out = time_stretch(&input, rate, 1.5);
        assert_eq!(out.len(), 32_000);
        assert!(out.iter().all(|s| s.is_finite() && s.abs() < 1.0));
        // Still gated: the syllables are shorter, not smeared into one tone.
        let frames: Vec<f32> = out.chunks(480).map(rms).collect();
        assert!(frames.iter().filter(|&&r| r < 0.01).count() > 10);
        assert!(frames.iter().filter(|&&r| r > 0.1).count() > 20);
    }

    #[test]
    fn identity_and_edge_cases() {
        let input = tone(300.0, 16_000, 0.1);
        assert_eq!(time_stretch(&input, 16_000, 1.0), input);
        assert_eq!(time_stretch(&input, 16_000, f64::NAN), input);
        assert!(time_stretch(&[], 16_000, 2.0).is_empty());
        // Shorter than one frame still works.
        assert_eq!(time_stretch(&[0.1; 10], 16_000, 2.0).len(), 5);
        // Out of range is clamped: 10× is 4×.
        assert_eq!(time_stretch(&input, 16_000, 10.0).len(), 400);
    }
}

//! Band-limited sample-rate conversion: a windowed-sinc polyphase filter, exact for rational
//! ratios. The miner uses it where a reply must be at a fixed rate (OpenAI `pcm` at 24 kHz, SDK-11
//! `/tts` at the requested rate, Opus at one of its rates). The validator's scoring keeps its own
//! fixed resampler (`audiosubnet-scoring`), so what validators compute never changes with this one.

/// Band-limited resampling (windowed sinc, polyphase) from `from` Hz to `to` Hz.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || from == 0 || to == 0 || samples.is_empty() {
        return samples.to_vec();
    }
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let g = gcd(u64::from(from), u64::from(to));
    // Output sample j sits at input position j * m / l.
    let (l, m) = (u64::from(to) / g, u64::from(from) / g);
    // Low-pass at the lower Nyquist, with a little headroom.
    let cutoff = (f64::from(to) / f64::from(from)).min(1.0) * 0.95;
    const ZERO_CROSSINGS: f64 = 16.0;
    let half_width = ZERO_CROSSINGS / cutoff;
    let k = half_width.ceil() as i64;
    let taps = (2 * k) as usize;
    // One filter per fractional phase p / l; taps cover input offsets -k+1 ..= k.
    let table: Vec<f32> = (0..l)
        .flat_map(|p| {
            let frac = p as f64 / l as f64;
            (0..taps).map(move |t| {
                let x = (t as i64 - k + 1) as f64 - frac;
                if x.abs() >= half_width {
                    return 0.0;
                }
                let arg = std::f64::consts::PI * cutoff * x;
                let sinc = if arg.abs() < 1e-12 {
                    1.0
                } else {
                    arg.sin() / arg
                };
                let window = 0.5 + 0.5 * (std::f64::consts::PI * x / half_width).cos();
                (cutoff * sinc * window) as f32
            })
        })
        .collect();
    let out_len = (samples.len() as u64 * l).div_ceil(m) as usize;
    let n_in = samples.len() as i64;
    (0..out_len as u64)
        .map(|j| {
            let pos = j * m;
            let n = (pos / l) as i64;
            let phase = (pos % l) as usize;
            let filter = &table[phase * taps..(phase + 1) * taps];
            let first = n - k + 1;
            let lo = (-first).max(0) as usize;
            let hi = (n_in - first).clamp(0, taps as i64) as usize;
            let mut acc = 0.0f32;
            for t in lo..hi {
                acc += samples[(first + t as i64) as usize] * filter[t];
            }
            acc
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, rate: u32, secs: f32) -> Vec<f32> {
        let n = (rate as f32 * secs) as usize;
        (0..n)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    fn rms(s: &[f32]) -> f32 {
        (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt()
    }

    #[test]
    fn resampling_keeps_tones_and_drops_what_cannot_be_represented() {
        for from in [16_000, 22_050, 32_000] {
            let input = tone(440.0, from, 1.0);
            let out = resample(&input, from, 24_000);
            assert!(
                (out.len() as i64 - 24_000).abs() <= 1,
                "{from}: {} samples",
                out.len()
            );
            // Away from the edges the 440 Hz tone is intact.
            let mid = &out[2_000..out.len() - 2_000];
            let expected = tone(440.0, 24_000, 1.0);
            let max_err = mid
                .iter()
                .zip(&expected[2_000..])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(max_err < 0.01, "{from}: max error {max_err}");
        }
        // 14 kHz fits at 32 kHz but not at 24 kHz: it is filtered out, not aliased to 10 kHz.
        let high = resample(&tone(14_000.0, 32_000, 0.5), 32_000, 24_000);
        assert!(rms(&high[1_000..high.len() - 1_000]) < 0.01);
        assert_eq!(resample(&[0.1, 0.2], 24_000, 24_000), vec![0.1, 0.2]);
        assert!(resample(&[], 22_050, 24_000).is_empty());
    }
}

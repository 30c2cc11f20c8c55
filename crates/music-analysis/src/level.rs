//! Level measurements: peak, RMS in dBFS and the fraction of clipped samples.

/// A sample whose magnitude reaches this is counted as clipped (full scale after rounding to
/// 16-bit PCM is 32767/32768 ≈ 0.99997, so this leaves a little room for float noise).
pub const CLIP_THRESHOLD: f32 = 0.999;

/// The largest absolute sample value; 0 for empty input. Non-finite samples count as infinite.
pub fn peak(samples: &[f32]) -> f32 {
    samples.iter().fold(0.0_f32, |m, &x| {
        let a = if x.is_finite() {
            x.abs()
        } else {
            f32::INFINITY
        };
        m.max(a)
    })
}

/// Root-mean-square level in dB relative to a full-scale (1.0) sample; `-inf` for empty or
/// all-zero input. Accumulates in `f64` so long clips do not lose precision.
pub fn rms_dbfs(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return f32::NEG_INFINITY;
    }
    let sum: f64 = samples.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    let rms = (sum / samples.len() as f64).sqrt();
    (20.0 * rms.log10()) as f32
}

/// The fraction of samples with magnitude at or above [`CLIP_THRESHOLD`] (non-finite samples
/// count as clipped); 0 for empty input.
pub fn clipped_fraction(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let n = samples
        .iter()
        .filter(|x| !x.is_finite() || x.abs() >= CLIP_THRESHOLD)
        .count();
    n as f32 / samples.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_of_simple_signals() {
        assert_eq!(peak(&[]), 0.0);
        assert_eq!(peak(&[0.1, -0.7, 0.3]), 0.7);
        assert_eq!(peak(&[0.1, f32::NAN]), f32::INFINITY);
        assert_eq!(rms_dbfs(&[]), f32::NEG_INFINITY);
        assert_eq!(rms_dbfs(&[0.0; 10]), f32::NEG_INFINITY);
        // A full-scale square wave is 0 dBFS; half scale is -6.02 dBFS.
        assert!(rms_dbfs(&[1.0, -1.0, 1.0, -1.0]).abs() < 1e-6);
        assert!((rms_dbfs(&[0.5, -0.5]) + 6.0206).abs() < 1e-3);
        assert_eq!(clipped_fraction(&[]), 0.0);
        assert_eq!(clipped_fraction(&[1.0, 0.5, -0.9995, 0.2]), 0.5);
        assert_eq!(clipped_fraction(&[f32::INFINITY, 0.0]), 0.5);
    }
}

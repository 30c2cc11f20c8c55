//! Weight processing and normalization, equivalent to the Python SDK's
//! `process_weights_for_netuid` and `convert_weights_and_uids_for_emit`.
//!
//! Weights arrive as `f32` (the SDK casts to `float32` before emitting) and are computed in `f64`
//! (Python floats), so the emitted `u16` values match the SDK bit for bit.

use crate::error::ChainError;

/// `u16::MAX` as the SDK's `U16_MAX`.
pub const U16_MAX: u16 = u16::MAX;

/// Turns `(uid, weight)` pairs into the `u16` values the chain stores: every weight is divided by
/// the largest one and scaled to 65535 (Python `round`, ties to even), zeros are dropped, and an
/// all-zero vector yields nothing to send.
///
/// Errors on negative or non-finite weights and on length mismatch.
pub fn normalize_for_emit(
    uids: &[u16],
    weights: &[f32],
) -> Result<(Vec<u16>, Vec<u16>), ChainError> {
    if uids.len() != weights.len() {
        return Err(ChainError::InvalidInput(format!(
            "{} uids but {} weights",
            uids.len(),
            weights.len()
        )));
    }
    if let Some(w) = weights.iter().find(|w| !w.is_finite() || **w < 0.0) {
        return Err(ChainError::InvalidInput(format!(
            "weights must be finite and non-negative, got {w}"
        )));
    }
    let sum: f64 = weights.iter().map(|w| f64::from(*w)).sum();
    if sum == 0.0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let max = weights
        .iter()
        .map(|w| f64::from(*w))
        .fold(0.0_f64, f64::max);
    let mut out_uids = Vec::with_capacity(uids.len());
    let mut out_vals = Vec::with_capacity(uids.len());
    for (uid, w) in uids.iter().zip(weights) {
        let scaled = (f64::from(*w) / max * f64::from(U16_MAX)).round_ties_even();
        // `scaled` lies in [0, 65535] because w <= max; the cast cannot truncate.
        let val = scaled as u16;
        if val != 0 {
            out_uids.push(*uid);
            out_vals.push(val);
        }
    }
    Ok((out_uids, out_vals))
}

/// The SDK's `normalize_max_weight`: normalizes `x` to sum 1 while clipping every entry at `limit`
/// (a fraction of the total), redistributing the excess.
pub fn normalize_max_weight(x: &[f64], limit: f64) -> Vec<f64> {
    const EPSILON: f64 = 1e-7;
    let n = x.len();
    if n == 0 {
        return Vec::new();
    }
    let total: f64 = x.iter().sum();
    if total == 0.0 || n as f64 * limit <= 1.0 {
        return vec![1.0 / n as f64; n];
    }
    let mut values = x.to_vec();
    values.sort_by(f64::total_cmp);
    let vsum: f64 = values.iter().sum();
    let estimation: Vec<f64> = values.iter().map(|v| v / vsum).collect();
    if estimation.iter().copied().fold(f64::MIN, f64::max) <= limit {
        return x.iter().map(|w| w / total).collect();
    }
    let mut cumsum = Vec::with_capacity(n);
    let mut acc = 0.0;
    for e in &estimation {
        acc += e;
        cumsum.push(acc);
    }
    let n_values = estimation
        .iter()
        .enumerate()
        .filter(|(i, e)| {
            let estimation_sum = (n - i - 1) as f64 * **e;
            **e / (estimation_sum + cumsum[*i] + EPSILON) < limit
        })
        .count();
    // n_values >= 1: the smallest entry always passes the test when max > limit.
    let idx = n_values.saturating_sub(1);
    let cutoff_scale = (limit * cumsum[idx] - EPSILON) / (1.0 - (limit * (n - n_values) as f64));
    let cutoff = cutoff_scale * vsum;
    let clipped: Vec<f64> = x
        .iter()
        .map(|w| if *w > cutoff { cutoff } else { *w })
        .collect();
    let csum: f64 = clipped.iter().sum();
    clipped.iter().map(|w| w / csum).collect()
}

/// The SDK's `process_weights_for_netuid` (with `exclude_quantile = 0`): applies the subnet's
/// `MinAllowedWeights` and `MaxWeightsLimit` to raw scores before they are normalized for emit.
///
/// * `n`: number of neurons in the subnet;
/// * `min_allowed_weights`: on-chain `MinAllowedWeights`;
/// * `max_weight_limit`: on-chain `MaxWeightsLimit` (u16; 65535 = no limit).
///
/// Returns `(uids, weights)` as fractions that sum to 1.
pub fn process_weights_for_netuid(
    uids: &[u16],
    weights: &[f32],
    n: u16,
    min_allowed_weights: u16,
    max_weight_limit: u16,
) -> Result<(Vec<u16>, Vec<f32>), ChainError> {
    if uids.len() != weights.len() {
        return Err(ChainError::InvalidInput(format!(
            "{} uids but {} weights",
            uids.len(),
            weights.len()
        )));
    }
    if let Some(uid) = uids.iter().find(|u| **u >= n) {
        return Err(ChainError::InvalidInput(format!(
            "uid {uid} is out of range for a subnet of {n} neurons"
        )));
    }
    let limit = f64::from(max_weight_limit) / f64::from(U16_MAX);
    let nonzero: Vec<(u16, f64)> = uids
        .iter()
        .zip(weights)
        .filter(|(_, w)| **w > 0.0)
        .map(|(u, w)| (*u, f64::from(*w)))
        .collect();
    let to_f32 = |v: Vec<f64>| v.into_iter().map(|w| w as f32).collect::<Vec<f32>>();
    if n == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    if nonzero.is_empty() || n < min_allowed_weights {
        // Nothing to say, or the subnet is too small: spread evenly over everyone.
        let all: Vec<u16> = (0..n).collect();
        return Ok((all, vec![1.0 / f32::from(n); usize::from(n)]));
    }
    if nonzero.len() < usize::from(min_allowed_weights) {
        // Pad with tiny weights so that enough uids are set.
        let mut dense = vec![1e-5_f64; usize::from(n)];
        for (u, w) in &nonzero {
            dense[usize::from(*u)] += w;
        }
        let normalized = normalize_max_weight(&dense, limit);
        return Ok(((0..n).collect(), to_f32(normalized)));
    }
    let (out_uids, raw): (Vec<u16>, Vec<f64>) = nonzero.into_iter().unzip();
    Ok((out_uids, to_f32(normalize_max_weight(&raw, limit))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn max_upscale_and_round_half_even() {
        let (u, v) = normalize_for_emit(&[0, 1, 2], &[0.2, 0.3, 0.5]).expect("valid");
        assert_eq!(u, vec![0, 1, 2]);
        // 0.2/0.5*65535 = 26214.0..., 0.3/0.5*65535 = 39321.0...
        assert_eq!(v, vec![26214, 39321, 65535]);
        // 1/2 * 65535 = 32767.5 -> ties to even -> 32768.
        let (_, v) = normalize_for_emit(&[0, 1], &[1.0, 2.0]).expect("valid");
        assert_eq!(v, vec![32768, 65535]);
        // 1/6*65535 = 10922.5 -> 10922 (even).
        let (_, v) = normalize_for_emit(&[0, 1], &[1.0, 6.0]).expect("valid");
        assert_eq!(v, vec![10922, 65535]);
    }

    #[test]
    fn zeros_dropped_and_all_zero_is_empty() {
        let (u, v) = normalize_for_emit(&[3, 4, 5], &[0.0, 1.0, 0.00000001]).expect("valid");
        assert_eq!((u, v), (vec![4], vec![65535]));
        let (u, v) = normalize_for_emit(&[1, 2], &[0.0, 0.0]).expect("valid");
        assert!(u.is_empty() && v.is_empty());
    }

    #[test]
    fn rejects_bad_input() {
        assert!(normalize_for_emit(&[1], &[]).is_err());
        assert!(normalize_for_emit(&[1], &[-1.0]).is_err());
        assert!(normalize_for_emit(&[1], &[f32::NAN]).is_err());
    }

    #[test]
    fn normalize_max_weight_clips() {
        let y = normalize_max_weight(&[1.0, 1.0, 8.0], 0.5);
        assert!((y.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(y[2] <= 0.5 + 1e-6, "{y:?}");
        // Under the limit: plain normalization.
        let y = normalize_max_weight(&[1.0, 3.0], 1.0);
        assert_eq!(y, vec![0.25, 0.75]);
        // n*limit <= 1: uniform.
        assert_eq!(normalize_max_weight(&[1.0, 3.0], 0.5), vec![0.5, 0.5]);
    }

    #[test]
    fn process_pads_to_min_allowed() {
        let (u, w) = process_weights_for_netuid(&[2], &[1.0], 4, 3, u16::MAX).expect("valid");
        assert_eq!(u, vec![0, 1, 2, 3]);
        assert!(w[2] > 0.99 && w[0] > 0.0);
        // Enough weights: only the non-zero ones, normalized.
        let (u, w) =
            process_weights_for_netuid(&[1, 2, 3], &[0.0, 1.0, 3.0], 4, 1, u16::MAX).expect("ok");
        assert_eq!(u, vec![2, 3]);
        assert_eq!(w, vec![0.25, 0.75]);
        // All zero: uniform over the subnet.
        let (u, w) = process_weights_for_netuid(&[1], &[0.0], 2, 1, u16::MAX).expect("ok");
        assert_eq!((u, w), (vec![0, 1], vec![0.5, 0.5]));
        assert!(process_weights_for_netuid(&[9], &[1.0], 2, 1, u16::MAX).is_err());
    }

    proptest! {
        #[test]
        fn emit_properties(ws in proptest::collection::vec(0.0f32..1000.0, 1..64)) {
            let uids: Vec<u16> = (0..ws.len() as u16).collect();
            let (u, v) = normalize_for_emit(&uids, &ws).expect("valid input");
            prop_assert_eq!(u.len(), v.len());
            prop_assert!(v.iter().all(|x| *x > 0));
            if ws.iter().any(|w| *w > 0.0) {
                prop_assert_eq!(v.iter().copied().max(), Some(u16::MAX));
                // Each value is within rounding of the exact scaled weight.
                let max = ws.iter().copied().fold(0.0f32, f32::max) as f64;
                for (uid, val) in u.iter().zip(&v) {
                    let exact = ws[*uid as usize] as f64 / max * 65535.0;
                    prop_assert!((exact - *val as f64).abs() <= 0.5);
                }
                // Dropped uids are exactly those rounding to zero.
                for (i, w) in ws.iter().enumerate() {
                    let kept = u.contains(&(i as u16));
                    prop_assert_eq!(kept, (*w as f64 / max * 65535.0).round_ties_even() != 0.0);
                }
            } else {
                prop_assert!(u.is_empty());
            }
        }

        #[test]
        fn max_weight_respects_limit(ws in proptest::collection::vec(0.001f64..1000.0, 4..40), lim in 0.3f64..1.0) {
            let y = normalize_max_weight(&ws, lim);
            prop_assert!((y.iter().sum::<f64>() - 1.0).abs() < 1e-6);
            prop_assert!(y.iter().all(|v| *v <= lim + 1e-4), "{:?} > {}", y, lim);
        }
    }
}

//! The inverse of the unconstrained rational-quadratic spline
//! (`_unconstrained_rational_quadratic_spline(..., reverse=True)` in transformers), evaluated on
//! the host in f32. It runs once per token and flow step, so a kernel would gain nothing; doing
//! it element by element keeps PyTorch's order of operations, which the exact duration test needs.

use crate::VitsError;

const MIN_BIN_WIDTH: f32 = 1e-3;
const MIN_BIN_HEIGHT: f32 = 1e-3;
const MIN_DERIVATIVE: f32 = 1e-3;

/// `torch.nn.functional.softplus` (beta 1, threshold 20).
fn softplus(x: f32) -> f32 {
    if x > 20.0 { x } else { x.exp().ln_1p() }
}

/// Softmax, then `min + (1 - min * bins) * p`, cumulative sum scaled to `[-bound, bound]` with
/// exact ends (the `cumwidths` / `cumheights` of the reference).
fn knots(unnormalized: &[f32], min_bin: f32, bound: f32) -> Vec<f32> {
    let bins = unnormalized.len();
    let max = unnormalized
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = unnormalized.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    let scale = 1.0 - min_bin * bins as f32;
    let mut knots = Vec::with_capacity(bins + 1);
    knots.push(0.0f32);
    let mut acc = 0.0f32;
    for e in exps {
        acc += min_bin + scale * (e / sum);
        knots.push(acc);
    }
    for k in &mut knots {
        *k = (bound - -bound) * *k + -bound;
    }
    knots[0] = -bound;
    knots[bins] = bound;
    knots
}

/// Inverts the spline for one value. `widths` and `heights` hold `bins` unnormalised values,
/// `derivatives` the `bins - 1` inner ones. Outside `[-bound, bound]` the spline is the identity.
pub(crate) fn inverse(
    x: f32,
    widths: &[f32],
    heights: &[f32],
    derivatives: &[f32],
    bound: f32,
) -> Result<f32, VitsError> {
    if !(x >= -bound && x <= bound) {
        return Ok(x);
    }
    let bins = widths.len();
    let cumwidths = knots(widths, MIN_BIN_WIDTH, bound);
    let mut cumheights = knots(heights, MIN_BIN_HEIGHT, bound);
    let width = |k: usize| cumwidths[k + 1] - cumwidths[k];
    let height = |ch: &[f32], k: usize| ch[k + 1] - ch[k];
    // The outer derivatives are pinned so that softplus gives exactly 1 at the ends
    // (log(exp(1 - min_derivative) - 1), computed in double precision like numpy does).
    let edge = ((1.0f64 - f64::from(MIN_DERIVATIVE)).exp() - 1.0).ln() as f32;
    let derivative = |k: usize| {
        let u = if k == 0 || k == bins {
            edge
        } else {
            derivatives[k - 1]
        };
        MIN_DERIVATIVE + softplus(u)
    };
    let h_k: Vec<f32> = (0..bins).map(|k| height(&cumheights, k)).collect();
    // The reference nudges the last knot up before searching, so that x == bound falls in the
    // last bin; the heights were taken before.
    cumheights[bins] += 1e-6;
    let count = cumheights.iter().filter(|&&c| x >= c).count();
    let k = count.saturating_sub(1).min(bins - 1);

    let input_cumwidths = cumwidths[k];
    let input_bin_widths = width(k);
    let input_cumheights = cumheights[k];
    let input_heights = h_k[k];
    let input_delta = input_heights / input_bin_widths;
    let d0 = derivative(k);
    let d1 = derivative(k + 1);

    let intermediate1 = d0 + d1 - 2.0 * input_delta;
    let intermediate2 = x - input_cumheights;
    let intermediate3 = intermediate2 * intermediate1;
    let a = input_heights * (input_delta - d0) + intermediate3;
    let b = input_heights * d0 - intermediate3;
    let c = -input_delta * intermediate2;
    let discriminant = b * b - 4.0 * a * c;
    if discriminant.is_nan() || discriminant < 0.0 {
        return Err(VitsError::Numerical(format!(
            "negative discriminant {discriminant} in the duration spline"
        )));
    }
    let root = (2.0 * c) / (-b - discriminant.sqrt());
    Ok(root * input_bin_widths + input_cumwidths)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The forward spline, written from its definition, to check that `inverse` inverts it.
    fn forward(x: f32, w: &[f32], h: &[f32], d: &[f32], bound: f32) -> f32 {
        let bins = w.len();
        let cw = knots(w, MIN_BIN_WIDTH, bound);
        let ch = knots(h, MIN_BIN_HEIGHT, bound);
        let k = (0..bins).rev().find(|&k| x >= cw[k]).unwrap_or(0);
        let edge = ((1.0f64 - 1e-3).exp() - 1.0).ln() as f32;
        let der =
            |k: usize| MIN_DERIVATIVE + softplus(if k == 0 || k == bins { edge } else { d[k - 1] });
        let (wk, hk) = (cw[k + 1] - cw[k], ch[k + 1] - ch[k]);
        let delta = hk / wk;
        let t = (x - cw[k]) / wk;
        let t1 = t * (1.0 - t);
        let num = hk * (delta * t * t + der(k) * t1);
        let den = delta + (der(k) + der(k + 1) - 2.0 * delta) * t1;
        ch[k] + num / den
    }

    #[test]
    fn inverse_inverts_the_forward_spline_and_is_identity_outside() {
        let w = [0.3, -1.0, 0.5, 2.0, 0.0, -0.2, 1.1, 0.7, -0.4, 0.9];
        let h = [-0.3, 0.8, 0.1, -1.5, 0.4, 0.2, 0.0, 1.3, -0.6, 0.5];
        let d = [0.5, -0.7, 1.2, 0.0, -2.0, 0.3, 0.8, -0.1, 0.6];
        for i in 0..=100 {
            let x = -5.0 + 0.1 * i as f32;
            let y = forward(x, &w, &h, &d, 5.0);
            let back = inverse(y, &w, &h, &d, 5.0).expect("inverse");
            assert!((back - x).abs() < 1e-4, "x={x} y={y} back={back}");
        }
        assert_eq!(inverse(7.5, &w, &h, &d, 5.0).expect("outside"), 7.5);
        assert_eq!(inverse(-5.01, &w, &h, &d, 5.0).expect("outside"), -5.01);
    }
}

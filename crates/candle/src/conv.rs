//! `conv1d` for contiguous f32 CPU tensors as one im2col buffer and one GEMM per call.
//!
//! candle's CPU conv1d builds its im2col matrix as `(time, channel * tap)`, multiplies it by the
//! transposed kernel and then transposes the result back to `(channel, time)`. Here the matrix is
//! laid out `(channel * tap, time)` instead: each row is a shifted copy of one input row (a
//! `memcpy` for stride 1), and `weight (c_out, c_in * k) × cols` lands directly in the output's
//! `(c_out, time)` layout. Other devices, dtypes and grouped convolutions use candle's own op.

use candle_core::{DType, Device, Result, Tensor};

/// `conv1d(x, weight)` with symmetric zero `padding`, as `torch.nn.functional.conv1d` (no bias).
///
/// `x` is `(batch, c_in, len)`, `weight` `(c_out, c_in / groups, kernel)`.
pub fn conv1d(
    x: &Tensor,
    weight: &Tensor,
    padding: usize,
    stride: usize,
    dilation: usize,
    groups: usize,
) -> Result<Tensor> {
    if groups != 1 || x.dtype() != DType::F32 || !matches!(x.device(), Device::Cpu) || stride == 0 {
        return x.conv1d(weight, padding, stride, dilation, groups);
    }
    let (b, c_in, len) = x.dims3()?;
    let (c_out, c_in_w, k) = weight.dims3()?;
    if c_in != c_in_w || k == 0 || dilation == 0 {
        // Let candle report the shape error.
        return x.conv1d(weight, padding, stride, dilation, groups);
    }
    let span = dilation * (k - 1) + 1;
    let padded = len + 2 * padding;
    if padded < span {
        return x.conv1d(weight, padding, stride, dilation, groups);
    }
    let l_out = (padded - span) / stride + 1;
    let w = weight.reshape((c_out, c_in * k))?;
    if k == 1 && padding == 0 && stride == 1 {
        // Pointwise: the input already is the im2col matrix.
        return w.broadcast_matmul(&x.contiguous()?);
    }
    let src = x.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
    let rows = c_in * k;
    let mut cols = vec![0f32; b * rows * l_out];
    for (bi, batch) in cols.chunks_exact_mut(rows * l_out).enumerate() {
        for (row_idx, row) in batch.chunks_exact_mut(l_out).enumerate() {
            let (c, tap) = (row_idx / k, row_idx % k);
            let input = &src[(bi * c_in + c) * len..][..len];
            // Output t reads padded position t * stride + tap * dilation, i.e. input index
            // t * stride + off - padding; keep the t whose index falls inside the input.
            let off = tap * dilation;
            let first = padding.saturating_sub(off).div_ceil(stride);
            let end = if len + padding > off {
                ((len + padding - off - 1) / stride + 1).min(l_out)
            } else {
                0
            };
            if first >= end {
                continue;
            }
            let start = first * stride + off - padding;
            if stride == 1 {
                row[first..end].copy_from_slice(&input[start..start + (end - first)]);
            } else {
                for (dst, src) in row[first..end]
                    .iter_mut()
                    .zip(input[start..].iter().step_by(stride))
                {
                    *dst = *src;
                }
            }
        }
    }
    let cols = Tensor::from_vec(cols, (b, rows, l_out), x.device())?;
    w.broadcast_matmul(&cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain loops, as the definition reads.
    #[allow(clippy::too_many_arguments)]
    fn naive(
        x: &[f32],
        w: &[f32],
        (b, c_in, len): (usize, usize, usize),
        (c_out, k): (usize, usize),
        padding: usize,
        stride: usize,
        dilation: usize,
        groups: usize,
    ) -> Vec<f32> {
        let l_out = (len + 2 * padding - dilation * (k - 1) - 1) / stride + 1;
        let (gi, go) = (c_in / groups, c_out / groups);
        let mut y = vec![0f64; b * c_out * l_out];
        for bi in 0..b {
            for o in 0..c_out {
                let g = o / go;
                for t in 0..l_out {
                    let mut acc = 0f64;
                    for ci in 0..gi {
                        for j in 0..k {
                            let p = (t * stride + j * dilation) as isize - padding as isize;
                            if p >= 0 && (p as usize) < len {
                                let xv = x[(bi * c_in + g * gi + ci) * len + p as usize];
                                acc += xv as f64 * w[(o * gi + ci) * k + j] as f64;
                            }
                        }
                    }
                    y[(bi * c_out + o) * l_out + t] = acc;
                }
            }
        }
        y.into_iter().map(|v| v as f32).collect()
    }

    fn random(n: usize, seed: &mut u64) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn check(
        b: usize,
        c_in: usize,
        c_out: usize,
        len: usize,
        k: usize,
        padding: usize,
        stride: usize,
        dilation: usize,
        groups: usize,
    ) {
        let mut seed = (b * 31 + c_in * 7 + k * 131 + dilation * 17 + stride) as u64;
        let xs = random(b * c_in * len, &mut seed);
        let ws = random(c_out * (c_in / groups) * k, &mut seed);
        let x = Tensor::from_vec(xs.clone(), (b, c_in, len), &Device::Cpu).expect("tensor");
        let w =
            Tensor::from_vec(ws.clone(), (c_out, c_in / groups, k), &Device::Cpu).expect("tensor");
        let got = conv1d(&x, &w, padding, stride, dilation, groups)
            .expect("conv1d")
            .flatten_all()
            .expect("flatten")
            .to_vec1::<f32>()
            .expect("vec");
        let want = naive(
            &xs,
            &ws,
            (b, c_in, len),
            (c_out, k),
            padding,
            stride,
            dilation,
            groups,
        );
        assert_eq!(
            got.len(),
            want.len(),
            "k{k} s{stride} d{dilation} p{padding}"
        );
        let scale = ((c_in / groups) * k) as f32;
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-6 * scale.max(1.0) * w.abs().max(1.0),
                "k{k} s{stride} d{dilation} p{padding} g{groups} at {i}: {g} vs {w}"
            );
        }
    }

    #[test]
    fn hifigan_resblocks_same_padding() {
        for (k, d) in [(3, 1), (3, 3), (3, 5), (7, 1), (7, 3), (11, 5)] {
            check(1, 16, 16, 97, k, (k * d - d) / 2, 1, d, 1);
        }
        // conv_pre / conv_post.
        check(1, 12, 32, 40, 7, 3, 1, 1, 1);
        check(1, 8, 1, 200, 7, 3, 1, 1, 1);
    }

    #[test]
    fn vits_flows_and_postnet() {
        // WaveNet in_layers (kernel 5, dilation rate 1), pointwise res_skip, SpeechT5 postnet.
        check(1, 24, 48, 53, 5, 2, 1, 1, 1);
        check(2, 24, 48, 53, 1, 0, 1, 1, 1);
        check(2, 20, 20, 31, 5, 2, 1, 1, 1);
        // Depthwise (duration predictor) falls back to candle.
        check(1, 8, 8, 30, 3, 3, 1, 3, 8);
    }

    #[test]
    fn encodec_strided_and_unpadded() {
        for (k, s) in [(7, 1), (3, 1), (4, 2), (8, 4), (16, 8), (1, 1)] {
            check(2, 6, 10, 64, k, 0, s, 1, 1);
        }
        check(1, 6, 10, 64, 3, 0, 1, 3, 1);
        check(1, 4, 4, 5, 3, 4, 2, 2, 1);
    }
}

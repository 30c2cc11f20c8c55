//! The short-time Fourier transform both estimators share: Hann-windowed frames, magnitudes.

use realfft::RealFftPlanner;

/// Magnitude spectrogram, one row of `n_fft / 2 + 1` bins per frame, frames `hop` apart.
pub(crate) struct Spectrogram {
    pub(crate) bins: usize,
    pub(crate) frames: usize,
    /// Row-major: frame `t`, bin `k` is `mags[t * bins + k]`.
    pub(crate) mags: Vec<f32>,
}

impl Spectrogram {
    pub(crate) fn frame(&self, t: usize) -> &[f32] {
        &self.mags[t * self.bins..(t + 1) * self.bins]
    }
}

/// The smallest power of two at least `x` (and at least 16).
pub(crate) fn next_pow2(x: f32) -> usize {
    let n = if x.is_finite() && x > 16.0 {
        x.ceil() as usize
    } else {
        16
    };
    n.next_power_of_two()
}

/// Frames start at 0 and advance by `hop` while a whole window fits; `None` when not one does.
pub(crate) fn magnitudes(samples: &[f32], n_fft: usize, hop: usize) -> Option<Spectrogram> {
    if hop == 0 || n_fft < 2 || samples.len() < n_fft {
        return None;
    }
    let frames = (samples.len() - n_fft) / hop + 1;
    let bins = n_fft / 2 + 1;
    let window: Vec<f32> = (0..n_fft)
        .map(|i| {
            let x = std::f32::consts::TAU * i as f32 / n_fft as f32;
            0.5 - 0.5 * x.cos()
        })
        .collect();
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n_fft);
    let mut input = fft.make_input_vec();
    let mut output = fft.make_output_vec();
    let mut scratch = fft.make_scratch_vec();
    let mut mags = Vec::with_capacity(frames * bins);
    for t in 0..frames {
        let start = t * hop;
        for ((dst, &x), &w) in input
            .iter_mut()
            .zip(&samples[start..start + n_fft])
            .zip(&window)
        {
            *dst = x * w;
        }
        // Lengths come from the same plan, so this cannot fail; bail out rather than panic.
        fft.process_with_scratch(&mut input, &mut output, &mut scratch)
            .ok()?;
        mags.extend(output.iter().map(|c| c.norm()));
    }
    Some(Spectrogram { bins, frames, mags })
}

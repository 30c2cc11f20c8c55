//! The model's input: crops of the clip and their compressed complex spectrograms.
//!
//! Everything here follows `distillmos/sqa.py` (0.9.1): `ConvTransformerSQAModel.forward`'s
//! segmenting and peak normalisation, and `_complex_compressed` (reflect padding, `torch.stft`,
//! magnitude compression with the phase kept).

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

/// Samples in one window the model sees (7.68 s at 16 kHz, `SEQ_LEN`).
pub const WINDOW: usize = 122_880;
/// At most this many samples between the starts of two crops of a long clip (`MAX_HOP_LEN`).
pub const MAX_HOP: usize = 16_000;
/// STFT hop, 10 ms.
pub(crate) const HOP: usize = 160;
/// STFT window and FFT size, 20 ms.
pub(crate) const WIN: usize = 320;
/// Frequency bins of the one-sided spectrum.
pub(crate) const BINS: usize = WIN / 2 + 1;
/// STFT frames per window: the window reflect-padded by (WIN - HOP) / 2 on each side.
pub(crate) const FRAMES: usize = (WINDOW + (WIN - HOP) - WIN) / HOP + 1;
/// Floor of the magnitude before compression (`torch.clip(mag, 1e-12)`).
const MAG_FLOOR: f64 = 1e-12;
/// The compression exponent applied to the magnitude.
const COMPRESSION: f64 = 0.3;

/// Where each crop of a clip of `len` samples starts, and how long the zero-padded clip is.
///
/// A clip shorter than a window is zero-padded to one window. A longer one is cut into
/// `ceil((len - WINDOW) / MAX_HOP) + 1` windows whose starts are `int(c * (len - WINDOW))` for
/// `c` in `np.linspace(0, 1, n)`: the first at 0, the last flush with the end.
pub fn crop_starts(len: usize) -> Vec<usize> {
    crop_starts_at_most(len, usize::MAX)
}

/// [`crop_starts`] with at most `max_windows` crops (at least one), spread the same way: the
/// first at 0, the last flush with the end. Four windows cover 30.7 s without gaps, so a cap of
/// four still rates every sample of a clip up to that length, at a bounded cost.
pub fn crop_starts_at_most(len: usize, max_windows: usize) -> Vec<usize> {
    let over = len.saturating_sub(WINDOW);
    let hops = (over.div_ceil(MAX_HOP) + 1).min(max_windows.max(1));
    if hops == 1 {
        return vec![0];
    }
    // np.linspace: i * step in f64, the endpoint set to exactly 1.0; then Python's int()
    // truncates. Reproduced in f64 so the crops land on the same samples.
    let step = 1.0 / (hops - 1) as f64;
    (0..hops)
        .map(|i| {
            let c = if i == hops - 1 { 1.0 } else { i as f64 * step };
            (c * over as f64) as usize
        })
        .collect()
}

/// One window of the clip starting at `start` (zero-padded past the end), divided by its peak
/// magnitude plus 1e-8, in f32 as torch computes it.
pub(crate) fn normalized_window(pcm: &[f32], start: usize) -> Vec<f32> {
    let mut window = vec![0f32; WINDOW];
    let end = pcm.len().min(start + WINDOW);
    if start < end {
        window[..end - start].copy_from_slice(&pcm[start..end]);
    }
    let peak = window.iter().fold(0f32, |m, s| m.max(s.abs()));
    let denom = peak + 1e-8;
    for s in &mut window {
        *s /= denom;
    }
    window
}

/// The periodic Hann window, `torch.hann_window(320)`, rounded to f32 as torch stores it.
fn hann() -> Vec<f64> {
    (0..WIN)
        .map(|n| {
            let w = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / WIN as f64).cos();
            f64::from(w as f32)
        })
        .collect()
}

/// Computes the compressed spectrogram of one normalised window.
pub(crate) struct Spectrogram {
    fft: Arc<dyn RealToComplex<f64>>,
    window: Vec<f64>,
}

impl std::fmt::Debug for Spectrogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spectrogram").finish_non_exhaustive()
    }
}

impl Spectrogram {
    pub(crate) fn new() -> Self {
        Self {
            fft: RealFftPlanner::<f64>::new().plan_fft_forward(WIN),
            window: hann(),
        }
    }

    /// `[2][BINS][FRAMES]` row-major: channel 0 the real part, channel 1 the imaginary part of
    /// `|X|^0.3 · X / |X|`, X the STFT (n_fft 320, hop 160, Hann, `center=False`) of the window
    /// reflect-padded by 80 samples on each side.
    pub(crate) fn compute(&self, window: &[f32]) -> Result<Vec<f32>, realfft::FftError> {
        debug_assert_eq!(window.len(), WINDOW);
        let pad = (WIN - HOP) / 2;
        let n = window.len();
        // Reflect padding excludes the edge sample: x[pad], …, x[1], x[0], …, x[n-1], x[n-2], ….
        let sample = |i: usize| -> f64 {
            let j = if i < pad {
                pad - i
            } else if i - pad < n {
                i - pad
            } else {
                2 * (n - 1) - (i - pad)
            };
            f64::from(window[j])
        };
        let mut out = vec![0f32; 2 * BINS * FRAMES];
        let mut frame = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        for t in 0..FRAMES {
            for (k, x) in frame.iter_mut().enumerate() {
                *x = sample(t * HOP + k) * self.window[k];
            }
            // Buffers made by the plan itself: this does not fail in practice.
            self.fft
                .process_with_scratch(&mut frame, &mut spectrum, &mut scratch)?;
            for (f, c) in spectrum.iter().enumerate() {
                let mag = (c.re * c.re + c.im * c.im).sqrt().max(MAG_FLOOR);
                let gain = mag.powf(COMPRESSION) / mag;
                out[f * FRAMES + t] = (c.re * gain) as f32;
                out[(BINS + f) * FRAMES + t] = (c.im * gain) as f32;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_match_numpy_linspace_and_python_int() {
        assert_eq!(FRAMES, 768);
        assert_eq!(crop_starts(0), [0]);
        assert_eq!(crop_starts(1000), [0]);
        assert_eq!(crop_starts(WINDOW), [0]);
        // One sample over: two crops, the second flush with the end.
        assert_eq!(crop_starts(WINDOW + 1), [0, 1]);
        assert_eq!(crop_starts(WINDOW + MAX_HOP), [0, MAX_HOP]);
        // 10 s: overlength 37,120 → ceil(2.32) + 1 = 4 crops at int(k/3 * 37120).
        assert_eq!(crop_starts(160_000), [0, 12_373, 24_746, 37_120]);
        // 20 s: 14 crops; each start is int(i * (1/13) * 197120) in f64.
        let starts = crop_starts(320_000);
        assert_eq!(starts.len(), 14);
        assert_eq!(starts[1], 15_163);
        assert_eq!(starts[13], 320_000 - WINDOW);
    }

    #[test]
    fn capped_crops_are_the_packages_up_to_the_cap_and_cover_the_clip_beyond() {
        assert_eq!(crop_starts_at_most(160_000, 4), crop_starts(160_000));
        assert_eq!(crop_starts_at_most(160_000, 0), [0]);
        // 30 s: four crops, first at 0, last flush with the end, no gap between windows.
        let starts = crop_starts_at_most(480_000, 4);
        assert_eq!(starts.len(), 4);
        assert_eq!((starts[0], starts[3]), (0, 480_000 - WINDOW));
        assert!(
            starts.windows(2).all(|w| w[1] - w[0] <= WINDOW),
            "{starts:?}"
        );
    }

    #[test]
    fn windows_are_padded_and_peak_normalised() {
        let pcm = [0.5f32, -0.25, 0.125];
        let w = normalized_window(&pcm, 0);
        assert_eq!(w.len(), WINDOW);
        assert_eq!(w[0], 0.5 / (0.5 + 1e-8));
        assert_eq!(w[1], -0.25 / (0.5 + 1e-8));
        assert!(w[3..].iter().all(|&s| s == 0.0));
        // Silence stays silence (0 / 1e-8).
        assert!(normalized_window(&[0.0; 10], 0).iter().all(|&s| s == 0.0));
    }

    /// The FFT path against a direct DFT of the reflect-padded, windowed frames.
    #[test]
    fn spectrogram_matches_a_direct_dft() {
        let window: Vec<f32> = (0..WINDOW)
            .map(|i| {
                let t = i as f64 / 16_000.0;
                ((2.0 * std::f64::consts::PI * 440.0 * t).sin() * 0.6
                    + (i as f64 * 0.37).sin() * 0.1) as f32
            })
            .collect();
        let spec = Spectrogram::new().compute(&window).expect("fft");
        let hann = hann();
        let mut padded: Vec<f64> = Vec::new();
        padded.extend((1..=80).rev().map(|i| f64::from(window[i])));
        padded.extend(window.iter().map(|&s| f64::from(s)));
        padded.extend(
            (WINDOW - 81..WINDOW - 1)
                .rev()
                .map(|i| f64::from(window[i])),
        );
        assert_eq!(padded.len(), WINDOW + 160);
        for &t in &[0usize, 1, 400, FRAMES - 1] {
            for &f in &[0usize, 7, 44, 80, BINS - 1] {
                let (mut re, mut im) = (0.0, 0.0);
                for n in 0..WIN {
                    let x = padded[t * HOP + n] * hann[n];
                    let a = -2.0 * std::f64::consts::PI * (f * n) as f64 / WIN as f64;
                    re += x * a.cos();
                    im += x * a.sin();
                }
                let mag = (re * re + im * im).sqrt().max(1e-12);
                let g = mag.powf(0.3) / mag;
                let (got_re, got_im) = (spec[f * FRAMES + t], spec[(BINS + f) * FRAMES + t]);
                assert!((f64::from(got_re) - re * g).abs() < 1e-5, "re t{t} f{f}");
                assert!((f64::from(got_im) - im * g).abs() < 1e-5, "im t{t} f{f}");
            }
        }
    }
}

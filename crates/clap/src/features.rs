//! transformers' `ClapFeatureExtractor` for unfused checkpoints (`truncation = "rand_trunc"`):
//! fill a clip to `max_length_s` ("repeatpad": whole repeats, then zeros), a centred STFT (periodic
//! Hann window, reflect padding, power spectrum), Slaney-scale mel filters with Slaney area
//! normalisation, and `10 * log10(max(mel, 1e-10))`, as `(frames, mel bins)` rows.
//!
//! Everything up to the decibels runs in f64 as numpy does, including the round trip of each FFT
//! bin through complex64 that `transformers.audio_utils.spectrogram` makes; the result is f32.
//! `top_db` is read by transformers but never applied to these features, so it is not read here.
//!
//! Clips longer than `max_length_s` get no random crop here (transformers' `rand_trunc` picks one
//! at random): [`window_starts`] chooses full-length windows deterministically, and the model
//! averages their embeddings (see the crate docs).

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

use crate::ClapError;
use crate::config::FeatureConfig;

/// The floor the mel powers are clamped to before the logarithm (transformers' `mel_floor` and
/// `min_value`).
const MEL_FLOOR: f64 = 1e-10;

/// The log-mel feature extractor of one checkpoint.
pub struct FeatureExtractor {
    config: FeatureConfig,
    /// `(frequency bins, mel bins)`, row-major, as transformers' `mel_filters_slaney`.
    mel_filters: Vec<f64>,
    window: Vec<f64>,
    fft: Arc<dyn RealToComplex<f64>>,
}

impl std::fmt::Debug for FeatureExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureExtractor")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl FeatureExtractor {
    /// The extractor `config` describes.
    pub fn new(config: FeatureConfig) -> Result<Self, ClapError> {
        config.validate()?;
        let n_fft = config.fft_window_size;
        let bins = n_fft / 2 + 1;
        let mel_filters = mel_filter_bank(
            bins,
            config.feature_size,
            config.frequency_min,
            config.frequency_max,
            config.sampling_rate,
        );
        let window = hann_periodic(n_fft);
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n_fft);
        Ok(Self {
            config,
            mel_filters,
            window,
            fft,
        })
    }

    /// The extractor's configuration.
    pub fn config(&self) -> &FeatureConfig {
        &self.config
    }

    /// The mel filters, `(frequency bins, mel bins)` row-major.
    pub fn mel_filters(&self) -> &[f64] {
        &self.mel_filters
    }

    /// A clip of at most `max_samples` filled to exactly that length, as the extractor's
    /// `padding` says.
    pub fn fill(&self, samples: &[f32]) -> Result<Vec<f32>, ClapError> {
        let max = self.config.max_samples();
        if samples.is_empty() {
            return Err(ClapError::InvalidInput("the clip has no samples".into()));
        }
        if samples.len() > max {
            return Err(ClapError::InvalidInput(format!(
                "{} samples is longer than the {max} one window holds",
                samples.len()
            )));
        }
        let mut out = Vec::with_capacity(max);
        // transformers' `int(max_length / len(waveform))`.
        let repeats = max / samples.len();
        match self.config.padding.as_str() {
            "repeatpad" => (0..repeats).for_each(|_| out.extend_from_slice(samples)),
            "repeat" => {
                (0..=repeats).for_each(|_| out.extend_from_slice(samples));
                out.truncate(max);
            }
            _ => out.extend_from_slice(samples),
        }
        out.resize(max, 0.0);
        Ok(out)
    }

    /// The log-mel features `(frames, mel bins)`, row-major, of one clip at the extractor's
    /// rate and at most `max_length_s` long: transformers' `input_features[0, 0]`.
    pub fn log_mel(&self, samples: &[f32]) -> Result<Vec<f32>, ClapError> {
        let filled = self.fill(samples)?;
        Ok(self.spectrogram(&filled))
    }

    /// The centred log-mel spectrogram of `samples` (longer than half a window).
    fn spectrogram(&self, samples: &[f32]) -> Vec<f32> {
        let n_fft = self.config.fft_window_size;
        let hop = self.config.hop_length;
        let mels = self.config.feature_size;
        let bins = n_fft / 2 + 1;
        let padded = reflect_pad(samples, n_fft / 2);
        let frames = 1 + (padded.len() - n_fft) / hop;
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0f64; bins];
        let mut out = Vec::with_capacity(frames * mels);
        for frame in 0..frames {
            let start = frame * hop;
            for ((x, &s), &w) in input
                .iter_mut()
                .zip(&padded[start..start + n_fft])
                .zip(&self.window)
            {
                *x = f64::from(s) * w;
            }
            // Lengths match by construction, so the FFT cannot fail.
            if self
                .fft
                .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                .is_err()
            {
                spectrum.iter_mut().for_each(|c| *c = Default::default());
            }
            for (p, c) in power.iter_mut().zip(&spectrum) {
                // transformers stores the FFT in complex64, then takes |.|^2 in f64.
                let re = f64::from(c.re as f32);
                let im = f64::from(c.im as f32);
                let magnitude = re.hypot(im);
                *p = magnitude * magnitude;
            }
            for m in 0..mels {
                let mut acc = 0f64;
                for (k, p) in power.iter().enumerate() {
                    acc += self.mel_filters[k * mels + m] * p;
                }
                out.push((10.0 * acc.max(MEL_FLOOR).log10()) as f32);
            }
        }
        out
    }
}

/// numpy's `np.pad(x, (pad, pad), mode="reflect")` (the edge sample is not repeated).
fn reflect_pad(samples: &[f32], pad: usize) -> Vec<f32> {
    let n = samples.len();
    let mut out = Vec::with_capacity(n + 2 * pad);
    // The caller guarantees n > pad; reflect indices stay inside.
    out.extend((1..=pad).rev().map(|i| samples[i.min(n - 1)]));
    out.extend_from_slice(samples);
    out.extend((0..pad).map(|i| samples[n.saturating_sub(2 + i)]));
    out
}

/// `np.hanning(n + 1)[:-1]`, computed as numpy does.
fn hann_periodic(n: usize) -> Vec<f64> {
    let m = n + 1;
    (0..n)
        .map(|k| {
            let x = (1.0 - m as f64) + 2.0 * k as f64;
            0.5 + 0.5 * (std::f64::consts::PI * x / (m as f64 - 1.0)).cos()
        })
        .collect()
}

/// `np.linspace(start, stop, num)`: `i * step + start`, with the last point exactly `stop`.
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    if num == 1 {
        return vec![start];
    }
    let step = (stop - start) / (num - 1) as f64;
    let mut out: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    if let Some(last) = out.last_mut() {
        *last = stop;
    }
    out
}

const MIN_LOG_HERTZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = 15.0;

/// Slaney's mel scale (linear below 1 kHz, logarithmic above), as `hertz_to_mel(..., "slaney")`.
fn hertz_to_mel(hz: f64) -> f64 {
    if hz >= MIN_LOG_HERTZ {
        MIN_LOG_MEL + (hz / MIN_LOG_HERTZ).ln() * (27.0 / 6.4f64.ln())
    } else {
        3.0 * hz / 200.0
    }
}

/// The inverse of [`hertz_to_mel`], as `mel_to_hertz(..., "slaney")`.
fn mel_to_hertz(mel: f64) -> f64 {
    if mel >= MIN_LOG_MEL {
        MIN_LOG_HERTZ * ((6.4f64.ln() / 27.0) * (mel - MIN_LOG_MEL)).exp()
    } else {
        200.0 * mel / 3.0
    }
}

/// transformers' `mel_filter_bank(..., norm="slaney", mel_scale="slaney")`: triangles between
/// mel-spaced edges over linearly spaced FFT bins, each scaled to unit area.
fn mel_filter_bank(bins: usize, mels: usize, f_min: f64, f_max: f64, rate: u32) -> Vec<f64> {
    let edges: Vec<f64> = linspace(hertz_to_mel(f_min), hertz_to_mel(f_max), mels + 2)
        .into_iter()
        .map(mel_to_hertz)
        .collect();
    let fft_freqs = linspace(0.0, f64::from(rate / 2), bins);
    let diff: Vec<f64> = edges.windows(2).map(|w| w[1] - w[0]).collect();
    let mut filters = vec![0f64; bins * mels];
    for (k, &f) in fft_freqs.iter().enumerate() {
        for m in 0..mels {
            let down = -(edges[m] - f) / diff[m];
            let up = (edges[m + 2] - f) / diff[m + 1];
            let enorm = 2.0 / (edges[m + 2] - edges[m]);
            filters[k * mels + m] = 0f64.max(down.min(up)) * enorm;
        }
    }
    filters
}

/// Where the full-length windows of a clip of `len` samples start, for windows of `window`
/// samples and at most `max_windows` of them: one window at 0 for a clip that fits; otherwise
/// `ceil(len / window)` windows (at most `max_windows`, at least 1) spread evenly from the start
/// to the end of the clip, so the first starts at 0, the last ends at `len`, and every window is
/// whole (neighbours overlap when `len` is not a multiple of `window`, and leave gaps when the
/// cap bites).
pub fn window_starts(len: usize, window: usize, max_windows: usize) -> Vec<usize> {
    if len <= window || window == 0 {
        return vec![0];
    }
    let count = len.div_ceil(window).min(max_windows).max(1);
    if count == 1 {
        return vec![0];
    }
    let span = len - window;
    (0..count).map(|i| i * span / (count - 1)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> FeatureConfig {
        FeatureConfig {
            feature_size: 8,
            max_length_s: 1,
            truncation: "rand_trunc".into(),
            ..FeatureConfig::default()
        }
    }

    #[test]
    fn windows_cover_the_clip_deterministically() {
        // A clip that fits: one window at the start.
        assert_eq!(window_starts(10, 10, 3), [0]);
        assert_eq!(window_starts(3, 10, 3), [0]);
        // 25 samples in windows of 10: three windows, first at 0, last ending at 25.
        assert_eq!(window_starts(25, 10, 3), [0, 7, 15]);
        // Exactly two windows' worth: no overlap.
        assert_eq!(window_starts(20, 10, 3), [0, 10]);
        // Longer than the cap: three windows spread over the whole clip.
        assert_eq!(window_starts(100, 10, 3), [0, 45, 90]);
        // A cap of one: the first window only.
        assert_eq!(window_starts(100, 10, 1), [0]);
        for (len, cap) in [(11, 3), (29, 2), (1000, 4), (31, 5)] {
            let starts = window_starts(len, 10, cap);
            assert_eq!(starts[0], 0);
            assert_eq!(
                starts.last().copied().map(|s| s + 10),
                Some(len),
                "{len} {cap}"
            );
            assert!(starts.len() <= cap);
            assert!(starts.windows(2).all(|w| w[0] < w[1]));
        }
    }

    #[test]
    fn short_clips_repeat_whole_then_pad_with_zeros() {
        let fx = FeatureExtractor::new(FeatureConfig {
            sampling_rate: 10,
            max_length_s: 100,
            fft_window_size: 16,
            hop_length: 4,
            ..config()
        })
        .expect("extractor");
        let filled = fx.fill(&[1.0, 2.0, 3.0]).expect("fill");
        assert_eq!(filled.len(), 1000);
        assert_eq!(&filled[..6], [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
        // 333 whole repeats, then one zero.
        assert_eq!(&filled[996..], [1.0, 2.0, 3.0, 0.0]);
        assert!(fx.fill(&[]).is_err());
        assert!(fx.fill(&[0.0; 1001]).is_err());
    }

    #[test]
    fn reflect_padding_matches_numpy() {
        assert_eq!(
            reflect_pad(&[1.0, 2.0, 3.0, 4.0], 2),
            [3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0]
        );
    }

    #[test]
    fn slaney_filters_have_unit_area_triangles() {
        let fx = FeatureExtractor::new(config()).expect("extractor");
        let bins = 513;
        let mels = 8;
        assert_eq!(fx.mel_filters().len(), bins * mels);
        for m in 0..mels {
            let peak = (0..bins)
                .map(|k| fx.mel_filters()[k * mels + m])
                .fold(0.0, f64::max);
            assert!(peak > 0.0, "filter {m} is empty");
        }
        assert!((hertz_to_mel(mel_to_hertz(27.5)) - 27.5).abs() < 1e-12);
        assert!((mel_to_hertz(hertz_to_mel(440.0)) - 440.0).abs() < 1e-9);
    }

    #[test]
    fn a_tone_peaks_in_its_mel_band() {
        let fx = FeatureExtractor::new(config()).expect("extractor");
        let tone: Vec<f32> = (0..48_000)
            .map(|i| (2.0 * std::f32::consts::PI * 3000.0 * i as f32 / 48_000.0).sin())
            .collect();
        let mel = fx.log_mel(&tone).expect("features");
        assert_eq!(mel.len(), fx.config().frames() * 8);
        let frame = &mel[50 * 8..51 * 8];
        let loudest = (0..8)
            .max_by(|&a, &b| frame[a].total_cmp(&frame[b]))
            .expect("bins");
        let edges: Vec<f64> = linspace(hertz_to_mel(0.0), hertz_to_mel(14_000.0), 10)
            .into_iter()
            .map(mel_to_hertz)
            .collect();
        assert!(
            edges[loudest] < 3000.0 && 3000.0 < edges[loudest + 2],
            "3 kHz lands in band {loudest}: {edges:?}"
        );
    }
}

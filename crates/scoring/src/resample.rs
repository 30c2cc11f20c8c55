//! The one resampler every score goes through: a fixed polyphase windowed-sinc filter (Kaiser
//! window, β = 8.6, 32 zero crossings, passband to 94 % of the lower Nyquist). Resampling changes
//! DNSMOS by up to 0.2 between implementations, so every validator must use the same one; this
//! one is plain Rust arithmetic in a fixed order, with no SIMD dispatch or threading, so the same
//! input gives the same output bits on every x86-64 validator.

/// The rate all models run at.
pub const TARGET_RATE: u32 = 16_000;

const ZERO_CROSSINGS: f64 = 32.0;
const ROLLOFF: f64 = 0.94;
const KAISER_BETA: f64 = 8.6;

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Modified Bessel function of the first kind, order 0 (power series; converges fast for the
/// β used here).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let q = x * x / 4.0;
    for k in 1..64 {
        term *= q / (k as f64 * k as f64);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// A resampler for one rate pair; build it once per rate and reuse it.
#[derive(Debug, Clone)]
pub struct Resampler {
    from: u32,
    to: u32,
    /// Output step in input samples = `step_num / phases`.
    step_num: u64,
    phases: u64,
    /// Taps on each side of the centre.
    half: usize,
    /// `phases` rows of `2 * half` taps.
    table: Vec<f32>,
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz. Rates of 0 are treated as 1 (callers check rates).
    pub fn new(from: u32, to: u32) -> Self {
        let from = from.max(1);
        let to = to.max(1);
        let g = gcd(u64::from(from), u64::from(to));
        let phases = u64::from(to) / g;
        let step_num = u64::from(from) / g;
        // Cutoff in cycles per input sample (1.0 = input Nyquist).
        let cutoff = ROLLOFF * (f64::from(to) / f64::from(from)).min(1.0);
        let half = (ZERO_CROSSINGS / cutoff).ceil() as usize;
        if from == to {
            return Self {
                from,
                to,
                step_num,
                phases,
                half: 0,
                table: Vec::new(),
            };
        }
        let i0_beta = bessel_i0(KAISER_BETA);
        let taps = 2 * half;
        let mut table = Vec::with_capacity(phases as usize * taps);
        for p in 0..phases {
            let frac = p as f64 / phases as f64;
            let row_start = table.len();
            let mut sum = 0f64;
            let mut row = Vec::with_capacity(taps);
            for k in 0..taps {
                // Distance from the output instant to input sample (i - half + 1 + k).
                let d = (half as f64 - 1.0 - k as f64) + frac;
                let x = d / half as f64;
                let w = if x.abs() >= 1.0 {
                    0.0
                } else {
                    bessel_i0(KAISER_BETA * (1.0 - x * x).sqrt()) / i0_beta
                };
                let arg = std::f64::consts::PI * cutoff * d;
                let sinc = if arg.abs() < 1e-12 {
                    1.0
                } else {
                    arg.sin() / arg
                };
                let h = cutoff * sinc * w;
                sum += h;
                row.push(h);
            }
            // Unity gain at DC for every phase, so no phase adds a ripple.
            let norm = if sum.abs() > 1e-12 { 1.0 / sum } else { 1.0 };
            table.extend(row.iter().map(|h| (h * norm) as f32));
            debug_assert_eq!(table.len(), row_start + taps);
        }
        Self {
            from,
            to,
            step_num,
            phases,
            half,
            table,
        }
    }

    /// Input rate.
    pub fn from_rate(&self) -> u32 {
        self.from
    }

    /// Output rate.
    pub fn to_rate(&self) -> u32 {
        self.to
    }

    /// Number of output samples for `n` input samples: `ceil(n * to / from)`.
    pub fn output_len(&self, n: usize) -> usize {
        let n = n as u64;
        (n * self.phases).div_ceil(self.step_num) as usize
    }

    /// Resamples a whole signal (zeros are assumed outside it).
    pub fn process(&self, input: &[f32]) -> Vec<f32> {
        if self.from == self.to {
            return input.to_vec();
        }
        let taps = 2 * self.half;
        let n_out = self.output_len(input.len());
        let mut out = Vec::with_capacity(n_out);
        let len = input.len() as i64;
        for n in 0..n_out as u64 {
            let pos = n * self.step_num;
            let centre = (pos / self.phases) as i64;
            let phase = (pos % self.phases) as usize;
            let row = &self.table[phase * taps..(phase + 1) * taps];
            let first = centre - self.half as i64 + 1;
            let mut acc = 0f64;
            if first >= 0 && first + taps as i64 <= len {
                let start = first as usize;
                for (h, x) in row.iter().zip(&input[start..start + taps]) {
                    acc += f64::from(*h) * f64::from(*x);
                }
            } else {
                for (k, h) in row.iter().enumerate() {
                    let j = first + k as i64;
                    if (0..len).contains(&j) {
                        acc += f64::from(*h) * f64::from(input[j as usize]);
                    }
                }
            }
            out.push(acc as f32);
        }
        out
    }
}

/// Resamples `input` from `from` Hz to 16 kHz with the fixed filter.
pub fn to_16k(input: &[f32], from: u32) -> Vec<f32> {
    Resampler::new(from, TARGET_RATE).process(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, freq: f64, seconds: f64) -> Vec<f32> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .map(|i| (std::f64::consts::TAU * freq * i as f64 / f64::from(rate)).sin() as f32)
            .collect()
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    #[test]
    fn passes_speech_band_and_keeps_timing() {
        for from in [8000, 16000, 22050, 24000, 32000, 44100, 48000] {
            let x = sine(from, 1000.0, 1.0);
            let y = to_16k(&x, from);
            assert_eq!(y.len(), 16000, "{from}");
            let expected = sine(16000, 1000.0, 1.0);
            // Away from the edges the output is the same sine, in phase.
            let err: f64 = y[400..15600]
                .iter()
                .zip(&expected[400..15600])
                .map(|(a, b)| f64::from(a - b).abs())
                .fold(0.0, f64::max);
            assert!(err < 2e-3, "from {from}: max error {err}");
        }
    }

    #[test]
    fn removes_what_16k_cannot_hold() {
        // 11 kHz is above the 8 kHz Nyquist: it must vanish, not alias to 5 kHz.
        let y = to_16k(&sine(48000, 11000.0, 1.0), 48000);
        assert!(rms(&y[400..15600]) < 1e-3, "{}", rms(&y[400..15600]));
        let y = to_16k(&sine(44100, 9000.0, 1.0), 44100);
        assert!(rms(&y[400..15600]) < 1e-3, "{}", rms(&y[400..15600]));
    }

    #[test]
    fn deterministic_and_total() {
        let x = sine(22050, 440.0, 0.5);
        assert_eq!(to_16k(&x, 22050), to_16k(&x, 22050));
        assert!(to_16k(&[], 44100).is_empty());
        assert_eq!(to_16k(&[1.0], 44100).len(), 1);
        assert_eq!(Resampler::new(0, 16000).output_len(10), 160_000);
    }
}

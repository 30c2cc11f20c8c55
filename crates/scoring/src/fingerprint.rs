//! Audio fingerprints: a clip returned for one prompt and replayed for another (or by another
//! hotkey) is recognised even when the transcripts are close, and byte-identical audio is
//! reported by an exact hash.
//!
//! The robust fingerprint is the Haitsma–Kalker scheme on the 16 kHz signal: 256 ms frames every
//! 16 ms, 33 log-spaced bands between 300 and 3400 Hz, and one bit per adjacent band pair saying
//! whether the energy difference grew since the previous frame (32 bits per frame). The bits
//! survive gain changes, added noise, resampling and lossy coding; near-silent frames are left
//! out so that two clips' silences do not match each other. Similarity is 1 − bit error rate at
//! the best alignment within ±2 s.

use std::collections::VecDeque;
use std::sync::Arc;

use realfft::RealFftPlanner;
use sha2::{Digest, Sha256};

const FRAME: usize = 4096;
const HOP: usize = 256;
const BANDS: usize = 33;
const F_LO: f64 = 300.0;
const F_HI: f64 = 3400.0;
/// Frames this far (in dB) below the loudest frame are silence and carry no bits.
const SILENCE_DB: f64 = 45.0;
/// Frame value that marks silence.
const SILENT: u32 = 0;
/// Alignments searched: ±2 s in frames.
const MAX_SHIFT: i64 = 2 * 16_000 / HOP as i64;
/// Fewest overlapping frames a similarity is computed on.
const MIN_OVERLAP: usize = 8;
/// Similarity at or above which two clips are the same recording (bit error rate ≤ 0.2; unrelated
/// speech sits near 0.5–0.65).
pub const SAME_CLIP_SIMILARITY: f64 = 0.8;

/// A robust fingerprint: 32 bits per 16 ms frame of the 16 kHz signal (0 for a silent frame),
/// from the first to the last non-silent frame.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint {
    frames: Vec<u32>,
}

impl Fingerprint {
    /// Fingerprint of 16 kHz audio.
    pub fn of_16k(samples: &[f32]) -> Self {
        if samples.len() < FRAME {
            return Self::default();
        }
        let mut planner = RealFftPlanner::<f32>::new();
        let fft = planner.plan_fft_forward(FRAME);
        let window: Vec<f32> = (0..FRAME)
            .map(|i| (0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / FRAME as f64).cos()) as f32)
            .collect();
        // Band edges in FFT bins, log-spaced.
        let bin_hz = 16_000.0 / FRAME as f64;
        let edges: Vec<usize> = (0..=BANDS)
            .map(|b| {
                let f = F_LO * (F_HI / F_LO).powf(b as f64 / BANDS as f64);
                (f / bin_hz).round() as usize
            })
            .collect();
        let mut input = fft.make_input_vec();
        let mut spectrum = fft.make_output_vec();
        let mut energies: Vec<([f64; BANDS], f64)> = Vec::new();
        let mut start = 0;
        while start + FRAME <= samples.len() {
            for ((dst, x), w) in input
                .iter_mut()
                .zip(&samples[start..start + FRAME])
                .zip(&window)
            {
                *dst = x * w;
            }
            if fft.process(&mut input, &mut spectrum).is_err() {
                break;
            }
            let power: Vec<f64> = spectrum
                .iter()
                .map(|c| f64::from(c.re).powi(2) + f64::from(c.im).powi(2))
                .collect();
            let mut e = [0f64; BANDS];
            let mut total = 0f64;
            for (b, slot) in e.iter_mut().enumerate() {
                let lo = edges[b].min(power.len());
                let hi = edges[b + 1].max(lo + 1).min(power.len());
                *slot = power[lo..hi].iter().sum();
                total += *slot;
            }
            energies.push((e, total));
            start += HOP;
        }
        let loudest = energies.iter().map(|(_, t)| *t).fold(0f64, f64::max);
        let floor = loudest * 10f64.powf(-SILENCE_DB / 10.0);
        let mut frames = Vec::new();
        for pair in energies.windows(2) {
            let (prev, _) = &pair[0];
            let (cur, total) = &pair[1];
            if *total <= floor || *total == 0.0 {
                // Kept as a placeholder so the frames stay aligned in time; never compared.
                frames.push(SILENT);
                continue;
            }
            let mut bits = 0u32;
            for m in 0..BANDS - 1 {
                let d = (cur[m] - cur[m + 1]) - (prev[m] - prev[m + 1]);
                if d > 0.0 {
                    bits |= 1 << m;
                }
            }
            // A real frame that happens to be all zeros would read as silence; move one bit.
            frames.push(if bits == SILENT { 1 } else { bits });
        }
        // Leading and trailing silence carries nothing; padding must not change the fingerprint.
        let first = frames
            .iter()
            .position(|f| *f != SILENT)
            .unwrap_or(frames.len());
        let last = frames
            .iter()
            .rposition(|f| *f != SILENT)
            .map_or(first, |i| i + 1);
        Self {
            frames: frames[first..last].to_vec(),
        }
    }

    /// Number of frames from the first to the last non-silent one.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame carries bits (silence or a clip under 256 ms).
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The frames (32 bits each).
    pub fn frames(&self) -> &[u32] {
        &self.frames
    }

    /// Hex: 8 digits per frame, big-endian.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(self.frames.len() * 8);
        for f in &self.frames {
            s.push_str(&format!("{f:08x}"));
        }
        s
    }

    /// Parses [`Fingerprint::to_hex`] output; `None` when it is not whole 8-digit hex frames.
    pub fn from_hex(hex: &str) -> Option<Self> {
        if !hex.len().is_multiple_of(8) || !hex.is_ascii() {
            return None;
        }
        let frames = (0..hex.len() / 8)
            .map(|i| u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).ok())
            .collect::<Option<Vec<_>>>()?;
        Some(Self { frames })
    }

    /// 1 − bit error rate at the best alignment (±2 s, at least 8 frames and half the shorter
    /// clip overlapping). 1 for the same recording, about 0.5 for unrelated audio, 0 when either
    /// fingerprint is too short to compare.
    pub fn similarity(&self, other: &Self) -> f64 {
        let (a, b) = (&self.frames, &other.frames);
        let shorter = a.len().min(b.len());
        let need = (shorter / 2).max(MIN_OVERLAP);
        if shorter < MIN_OVERLAP {
            return 0.0;
        }
        let mut best = 0f64;
        for shift in -MAX_SHIFT..=MAX_SHIFT {
            // a[i] is compared with b[i + shift].
            let i0 = 0i64.max(-shift) as usize;
            let i1 = (a.len() as i64).min(b.len() as i64 - shift);
            if i1 <= i0 as i64 {
                continue;
            }
            let i1 = i1 as usize;
            let overlap = i1 - i0;
            if overlap < need {
                continue;
            }
            let mut errors = 0u64;
            let mut compared = 0usize;
            for i in i0..i1 {
                let (x, y) = (a[i], b[(i as i64 + shift) as usize]);
                if x != SILENT && y != SILENT {
                    errors += u64::from((x ^ y).count_ones());
                    compared += 1;
                }
            }
            if compared < need {
                continue;
            }
            let sim = 1.0 - errors as f64 / (32.0 * compared as f64);
            best = best.max(sim);
        }
        best
    }
}

/// SHA-256 (hex) of the checked samples and their rate: equal only for identical audio, to
/// report the same clip sent by several hotkeys in a round.
pub fn exact_hash(samples: &[f32], sample_rate: u32) -> String {
    let mut h = Sha256::new();
    h.update(sample_rate.to_le_bytes());
    for s in samples {
        h.update(s.to_le_bytes());
    }
    hex::encode(h.finalize())
}

/// One remembered response.
#[derive(Debug, Clone)]
struct Entry {
    label: Arc<str>,
    prompt: String,
    fingerprint: Fingerprint,
}

/// A response that matches an earlier one.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayMatch {
    /// The label the earlier response was recorded with (e.g. its hotkey).
    pub label: Arc<str>,
    /// Fingerprint similarity.
    pub similarity: f64,
}

/// The last `capacity` responses' fingerprints, to catch a clip replayed for another prompt.
#[derive(Debug, Clone)]
pub struct ReplayIndex {
    capacity: usize,
    entries: VecDeque<Entry>,
}

impl ReplayIndex {
    /// An index that remembers at most `capacity` responses (oldest dropped first).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: VecDeque::new(),
        }
    }

    /// The best-matching earlier response recorded for a *different* prompt, if its similarity
    /// reaches [`SAME_CLIP_SIMILARITY`]. Responses for the same prompt are not replays of each
    /// other (two honest miners may run the same engine).
    pub fn find_replay(&self, prompt: &str, fingerprint: &Fingerprint) -> Option<ReplayMatch> {
        let prompt = crate::text::normalize(prompt);
        self.entries
            .iter()
            .filter(|e| e.prompt != prompt)
            .map(|e| ReplayMatch {
                label: e.label.clone(),
                similarity: e.fingerprint.similarity(fingerprint),
            })
            .filter(|m| m.similarity >= SAME_CLIP_SIMILARITY)
            .max_by(|a, b| a.similarity.total_cmp(&b.similarity))
    }

    /// Remembers a response.
    pub fn insert(&mut self, label: &str, prompt: &str, fingerprint: Fingerprint) {
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(Entry {
            label: Arc::from(label),
            prompt: crate::text::normalize(prompt),
            fingerprint,
        });
    }

    /// Number of remembered responses.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-speech: noise bursts through a moving resonance, with pauses.
    fn babble(seed: u64, seconds: f64) -> Vec<f32> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut rnd = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f64 / (1u64 << 31) as f64) * 2.0 - 1.0
        };
        let n = (16_000.0 * seconds) as usize;
        let mut out = Vec::with_capacity(n);
        let (mut y1, mut y2) = (0f64, 0f64);
        let mut freq = 500.0;
        let mut amp = 0.0;
        for i in 0..n {
            if i % 1600 == 0 {
                freq = 300.0 + 2500.0 * (rnd() + 1.0) / 2.0;
                amp = if rnd() > -0.6 { 0.3 } else { 0.0 };
            }
            let r = 0.995;
            let w = std::f64::consts::TAU * freq / 16_000.0;
            let y = rnd() * amp + 2.0 * r * w.cos() * y1 - r * r * y2;
            y2 = y1;
            y1 = y;
            out.push((y * 0.05) as f32);
        }
        out
    }

    #[test]
    fn same_clip_matches_through_gain_noise_and_padding() {
        let a = babble(1, 4.0);
        let fa = Fingerprint::of_16k(&a);
        assert!(fa.len() > 50);
        assert_eq!(fa.similarity(&fa), 1.0);

        // Quieter, with a little noise and silence in front (any offset within a hop).
        let noise = babble(99, 4.0);
        for pad in [0, 100, 256, 448, 11_200] {
            let mut b = vec![0f32; pad];
            b.extend(a.iter().zip(&noise).map(|(x, n)| 0.5 * x + 0.02 * n));
            let fb = Fingerprint::of_16k(&b);
            let s = fa.similarity(&fb);
            eprintln!("pad {pad}: {s}");
            assert!(s >= SAME_CLIP_SIMILARITY, "pad {pad}: similarity {s}");
        }

        // Different audio stays near chance.
        let c = babble(2, 4.0);
        let s = fa.similarity(&Fingerprint::of_16k(&c));
        eprintln!("other: {s}");
        assert!(s < 0.7, "similarity {s}");
    }

    #[test]
    fn hex_round_trip_and_short_inputs() {
        let f = Fingerprint::of_16k(&babble(3, 1.0));
        assert_eq!(Fingerprint::from_hex(&f.to_hex()), Some(f.clone()));
        assert_eq!(Fingerprint::from_hex("123"), None);
        assert_eq!(Fingerprint::from_hex("zzzzzzzz"), None);
        assert_eq!(Fingerprint::from_hex("é1234567"), None);
        assert!(Fingerprint::of_16k(&[0.1; 100]).is_empty());
        assert!(Fingerprint::of_16k(&vec![0.0; 32_000]).is_empty());
        assert_eq!(Fingerprint::default().similarity(&f), 0.0);
    }

    #[test]
    fn exact_hash_sees_any_change() {
        let a = babble(4, 1.0);
        let mut b = a.clone();
        assert_eq!(exact_hash(&a, 16_000), exact_hash(&b, 16_000));
        assert_ne!(exact_hash(&a, 16_000), exact_hash(&a, 22_050));
        b[100] += 1e-6;
        assert_ne!(exact_hash(&a, 16_000), exact_hash(&b, 16_000));
    }

    #[test]
    fn replay_index_flags_other_prompts_only() {
        let a = Fingerprint::of_16k(&babble(5, 3.0));
        let mut idx = ReplayIndex::new(2);
        idx.insert("hk1", "Hello there.", a.clone());
        assert_eq!(idx.find_replay("hello there", &a), None);
        let m = idx.find_replay("Something else entirely", &a).unwrap();
        assert_eq!(&*m.label, "hk1");
        assert_eq!(m.similarity, 1.0);
        let other = Fingerprint::of_16k(&babble(6, 3.0));
        assert_eq!(idx.find_replay("Something else", &other), None);
        idx.insert("hk2", "b", other.clone());
        idx.insert("hk3", "c", other);
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.find_replay("zzz", &a), None);
    }
}

//! Rendering a [`Score`] through a General MIDI SoundFont with rustysynth: the SoundFont is
//! loaded once and shared ([`Arc`]); each render gets a fresh synthesizer, so renders are
//! independent, reproducible and may run on several threads at once.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustysynth::{SoundFont, Synthesizer, SynthesizerSettings};

use crate::MusicError;
use crate::score::{DRUM_CHANNEL, Score};

/// Where Debian's `fluid-soundfont-gm` package installs FluidR3_GM.
pub const DEFAULT_SOUNDFONT: &str = "/usr/share/sounds/sf2/FluidR3_GM.sf2";
/// The Debian package that provides [`DEFAULT_SOUNDFONT`].
pub const SOUNDFONT_PACKAGE: &str = "fluid-soundfont-gm";
/// The engine's output rate (MusicGen's).
pub const SAMPLE_RATE: u32 = 32_000;
/// Peak level after normalisation: -1 dBFS.
pub const TARGET_PEAK: f32 = 0.891_250_9;

/// A loaded SoundFont, ready to render scores.
#[derive(Debug, Clone)]
pub struct SoundFontSynth {
    font: Arc<SoundFont>,
    path: PathBuf,
}

impl SoundFontSynth {
    /// Loads the SoundFont at `path` (a 140 MB General MIDI font takes about a second).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, MusicError> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|e| MusicError::SoundFont {
            path: path.clone(),
            message: if e.kind() == std::io::ErrorKind::NotFound {
                format!("not found (install the Debian package {SOUNDFONT_PACKAGE})")
            } else {
                e.to_string()
            },
        })?;
        let font =
            SoundFont::new(&mut BufReader::new(file)).map_err(|e| MusicError::SoundFont {
                path: path.clone(),
                message: e.to_string(),
            })?;
        Ok(Self {
            font: Arc::new(font),
            path,
        })
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renders `score` at `sample_rate` (16–192 kHz): exactly `round(duration_s ·
    /// sample_rate)` mono samples (left and right mixed), faded out over `score.fade_s`, peak
    /// normalised to [`TARGET_PEAK`] (-1 dBFS) so nothing clips. Same score, same samples.
    pub fn render(&self, score: &Score, sample_rate: u32) -> Result<Vec<f32>, MusicError> {
        let sr = i32::try_from(sample_rate).map_err(|_| MusicError::SampleRate(sample_rate))?;
        let mut settings = SynthesizerSettings::new(sr);
        // Chords, pads and reverb tails overlap: room for them without voice stealing.
        settings.maximum_polyphony = 128;
        let mut synth = Synthesizer::new(&self.font, &settings).map_err(|e| match e {
            rustysynth::SynthesizerError::SampleRateOutOfRange(_) => {
                MusicError::SampleRate(sample_rate)
            }
            other => MusicError::Synth(other.to_string()),
        })?;
        let duration = if score.duration_s.is_finite() {
            f64::from(score.duration_s.max(0.0))
        } else {
            0.0
        };
        let total = (duration * f64::from(sample_rate)).round() as usize;

        for p in &score.parts {
            let ch = i32::from(p.channel & 0x0F);
            if p.channel != DRUM_CHANNEL {
                synth.process_midi_message(ch, 0xC0, i32::from(p.program & 0x7F), 0);
            }
            synth.process_midi_message(ch, 0xB0, 7, i32::from(p.volume & 0x7F));
            synth.process_midi_message(ch, 0xB0, 91, i32::from(score.reverb & 0x7F));
        }

        // (sample, 0 = off / 1 = on, channel, key, velocity): offs first at equal times so a
        // repeated key is released before it is struck again.
        let to_sample =
            |s: f64| ((s.max(0.0) * f64::from(sample_rate)).round() as usize).min(total);
        let mut events: Vec<(usize, u8, u8, u8, u8)> = Vec::with_capacity(score.notes.len() * 2);
        for n in &score.notes {
            events.push((
                to_sample(n.start_s),
                1,
                n.channel & 0x0F,
                n.key & 0x7F,
                n.velocity.clamp(1, 127),
            ));
            events.push((to_sample(n.end_s), 0, n.channel & 0x0F, n.key & 0x7F, 0));
        }
        events.sort_unstable();

        let mut left = vec![0.0_f32; total];
        let mut right = vec![0.0_f32; total];
        let mut done = 0;
        for (at, on, ch, key, vel) in events {
            if at > done {
                synth.render(&mut left[done..at], &mut right[done..at]);
                done = at;
            }
            if on == 1 {
                synth.note_on(i32::from(ch), i32::from(key), i32::from(vel));
            } else {
                synth.note_off(i32::from(ch), i32::from(key));
            }
        }
        if total > done {
            synth.render(&mut left[done..], &mut right[done..]);
        }

        let mut mono: Vec<f32> = left
            .iter()
            .zip(&right)
            .map(|(l, r)| 0.5 * (l + r))
            .collect();
        let fade =
            ((f64::from(score.fade_s.max(0.0)) * f64::from(sample_rate)) as usize).min(total);
        for i in 0..fade {
            // Raised-cosine fade to exactly zero at the last sample.
            let x = (i + 1) as f32 / fade as f32;
            let g = 0.5 + 0.5 * (std::f32::consts::PI * x).cos();
            mono[total - fade + i] *= g;
        }
        let peak = mono.iter().fold(
            0.0_f32,
            |m, x| if x.is_finite() { m.max(x.abs()) } else { m },
        );
        if peak > 0.0 {
            let gain = TARGET_PEAK / peak;
            for x in &mut mono {
                *x = if x.is_finite() { *x * gain } else { 0.0 };
            }
        }
        Ok(mono)
    }
}

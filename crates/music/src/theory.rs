//! Just enough music theory: keys, their scales, and the diatonic chords on each degree.

use std::fmt;

// Minor melodies use the natural minor scale except over the dominant, whose chord is always
// major (harmonic minor's raised seventh): the cadence V–i is what makes a minor key sound, and
// measure, minor rather than its relative major. The type is the analysis crate's, so what a
// prompt asks for and what a clip measures compare directly.
pub use audiosubnet_music_analysis::Mode;

const MAJOR_SCALE: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];
const MINOR_SCALE: [i32; 7] = [0, 2, 3, 5, 7, 8, 10];

/// A key: tonic pitch class (0 = C … 11 = B) and mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// Pitch class of the tonic, 0 (C) to 11 (B).
    pub tonic: u8,
    /// Major or minor.
    pub mode: Mode,
}

impl Key {
    /// The key with tonic `tonic` (taken modulo 12) in `mode`.
    pub fn new(tonic: i32, mode: Mode) -> Self {
        Self {
            tonic: tonic.rem_euclid(12) as u8,
            mode,
        }
    }

    /// Semitones above the tonic of the seven scale degrees (natural minor for minor keys).
    pub fn scale(self) -> [i32; 7] {
        match self.mode {
            Mode::Major => MAJOR_SCALE,
            Mode::Minor => MINOR_SCALE,
        }
    }

    /// The tonic's name, with flats where the key signature has them ("Bb major", "F# minor").
    pub fn name(self) -> String {
        const SHARPS: [&str; 12] = [
            "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
        ];
        const FLATS: [&str; 12] = [
            "C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B",
        ];
        // Keys whose signature has flats: F, Bb, Eb, Ab, Db major; D, G, C, F, Bb minor.
        let flat = match self.mode {
            Mode::Major => matches!(self.tonic, 1 | 3 | 5 | 8 | 10),
            Mode::Minor => matches!(self.tonic, 0 | 2 | 5 | 7 | 10),
        };
        let names = if flat { FLATS } else { SHARPS };
        format!("{} {}", names[usize::from(self.tonic % 12)], self.mode)
    }

    /// The MIDI note of scale step `step` counted from the tonic in octave `base_octave`
    /// (MIDI octave numbering: C4 = 60), where step 7 is the tonic an octave up and negative
    /// steps go down. Over a major-quality dominant in minor the seventh degree is raised.
    pub(crate) fn step_to_midi(self, step: i32, base_octave: i32, raise_leading: bool) -> i32 {
        let scale = self.scale();
        let degree = step.rem_euclid(7) as usize;
        let octave = step.div_euclid(7);
        let mut semis = scale[degree];
        if raise_leading && self.mode == Mode::Minor && degree == 6 {
            semis += 1;
        }
        12 * (base_octave + 1) + i32::from(self.tonic) + semis + 12 * octave
    }

    /// The triad (or seventh chord) on roman-numeral degree `degree` (1–7).
    pub(crate) fn chord(self, degree: u8, seventh: bool) -> Chord {
        let d = i32::from(degree.clamp(1, 7)) - 1;
        // Stack thirds as scale steps above the root.
        let steps: Vec<i32> = if seventh {
            vec![d, d + 2, d + 4, d + 6]
        } else {
            vec![d, d + 2, d + 4]
        };
        let dominant = self.mode == Mode::Minor && d == 4;
        let semis: Vec<i32> = steps
            .iter()
            .map(|&s| self.step_to_midi(s, -1, dominant) - i32::from(self.tonic))
            .collect();
        Chord {
            degree: d as u8 + 1,
            root_step: d,
            semis,
            raise_leading: dominant,
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A chord of the key: its tones as semitones above the key's tonic (the root first, each
/// higher than the one before, all within two octaves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chord {
    /// Roman-numeral degree, 1–7.
    pub(crate) degree: u8,
    /// The root as a scale step above the tonic (0–6).
    pub(crate) root_step: i32,
    pub(crate) semis: Vec<i32>,
    /// Whether melody notes over this chord use the raised seventh (minor key, chord V).
    pub(crate) raise_leading: bool,
}

impl Chord {
    /// Whether pitch class `pc` (semitones above the tonic, any octave) is a chord tone.
    pub(crate) fn contains_pc(&self, pc: i32) -> bool {
        self.semis.iter().any(|&s| (s - pc).rem_euclid(12) == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chords_and_names() {
        let c = Key::new(0, Mode::Major);
        assert_eq!(c.chord(1, false).semis, vec![0, 4, 7]);
        assert_eq!(c.chord(5, true).semis, vec![7, 11, 14, 17]);
        assert_eq!(c.chord(6, false).semis, vec![9, 12, 16]);
        let a = Key::new(9, Mode::Minor);
        // V in A minor is E major (G#), i is A minor, VII is G major.
        assert_eq!(a.chord(5, false).semis, vec![7, 11, 14]);
        assert_eq!(a.chord(1, false).semis, vec![0, 3, 7]);
        assert_eq!(a.chord(7, false).semis, vec![10, 14, 17]);
        assert_eq!(a.step_to_midi(0, 4, false), 69);
        assert_eq!(a.step_to_midi(-1, 4, false), 67);
        assert_eq!(a.step_to_midi(-1, 4, true), 68);
        assert_eq!(Key::new(10, Mode::Major).name(), "Bb major");
        assert_eq!(Key::new(6, Mode::Minor).name(), "F# minor");
        assert_eq!(Key::new(-1, Mode::Major).tonic, 11);
    }
}

//! From a prompt and a seed to an [`Arrangement`]: what the prompt states wins, then what its
//! style and mood words imply, then the seed decides the rest.

use std::fmt;

use crate::prompt::{self, Facts, MAX_TEMPO, MIN_TEMPO, Role};
use crate::rng::{Rng, fnv1a};
use crate::theory::{Key, Mode};

/// A style: the defaults a style word brings (tempo range, mode, progressions, patterns and
/// instrument palette).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Style {
    /// The default: backbeat drums, strummed chords, piano melody.
    Pop,
    /// Rock: driving eighths, overdriven guitars.
    Rock,
    /// Lo-fi hip hop: slow boom-bap drums, electric piano sevenths.
    LoFi,
    /// Hip hop: boom-bap drums, synth bass, minor.
    HipHop,
    /// Jazz: ride cymbal, walking bass, seventh chords, ii–V–I.
    Jazz,
    /// Electronic, EDM, house, techno: four-on-the-floor, off-beat bass, synths.
    Electronic,
    /// Ambient: no drums, slow arpeggios over pads.
    Ambient,
    /// Classical: no drums, Alberti-style piano under violin and cello.
    Classical,
    /// Waltz: 3/4, oom-pah-pah.
    Waltz,
    /// Folk, country, acoustic: light drums, strummed steel guitar.
    Folk,
    /// Cinematic, epic, orchestral: toms, string ostinato, horns and choir, minor.
    Cinematic,
}

impl fmt::Display for Style {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Style::Pop => "pop",
            Style::Rock => "rock",
            Style::LoFi => "lo-fi",
            Style::HipHop => "hip hop",
            Style::Jazz => "jazz",
            Style::Electronic => "electronic",
            Style::Ambient => "ambient",
            Style::Classical => "classical",
            Style::Waltz => "waltz",
            Style::Folk => "folk",
            Style::Cinematic => "cinematic",
        })
    }
}

/// A drum pattern (General MIDI channel 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DrumPattern {
    /// Kick on 1 and 3, snare on 2 and 4, closed hi-hat eighths.
    Backbeat,
    /// Backbeat with an extra kick, louder hats and crashes on section starts.
    Rock,
    /// Kick on every beat, clap on 2 and 4, open hi-hat on the off-beats.
    FourOnTheFloor,
    /// Kick on 1 and the "and" of 3, snare on 2 and 4, soft hats.
    BoomBap,
    /// Ride on every beat with swung skip notes, hi-hat pedal on 2 and 4.
    JazzRide,
    /// Kick on 1 and 3, tambourine on 2 and 4.
    Light,
    /// Low toms on every beat, kick on 1 and 3, crashes on section starts.
    Toms,
    /// Kick on 1, side stick on 2 and 3.
    Waltz,
}

/// How the harmony instrument plays the chords.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comping {
    /// A chord on every beat.
    Block,
    /// Chords on every eighth, accented on the beat.
    Strum,
    /// Root, fifth and octave on every eighth.
    PowerEighths,
    /// Broken chords in eighths (Alberti bass, ostinati).
    Arpeggio,
    /// One chord per bar, re-struck mid-bar.
    Sustained,
    /// Short stabs on the off-beats.
    OffbeatStabs,
    /// Charleston rhythm: beat 1 and the "and" of 2.
    Charleston,
    /// Bass on 1, chords on 2 and 3.
    OomPahPah,
}

/// How the bass plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BassLine {
    /// Root on 1, root or fifth on 3.
    Roots,
    /// Root eighths.
    Eighths,
    /// Root on the off-beats.
    Offbeat,
    /// Quarter-note walk: chord tones and an approach note to the next root.
    Walking,
    /// One root per bar.
    Pedal,
}

/// An instrument: a General MIDI program (0-based) and a name for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Instrument {
    /// General MIDI program number, 0–127 (0 is Acoustic Grand Piano).
    pub program: u8,
    /// What the prompt or the style called it.
    pub name: &'static str,
}

/// Everything [`crate::compose`] needs to write a piece.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrangement {
    /// Beats (quarter notes) per minute, 40–240.
    pub tempo_bpm: f32,
    /// Key and mode.
    pub key: Key,
    /// Beats per bar (the metre is this over 4).
    pub beats_per_bar: u8,
    /// The style the defaults came from.
    pub style: Style,
    /// Chord progression as roman-numeral degrees (1–7), one chord per bar, cycled.
    pub progression: Vec<u8>,
    /// Seventh chords instead of triads.
    pub sevenths: bool,
    /// The melody instrument.
    pub melody: Instrument,
    /// The chord instrument.
    pub harmony: Instrument,
    /// The bass instrument.
    pub bass: Instrument,
    /// A sustained pad under the rest, if any.
    pub pad: Option<Instrument>,
    /// The drum pattern, if the piece has drums.
    pub drums: Option<DrumPattern>,
    /// How the harmony instrument plays.
    pub comping: Comping,
    /// How the bass plays.
    pub bass_line: BassLine,
    /// Loudness and busyness, 0 (calm) to 1 (energetic).
    pub energy: f32,
    /// Reverb send, 0–127.
    pub reverb: u8,
    /// The seed the composer's choices come from (the request's seed mixed with the prompt).
    pub seed: u64,
}

impl Arrangement {
    /// A one-line summary for logs: "jazz, Bb major, 4/4 at 120 BPM: alto sax, piano, …".
    pub fn describe(&self) -> String {
        let mut parts = vec![self.melody.name, self.harmony.name, self.bass.name];
        if let Some(p) = self.pad {
            parts.push(p.name);
        }
        if self.drums.is_some() {
            parts.push("drums");
        }
        format!(
            "{}, {}, {}/4 at {:.0} BPM: {}",
            self.style,
            self.key,
            self.beats_per_bar,
            self.tempo_bpm,
            parts.join(", ")
        )
    }
}

struct Preset {
    style: Style,
    words: &'static [&'static str],
    tempo: (f32, f32),
    mode: Option<Mode>,
    major: &'static [[u8; 4]],
    minor: &'static [[u8; 4]],
    sevenths: bool,
    drums: Option<DrumPattern>,
    comping: Comping,
    bass_line: BassLine,
    melody: (u8, &'static str),
    harmony: (u8, &'static str),
    bass: (u8, &'static str),
    pad: Option<(u8, &'static str)>,
    energy: f32,
    reverb: u8,
    beats_per_bar: u8,
}

// Minor progressions keep V major and mostly reach it or i often: the cadence is what makes
// the key (and the key estimator) hear minor rather than the relative major.
const POP_MAJOR: &[[u8; 4]] = &[
    [1, 5, 6, 4],
    [1, 6, 4, 5],
    [1, 4, 5, 1],
    [6, 4, 1, 5],
    [1, 4, 6, 5],
];
const POP_MINOR: &[[u8; 4]] = &[[1, 6, 3, 7], [1, 4, 5, 1], [1, 7, 6, 5], [1, 6, 4, 5]];
const JAZZ_MAJOR: &[[u8; 4]] = &[[2, 5, 1, 1], [1, 6, 2, 5], [3, 6, 2, 5]];
const JAZZ_MINOR: &[[u8; 4]] = &[[2, 5, 1, 1], [1, 4, 2, 5], [1, 6, 2, 5]];
const FOLK_MAJOR: &[[u8; 4]] = &[[1, 4, 5, 1], [1, 4, 1, 5], [1, 6, 4, 5], [1, 5, 4, 1]];
const FOLK_MINOR: &[[u8; 4]] = &[[1, 4, 5, 1], [1, 7, 6, 5], [1, 4, 1, 5]];
const CLASSICAL_MAJOR: &[[u8; 4]] = &[[1, 4, 5, 1], [1, 6, 2, 5], [1, 2, 5, 1], [1, 4, 2, 5]];
const CLASSICAL_MINOR: &[[u8; 4]] = &[[1, 4, 5, 1], [1, 6, 2, 5], [1, 4, 7, 3]];
const EPIC_MINOR: &[[u8; 4]] = &[[1, 6, 3, 7], [1, 6, 7, 5], [1, 7, 6, 5], [1, 4, 6, 5]];
const AMBIENT_MAJOR: &[[u8; 4]] = &[[1, 4, 1, 5], [1, 6, 4, 1], [1, 3, 4, 1]];
const AMBIENT_MINOR: &[[u8; 4]] = &[[1, 6, 4, 1], [1, 4, 1, 5], [1, 7, 4, 1]];

const PRESETS: &[Preset] = &[
    Preset {
        style: Style::LoFi,
        words: &["lo fi", "lofi", "chillhop", "chill hop", "study beats"],
        tempo: (70.0, 88.0),
        mode: None,
        major: POP_MAJOR,
        minor: POP_MINOR,
        sevenths: true,
        drums: Some(DrumPattern::BoomBap),
        comping: Comping::Sustained,
        bass_line: BassLine::Roots,
        melody: (11, "vibraphone"),
        harmony: (4, "electric piano"),
        bass: (32, "upright bass"),
        pad: None,
        energy: 0.35,
        reverb: 60,
        beats_per_bar: 4,
    },
    Preset {
        style: Style::HipHop,
        words: &["hip hop", "hiphop", "rap", "trap", "boom bap", "r b", "rnb"],
        tempo: (84.0, 96.0),
        mode: Some(Mode::Minor),
        major: POP_MAJOR,
        minor: POP_MINOR,
        sevenths: false,
        drums: Some(DrumPattern::BoomBap),
        comping: Comping::Sustained,
        bass_line: BassLine::Roots,
        melody: (0, "piano"),
        harmony: (48, "strings"),
        bass: (38, "synth bass"),
        pad: None,
        energy: 0.6,
        reverb: 40,
        beats_per_bar: 4,
    },
    Preset {
        style: Style::Jazz,
        words: &[
            "jazz", "jazzy", "swing", "bebop", "bossa", "blues", "bluesy", "lounge",
        ],
        tempo: (100.0, 150.0),
        mode: None,
        major: JAZZ_MAJOR,
        minor: JAZZ_MINOR,
        sevenths: true,
        drums: Some(DrumPattern::JazzRide),
        comping: Comping::Charleston,
        bass_line: BassLine::Walking,
        melody: (65, "alto sax"),
        harmony: (0, "piano"),
        bass: (32, "upright bass"),
        pad: None,
        energy: 0.55,
        reverb: 45,
        beats_per_bar: 4,
    },
    Preset {
        style: Style::Electronic,
        words: &[
            "electronic",
            "edm",
            "techno",
            "house",
            "trance",
            "dance",
            "club",
            "synthwave",
            "synthpop",
            "disco",
            "electro",
            "dubstep",
            "rave",
        ],
        tempo: (120.0, 130.0),
        mode: None,
        major: POP_MAJOR,
        minor: POP_MINOR,
        sevenths: false,
        drums: Some(DrumPattern::FourOnTheFloor),
        comping: Comping::OffbeatStabs,
        bass_line: BassLine::Offbeat,
        melody: (81, "saw lead"),
        harmony: (90, "polysynth"),
        bass: (38, "synth bass"),
        pad: Some((89, "warm pad")),
        energy: 0.85,
        reverb: 40,
        beats_per_bar: 4,
    },
    Preset {
        style: Style::Rock,
        words: &["rock", "metal", "punk", "grunge", "indie rock", "hard rock"],
        tempo: (100.0, 140.0),
        mode: None,
        major: FOLK_MAJOR,
        minor: POP_MINOR,
        sevenths: false,
        drums: Some(DrumPattern::Rock),
        comping: Comping::PowerEighths,
        bass_line: BassLine::Eighths,
        melody: (30, "distorted guitar"),
        harmony: (29, "overdriven guitar"),
        bass: (34, "picked bass"),
        pad: None,
        energy: 0.9,
        reverb: 25,
        beats_per_bar: 4,
    },
    Preset {
        style: Style::Ambient,
        words: &[
            "ambient",
            "atmospheric",
            "drone",
            "meditation",
            "meditative",
            "new age",
            "space",
        ],
        tempo: (60.0, 76.0),
        mode: None,
        major: AMBIENT_MAJOR,
        minor: AMBIENT_MINOR,
        sevenths: false,
        drums: None,
        comping: Comping::Arpeggio,
        bass_line: BassLine::Pedal,
        melody: (75, "pan flute"),
        harmony: (46, "harp"),
        bass: (42, "cello"),
        pad: Some((89, "warm pad")),
        energy: 0.2,
        reverb: 90,
        beats_per_bar: 4,
    },
    Preset {
        style: Style::Waltz,
        words: &["waltz"],
        tempo: (84.0, 112.0),
        mode: None,
        major: CLASSICAL_MAJOR,
        minor: CLASSICAL_MINOR,
        sevenths: false,
        drums: None,
        comping: Comping::OomPahPah,
        bass_line: BassLine::Pedal,
        melody: (40, "violin"),
        harmony: (0, "piano"),
        bass: (42, "cello"),
        pad: None,
        energy: 0.45,
        reverb: 50,
        beats_per_bar: 3,
    },
    Preset {
        style: Style::Classical,
        words: &[
            "classical",
            "baroque",
            "romantic era",
            "sonata",
            "minuet",
            "chamber",
            "string quartet",
            "nocturne",
            "etude",
        ],
        tempo: (72.0, 112.0),
        mode: None,
        major: CLASSICAL_MAJOR,
        minor: CLASSICAL_MINOR,
        sevenths: false,
        drums: None,
        comping: Comping::Arpeggio,
        bass_line: BassLine::Pedal,
        melody: (40, "violin"),
        harmony: (0, "piano"),
        bass: (42, "cello"),
        pad: None,
        energy: 0.45,
        reverb: 55,
        beats_per_bar: 4,
    },
    Preset {
        style: Style::Cinematic,
        words: &[
            "cinematic",
            "epic",
            "orchestral",
            "film",
            "movie",
            "soundtrack",
            "trailer",
            "heroic",
            "battle",
            "adventure",
        ],
        tempo: (76.0, 100.0),
        mode: Some(Mode::Minor),
        major: CLASSICAL_MAJOR,
        minor: EPIC_MINOR,
        sevenths: false,
        drums: Some(DrumPattern::Toms),
        comping: Comping::Arpeggio,
        bass_line: BassLine::Pedal,
        melody: (60, "french horn"),
        harmony: (48, "strings"),
        bass: (43, "contrabass"),
        pad: Some((52, "choir")),
        energy: 0.75,
        reverb: 70,
        beats_per_bar: 4,
    },
    Preset {
        style: Style::Folk,
        words: &[
            "folk",
            "country",
            "acoustic",
            "bluegrass",
            "celtic",
            "campfire",
            "singer songwriter",
        ],
        tempo: (88.0, 120.0),
        mode: Some(Mode::Major),
        major: FOLK_MAJOR,
        minor: FOLK_MINOR,
        sevenths: false,
        drums: Some(DrumPattern::Light),
        comping: Comping::Strum,
        bass_line: BassLine::Roots,
        melody: (73, "flute"),
        harmony: (25, "acoustic guitar"),
        bass: (32, "upright bass"),
        pad: None,
        energy: 0.5,
        reverb: 40,
        beats_per_bar: 4,
    },
    // Last: the default when no style word matches.
    Preset {
        style: Style::Pop,
        words: &["pop", "song", "ballad", "anthem"],
        tempo: (92.0, 120.0),
        mode: None,
        major: POP_MAJOR,
        minor: POP_MINOR,
        sevenths: false,
        drums: Some(DrumPattern::Backbeat),
        comping: Comping::Block,
        bass_line: BassLine::Roots,
        melody: (0, "piano"),
        harmony: (25, "acoustic guitar"),
        bass: (33, "electric bass"),
        pad: Some((48, "strings")),
        energy: 0.6,
        reverb: 45,
        beats_per_bar: 4,
    },
];

/// Mood words: (words, mode they imply, tempo factor, energy change).
const MOODS: &[(&[&str], Option<Mode>, f32, f32)] = &[
    (
        &[
            "happy",
            "upbeat",
            "joyful",
            "cheerful",
            "bright",
            "uplifting",
            "fun",
            "playful",
            "sunny",
        ],
        Some(Mode::Major),
        1.08,
        0.15,
    ),
    (
        &[
            "sad",
            "melancholic",
            "melancholy",
            "somber",
            "sombre",
            "gloomy",
            "mournful",
            "tragic",
            "lonely",
            "nostalgic",
        ],
        Some(Mode::Minor),
        0.88,
        -0.15,
    ),
    (
        &[
            "calm", "relaxing", "relaxed", "peaceful", "gentle", "soft", "mellow", "soothing",
            "slow", "chill", "dreamy", "quiet",
        ],
        None,
        0.9,
        -0.25,
    ),
    (
        &[
            "dark",
            "ominous",
            "mysterious",
            "sinister",
            "eerie",
            "haunting",
            "tense",
            "horror",
        ],
        Some(Mode::Minor),
        0.95,
        0.0,
    ),
    (
        &[
            "energetic",
            "energy",
            "driving",
            "fast",
            "intense",
            "powerful",
            "aggressive",
            "hype",
            "exciting",
        ],
        None,
        1.12,
        0.3,
    ),
];

fn has(text: &str, word: &str) -> bool {
    text.contains(&format!(" {word} "))
}

/// Reads `prompt` and decides every fact of the piece; the same prompt and seed always give the
/// same arrangement. Never panics, whatever the text.
pub fn arrange(prompt: &str, seed: u64) -> Arrangement {
    let facts = prompt::read(prompt);
    // The prompt's own words (case-folded) take part in the seed, so one seed gives different
    // pieces for different prompts.
    let mixed = seed ^ fnv1a(facts.text.as_bytes()).rotate_left(17);
    let mut rng = Rng::new(mixed);
    let preset = PRESETS
        .iter()
        .find(|p| p.words.iter().any(|w| has(&facts.text, w)))
        .or_else(|| PRESETS.last());
    let Some(preset) = preset else {
        // PRESETS is a non-empty constant; this only keeps the function total.
        return fallback(mixed);
    };
    from_preset(&facts, preset, &mut rng, mixed)
}

fn from_preset(facts: &Facts, preset: &Preset, rng: &mut Rng, seed: u64) -> Arrangement {
    let mut mood_mode = None;
    let mut tempo_factor = 1.0_f32;
    let mut energy = preset.energy;
    for (words, mode, factor, de) in MOODS {
        if words.iter().any(|w| has(&facts.text, w)) {
            mood_mode = mood_mode.or(*mode);
            tempo_factor *= factor;
            energy += de;
        }
    }
    let energy = energy.clamp(0.1, 1.0);
    let tempo = facts.tempo.unwrap_or_else(|| {
        let t = rng.range(preset.tempo.0, preset.tempo.1) * tempo_factor;
        t.round().clamp(MIN_TEMPO, MAX_TEMPO)
    });
    let mode = facts
        .mode
        .or(mood_mode)
        .or(preset.mode)
        .unwrap_or(if rng.chance(0.6) {
            Mode::Major
        } else {
            Mode::Minor
        });
    let tonic = facts.tonic.map_or_else(|| rng.below(12) as i32, i32::from);
    let key = Key::new(tonic, mode);
    let progressions = match mode {
        Mode::Major => preset.major,
        Mode::Minor => preset.minor,
    };
    let progression = rng
        .pick(progressions)
        .map_or_else(|| vec![1, 4, 5, 1], |p| p.to_vec());
    let beats_per_bar = facts.beats_per_bar.unwrap_or(preset.beats_per_bar);

    let mut melody = Some(instrument(preset.melody));
    let mut harmony = Some(instrument(preset.harmony));
    let mut bass = Some(instrument(preset.bass));
    let mut pad = preset.pad.map(instrument);
    if facts.solo && facts.instruments.len() == 1 {
        let only = facts.instruments[0];
        let i = Instrument {
            program: only.program,
            name: only.name,
        };
        if only.roles.contains(&Role::Bass) {
            bass = Some(i);
        } else {
            (melody, harmony, bass, pad) = (Some(i), Some(i), Some(i), None);
        }
    } else {
        // Named instruments take the first role on their list that no other named instrument
        // has taken yet; roles nobody named keep the style's instrument.
        let mut taken: Vec<Role> = Vec::new();
        for n in &facts.instruments {
            let Some(&role) = n.roles.iter().find(|r| !taken.contains(r)) else {
                continue;
            };
            taken.push(role);
            let i = Some(Instrument {
                program: n.program,
                name: n.name,
            });
            match role {
                Role::Melody => melody = i,
                Role::Harmony => harmony = i,
                Role::Bass => bass = i,
                Role::Pad => pad = i,
            }
        }
    }
    let drums = match facts.drums {
        Some(false) => None,
        Some(true) => preset.drums.or(Some(if beats_per_bar == 3 {
            DrumPattern::Waltz
        } else {
            DrumPattern::Backbeat
        })),
        None if facts.solo => None,
        None => preset.drums,
    };
    // Four-beat patterns in other metres would fight the bar; 3/4 gets the waltz pattern.
    let drums = drums.map(|d| {
        if beats_per_bar == 3 && d != DrumPattern::JazzRide {
            DrumPattern::Waltz
        } else {
            d
        }
    });
    let comping = if beats_per_bar == 3 && preset.comping == Comping::Charleston {
        Comping::OomPahPah
    } else {
        preset.comping
    };
    Arrangement {
        tempo_bpm: tempo,
        key,
        beats_per_bar,
        style: preset.style,
        progression,
        sevenths: preset.sevenths,
        melody: melody.unwrap_or_else(|| instrument(preset.melody)),
        harmony: harmony.unwrap_or_else(|| instrument(preset.harmony)),
        bass: bass.unwrap_or_else(|| instrument(preset.bass)),
        pad,
        drums,
        comping,
        bass_line: preset.bass_line,
        energy,
        reverb: preset.reverb,
        seed,
    }
}

fn instrument((program, name): (u8, &'static str)) -> Instrument {
    Instrument { program, name }
}

fn fallback(seed: u64) -> Arrangement {
    Arrangement {
        tempo_bpm: 100.0,
        key: Key::new(0, Mode::Major),
        beats_per_bar: 4,
        style: Style::Pop,
        progression: vec![1, 5, 6, 4],
        sevenths: false,
        melody: instrument((0, "piano")),
        harmony: instrument((25, "acoustic guitar")),
        bass: instrument((33, "electric bass")),
        pad: None,
        drums: Some(DrumPattern::Backbeat),
        comping: Comping::Block,
        bass_line: BassLine::Roots,
        energy: 0.6,
        reverb: 45,
        seed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_facts_win() {
        let a = arrange(
            "Lo-fi hip hop beat with mellow piano, 80 bpm, in A minor",
            1,
        );
        assert_eq!(a.style, Style::LoFi);
        assert_eq!(a.tempo_bpm, 80.0);
        assert_eq!(a.key, Key::new(9, Mode::Minor));
        assert_eq!(a.harmony.program, 0);
        assert_eq!(a.drums, Some(DrumPattern::BoomBap));

        let a = arrange("a sad waltz for cello and harp", 7);
        assert_eq!(a.beats_per_bar, 3);
        assert_eq!(a.key.mode, Mode::Minor);
        assert_eq!(a.melody.program, 42);
        assert_eq!(a.harmony.program, 46);
        assert!(a.drums.is_none());

        let a = arrange("techno at 128 BPM", 3);
        assert_eq!((a.style, a.tempo_bpm), (Style::Electronic, 128.0));
        assert_eq!(a.drums, Some(DrumPattern::FourOnTheFloor));

        let a = arrange("solo piano in D major", 3);
        assert_eq!(
            (a.melody.program, a.harmony.program, a.bass.program),
            (0, 0, 0)
        );
        assert!(a.drums.is_none() && a.pad.is_none());
        assert_eq!(a.key, Key::new(2, Mode::Major));

        assert!(arrange("ambient pads with drums", 1).drums.is_some());
        assert!(arrange("rock, no drums", 1).drums.is_none());
    }

    #[test]
    fn defaults_are_sensible_and_seeded() {
        let a = arrange("something nice", 5);
        assert_eq!(a.style, Style::Pop);
        assert!((92.0..=120.0).contains(&a.tempo_bpm));
        assert_eq!(a, arrange("something nice", 5));
        assert_eq!(a, arrange("SOMETHING  Nice!", 5));
        let keys: std::collections::HashSet<u8> = (0..40)
            .map(|s| arrange("something nice", s).key.tonic)
            .collect();
        assert!(keys.len() > 5, "the seed picks the key: {keys:?}");
        assert!(arrange("calm jazz", 1).tempo_bpm < 150.0 * 0.9 + 1.0);
        assert_eq!(arrange("happy folk tune", 2).key.mode, Mode::Major);
        assert_eq!(arrange("dark cinematic score", 2).key.mode, Mode::Minor);
        assert!(!arrange("x", 1).describe().is_empty());
    }
}

//! Reading a prompt: the explicit facts it states (tempo, key, mode, meter, instruments, drums)
//! and the style and mood words it uses. Case-insensitive, any Unicode, never panics; what it
//! cannot read it leaves to the style and the seed.

use crate::theory::Mode;

/// Tempi outside this range are clamped into it (it is the range the tempo estimator measures).
pub(crate) const MIN_TEMPO: f32 = 40.0;
pub(crate) const MAX_TEMPO: f32 = 240.0;

/// What a prompt says explicitly.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Facts {
    pub(crate) tempo: Option<f32>,
    pub(crate) tonic: Option<u8>,
    pub(crate) mode: Option<Mode>,
    pub(crate) beats_per_bar: Option<u8>,
    /// Named instruments in order of mention: (General MIDI program, preferred roles).
    pub(crate) instruments: Vec<Named>,
    /// `Some(true)` when drums or percussion are asked for, `Some(false)` for "no drums".
    pub(crate) drums: Option<bool>,
    /// [`drums`](Self::drums) from explicit words only ("drums", "percussion"), not from
    /// "beat" or "groove".
    pub(crate) drums_stated: Option<bool>,
    /// "solo": the one named instrument plays every pitched part.
    pub(crate) solo: bool,
    /// The normalised text (" word word "), for style and mood lookups.
    pub(crate) text: String,
}

/// A named instrument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Named {
    pub(crate) program: u8,
    pub(crate) name: &'static str,
    pub(crate) roles: &'static [Role],
}

/// The parts of an arrangement an instrument can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Melody,
    Harmony,
    Bass,
    Pad,
}

use Role::{Bass, Harmony, Melody, Pad};

const LEAD: &[Role] = &[Melody, Harmony, Pad];
const KEYS: &[Role] = &[Harmony, Melody, Pad];
const SUSTAIN: &[Role] = &[Pad, Harmony, Melody];
const LOW: &[Role] = &[Bass];
const CELLO: &[Role] = &[Melody, Bass, Pad];

/// Instrument words and their General MIDI programs (0-based). Longer phrases come first so
/// "electric guitar" is not also read as "guitar".
const INSTRUMENTS: &[(&str, u8, &[Role])] = &[
    ("electric piano", 4, KEYS),
    ("rhodes", 4, KEYS),
    ("grand piano", 0, KEYS),
    ("church organ", 19, SUSTAIN),
    ("pipe organ", 19, SUSTAIN),
    ("acoustic guitar", 25, KEYS),
    ("nylon guitar", 24, KEYS),
    ("classical guitar", 24, KEYS),
    ("electric guitar", 27, KEYS),
    ("jazz guitar", 26, KEYS),
    ("distorted guitar", 30, LEAD),
    ("guitar solo", 29, LEAD),
    ("synth bass", 38, LOW),
    ("bass guitar", 33, LOW),
    ("electric bass", 33, LOW),
    ("double bass", 32, LOW),
    ("upright bass", 32, LOW),
    ("acoustic bass", 32, LOW),
    ("string section", 48, SUSTAIN),
    ("french horn", 60, LEAD),
    ("tenor sax", 66, LEAD),
    ("alto sax", 65, LEAD),
    ("steel drums", 114, LEAD),
    ("music box", 10, LEAD),
    ("synth lead", 81, LEAD),
    ("pan flute", 75, LEAD),
    ("synth pad", 89, SUSTAIN),
    ("piano", 0, KEYS),
    ("keys", 4, KEYS),
    ("organ", 16, KEYS),
    ("guitar", 25, KEYS),
    ("ukulele", 24, KEYS),
    ("banjo", 105, KEYS),
    ("mandolin", 105, LEAD),
    ("sitar", 104, LEAD),
    ("harp", 46, KEYS),
    ("accordion", 21, KEYS),
    ("harpsichord", 6, KEYS),
    ("marimba", 12, KEYS),
    ("xylophone", 13, LEAD),
    ("vibraphone", 11, LEAD),
    ("vibes", 11, LEAD),
    ("celesta", 8, LEAD),
    ("glockenspiel", 9, LEAD),
    ("bells", 14, LEAD),
    ("bass", 33, LOW),
    ("strings", 48, SUSTAIN),
    ("violin", 40, LEAD),
    ("fiddle", 110, LEAD),
    ("viola", 41, LEAD),
    ("cello", 42, CELLO),
    ("contrabass", 43, LOW),
    ("orchestra", 48, SUSTAIN),
    ("choir", 52, SUSTAIN),
    ("voices", 53, SUSTAIN),
    ("trumpet", 56, LEAD),
    ("trombone", 57, LEAD),
    ("tuba", 58, LOW),
    ("horn", 60, LEAD),
    ("horns", 61, SUSTAIN),
    ("brass", 61, SUSTAIN),
    ("saxophone", 65, LEAD),
    ("sax", 65, LEAD),
    ("clarinet", 71, LEAD),
    ("oboe", 68, LEAD),
    ("bassoon", 70, LEAD),
    ("flute", 73, LEAD),
    ("piccolo", 72, LEAD),
    ("recorder", 74, LEAD),
    ("whistle", 78, LEAD),
    ("ocarina", 79, LEAD),
    ("harmonica", 22, LEAD),
    ("synth", 81, LEAD),
    ("synthesizer", 81, LEAD),
    ("lead", 80, LEAD),
    ("pad", 89, SUSTAIN),
    ("pads", 89, SUSTAIN),
];

/// Words that name drums outright.
const DRUM_WORDS: &[&str] = &["drums", "drum", "percussion", "drumkit"];
/// Words that suggest a beat: the engine adds drums for them, a judge does not require any.
const BEAT_WORDS: &[&str] = &["beat", "beats", "groove"];
const NO_DRUMS: &[&str] = &[
    "no drums",
    "without drums",
    "no percussion",
    "without percussion",
    "drumless",
    "no beat",
];

/// Breaks `prompt` into lower-case tokens: runs of letters, digits and the characters that can
/// belong to a musical word ("#", "♯", "♭", "/", "."); everything else separates. Hyphens split
/// ("lo-fi" is "lo fi"). Trailing dots are dropped ("128." is "128").
pub(crate) fn tokens(prompt: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in prompt.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() || matches!(c, '#' | '♯' | '♭' | '/' | '.') {
            cur.push(c);
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    for t in &mut out {
        while t.ends_with('.') {
            t.pop();
        }
    }
    out.retain(|t| !t.is_empty());
    out
}

fn number(token: &str) -> Option<f32> {
    // Digits and at most one dot only: "1e3", "inf" and "nan" are words, not tempi.
    if token.is_empty() || !token.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    token.parse::<f32>().ok().filter(|v| v.is_finite())
}

/// A tempo stated as "90 bpm", "90bpm", "bpm 90", "tempo 90", "tempo of 90", "at 90 beats per
/// minute"; the first one wins.
fn tempo(tokens: &[String]) -> Option<f32> {
    let next_number = |from: usize| {
        tokens
            .iter()
            .skip(from)
            .take(3)
            .find(|t| {
                !matches!(
                    t.as_str(),
                    "of" | "at" | "is" | "around" | "about" | "approximately" | "~"
                )
            })
            .and_then(|t| number(t))
    };
    for (i, t) in tokens.iter().enumerate() {
        let v = if let Some(prefix) = t.strip_suffix("bpm") {
            if prefix.is_empty() {
                next_number(i + 1)
            } else {
                number(prefix)
            }
        } else if t == "tempo" {
            next_number(i + 1)
        } else if let Some(v) = number(t) {
            match tokens.get(i + 1).map(String::as_str) {
                Some("bpm" | "bpms") => Some(v),
                Some("beats") if tokens.get(i + 2).is_some_and(|n| n == "per") => Some(v),
                _ => None,
            }
        } else {
            None
        };
        if let Some(v) = v.filter(|v| *v > 0.0) {
            return Some(v.clamp(MIN_TEMPO, MAX_TEMPO));
        }
    }
    None
}

/// "c", "c#", "c♯", "db", "d♭" → pitch class.
fn note_name(token: &str) -> Option<u8> {
    let mut chars = token.chars();
    let letter = chars.next()?;
    let base: i32 = match letter {
        'c' => 0,
        'd' => 2,
        'e' => 4,
        'f' => 5,
        'g' => 7,
        'a' => 9,
        'b' => 11,
        _ => return None,
    };
    let rest: String = chars.collect();
    let shift = match rest.as_str() {
        "" => 0,
        "#" | "♯" => 1,
        "b" | "♭" => -1,
        _ => return None,
    };
    Some((base + shift).rem_euclid(12) as u8)
}

fn mode_word(token: &str) -> Option<Mode> {
    match token {
        "major" | "maj" | "dur" => Some(Mode::Major),
        "minor" | "min" | "moll" => Some(Mode::Minor),
        _ => None,
    }
}

/// A key stated as "A minor", "in f# minor", "Bb major", "E flat minor", "C sharp major",
/// "F#m", "key of D" (tonic only). Returns the tonic, the mode if stated, and whether a mode
/// word was consumed by it.
fn key(tokens: &[String]) -> (Option<u8>, Option<Mode>) {
    for i in 0..tokens.len() {
        let t = tokens[i].as_str();
        // Compact minor chords written as keys: "f#m", "bbm" (not "am", "em": English words).
        if t.len() > 2
            && let Some(stem) = t.strip_suffix('m')
            && stem.chars().count() == 2
            && let Some(pc) = note_name(stem)
        {
            return (Some(pc), Some(Mode::Minor));
        }
        let Some(mut pc) = note_name(t) else { continue };
        let mut j = i + 1;
        match tokens.get(j).map(String::as_str) {
            Some("sharp" | "#" | "♯") => {
                pc = (pc + 1) % 12;
                j += 1;
            }
            Some("flat" | "♭") => {
                pc = (pc + 11) % 12;
                j += 1;
            }
            _ => {}
        }
        if let Some(mode) = tokens.get(j).and_then(|m| mode_word(m)) {
            return (Some(pc), Some(mode));
        }
        let key_of = i >= 2 && tokens[i - 2] == "key" && tokens[i - 1] == "of";
        if key_of {
            return (Some(pc), None);
        }
    }
    (None, None)
}

fn meter(tokens: &[String], text: &str) -> Option<u8> {
    for t in tokens {
        if let Some((num, den)) = t.split_once('/') {
            let (Ok(n), Ok(d)) = (num.parse::<u8>(), den.parse::<u8>()) else {
                continue;
            };
            match (n, d) {
                (2..=7, 4) => return Some(n),
                // Compound duple and triple metres are felt in their dotted-quarter beats; the
                // engine writes them as simple metres with that many beats.
                (6, 8) => return Some(2),
                (9, 8) => return Some(3),
                (12, 8) => return Some(4),
                (3, 8) => return Some(3),
                _ => {}
            }
        }
    }
    if text.contains(" waltz ") || text.contains(" triple meter ") || text.contains(" triple time ")
    {
        return Some(3);
    }
    None
}

/// What a prompt states that a listener, or a judge's measurements, can check: the engine
/// follows these, and a validator judges a clip against them. `None` where the prompt is silent.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PromptFacts {
    /// Beats per minute, clamped to 40–240.
    pub tempo_bpm: Option<f32>,
    /// Pitch class of the tonic, 0 (C) to 11 (B).
    pub tonic: Option<u8>,
    /// Major or minor.
    pub mode: Option<Mode>,
    /// Beats per bar (6/8 counts as 2, 9/8 as 3, 12/8 as 4; "waltz" as 3).
    pub beats_per_bar: Option<u8>,
    /// `Some(true)` when the prompt names drums or percussion ("with drums", "brushed
    /// drums"), `Some(false)` when it rules them out ("no drums", "without percussion").
    /// Words that only suggest a beat ("groove", "beat") leave it `None`: the engine plays
    /// drums for them, but a judge checks only what is stated outright.
    pub drums: Option<bool>,
}

/// The checkable facts `prompt` states, read exactly as the engine reads them.
pub fn read_prompt(prompt: &str) -> PromptFacts {
    let facts = read(prompt);
    PromptFacts {
        tempo_bpm: facts.tempo,
        tonic: facts.tonic,
        mode: facts.mode,
        beats_per_bar: facts.beats_per_bar,
        drums: facts.drums_stated,
    }
}

/// Reads the explicit facts of `prompt`.
pub(crate) fn read(prompt: &str) -> Facts {
    let tokens = tokens(prompt);
    let mut text = String::with_capacity(prompt.len() + 2);
    text.push(' ');
    for t in &tokens {
        text.push_str(t);
        text.push(' ');
    }
    let (tonic, mut mode) = key(&tokens);
    if mode.is_none() {
        // A mode without a tonic: "a minor key", "in minor", "major chords".
        if tokens.iter().any(|t| t == "minor") {
            mode = Some(Mode::Minor);
        } else if tokens.iter().any(|t| t == "major") {
            mode = Some(Mode::Major);
        }
    }
    let mut instruments = Vec::new();
    let mut rest = text.clone();
    for &(word, program, roles) in INSTRUMENTS {
        let needle = format!(" {word} ");
        while let Some(at) = rest.find(&needle) {
            if !instruments
                .iter()
                .any(|n: &(usize, Named)| n.1.program == program && n.1.name == word)
            {
                instruments.push((
                    at,
                    Named {
                        program,
                        name: word,
                        roles,
                    },
                ));
            }
            // Blank it out (keeping the spaces) so shorter words inside it do not match again.
            let blank = " ".repeat(needle.len());
            rest.replace_range(at..at + needle.len(), &blank);
        }
    }
    instruments.sort_by_key(|(at, _)| *at);
    let says = |words: &[&str]| words.iter().any(|w| text.contains(&format!(" {w} ")));
    let drums_stated = if says(NO_DRUMS) {
        Some(false)
    } else if says(DRUM_WORDS) {
        Some(true)
    } else {
        None
    };
    let drums = drums_stated.or_else(|| says(BEAT_WORDS).then_some(true));
    Facts {
        tempo: tempo(&tokens),
        tonic,
        mode,
        beats_per_bar: meter(&tokens, &text),
        instruments: instruments.into_iter().map(|(_, n)| n).collect(),
        drums,
        drums_stated,
        solo: tokens
            .iter()
            .any(|t| t == "solo" || t == "only" || t == "alone"),
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tempo_phrasings() {
        for (p, want) in [
            ("lo-fi beat, 90 bpm", Some(90.0)),
            ("at 128 BPM please", Some(128.0)),
            ("tempo 70", Some(70.0)),
            ("tempo of 72.5", Some(72.5)),
            ("100bpm house", Some(100.0)),
            ("BPM: 140", Some(140.0)),
            ("60 beats per minute", Some(60.0)),
            ("500 bpm", Some(MAX_TEMPO)),
            ("3 bpm", Some(MIN_TEMPO)),
            ("0 bpm", None),
            ("nan bpm", None),
            ("1e9 bpm", None),
            ("2 guitars", None),
        ] {
            assert_eq!(read(p).tempo, want, "{p}");
        }
    }

    #[test]
    fn key_phrasings() {
        for (p, tonic, mode) in [
            ("in A minor", Some(9), Some(Mode::Minor)),
            ("D major ballad", Some(2), Some(Mode::Major)),
            ("something in F# minor", Some(6), Some(Mode::Minor)),
            ("Bb major", Some(10), Some(Mode::Major)),
            ("E flat minor", Some(3), Some(Mode::Minor)),
            ("c sharp major", Some(1), Some(Mode::Major)),
            ("F♯ MINOR", Some(6), Some(Mode::Minor)),
            ("B♭ major", Some(10), Some(Mode::Major)),
            ("riff in c#m", Some(1), Some(Mode::Minor)),
            ("in the key of G", Some(7), None),
            ("a minor key", Some(9), Some(Mode::Minor)),
            ("sad song in minor", None, Some(Mode::Minor)),
            ("a song", None, None),
        ] {
            let f = read(p);
            assert_eq!((f.tonic, f.mode), (tonic, mode), "{p}");
        }
    }

    #[test]
    fn meters_instruments_drums() {
        assert_eq!(read("a waltz").beats_per_bar, Some(3));
        assert_eq!(read("in 3/4 time").beats_per_bar, Some(3));
        assert_eq!(read("6/8 jig").beats_per_bar, Some(2));
        assert_eq!(read("4/4").beats_per_bar, Some(4));
        assert_eq!(read("1/0 99/4").beats_per_bar, None);
        let f = read("Electric guitar and bass with a violin, no drums");
        let programs: Vec<u8> = f.instruments.iter().map(|n| n.program).collect();
        assert_eq!(programs, vec![27, 33, 40]);
        assert_eq!(f.drums, Some(false));
        assert_eq!(read("piano with drums").drums, Some(true));
        // A beat word makes the engine play drums; only named drums are a checkable fact.
        assert_eq!(read("a funk groove").drums, Some(true));
        assert_eq!(read_prompt("a funk groove").drums, None);
        assert_eq!(read_prompt("a funk groove, no drums").drums, Some(false));
        assert_eq!(read_prompt("jazz with brushed drums").drums, Some(true));
        assert_eq!(read_prompt("a beat with hand percussion").drums, Some(true));
        assert_eq!(read_prompt("calm solo piano").drums, None);
        assert!(read("solo piano").solo);
        assert_eq!(read("lo-fi").text, " lo fi ");
    }
}

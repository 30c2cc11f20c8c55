//! Music prompts whose attributes a judge can check: every generated prompt states a tempo, a
//! key and mode (and sometimes a meter, or drums asked for or ruled out) in natural phrasing,
//! with a style, a mood and instruments, e.g. "An upbeat funk groove in E minor at 104 BPM with
//! slap bass and brass".
//! What a prompt states is read back with [`read_prompt`], the engine's own reader, so a
//! prompt from a file is judged on what its text says, exactly as a generated one.

use audiosubnet_music::{PromptFacts, read_prompt};
use rand::Rng;

/// A music request: the text sent, what it states, and the length asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct MusicPrompt {
    /// The prompt sent to miners.
    pub text: String,
    /// What the text states (tempo, key, mode, meter, drums), as the judge will check it.
    pub facts: PromptFacts,
    /// Seconds of music asked for.
    pub seconds: f64,
}

impl MusicPrompt {
    /// A prompt from any text (a file, an operator): its facts are whatever the text states.
    pub fn from_text(text: impl Into<String>, seconds: f64) -> Self {
        let text = text.into();
        MusicPrompt {
            facts: read_prompt(&text),
            text,
            seconds,
        }
    }
}

/// A style: its name, tempo range, the instruments that suit it, and whether "no drums" is a
/// natural request for it.
type Style = (&'static str, (u16, u16), &'static [&'static str], bool);

/// Styles with clear beats (the tempo must be measurable).
const STYLES: &[Style] = &[
    (
        "funk groove",
        (96, 112),
        &["slap bass", "brass", "electric guitar", "organ"],
        false,
    ),
    (
        "jazz trio piece",
        (100, 140),
        &["piano", "upright bass", "saxophone", "trumpet"],
        true,
    ),
    (
        "lo-fi hip hop beat",
        (72, 90),
        &["electric piano", "bass", "guitar", "vibraphone"],
        false,
    ),
    (
        "rock song",
        (110, 140),
        &["electric guitar", "bass", "organ", "piano"],
        false,
    ),
    (
        "techno track",
        (122, 135),
        &["synth", "synth bass", "pad"],
        false,
    ),
    (
        "folk tune",
        (90, 120),
        &["acoustic guitar", "violin", "flute", "accordion"],
        true,
    ),
    (
        "cinematic theme",
        (80, 110),
        &["strings", "french horn", "piano", "choir"],
        true,
    ),
    (
        "pop song",
        (96, 124),
        &["piano", "guitar", "bass", "strings"],
        true,
    ),
    (
        "house track",
        (118, 128),
        &["piano", "synth bass", "pad"],
        false,
    ),
];
/// Ways a prompt asks for drums.
const DRUMS_ON: &[&str] = &[
    ", with drums",
    ", with a full drum kit",
    ", drums and percussion",
];
/// Ways a prompt rules drums out (only where the style allows it).
const DRUMS_OFF: &[&str] = &[", no drums", ", without drums", ", without percussion"];
const MOODS: &[&str] = &[
    "upbeat",
    "melancholic",
    "calm",
    "energetic",
    "dark",
    "happy",
    "dreamy",
    "driving",
];
/// Tonic spellings by pitch class: more than one where musicians write both.
const TONICS: &[&[&str]] = &[
    &["C"],
    &["C#", "C sharp", "Db"],
    &["D"],
    &["Eb", "E flat"],
    &["E"],
    &["F"],
    &["F#", "F sharp"],
    &["G"],
    &["Ab", "A flat"],
    &["A"],
    &["Bb", "B flat"],
    &["B"],
];

/// Endless varied music prompts (see the module docs).
#[derive(Debug, Default, Clone, Copy)]
pub struct GeneratedMusicPrompts;

impl crate::prompts::PromptSource for GeneratedMusicPrompts {
    fn next_prompt(&mut self) -> String {
        Self::render(&mut rand::thread_rng())
    }
}

impl GeneratedMusicPrompts {
    /// The next prompt, `seconds` long.
    pub fn next_prompt(&mut self, seconds: f64) -> MusicPrompt {
        MusicPrompt::from_text(Self::render(&mut rand::thread_rng()), seconds)
    }

    /// One prompt's text.
    pub fn render(rng: &mut impl Rng) -> String {
        let (style, (lo, hi), instruments, drumless) = STYLES[rng.gen_range(0..STYLES.len())];
        let mood = MOODS[rng.gen_range(0..MOODS.len())];
        let bpm = rng.gen_range(lo..=hi);
        let pc = rng.gen_range(0..12);
        let tonic = TONICS[pc][rng.gen_range(0..TONICS[pc].len())];
        let mode = if rng.gen_bool(0.5) { "major" } else { "minor" };
        let key = format!("{tonic} {mode}");
        let first = instruments[rng.gen_range(0..instruments.len())];
        let mut second = instruments[rng.gen_range(0..instruments.len())];
        while second == first {
            second = instruments[rng.gen_range(0..instruments.len())];
        }
        let article = if mood.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "An"
        } else {
            "A"
        };
        let meter = match rng.gen_range(0..6) {
            0 => ", in 3/4 time",
            1 => ", in 4/4",
            _ => "",
        };
        let drums = match rng.gen_range(0..6) {
            0 => DRUMS_ON[rng.gen_range(0..DRUMS_ON.len())],
            1 if drumless => DRUMS_OFF[rng.gen_range(0..DRUMS_OFF.len())],
            _ => "",
        };
        match rng.gen_range(0..4) {
            0 => format!(
                "{article} {mood} {style} in {key} at {bpm} BPM with {first} and {second}{drums}{meter}"
            ),
            1 => format!(
                "{} {style}, {bpm} bpm, {key}, featuring {first}{drums}{meter}",
                capitalise(mood)
            ),
            2 => format!(
                "{article} {mood} {style} with {first} and {second}, in {key}, around {bpm} beats per minute{drums}{meter}"
            ),
            _ => format!("{key} {style} at a tempo of {bpm}: {mood}, with {first}{drums}{meter}"),
        }
    }
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The tonic's pitch class and the mode a generated prompt meant, for tests.
#[cfg(test)]
fn intended(text: &str) -> Option<(u8, audiosubnet_music::Mode)> {
    use audiosubnet_music::Mode;
    for (pc, spellings) in TONICS.iter().enumerate() {
        for spelling in spellings.iter() {
            for (mode, word) in [(Mode::Major, "major"), (Mode::Minor, "minor")] {
                let phrase = format!("{spelling} {word}");
                if text.contains(&format!(" {phrase}")) || text.starts_with(&phrase) {
                    return Some((pc as u8, mode));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use audiosubnet_music::Mode;
    use rand::SeedableRng;

    #[test]
    fn every_generated_prompt_states_what_the_judge_reads() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut asked = [0_usize; 3];
        for _ in 0..2_000 {
            let text = GeneratedMusicPrompts::render(&mut rng);
            let facts = read_prompt(&text);
            let tempo = facts
                .tempo_bpm
                .unwrap_or_else(|| panic!("no tempo read in {text:?}"));
            assert!(
                text.contains(&format!("{tempo}")),
                "{text:?} read as {tempo} BPM"
            );
            let (pc, mode) = intended(&text).unwrap_or_else(|| panic!("no key in {text:?}"));
            assert_eq!(
                (facts.tonic, facts.mode),
                (Some(pc), Some(mode)),
                "{text:?}"
            );
            let meter = if text.contains("3/4") {
                Some(3)
            } else if text.contains("4/4") {
                Some(4)
            } else {
                None
            };
            assert_eq!(facts.beats_per_bar, meter, "{text:?}");
            let drums = if DRUMS_ON.iter().any(|d| text.contains(d)) {
                Some(true)
            } else if DRUMS_OFF.iter().any(|d| text.contains(d)) {
                Some(false)
            } else {
                None
            };
            assert_eq!(facts.drums, drums, "{text:?}");
            asked[usize::from(drums == Some(true)) + 2 * usize::from(drums == Some(false))] += 1;
        }
        // Both requests occur, and most prompts leave drums to the style.
        assert!(
            asked[1] > 200 && asked[2] > 100 && asked[0] > 1_200,
            "{asked:?}"
        );
    }

    #[test]
    fn prompts_vary_and_read_as_sent() {
        let mut generator = GeneratedMusicPrompts;
        let prompts: std::collections::HashSet<String> =
            (0..200).map(|_| generator.next_prompt(15.0).text).collect();
        assert!(
            prompts.len() > 190,
            "only {} distinct prompts of 200",
            prompts.len()
        );
        let file = MusicPrompt::from_text("a slow blues in G major, 70 bpm", 10.0);
        assert_eq!(file.facts.tempo_bpm, Some(70.0));
        assert_eq!(
            (file.facts.tonic, file.facts.mode),
            (Some(7), Some(Mode::Major))
        );
        let silent = MusicPrompt::from_text("something nice", 10.0);
        assert_eq!(silent.facts, PromptFacts::default());
    }
}

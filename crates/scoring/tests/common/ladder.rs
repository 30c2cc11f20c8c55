//! The quality ladder shared by the ladder test (`tests/ladder.rs`) and benchmark
//! (`benches/ladder.rs`): fixed prompts and the engines in the order listeners rank them.

use audiosubnet_tts::{EngineOptions, Speech, load_engine};

/// Forty prompts: plain sentences, numbers, money, dates and times, names, questions and long
/// sentences. The first [`CI_PROMPTS`] cover every kind and are what the test uses.
pub(crate) const PROMPTS: [&str; 40] = [
    "The quick brown fox jumps over the lazy dog.",
    "Our flight leaves at 7:45 on March 3rd, 2027, from gate 12.",
    "Did Margaret and Siobhan really drive from Edinburgh to Marseille in one day?",
    "The invoice came to $1,249.99, including a 15% service charge.",
    "Although the committee had reviewed every proposal twice, it still could not agree on which of the three designs would survive a winter on the northern coast.",
    "How many kilometres is it from Kyoto to Osaka by the old road?",
    "Doctor Nguyen will see you at half past four on Thursday afternoon.",
    "Please read the number 4,096 slowly, then 65,536, and finally 1,000,000.",
    "Why does the river freeze at the edges before it freezes in the middle?",
    "Professor Okonkwo and Mr. Van der Berg published their findings in the spring of 1998.",
    "She whispered that the treasure was buried exactly 27 paces north of the old oak.",
    "When the orchestra finally began to play, the audience fell silent, and even the children in the back rows stopped fidgeting and listened.",
    "Is it true that Wednesday's meeting moved to room 302?",
    "The recipe needs 2 cups of flour, 3 eggs and a pinch of salt.",
    // The benchmark's remaining prompts.
    "A gentle breeze carried the scent of rain across the quiet valley.",
    "Turn left at the second intersection and continue for two miles.",
    "Can you tell me where the nearest pharmacy is?",
    "The population of the city grew from 850,000 to 1.2 million in twenty years.",
    "Giuseppe ordered a cappuccino and a croissant at the café on Rue Cler.",
    "Scientists discovered a new species of frog in the rainforest of Borneo.",
    "The software update, version 14.2, fixes 31 bugs and improves battery life.",
    "Would you rather visit Reykjavik in January or Lisbon in July?",
    "Every evening the old lighthouse keeper climbed the spiral staircase, lit the great lamp, and wrote a single line in his weathered logbook.",
    "The temperature dropped to minus 12 degrees overnight.",
    "Thank you for calling; a representative will be with you shortly.",
    "Aunt Beatrice mailed the package to 221 Baker Street on the 5th of November.",
    "What time does the last train to Philadelphia depart?",
    "Fresh vegetables from the local market make the best soup.",
    "The marathon record was broken by 43 seconds last Sunday.",
    "Although it was raining heavily, the volunteers stayed until every sandbag had been placed along the riverbank and the water began to recede.",
    "Have you ever seen the northern lights from a boat?",
    "Chen Wei and Priya Raman won the chess tournament in Bangalore.",
    "The library will be closed for renovations until the end of the month.",
    "Our quarterly revenue grew by 12 percent compared with last year.",
    "Where did Captain Ahab finally find the white whale?",
    "Children laughed as they chased each other around the playground.",
    "The bridge is 1,280 metres long and was opened in 1937.",
    "If the package does not arrive by Friday, please call us at extension 418.",
    "Mount Kilimanjaro rises almost six thousand metres above the plains of Tanzania.",
    "Nobody expected the quiet librarian to win the national poetry prize, but her reading left the whole hall in tears.",
];

/// How many prompts the CI test uses (the first ones).
#[allow(dead_code)] // the benchmark uses them all
pub(crate) const CI_PROMPTS: usize = 14;

/// One rung of the ladder: an engine and, for Kokoro, a voice.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rung {
    /// Label in tables.
    pub(crate) label: &'static str,
    /// Engine name for `load_engine`.
    pub(crate) engine: &'static str,
    /// `--model.voice`.
    pub(crate) voice: Option<&'static str>,
}

/// Best first: Kokoro (a US and a UK voice), Piper, Festival HTS, flite, espeak-ng.
pub(crate) const LADDER: [Rung; 6] = [
    Rung {
        label: "kokoro af_heart",
        engine: "kokoro",
        voice: Some("af_heart"),
    },
    Rung {
        label: "kokoro bm_george",
        engine: "kokoro",
        voice: Some("bm_george"),
    },
    Rung {
        label: "piper",
        engine: "piper",
        voice: None,
    },
    Rung {
        label: "festival",
        engine: "festival",
        voice: None,
    },
    Rung {
        label: "flite",
        engine: "flite",
        voice: None,
    },
    Rung {
        label: "espeak-ng",
        engine: "espeak",
        voice: None,
    },
];

/// Speaks every prompt with the rung's engine (loaded once, default options otherwise).
pub(crate) fn speak(rung: &Rung, prompts: &[&str]) -> Vec<Speech> {
    let opts = EngineOptions {
        voice: rung.voice.map(str::to_owned),
        intra_threads: 1,
        ..EngineOptions::default()
    };
    let mut engine =
        load_engine(rung.engine, &opts).unwrap_or_else(|e| panic!("{}: {e}", rung.label));
    prompts
        .iter()
        .map(|p| {
            engine
                .synthesize(p)
                .unwrap_or_else(|e| panic!("{} on {p:?}: {e}", rung.label))
        })
        .collect()
}

//! The miner's limits on prompts, on top of the shared spoken-text normalisation
//! ([`audiosubnet_text`], re-exported here).

pub use audiosubnet_text::*;

use crate::TtsError;

/// Default maximum prompt length in characters.
pub const DEFAULT_MAX_CHARS: usize = 1000;

/// Checks the limits, normalizes and splits `text` into speakable sentences.
///
/// The limit applies twice: to the prompt as typed (so normalization never runs on a huge
/// input) and to its spoken form, since one character can expand to many words (`½` is " and a
/// half ", a CJK character its romanization) and synthesis time follows the spoken length.
///
/// Errors: [`TtsError::EmptyText`] for blank input or input with nothing pronounceable,
/// [`TtsError::TextTooLong`] above `max_chars` characters as typed or as spoken.
pub fn prepare(text: &str, max_chars: usize) -> Result<Vec<String>, TtsError> {
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(TtsError::TextTooLong {
            chars,
            max: max_chars,
        });
    }
    if text.trim().is_empty() {
        return Err(TtsError::EmptyText);
    }
    let spoken = normalize(text);
    // Normalized text is ASCII: bytes are characters. Runs of spaces do not count.
    let spoken_chars = spoken
        .split_whitespace()
        .map(|w| w.len() + 1)
        .sum::<usize>();
    if spoken_chars.saturating_sub(1) > max_chars {
        return Err(TtsError::TextTooLong {
            chars: spoken_chars.saturating_sub(1),
            max: max_chars,
        });
    }
    let sentences = split_sentences(&spoken);
    if sentences.is_empty() {
        return Err(TtsError::EmptyText);
    }
    Ok(sentences)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert!(matches!(prepare("", 1000), Err(TtsError::EmptyText)));
        assert!(matches!(prepare("   \n\t", 1000), Err(TtsError::EmptyText)));
        assert!(matches!(
            prepare("🦀 ... ", 1000),
            Err(TtsError::EmptyText) | Ok(_)
        ));
        assert!(matches!(prepare("?!", 1000), Err(TtsError::EmptyText)));
        let long = "a".repeat(1001);
        assert!(matches!(
            prepare(&long, 1000),
            Err(TtsError::TextTooLong {
                chars: 1001,
                max: 1000
            })
        ));
        // Characters, not bytes.
        assert!(prepare(&"é".repeat(1000), 1000).is_ok());
        assert_eq!(prepare("Hi. Bye.", 1000).unwrap(), vec!["Hi.", "Bye."]);
    }

    #[test]
    fn the_limit_applies_to_the_spoken_form() {
        // Each of these is under the limit as typed and many times over it as spoken.
        for (prompt, what) in [
            ("½".repeat(400), "fractions"),
            ("中".repeat(400), "CJK"),
            ("× ".repeat(300), "symbols"),
            ("1,234,567,891 ".repeat(60), "numbers"),
        ] {
            assert!(prompt.chars().count() <= 1000, "{what}");
            match prepare(&prompt, 1000) {
                Err(TtsError::TextTooLong { chars, max: 1000 }) => assert!(chars > 1000, "{what}"),
                other => panic!(
                    "{what}: {:?}",
                    other.map(|s| s.iter().map(String::len).sum::<usize>())
                ),
            }
        }
        // An ordinary prompt with numbers, near the validator's 256 characters, still passes.
        let ordinary =
            "On 12/03/2024 Dr. Smith paid $3.50 for 2 coffees at 7:30 am, 50% off. ".repeat(3);
        assert!(prepare(&ordinary, 1000).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn prepare_never_panics(s in "\\PC*") {
            let _ = prepare(&s, DEFAULT_MAX_CHARS);
        }
    }
}

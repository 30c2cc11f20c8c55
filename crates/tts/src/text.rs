//! The miner's limits on prompts, on top of the shared spoken-text normalisation
//! ([`audiosubnet_text`], re-exported here).

pub use audiosubnet_text::*;

use crate::TtsError;

/// Default maximum prompt length in characters.
pub const DEFAULT_MAX_CHARS: usize = 1000;

/// Checks the limits, normalizes and splits `text` into speakable sentences.
///
/// Errors: [`TtsError::EmptyText`] for blank input or input with nothing pronounceable,
/// [`TtsError::TextTooLong`] above `max_chars` characters.
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
    let sentences = split_sentences(&normalize(text));
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

    proptest::proptest! {
        #[test]
        fn prepare_never_panics(s in "\\PC*") {
            let _ = prepare(&s, DEFAULT_MAX_CHARS);
        }
    }
}

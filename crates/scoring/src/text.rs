//! Word error rate. Both the prompt and the transcript go through the same [`normalize_words`]
//! (the shared spoken-text normalisation of [`audiosubnet_text`], then case and punctuation
//! dropped), so case, punctuation and "3" versus "three" never count as errors (the original
//! validator compared a lower-cased hypothesis with a cased, punctuated reference and showed
//! 15–30 % WER on perfect speech).

/// Normalised words of a text: numbers, currency, dates and abbreviations spelled out as they are
/// spoken, lower case, hyphens split words, apostrophes dropped inside words ("don't" → "dont"),
/// other punctuation removed.
pub fn normalize_words(text: &str) -> Vec<String> {
    audiosubnet_text::normalize(text)
        .to_lowercase()
        .replace('\'', "")
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// [`normalize_words`] joined by single spaces.
pub fn normalize(text: &str) -> String {
    normalize_words(text).join(" ")
}

/// Word-level Levenshtein distance (substitutions, insertions, deletions all cost 1).
pub fn word_edit_distance<S: AsRef<str>>(reference: &[S], hypothesis: &[S]) -> usize {
    let n = hypothesis.len();
    let mut prev: Vec<usize> = (0..=n).collect();
    let mut cur = vec![0usize; n + 1];
    for (i, r) in reference.iter().enumerate() {
        cur[0] = i + 1;
        for (j, h) in hypothesis.iter().enumerate() {
            let sub = prev[j] + usize::from(r.as_ref() != h.as_ref());
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[n]
}

/// Word error rate of `hypothesis` against `reference`, both normalised with [`normalize_words`]:
/// edit distance divided by the reference length. 0 for two empty texts, 1 for any hypothesis
/// against an empty reference. Can exceed 1 (many insertions).
pub fn wer(reference: &str, hypothesis: &str) -> f64 {
    let r = normalize_words(reference);
    let h = normalize_words(hypothesis);
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    word_edit_distance(&r, &h) as f64 / r.len() as f64
}

/// Letters and digits of the normalised text: the length measure pacing uses (numbers count as
/// they are spoken).
pub fn spoken_chars(text: &str) -> usize {
    normalize_words(text)
        .iter()
        .map(|w| w.chars().filter(|c| c.is_alphanumeric()).count())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_punctuation_and_whitespace() {
        assert_eq!(
            normalize("  Hello,   World! It's a well-known \"test\"…  "),
            "hello world its a well known test"
        );
        assert_eq!(normalize("Rock & Roll"), "rock and roll");
        assert_eq!(normalize("e.g. U.S.A."), "for example u s a");
        assert_eq!(normalize(""), "");
        assert_eq!(normalize("?!..."), "");
    }

    #[test]
    fn spells_numbers() {
        assert_eq!(normalize("0"), "zero");
        assert_eq!(normalize("13"), "thirteen");
        assert_eq!(normalize("42"), "forty two");
        assert_eq!(normalize("100"), "one hundred");
        assert_eq!(normalize("1905"), "nineteen oh five");
        assert_eq!(normalize("$3.50"), "three dollars and fifty cents");
        assert_eq!(normalize("Dr. Chen"), "doctor chen");
        assert_eq!(
            normalize("1,234,567"),
            "one million two hundred thirty four thousand five hundred sixty seven"
        );
        assert_eq!(normalize("3.14"), "three point one four");
        assert_eq!(normalize("in 1990."), "in nineteen ninety");
        assert_eq!(normalize("the 21st"), "the twenty first");
        assert_eq!(
            normalize("2nd 3rd 4th 12th 20th"),
            "second third fourth twelfth twentieth"
        );
        assert_eq!(normalize("50%"), "fifty percent");
        assert_eq!(normalize("$20"), "twenty dollars");
        assert_eq!(normalize("007"), "seven");
        assert_eq!(normalize("mp3"), "mp three");
        assert_eq!(normalize("1, 2, 3"), "one two three");
        assert_eq!(
            normalize("99999999999999999999"),
            "nine nine nine nine nine nine nine nine nine nine nine nine nine nine nine nine nine nine nine nine"
        );
    }

    #[test]
    fn digits_and_words_compare_equal() {
        assert_eq!(wer("I have 3 cats.", "I have three cats"), 0.0);
        assert_eq!(wer("Twenty-one pilots", "21 pilots"), 0.0);
        assert_eq!(
            wer(
                "She paid $42.50.",
                "She paid forty-two dollars and fifty cents"
            ),
            0.0
        );
        assert_eq!(wer("at 6:45 am", "At 6:45 a.m."), 0.0);
    }

    #[test]
    fn word_error_rate() {
        assert_eq!(wer("the cat sat", "the cat sat"), 0.0);
        assert!((wer("the cat sat", "the bat sat") - 1.0 / 3.0).abs() < 1e-12);
        assert!((wer("the cat sat", "the cat") - 1.0 / 3.0).abs() < 1e-12);
        assert!((wer("the cat sat", "the cat sat down now") - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(wer("a b", ""), 1.0);
        assert_eq!(wer("", ""), 0.0);
        assert_eq!(wer("", "hello"), 1.0);
        assert_eq!(wer("a", "x y z"), 3.0);
        assert_eq!(word_edit_distance(&["a", "b", "c"], &["c", "b", "a"]), 2);
    }

    #[test]
    fn spoken_length() {
        assert_eq!(spoken_chars("Hi, 2 you!"), "hitwoyou".len());
    }

    proptest::proptest! {
        #[test]
        fn normalize_never_panics_and_is_idempotent(s in "\\PC{0,80}") {
            let once = normalize(&s);
            proptest::prop_assert_eq!(normalize(&once), once.clone());
            let _ = wer(&s, &once);
        }
    }
}

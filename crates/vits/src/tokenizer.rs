//! The character tokenizer of VITS / MMS-TTS checkpoints (`vocab.json` + `tokenizer_config.json`),
//! reproducing transformers' `VitsTokenizer` id for id: lowercasing when `normalize` is set,
//! dropping characters outside the vocabulary, splitting on the special tokens, and interleaving
//! the blank (id 0) when `add_blank` is set.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::{CheckpointError, VitsError};

/// `tokenizer_config.json` fields that change the ids; defaults are `VitsTokenizer.__init__`'s.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
struct TokenizerConfig {
    add_blank: bool,
    normalize: bool,
    phonemize: bool,
    is_uroman: bool,
    language: Option<String>,
    pad_token: Option<SpecialToken>,
    unk_token: Option<SpecialToken>,
    /// `{"id": {"content": ...}}`, as newer transformers save the added tokens.
    added_tokens_decoder: HashMap<String, SpecialToken>,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        Self {
            add_blank: true,
            normalize: true,
            phonemize: true,
            is_uroman: false,
            language: None,
            pad_token: Some(SpecialToken::Plain("<pad>".to_owned())),
            unk_token: Some(SpecialToken::Plain("<unk>".to_owned())),
            added_tokens_decoder: HashMap::new(),
        }
    }
}

/// A special token is saved either as its text or as a serialised `AddedToken`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum SpecialToken {
    Plain(String),
    Added { content: String },
}

impl SpecialToken {
    fn content(&self) -> &str {
        match self {
            Self::Plain(s) | Self::Added { content: s } => s,
        }
    }
}

/// The VITS character tokenizer.
#[derive(Debug, Clone)]
pub struct VitsTokenizer {
    /// Vocabulary entries in file order (transformers tries them in this order when normalising).
    entries: Vec<(String, u32)>,
    vocab: HashMap<String, u32>,
    /// Texts the base tokenizer never splits (the pad and unk tokens and any added tokens), with
    /// their ids, longest first.
    special: Vec<(String, u32)>,
    unk_id: Option<u32>,
    add_blank: bool,
    normalize: bool,
    language: Option<String>,
}

impl VitsTokenizer {
    /// Loads `vocab.json` and (if present) `tokenizer_config.json` from a checkpoint directory.
    ///
    /// Checkpoints that need a phonemizer (espeak) are refused: only character vocabularies such
    /// as MMS-TTS's are supported.
    pub fn from_dir(dir: &Path) -> Result<Self, VitsError> {
        let vocab_path = dir.join("vocab.json");
        let vocab_text = read(&vocab_path)?;
        let config_path = dir.join("tokenizer_config.json");
        let config_text = if config_path.exists() {
            Some(read(&config_path)?)
        } else {
            None
        };
        let added_path = dir.join("added_tokens.json");
        let added_text = if added_path.exists() {
            Some(read(&added_path)?)
        } else {
            None
        };
        Self::build(&vocab_text, config_text.as_deref(), added_text.as_deref()).map_err(|e| match e
        {
            VitsError::Tokenizer(m) => VitsError::Tokenizer(format!("{}: {m}", dir.display())),
            other => other,
        })
    }

    /// Builds the tokenizer from the text of `vocab.json` and of `tokenizer_config.json`.
    pub fn from_json(vocab_json: &str, config_json: Option<&str>) -> Result<Self, VitsError> {
        Self::build(vocab_json, config_json, None)
    }

    /// `added_json` is the optional `added_tokens.json` (`{"content": id}`).
    fn build(
        vocab_json: &str,
        config_json: Option<&str>,
        added_json: Option<&str>,
    ) -> Result<Self, VitsError> {
        let config: TokenizerConfig = match config_json {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| VitsError::Tokenizer(format!("tokenizer_config.json: {e}")))?,
            None => TokenizerConfig::default(),
        };
        if config.phonemize {
            return Err(VitsError::Unsupported(
                "tokenizers with phonemize=true (they need espeak)".to_owned(),
            ));
        }
        // serde_json keeps the file's key order (the workspace enables `preserve_order`), which
        // is the order Python's json.load gives the dict.
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(vocab_json)
            .map_err(|e| VitsError::Tokenizer(format!("vocab.json: {e}")))?;
        let mut entries = Vec::with_capacity(map.len());
        for (token, id) in map {
            let id = id
                .as_u64()
                .and_then(|id| u32::try_from(id).ok())
                .ok_or_else(|| VitsError::Tokenizer(format!("vocab.json: bad id for {token:?}")))?;
            entries.push((token, id));
        }
        if entries.is_empty() {
            return Err(VitsError::Tokenizer("vocab.json is empty".to_owned()));
        }
        let vocab: HashMap<String, u32> = entries.iter().cloned().collect();
        if config.add_blank && !vocab.values().any(|&id| id == 0) {
            return Err(VitsError::Tokenizer(
                "add_blank needs a token with id 0".to_owned(),
            ));
        }
        // Added tokens: saved ones first, then the unk and pad tokens, which transformers adds
        // (in that order, after the vocabulary) when the vocabulary lacks them.
        let mut special: Vec<(String, u32)> = Vec::new();
        for (id, token) in &config.added_tokens_decoder {
            let id = id.parse::<u32>().map_err(|_| {
                VitsError::Tokenizer(format!("added_tokens_decoder: bad id {id:?}"))
            })?;
            special.push((token.content().to_owned(), id));
        }
        if let Some(text) = added_json {
            let added: HashMap<String, u32> = serde_json::from_str(text)
                .map_err(|e| VitsError::Tokenizer(format!("added_tokens.json: {e}")))?;
            special.extend(added);
        }
        let mut next_id = u32::try_from(entries.len())
            .map_err(|_| VitsError::Tokenizer("vocab.json is too large".to_owned()))?;
        for token in [&config.unk_token, &config.pad_token].into_iter().flatten() {
            let t = token.content();
            if t.is_empty() || special.iter().any(|(s, _)| s == t) {
                continue;
            }
            let id = match vocab.get(t) {
                Some(&id) => id,
                None => {
                    next_id += 1;
                    next_id - 1
                }
            };
            special.push((t.to_owned(), id));
        }
        special.sort_by(|a, b| a.0.cmp(&b.0));
        special.dedup_by(|a, b| a.0 == b.0);
        // Longest first, so that the earliest, longest special token wins when splitting.
        special.sort_by_key(|(s, _)| std::cmp::Reverse(s.chars().count()));
        let unk_id = config.unk_token.as_ref().and_then(|t| {
            let t = t.content();
            special
                .iter()
                .find(|(s, _)| s == t)
                .map(|&(_, id)| id)
                .or_else(|| vocab.get(t).copied())
        });
        Ok(Self {
            entries,
            vocab,
            special,
            unk_id,
            add_blank: config.add_blank,
            normalize: config.normalize,
            language: config.language,
        })
    }

    /// Number of vocabulary entries.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// The ids transformers' `VitsTokenizer(text)["input_ids"]` gives (no special tokens added).
    /// Empty when nothing speakable is left.
    ///
    /// `is_uroman` checkpoints get no romanisation, as in transformers without the `uroman`
    /// package: non-Latin text is then mostly dropped as out of vocabulary.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, VitsError> {
        let mut text = if self.normalize {
            self.normalize_text(text)
        } else {
            text.to_owned()
        };
        if self.language.as_deref() == Some("ron") {
            text = text.replace('ț', "ţ");
        }
        if self.normalize {
            // Characters outside the vocabulary (punctuation, digits...) are dropped, then the
            // ends stripped as Python's str.strip() does.
            let kept: String = text
                .chars()
                .filter(|c| self.char_id(*c).is_some())
                .collect();
            text = kept.trim_matches(python_isspace).to_owned();
        }
        let mut ids = Vec::new();
        for (chunk, is_special) in self.split_special(&text) {
            if is_special {
                // A special token is emitted alone, without blanks around it (as transformers
                // does: it never reaches VitsTokenizer._tokenize).
                ids.push(self.token_id(chunk)?);
                continue;
            }
            for c in chunk.chars() {
                if self.add_blank {
                    ids.push(0);
                }
                ids.push(match self.char_id(c) {
                    Some(id) => id,
                    None => self.unk()?,
                });
            }
            if self.add_blank {
                ids.push(0);
            }
        }
        Ok(ids)
    }

    /// `VitsTokenizer.normalize_text`: at each position keep a vocabulary entry (or special token)
    /// that matches as is, so upper-case entries survive; otherwise lowercase the character.
    fn normalize_text(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        'outer: while let Some(c) = rest.chars().next() {
            let words = self
                .entries
                .iter()
                .map(|(t, _)| t.as_str())
                .chain(self.special.iter().map(|(s, _)| s.as_str()));
            for word in words {
                if !word.is_empty() && rest.starts_with(word) {
                    out.push_str(word);
                    rest = &rest[word.len()..];
                    continue 'outer;
                }
            }
            out.extend(c.to_lowercase());
            rest = &rest[c.len_utf8()..];
        }
        out
    }

    /// Splits on the special tokens; each piece says whether it is one.
    fn split_special<'a>(&self, text: &'a str) -> Vec<(&'a str, bool)> {
        let mut pieces = Vec::new();
        let mut start = 0;
        let mut i = 0;
        while i < text.len() {
            let rest = &text[i..];
            if let Some((tok, _)) = self
                .special
                .iter()
                .find(|(t, _)| rest.starts_with(t.as_str()))
            {
                if start < i {
                    pieces.push((&text[start..i], false));
                }
                pieces.push((&text[i..i + tok.len()], true));
                i += tok.len();
                start = i;
            } else {
                i += rest.chars().next().map_or(1, char::len_utf8);
            }
        }
        if start < text.len() {
            pieces.push((&text[start..], false));
        }
        pieces
    }

    fn char_id(&self, c: char) -> Option<u32> {
        let mut buf = [0u8; 4];
        self.vocab.get(&*c.encode_utf8(&mut buf)).copied()
    }

    /// Added tokens take precedence over the vocabulary, as in transformers.
    fn token_id(&self, token: &str) -> Result<u32, VitsError> {
        if let Some(&(_, id)) = self.special.iter().find(|(s, _)| s == token) {
            return Ok(id);
        }
        match self.vocab.get(token) {
            Some(&id) => Ok(id),
            None => self.unk(),
        }
    }

    fn unk(&self) -> Result<u32, VitsError> {
        self.unk_id.ok_or_else(|| {
            VitsError::Tokenizer("text has a token outside the vocabulary and no unk token".into())
        })
    }
}

/// Python's `str.isspace`, which (unlike `char::is_whitespace`) includes the separators
/// U+001C..U+001F.
fn python_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn read(path: &Path) -> Result<String, VitsError> {
    std::fs::read_to_string(path).map_err(|source| {
        VitsError::Checkpoint(CheckpointError::Io {
            path: path.to_owned(),
            source,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VOCAB: &str = r#"{"k": 0, "a": 1, " ": 2, "b": 3, "A": 4}"#;
    const CONFIG: &str = r#"{"add_blank": true, "normalize": true, "phonemize": false,
        "pad_token": "k", "unk_token": "<unk>"}"#;

    fn tok() -> VitsTokenizer {
        VitsTokenizer::from_json(VOCAB, Some(CONFIG)).expect("tokenizer")
    }

    #[test]
    fn interleaves_blanks_and_drops_unknown_characters() {
        assert_eq!(tok().encode("ab!").expect("ids"), vec![0, 1, 0, 3, 0]);
        assert_eq!(tok().encode("  b.  ").expect("ids"), vec![0, 3, 0]);
        assert!(tok().encode("?!").expect("ids").is_empty());
    }

    #[test]
    fn vocabulary_entries_keep_their_case() {
        // "A" is in the vocabulary, so normalisation keeps it; "B" is lowercased.
        assert_eq!(tok().encode("AB").expect("ids"), vec![0, 4, 0, 3, 0]);
    }

    #[test]
    fn the_pad_token_is_split_off_without_blanks() {
        assert_eq!(tok().encode("k").expect("ids"), vec![0]);
        assert_eq!(tok().encode("akb").expect("ids"), vec![0, 1, 0, 0, 0, 3, 0]);
        assert_eq!(tok().encode("kk").expect("ids"), vec![0, 0]);
    }

    #[test]
    fn without_normalisation_unknown_characters_become_unk() {
        // As transformers: "<unk>" is not in the vocabulary, so it is added after it (id 5),
        // and like the pad token it is split off without blanks.
        let config = r#"{"normalize": false, "phonemize": false, "pad_token": "k"}"#;
        let t = VitsTokenizer::from_json(VOCAB, Some(config)).expect("tokenizer");
        assert_eq!(t.encode("aA").expect("ids"), vec![0, 1, 0, 4, 0]);
        assert_eq!(t.encode("a!").expect("ids"), vec![0, 1, 0, 5, 0]);
        assert_eq!(t.encode("a<unk>b").expect("ids"), vec![0, 1, 0, 5, 0, 3, 0]);
        let config = r#"{"normalize": false, "phonemize": false, "pad_token": "k",
            "unk_token": null}"#;
        let t = VitsTokenizer::from_json(VOCAB, Some(config)).expect("tokenizer");
        assert!(matches!(t.encode("a!"), Err(VitsError::Tokenizer(_))));
    }

    #[test]
    fn saved_added_tokens_are_split_off_with_their_ids() {
        let config = r#"{"normalize": true, "phonemize": false, "pad_token": "k",
            "added_tokens_decoder": {"0": {"content": "k", "special": true},
                                     "7": {"content": "ab", "special": true}}}"#;
        let t = VitsTokenizer::from_json(VOCAB, Some(config)).expect("tokenizer");
        assert_eq!(t.encode("bab").expect("ids"), vec![0, 3, 0, 7]);
    }

    #[test]
    fn phonemizing_tokenizers_are_refused() {
        let r = VitsTokenizer::from_json(VOCAB, Some(r#"{"phonemize": true}"#));
        assert!(matches!(r, Err(VitsError::Unsupported(_))));
        // transformers' default is phonemize=True, so a missing config is refused too.
        assert!(matches!(
            VitsTokenizer::from_json(VOCAB, None),
            Err(VitsError::Unsupported(_))
        ));
    }
}

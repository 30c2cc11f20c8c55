//! `SpeechT5Tokenizer`: a character-level sentencepiece model (`spm_char.model`) plus the special
//! tokens of `tokenizer_config.json`, giving the same ids as transformers.
//!
//! The `.model` file is a `ModelProto` protobuf; only what encoding needs is read: the pieces,
//! the model type (must be CHAR) and the normalizer spec. Encoding follows sentencepiece:
//! normalise with the precompiled character map (a darts-clone double-array trie of rewrite rules,
//! the NFKC-like `nmt_nfkc` of the trainer), drop leading, trailing and repeated whitespace, add
//! the dummy `▁` prefix, turn spaces into `▁`, then one piece per character, with each run of
//! characters outside the vocabulary merged into one `<unk>`. Like transformers, the text is first
//! split on the special tokens (`<s>`, `</s>`, `<unk>`, `<pad>`, added tokens), which map to their
//! ids, and `</s>` is appended.
//!
//! Not supported: the optional English number normaliser of transformers (`normalize: true` in
//! `tokenizer_config.json`, off by default and in microsoft/speecht5_tts); see
//! [`SpeechT5Tokenizer::normalizes_numbers`].

use std::collections::HashMap;
use std::path::Path;

use crate::{CheckpointError, SpeechT5Error};

const SPACE: char = '\u{2581}';

fn err(message: impl Into<String>) -> SpeechT5Error {
    SpeechT5Error::Tokenizer(message.into())
}

/// A minimal protobuf reader over one message.
struct Proto<'a> {
    data: &'a [u8],
    pos: usize,
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed32,
    Fixed64,
}

impl<'a> Proto<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, SpeechT5Error> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .data
                .get(self.pos)
                .ok_or_else(|| err("truncated sentencepiece model"))?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(err("bad varint in sentencepiece model"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], SpeechT5Error> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| err("truncated sentencepiece model"))?;
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// The next field number and value, or `None` at the end.
    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>, SpeechT5Error> {
        if self.pos >= self.data.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Field::Fixed64
            }
            2 => {
                let n = usize::try_from(self.varint()?)
                    .map_err(|_| err("bad length in sentencepiece model"))?;
                Field::Bytes(self.take(n)?)
            }
            5 => {
                self.take(4)?;
                Field::Fixed32
            }
            t => return Err(err(format!("unsupported protobuf wire type {t}"))),
        };
        Ok(Some((key >> 3, field)))
    }
}

/// sentencepiece piece types.
const TYPE_NORMAL: u64 = 1;
const TYPE_UNKNOWN: u64 = 2;
const TYPE_CONTROL: u64 = 3;
const MODEL_CHAR: u64 = 4;

/// The precompiled normalisation rules: a darts-clone double array over UTF-8 bytes whose values
/// index NUL-terminated replacement strings.
#[derive(Debug, Clone, Default)]
struct CharsMap {
    units: Vec<u32>,
    normalized: Vec<u8>,
}

impl CharsMap {
    fn parse(blob: &[u8]) -> Result<Self, SpeechT5Error> {
        if blob.is_empty() {
            return Ok(Self::default());
        }
        let bad = || err("bad precompiled_charsmap");
        let head = blob.get(..4).ok_or_else(bad)?;
        let trie_size = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let trie = blob.get(4..4 + trie_size).ok_or_else(bad)?;
        if !trie_size.is_multiple_of(4) {
            return Err(bad());
        }
        let units = trie
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(Self {
            units,
            normalized: blob[4 + trie_size..].to_vec(),
        })
    }

    /// Length of the longest rule matching a prefix of `input`, and its replacement.
    fn longest_match(&self, input: &[u8]) -> Option<(usize, &[u8])> {
        let offset = |unit: u32| ((unit >> 10) << ((unit & (1 << 9)) >> 6)) as usize;
        let unit_at = |pos: usize| self.units.get(pos).copied();
        let mut pos = offset(unit_at(0)?);
        let mut best = None;
        for (i, &byte) in input.iter().enumerate() {
            pos ^= usize::from(byte);
            let unit = unit_at(pos)?;
            if unit & ((1 << 31) | 0xff) != u32::from(byte) {
                break;
            }
            pos ^= offset(unit);
            if (unit >> 8) & 1 == 1 {
                let value = (unit_at(pos)? & ((1 << 31) - 1)) as usize;
                best = Some((i + 1, value));
            }
        }
        let (len, value) = best?;
        let rest = self.normalized.get(value..)?;
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        Some((len, &rest[..end]))
    }
}

/// The tokenizer of a SpeechT5 checkpoint.
#[derive(Debug, Clone)]
pub struct SpeechT5Tokenizer {
    pieces: HashMap<String, u32>,
    unk_id: u32,
    eos_id: u32,
    /// Special and added tokens matched in the raw text, longest first.
    specials: Vec<(String, u32)>,
    charsmap: CharsMap,
    add_dummy_prefix: bool,
    remove_extra_whitespaces: bool,
    escape_whitespaces: bool,
    normalize_numbers: bool,
    vocab_size: usize,
}

impl SpeechT5Tokenizer {
    /// Reads `spm_char.model` and, when present, `tokenizer_config.json` from `dir`.
    pub fn from_dir(dir: &Path) -> Result<Self, SpeechT5Error> {
        let model_path = dir.join("spm_char.model");
        let bytes = std::fs::read(&model_path).map_err(|source| {
            SpeechT5Error::Checkpoint(CheckpointError::Io {
                path: model_path.clone(),
                source,
            })
        })?;
        let config_path = dir.join("tokenizer_config.json");
        let config = if config_path.exists() {
            let text = std::fs::read_to_string(&config_path).map_err(|source| {
                SpeechT5Error::Checkpoint(CheckpointError::Io {
                    path: config_path.clone(),
                    source,
                })
            })?;
            serde_json::from_str(&text).map_err(|source| {
                SpeechT5Error::Checkpoint(CheckpointError::Json {
                    path: config_path.clone(),
                    source,
                })
            })?
        } else {
            serde_json::Value::Null
        };
        Self::from_bytes(&bytes, &config)
    }

    /// Builds the tokenizer from the bytes of a sentencepiece model and the parsed
    /// `tokenizer_config.json` (`Null` if there is none).
    pub fn from_bytes(model: &[u8], config: &serde_json::Value) -> Result<Self, SpeechT5Error> {
        let mut pieces = HashMap::new();
        let mut unk_id = None;
        let mut controls = Vec::new();
        let mut model_type = 1;
        let mut charsmap = CharsMap::default();
        let (mut add_dummy_prefix, mut remove_extra_whitespaces, mut escape_whitespaces) =
            (true, true, true);
        let mut count = 0u32;
        let mut top = Proto::new(model);
        while let Some((number, field)) = top.next()? {
            match (number, field) {
                (1, Field::Bytes(piece)) => {
                    let (mut text, mut kind) = (None, TYPE_NORMAL);
                    let mut p = Proto::new(piece);
                    while let Some((n, f)) = p.next()? {
                        match (n, f) {
                            (1, Field::Bytes(s)) => {
                                text = Some(
                                    String::from_utf8(s.to_vec())
                                        .map_err(|_| err("piece is not UTF-8"))?,
                                );
                            }
                            (3, Field::Varint(v)) => kind = v,
                            _ => {}
                        }
                    }
                    let text = text.ok_or_else(|| err("piece without text"))?;
                    match kind {
                        TYPE_UNKNOWN => unk_id = Some(count),
                        TYPE_CONTROL => controls.push((text.clone(), count)),
                        _ => {}
                    }
                    pieces.insert(text, count);
                    count += 1;
                }
                (2, Field::Bytes(trainer)) => {
                    let mut p = Proto::new(trainer);
                    while let Some((n, f)) = p.next()? {
                        if let (3, Field::Varint(v)) = (n, f) {
                            model_type = v;
                        }
                    }
                }
                (3, Field::Bytes(normalizer)) => {
                    let mut p = Proto::new(normalizer);
                    while let Some((n, f)) = p.next()? {
                        match (n, f) {
                            (2, Field::Bytes(blob)) => charsmap = CharsMap::parse(blob)?,
                            (3, Field::Varint(v)) => add_dummy_prefix = v != 0,
                            (4, Field::Varint(v)) => remove_extra_whitespaces = v != 0,
                            (5, Field::Varint(v)) => escape_whitespaces = v != 0,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if model_type != MODEL_CHAR {
            return Err(SpeechT5Error::Unsupported(format!(
                "sentencepiece model type {model_type} (only the character model, 4, is supported)"
            )));
        }
        let unk_id = unk_id.ok_or_else(|| err("the sentencepiece model has no unknown piece"))?;

        // Special tokens: the model's control pieces and <unk>, then tokenizer_config.json's.
        let mut specials: HashMap<String, u32> = controls.into_iter().collect();
        if let Some((text, _)) = pieces.iter().find(|(_, id)| **id == unk_id) {
            specials.insert(text.clone(), unk_id);
        }
        if let Some(added) = config
            .get("added_tokens_decoder")
            .and_then(|v| v.as_object())
        {
            for (id, token) in added {
                let id: u32 = id
                    .parse()
                    .map_err(|_| err(format!("added token id {id:?}")))?;
                if let Some(content) = token.get("content").and_then(|c| c.as_str()) {
                    specials.insert(content.to_owned(), id);
                }
            }
        }
        let eos_name = config
            .get("eos_token")
            .and_then(|v| v.as_str())
            .unwrap_or("</s>");
        let eos_id = *specials
            .get(eos_name)
            .or_else(|| pieces.get(eos_name))
            .ok_or_else(|| err(format!("no id for the eos token {eos_name:?}")))?;
        let vocab_size = specials
            .values()
            .map(|&id| id as usize + 1)
            .max()
            .unwrap_or(0)
            .max(count as usize);
        let mut specials: Vec<(String, u32)> = specials
            .into_iter()
            .filter(|(s, _)| !s.is_empty())
            .collect();
        specials.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        let normalize_numbers = config
            .get("normalize")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        Ok(Self {
            pieces,
            unk_id,
            eos_id,
            specials,
            charsmap,
            add_dummy_prefix,
            remove_extra_whitespaces,
            escape_whitespaces,
            normalize_numbers,
            vocab_size,
        })
    }

    /// Number of ids the tokenizer can produce (pieces and added tokens).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Id of `</s>`, appended to every encoding.
    pub fn eos_id(&self) -> u32 {
        self.eos_id
    }

    /// Id of `<unk>`.
    pub fn unk_id(&self) -> u32 {
        self.unk_id
    }

    /// Whether `tokenizer_config.json` asks for transformers' English number normaliser, which
    /// this crate does not implement (digits are then encoded as they are, usually as `<unk>`).
    pub fn normalizes_numbers(&self) -> bool {
        self.normalize_numbers
    }

    /// The ids transformers' `SpeechT5Tokenizer(text)["input_ids"]` gives, ending with `</s>`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        // `rest[..i]` is plain text so far; a special token at `i` ends it.
        let mut rest = text;
        let mut i = 0;
        while i < rest.len() {
            let here = &rest[i..];
            if let Some((token, id)) = self.specials.iter().find(|(s, _)| here.starts_with(s)) {
                self.encode_segment(&rest[..i], &mut ids);
                ids.push(*id);
                rest = &here[token.len()..];
                i = 0;
                continue;
            }
            i += here.chars().next().map_or(1, char::len_utf8);
        }
        self.encode_segment(rest, &mut ids);
        ids.push(self.eos_id);
        ids
    }

    /// sentencepiece's normalisation of one segment (without the special tokens).
    fn normalize(&self, text: &str) -> String {
        let mut input = text.as_bytes();
        let mut out = String::new();
        // One normalisation step: the rewritten prefix and how many bytes it consumed.
        let step = |input: &[u8]| -> (String, usize) {
            if let Some((len, replacement)) = self.charsmap.longest_match(input) {
                return (String::from_utf8_lossy(replacement).into_owned(), len);
            }
            match utf8_prefix(input) {
                Some(s) => (s.to_owned(), s.len()),
                // A malformed byte becomes U+FFFD, as in sentencepiece (unreachable from &str).
                None => ("\u{fffd}".to_owned(), 1),
            }
        };
        if self.remove_extra_whitespaces {
            while !input.is_empty() {
                let (s, n) = step(input);
                if s != " " {
                    break;
                }
                input = &input[n..];
            }
        }
        if input.is_empty() {
            return out;
        }
        let space = if self.escape_whitespaces { SPACE } else { ' ' };
        if self.add_dummy_prefix {
            out.push(space);
        }
        let mut prev_space = self.remove_extra_whitespaces;
        while !input.is_empty() {
            let (s, n) = step(input);
            let mut piece = s.as_str();
            if prev_space {
                piece = piece.trim_start_matches(' ');
            }
            if !piece.is_empty() {
                for c in piece.chars() {
                    out.push(if c == ' ' && self.escape_whitespaces {
                        SPACE
                    } else {
                        c
                    });
                }
                prev_space = piece.ends_with(' ');
            }
            input = &input[n..];
        }
        if self.remove_extra_whitespaces {
            while out.ends_with(space) {
                out.pop();
            }
        }
        out
    }

    fn encode_segment(&self, text: &str, ids: &mut Vec<u32>) {
        if text.is_empty() {
            return;
        }
        let mut buf = [0u8; 4];
        let mut prev_unk = false;
        for c in self.normalize(text).chars() {
            let id = self
                .pieces
                .get(&*c.encode_utf8(&mut buf))
                .copied()
                .unwrap_or(self.unk_id);
            // sentencepiece merges each run of unknown characters into one <unk>.
            let unk = id == self.unk_id;
            if !(unk && prev_unk) {
                ids.push(id);
            }
            prev_unk = unk;
        }
    }
}

/// The first UTF-8 character of `input`, if it is valid.
fn utf8_prefix(input: &[u8]) -> Option<&str> {
    let len = match input.first()? {
        b if *b < 0x80 => 1,
        b if *b >> 5 == 0b110 => 2,
        b if *b >> 4 == 0b1110 => 3,
        b if *b >> 3 == 0b11110 => 4,
        _ => return None,
    };
    std::str::from_utf8(input.get(..len)?).ok()
}

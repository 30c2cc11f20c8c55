//! Kokoro-82M v1.0 (int8 ONNX) on ONNX Runtime: the model, its phoneme vocabulary, the 28 US and
//! UK English voices, espeak-ng phonemes the way Kokoro expects them, and the per-sentence
//! synthesis with the style row chosen by token count.
//!
//! Files (model `kokoro` in the store): `kokoro-v1.0.int8.onnx`, `config.json` (its `vocab`:
//! phoneme → id) and `<voice>.bin`, each a raw little-endian f32 array `[510, 1, 256]`: one style
//! vector per input length.
//!
//! Text → speech, per sentence of [`crate::text::prepare`]:
//! 1. espeak-ng IPA with stress marks (`en-us`, or British `en` for the `b*` voices), with the
//!    punctuation put back where it was, as phonemizer's espeak backend does with
//!    `preserve_punctuation=True, with_stress=True` (what kokoro-onnx uses); then the small
//!    rewrites of the Kokoro authors' espeak front end (see [`postprocess`]).
//! 2. Symbols the vocabulary lacks are dropped (logged at debug).
//! 3. A sentence over the model's 510-token context is cut at clause punctuation, else at a word.
//! 4. Each piece runs as `tokens = [0, *ids, 0]`, `style = voice[min(n_ids, 509)]`, `speed`; its
//!    leading and trailing silence is trimmed, and pieces are joined with a clause pause,
//!    sentences with `EngineOptions::sentence_pause`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use ort::session::Session;
use ort::value::Tensor;
use serde::Deserialize;

use crate::piper::{new_session, ort_library};
use crate::{EngineOptions, Speech, SpeechEngine, TtsError, espeak_ffi, synthesize_sentences};

const ENGINE: &str = "kokoro";
const MODEL: &str = "kokoro";
const ONNX_FILE: &str = "kokoro-v1.0.int8.onnx";
const CONFIG_FILE: &str = "config.json";

/// Kokoro's output rate.
pub const KOKORO_SAMPLE_RATE: u32 = 24_000;
/// The default voice (`--model.voice`).
pub const KOKORO_DEFAULT_VOICE: &str = "af_heart";
/// Speeds accepted by `--model.speed` (kokoro-onnx's bounds).
pub const KOKORO_SPEED_RANGE: std::ops::RangeInclusive<f32> = 0.5..=2.0;
/// Phoneme ids per inference, without the two pads (the model has 512 positions).
pub const KOKORO_MAX_TOKENS: usize = 510;

/// Rows of a voice file: one style vector per input length.
const STYLE_ROWS: usize = 510;
/// Values per style vector.
const STYLE_DIM: usize = 256;
/// Silence between the pieces of a sentence cut at a clause mark (kokoro-onnx's clause pause).
const CLAUSE_PAUSE: Duration = Duration::from_millis(100);

/// The US (`a`) and UK (`b`) English voices, female (`f`) and male (`m`), of npm `kokoro-js`
/// 1.2.1.
pub const KOKORO_VOICES: &[&str] = &[
    "af_heart",
    "af_alloy",
    "af_aoede",
    "af_bella",
    "af_jessica",
    "af_kore",
    "af_nicole",
    "af_nova",
    "af_river",
    "af_sarah",
    "af_sky",
    "am_adam",
    "am_echo",
    "am_eric",
    "am_fenrir",
    "am_liam",
    "am_michael",
    "am_onyx",
    "am_puck",
    "am_santa",
    "bf_alice",
    "bf_emma",
    "bf_isabella",
    "bf_lily",
    "bm_daniel",
    "bm_fable",
    "bm_george",
    "bm_lewis",
];

/// OpenAI's voice names and the Kokoro voice each one is spoken with: the Kokoro voices that share
/// a name where there is one, otherwise one of the same sex and a similar register.
pub const OPENAI_VOICES: &[(&str, &str)] = &[
    ("alloy", "af_alloy"),
    ("echo", "am_echo"),
    ("fable", "bm_fable"),
    ("onyx", "am_onyx"),
    ("nova", "af_nova"),
    ("shimmer", "af_bella"),
    ("ash", "am_adam"),
    ("coral", "af_kore"),
    ("sage", "af_sarah"),
    ("ballad", "bm_george"),
    ("verse", "am_michael"),
];

/// The Kokoro voice `name` stands for: a Kokoro voice name, or one of OpenAI's (case-insensitive).
pub fn resolve_voice(name: &str) -> Option<&'static str> {
    let name = name.trim().to_ascii_lowercase();
    KOKORO_VOICES
        .iter()
        .copied()
        .find(|v| *v == name)
        .or_else(|| {
            OPENAI_VOICES
                .iter()
                .find(|(openai, _)| *openai == name)
                .map(|(_, kokoro)| *kokoro)
        })
}

fn unknown_voice(name: &str) -> TtsError {
    TtsError::UnknownVoice {
        engine: ENGINE.to_owned(),
        voice: name.to_owned(),
        valid: KOKORO_VOICES.iter().map(|v| (*v).to_owned()).collect(),
    }
}

/// The row of a voice file used for `n_ids` phoneme ids (pads not counted): `min(n_ids, 509)`.
///
/// Each row is the style for inputs of that length; kokoro-js uses this rule, kokoro-onnx 0.6.1
/// takes the row before (`n_ids − 1`). Neighbouring rows differ very little; this one keeps row 0
/// (never a real length) unused.
pub fn style_row(n_ids: usize) -> usize {
    n_ids.min(STYLE_ROWS - 1)
}

/// The espeak-ng voice for a Kokoro voice: British English for the `b*` voices (espeak-ng's
/// `en`, "English (Great Britain)"; phonemizer's `en-gb` selects it by language, which
/// `espeak_SetVoiceByName` does not).
fn espeak_language(voice: &str) -> &'static str {
    if voice.starts_with('b') {
        "en"
    } else {
        "en-us"
    }
}

/// Punctuation phonemizer keeps in place with `preserve_punctuation=True` (of what
/// [`crate::text::normalize`] leaves: its default marks are `;:,.!?¡¿—…"«»“”(){}[]`).
fn is_kept_mark(c: char) -> bool {
    matches!(
        c,
        ';' | ':'
            | ','
            | '.'
            | '!'
            | '?'
            | '¡'
            | '¿'
            | '—'
            | '…'
            | '"'
            | '«'
            | '»'
            | '“'
            | '”'
            | '('
            | ')'
            | '{'
            | '}'
            | '['
            | ']'
    )
}

/// A sentence cut into runs of words and the punctuation marks between them, with whether
/// whitespace preceded each piece.
fn segments(sentence: &str) -> Vec<(bool, Segment<'_>)> {
    let mut out = Vec::new();
    let mut start = None::<usize>;
    let mut space_before = false;
    let mut run_space = false;
    for (i, c) in sentence.char_indices() {
        if is_kept_mark(c) {
            if let Some(s) = start.take() {
                // A run keeps its inner spaces; a space at its end belongs before the mark.
                let run = &sentence[s..i];
                space_before |= run.ends_with(char::is_whitespace);
                out.push((run_space, Segment::Words(run.trim_end())));
            }
            out.push((space_before, Segment::Mark(c)));
            space_before = false;
        } else if c.is_whitespace() {
            if start.is_none() {
                space_before = true;
            }
        } else if start.is_none() {
            start = Some(i);
            run_space = space_before;
            space_before = false;
        }
    }
    if let Some(s) = start {
        out.push((run_space, Segment::Words(&sentence[s..])));
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Segment<'a> {
    Words(&'a str),
    Mark(char),
}

/// IPA of `sentence` with its punctuation where it was: "Hello, world!" → `həlˈoʊ, wˈɜːld!`.
/// `phonemize` turns a run of words into IPA words separated by spaces.
fn phonemize_with_punctuation(
    sentence: &str,
    mut phonemize: impl FnMut(&str) -> Result<String, TtsError>,
) -> Result<String, TtsError> {
    let mut out = String::new();
    for (space_before, segment) in segments(sentence) {
        let piece = match segment {
            Segment::Words(words) => {
                if !words.chars().any(char::is_alphanumeric) {
                    continue;
                }
                phonemize(words)?
            }
            Segment::Mark(c) => c.to_string(),
        };
        if piece.is_empty() {
            continue;
        }
        if space_before && !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
        out.push_str(&piece);
    }
    Ok(out.trim().to_owned())
}

/// The rewrites the Kokoro authors apply to espeak-ng's IPA (their original `phonemize`, kept by
/// kokoro-js): "Kokoro" said as they say it; symbols outside the vocabulary mapped to their
/// nearest (`ʲ r x ɬ`); "hundred" as a word of its own; a lone `z` ("'s") joined to its word; and
/// in US English the flapped "-ty" of "ninety".
pub fn postprocess(ipa: &str, british: bool) -> String {
    let mut s = ipa
        .replace("kəkˈoːɹoʊ", "kˈoʊkəɹoʊ")
        .replace("kəkˈɔːɹoʊ", "kˈoʊkəɹoʊ")
        .replace("kəkˈɔːɹəʊ", "kˈəʊkəɹəʊ")
        .replace('ʲ', "j")
        .replace('r', "ɹ")
        .replace('x', "k")
        .replace('ɬ', "l");
    // A space before "hundred" when a letter, ɹ or ː runs into it.
    const HUNDRED: &str = "hˈʌndɹɪd";
    let mut out = String::with_capacity(s.len() + 8);
    let mut rest = s.as_str();
    while let Some(at) = rest.find(HUNDRED) {
        let before = &rest[..at];
        out.push_str(before);
        let prev = if before.is_empty() {
            out.chars().last()
        } else {
            before.chars().last()
        };
        if prev.is_some_and(|c| c.is_ascii_lowercase() || c == 'ɹ' || c == 'ː') {
            out.push(' ');
        }
        out.push_str(HUNDRED);
        rest = &rest[at + HUNDRED.len()..];
    }
    out.push_str(rest);
    s = out;
    // " z" followed by punctuation, a space or the end: the possessive/plural, joined back.
    let chars: Vec<char> = s.chars().collect();
    let mut joined = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == ' '
            && chars.get(i + 1) == Some(&'z')
            && chars
                .get(i + 2)
                .is_none_or(|&c| c == ' ' || is_kept_mark(c))
        {
            joined.push('z');
            i += 2;
            continue;
        }
        joined.push(chars[i]);
        i += 1;
    }
    if !british {
        joined = joined_ninety(&joined);
    }
    joined
}

/// `nˈaɪnti` → `nˈaɪndi` unless a `ː` follows (US flap).
fn joined_ninety(s: &str) -> String {
    const FROM: &str = "nˈaɪnti";
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find(FROM) {
        out.push_str(&rest[..at]);
        let after = &rest[at + FROM.len()..];
        if after.starts_with('ː') {
            out.push_str(FROM);
        } else {
            out.push_str("nˈaɪndi");
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Phoneme → id, from `config.json["vocab"]`.
#[derive(Debug, Clone)]
pub struct KokoroVocab {
    ids: HashMap<char, i64>,
}

#[derive(Debug, Deserialize)]
struct ConfigFile {
    vocab: BTreeMap<String, i64>,
}

impl KokoroVocab {
    /// Reads the `vocab` object of kokoro-onnx's `config.json`.
    pub fn load(path: &Path) -> Result<Self, TtsError> {
        let raw = std::fs::read(path).map_err(|e| TtsError::Io {
            context: format!("reading {}", path.display()),
            source: e,
        })?;
        Self::from_json(&raw).map_err(|reason| TtsError::BadConfig {
            path: path.to_owned(),
            reason,
        })
    }

    /// Parses `{"vocab": {"<phoneme>": id, …}}`; every key must be one character.
    pub fn from_json(raw: &[u8]) -> Result<Self, String> {
        let cfg: ConfigFile = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
        let mut ids = HashMap::with_capacity(cfg.vocab.len());
        for (key, id) in cfg.vocab {
            let mut chars = key.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => {
                    ids.insert(c, id);
                }
                _ => return Err(format!("vocab key {key:?} is not one character")),
            }
        }
        if ids.is_empty() {
            return Err("the vocab is empty".to_owned());
        }
        Ok(Self { ids })
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no symbols (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// `phonemes` without the symbols the vocabulary lacks (those are logged at debug).
    pub fn known(&self, phonemes: &str) -> String {
        let mut dropped = String::new();
        let kept: String = phonemes
            .chars()
            .filter(|c| {
                let known = self.ids.contains_key(c);
                if !known {
                    dropped.push(*c);
                }
                known
            })
            .collect();
        if !dropped.is_empty() {
            tracing::debug!(%dropped, "phonemes not in Kokoro's vocabulary dropped");
        }
        kept
    }

    /// The ids of `phonemes` (unknown symbols dropped), without pads.
    pub fn ids(&self, phonemes: &str) -> Vec<i64> {
        phonemes
            .chars()
            .filter_map(|c| self.ids.get(&c).copied())
            .collect()
    }
}

/// Splits `phonemes` (all in the vocabulary, so one symbol is one id) into pieces of at most
/// `max` symbols: after the last clause or sentence mark that fits, else at the last space, else
/// (a single run longer than the context) anywhere. Each piece is trimmed and non-empty.
pub fn split_phonemes(phonemes: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut out = Vec::new();
    let mut rest: Vec<char> = phonemes.trim().chars().collect();
    while rest.len() > max {
        let window = &rest[..=max.min(rest.len() - 1)];
        // A cut after a mark keeps the mark with the text before it, as the model was trained.
        let after_mark = window[..max]
            .iter()
            .rposition(|&c| matches!(c, ',' | ';' | ':' | '.' | '!' | '?' | '—' | '…'))
            .filter(|&i| i > 0 && window.get(i + 1).is_none_or(|c| *c == ' '))
            .map(|i| i + 1);
        let at_space = window.iter().rposition(|&c| c == ' ').filter(|&i| i > 0);
        let cut = after_mark.or(at_space).unwrap_or(max);
        let piece: String = rest[..cut].iter().collect();
        let piece = piece.trim();
        if !piece.is_empty() {
            out.push(piece.to_owned());
        }
        rest.drain(..cut);
        while rest.first() == Some(&' ') {
            rest.remove(0);
        }
    }
    let last: String = rest.iter().collect();
    let last = last.trim();
    if !last.is_empty() {
        out.push(last.to_owned());
    }
    out
}

/// `samples` without leading and trailing silence: frames (2048 samples, hop 512, centred) more
/// than 60 dB below the loudest frame's RMS, as kokoro-onnx trims each piece (librosa's rule).
pub fn trim_silence(samples: &[f32]) -> &[f32] {
    const FRAME: usize = 2048;
    const HOP: usize = 512;
    if samples.is_empty() {
        return samples;
    }
    let frames = samples.len() / HOP + 1;
    let rms: Vec<f32> = (0..frames)
        .map(|t| {
            let centre = t * HOP;
            let lo = centre.saturating_sub(FRAME / 2);
            let hi = (centre + FRAME / 2).min(samples.len());
            let sum: f32 = samples[lo..hi].iter().map(|s| s * s).sum();
            // The frame is zero-padded at the edges: divide by the full frame length.
            (sum / FRAME as f32).sqrt()
        })
        .collect();
    let loudest = rms.iter().copied().fold(0f32, f32::max);
    if loudest <= 0.0 {
        return &samples[..0];
    }
    let threshold = loudest * 10f32.powf(-60.0 / 20.0);
    let Some(first) = rms.iter().position(|&r| r > threshold) else {
        return &samples[..0];
    };
    let last = rms.iter().rposition(|&r| r > threshold).unwrap_or(first);
    let start = (first * HOP).min(samples.len());
    let end = ((last + 1) * HOP).min(samples.len());
    &samples[start..end.max(start)]
}

/// The Kokoro engine: one resident ONNX Runtime session, the vocabulary and every English voice's
/// style table (28 × 510 × 256 f32, 14.6 MB), so a request may pick any voice at no cost.
pub struct KokoroEngine {
    session: Session,
    vocab: KokoroVocab,
    styles: HashMap<&'static str, Vec<f32>>,
    voice: &'static str,
    speed: f32,
    opts: EngineOptions,
}

impl std::fmt::Debug for KokoroEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KokoroEngine")
            .field("voice", &self.voice)
            .field("speed", &self.speed)
            .field("device", &self.opts.device)
            .finish_non_exhaustive()
    }
}

fn synth_err(message: impl std::fmt::Display) -> TtsError {
    TtsError::Synthesis {
        engine: ENGINE.to_owned(),
        message: message.to_string(),
    }
}

/// Reads a voice file: raw little-endian f32 `[510, 1, 256]`.
fn read_style(path: &Path) -> Result<Vec<f32>, TtsError> {
    let raw = std::fs::read(path).map_err(|e| TtsError::Io {
        context: format!("reading {}", path.display()),
        source: e,
    })?;
    if raw.len() != STYLE_ROWS * STYLE_DIM * 4 {
        return Err(TtsError::BadConfig {
            path: path.to_owned(),
            reason: format!(
                "{} bytes; a voice is {STYLE_ROWS}×{STYLE_DIM} little-endian f32 ({} bytes)",
                raw.len(),
                STYLE_ROWS * STYLE_DIM * 4
            ),
        });
    }
    let values: Vec<f32> = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if values.iter().any(|v| !v.is_finite()) {
        return Err(TtsError::BadConfig {
            path: path.to_owned(),
            reason: "non-finite style values".to_owned(),
        });
    }
    Ok(values)
}

/// Checks `--model.speed`.
fn check_speed(speed: f32) -> Result<f32, TtsError> {
    if KOKORO_SPEED_RANGE.contains(&speed) {
        Ok(speed)
    } else {
        Err(TtsError::EngineUnavailable {
            engine: ENGINE.to_owned(),
            reason: format!(
                "--model.speed {speed} is outside {}..={}",
                KOKORO_SPEED_RANGE.start(),
                KOKORO_SPEED_RANGE.end()
            ),
        })
    }
}

impl KokoroEngine {
    /// Loads the model, vocabulary and voices of the store's `kokoro` model; the voice is
    /// `opts.voice` (default [`KOKORO_DEFAULT_VOICE`]) at `opts.speed`.
    pub fn load(opts: &EngineOptions) -> Result<Self, TtsError> {
        // Option errors before a second of loading.
        let voice = match opts.voice.as_deref() {
            Some(v) => resolve_voice(v).ok_or_else(|| unknown_voice(v))?,
            None => KOKORO_DEFAULT_VOICE,
        };
        check_speed(opts.speed)?;
        let files = opts.model_store()?.require(MODEL)?;
        Self::load_from(files.dir.as_path(), &ort_library(opts)?, voice, opts)
    }

    /// Loads from a directory holding `kokoro-v1.0.int8.onnx`, `config.json` and the voices.
    pub fn load_from(
        dir: &Path,
        ort_lib: &Path,
        voice: &str,
        opts: &EngineOptions,
    ) -> Result<Self, TtsError> {
        let voice = resolve_voice(voice).ok_or_else(|| unknown_voice(voice))?;
        let speed = check_speed(opts.speed)?;
        let vocab = KokoroVocab::load(&dir.join(CONFIG_FILE))?;
        let mut styles = HashMap::with_capacity(KOKORO_VOICES.len());
        for name in KOKORO_VOICES {
            styles.insert(*name, read_style(&dir.join(format!("{name}.bin")))?);
        }
        // Both espeak voices must work before we spend a second loading the model.
        espeak_ffi::phonemize("ok", "en-us")?;
        espeak_ffi::phonemize("ok", "en")?;
        let started = std::time::Instant::now();
        let model = dir.join(ONNX_FILE);
        let session = new_session(ENGINE, &model, ort_lib, opts)?;
        tracing::info!(
            model = %model.display(),
            voice,
            speed,
            device = %opts.device,
            load_ms = started.elapsed().as_millis() as u64,
            "Kokoro loaded"
        );
        Ok(Self {
            session,
            vocab,
            styles,
            voice,
            speed,
            opts: opts.clone(),
        })
    }

    /// The voice used when a request names none.
    pub fn default_voice(&self) -> &'static str {
        self.voice
    }

    /// The phonemes Kokoro gets for one normalised sentence in `voice`'s accent (before the
    /// vocabulary filter).
    pub fn phonemes(sentence: &str, voice: &str) -> Result<String, TtsError> {
        static SWITCH: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            regex::Regex::new(r"\([a-z]{2,3}(?:-[a-z0-9]+)?\)")
                .expect("static regex compiles. This is a bug.")
        });
        let language = espeak_language(voice);
        let ipa = phonemize_with_punctuation(sentence, |words| {
            // espeak marks a switch to another language's rules as "(fr)" … "(en)"; phonemizer
            // removes those flags.
            let ph = espeak_ffi::phonemize(words, language)?;
            Ok(SWITCH.replace_all(&ph, "").trim().to_owned())
        })?;
        Ok(postprocess(&ipa, language == "en"))
    }

    /// One inference: `ids` (≤ [`KOKORO_MAX_TOKENS`], no pads) in `style`.
    fn infer(&mut self, ids: &[i64], style: &[f32]) -> Result<Vec<f32>, TtsError> {
        let mut tokens = Vec::with_capacity(ids.len() + 2);
        tokens.push(0);
        tokens.extend_from_slice(ids);
        tokens.push(0);
        let n = tokens.len();
        let tokens = Tensor::from_array(([1usize, n], tokens)).map_err(synth_err)?;
        let style = Tensor::from_array(([1usize, STYLE_DIM], style.to_vec())).map_err(synth_err)?;
        let speed = Tensor::from_array(([1usize], vec![self.speed])).map_err(synth_err)?;
        let outputs = self
            .session
            .run(ort::inputs![
                "tokens" => tokens,
                "style" => style,
                "speed" => speed,
            ])
            .map_err(synth_err)?;
        let (_, audio) = outputs[0].try_extract_tensor::<f32>().map_err(synth_err)?;
        Ok(audio.to_vec())
    }

    /// One sentence in `voice`: its pieces (cut to the context), each trimmed, joined with a
    /// clause pause.
    fn sentence(&mut self, sentence: &str, voice: &'static str) -> Result<Vec<f32>, TtsError> {
        let phonemes = self.vocab.known(&Self::phonemes(sentence, voice)?);
        tracing::trace!(%sentence, %phonemes, voice, "phonemized");
        let pieces = split_phonemes(&phonemes, KOKORO_MAX_TOKENS);
        let pause = (CLAUSE_PAUSE.as_secs_f64() * f64::from(KOKORO_SAMPLE_RATE)).round() as usize;
        let mut out = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            let ids = self.vocab.ids(piece);
            if ids.is_empty() {
                continue;
            }
            let row = style_row(ids.len());
            let style = self
                .styles
                .get(voice)
                .map(|s| s[row * STYLE_DIM..(row + 1) * STYLE_DIM].to_vec())
                .ok_or_else(|| unknown_voice(voice))?;
            let audio = self.infer(&ids, &style)?;
            if i > 0 && !out.is_empty() {
                out.resize(out.len() + pause, 0.0);
            }
            out.extend_from_slice(trim_silence(&audio));
        }
        Ok(out)
    }

    /// Synthesises `text` in `voice` (a Kokoro or OpenAI voice name; `None`: the engine's voice),
    /// calling `each` with every sentence's audio as soon as it is made (for first-audio latency);
    /// returns the whole speech.
    pub fn synthesize_each(
        &mut self,
        text: &str,
        voice: Option<&str>,
        mut each: impl FnMut(&[f32]),
    ) -> Result<Speech, TtsError> {
        let voice = match voice {
            Some(v) => resolve_voice(v).ok_or_else(|| unknown_voice(v))?,
            None => self.voice,
        };
        let opts = self.opts.clone();
        synthesize_sentences(ENGINE, text, KOKORO_SAMPLE_RATE, &opts, |sentence| {
            let audio = self.sentence(sentence, voice)?;
            each(&audio);
            Ok(audio)
        })
    }
}

impl SpeechEngine for KokoroEngine {
    fn name(&self) -> &str {
        ENGINE
    }

    fn sample_rate(&self) -> u32 {
        KOKORO_SAMPLE_RATE
    }

    fn synthesize(&mut self, text: &str) -> Result<Speech, TtsError> {
        self.synthesize_each(text, None, |_| {})
    }

    fn voices(&self) -> Vec<String> {
        KOKORO_VOICES.iter().map(|v| (*v).to_owned()).collect()
    }

    fn synthesize_voice(&mut self, text: &str, voice: Option<&str>) -> Result<Speech, TtsError> {
        self.synthesize_each(text, voice, |_| {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn style_row_follows_the_token_count_and_stops_at_the_last_row() {
        assert_eq!(style_row(0), 0);
        assert_eq!(style_row(1), 1);
        assert_eq!(style_row(42), 42);
        assert_eq!(style_row(509), 509);
        assert_eq!(style_row(510), 509);
        assert_eq!(style_row(10_000), 509);
    }

    #[test]
    fn voices_resolve_by_kokoro_and_openai_names() {
        assert_eq!(KOKORO_VOICES.len(), 28);
        assert_eq!(resolve_voice("af_heart"), Some("af_heart"));
        assert_eq!(resolve_voice(" BF_Emma "), Some("bf_emma"));
        assert_eq!(resolve_voice("alloy"), Some("af_alloy"));
        assert_eq!(resolve_voice("fable"), Some("bm_fable"));
        assert_eq!(resolve_voice("ff_siwis"), None);
        // Every OpenAI name maps to a voice we ship.
        for (openai, kokoro) in OPENAI_VOICES {
            assert!(KOKORO_VOICES.contains(kokoro), "{openai} → {kokoro}");
        }
        assert_eq!(espeak_language("bm_lewis"), "en");
        assert_eq!(espeak_language("af_heart"), "en-us");
        let msg = unknown_voice("zz_nobody").to_string();
        assert!(
            msg.contains("zz_nobody") && msg.contains("af_heart") && msg.contains("bm_lewis"),
            "{msg}"
        );
    }

    #[test]
    fn punctuation_is_kept_where_it_was() {
        // Like espeak, the fake gives no spaces around a run: those come from the text.
        let fake = |words: &str| -> Result<String, TtsError> { Ok(words.trim().to_uppercase()) };
        assert_eq!(
            phonemize_with_punctuation("Hello, world!", fake).unwrap(),
            "HELLO, WORLD!"
        );
        assert_eq!(
            phonemize_with_punctuation("He said \"hi\" (twice).", fake).unwrap(),
            "HE SAID \"HI\" (TWICE)."
        );
        assert_eq!(
            phonemize_with_punctuation("Wait... what?!", fake).unwrap(),
            "WAIT... WHAT?!"
        );
        assert_eq!(phonemize_with_punctuation(" . , ", fake).unwrap(), ". ,");
    }

    #[test]
    fn kokoro_rewrites() {
        assert_eq!(postprocess("kəkˈoːɹoʊ", false), "kˈoʊkəɹoʊ");
        assert_eq!(postprocess("tˈuːhˈʌndɹɪd", false), "tˈuː hˈʌndɹɪd");
        assert_eq!(postprocess("hˈʌndɹɪd", false), "hˈʌndɹɪd");
        assert_eq!(postprocess("dˈɑːɡ z.", false), "dˈɑːɡz.");
        assert_eq!(postprocess("dˈɑːɡ z", false), "dˈɑːɡz");
        assert_eq!(postprocess("zˈuː zˈuː", false), "zˈuː zˈuː");
        assert_eq!(postprocess("nˈaɪnti", false), "nˈaɪndi");
        assert_eq!(postprocess("nˈaɪnti", true), "nˈaɪnti");
        assert_eq!(postprocess("nˈaɪntiːn", false), "nˈaɪntiːn");
        assert_eq!(postprocess("rxʲ", false), "ɹkj");
    }

    #[test]
    fn tokenisation_drops_unknown_symbols() {
        let vocab =
            KokoroVocab::from_json(br#"{"vocab": {" ": 16, "a": 43, "b": 44, ".": 4}}"#).unwrap();
        assert_eq!(vocab.len(), 4);
        assert_eq!(vocab.known("ab✓ a."), "ab a.");
        assert_eq!(vocab.ids("ab✓ a."), vec![43, 44, 16, 43, 4]);
        assert!(KokoroVocab::from_json(br#"{"vocab": {"ab": 1}}"#).is_err());
        assert!(KokoroVocab::from_json(br#"{"vocab": {}}"#).is_err());
        assert!(KokoroVocab::from_json(b"[]").is_err());
    }

    #[test]
    fn long_phonemes_split_at_clauses_then_words_then_anywhere() {
        assert_eq!(split_phonemes(" ab cd ", 10), vec!["ab cd"]);
        assert!(split_phonemes("   ", 10).is_empty());
        // A clause mark that fits wins over a later space.
        assert_eq!(
            split_phonemes("aaa, bbb ccc ddd", 12),
            vec!["aaa,", "bbb ccc ddd"]
        );
        // No mark: the last space that fits.
        assert_eq!(split_phonemes("aaa bbb ccc", 8), vec!["aaa bbb", "ccc"]);
        // One long run: cut at the limit.
        assert_eq!(split_phonemes("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        // Every piece fits, nothing is lost but spaces at the cuts.
        let long = "wˈʌn tˈuː, θɹˈiː fˈɔːɹ; ".repeat(60);
        let pieces = split_phonemes(&long, KOKORO_MAX_TOKENS);
        assert!(pieces.len() >= 2);
        assert!(
            pieces
                .iter()
                .all(|p| p.chars().count() <= KOKORO_MAX_TOKENS)
        );
        let squash = |s: &str| s.chars().filter(|c| *c != ' ').collect::<String>();
        assert_eq!(squash(&pieces.concat()), squash(&long));
        assert!(pieces[..pieces.len() - 1].iter().all(|p| p.ends_with(';')));
    }

    #[test]
    fn trimming_removes_only_the_silence_around_the_sound() {
        let mut audio = vec![0.0f32; 24_000];
        for (i, s) in audio[8_000..16_000].iter_mut().enumerate() {
            *s = (i as f32 * 0.1).sin() * 0.5;
        }
        let trimmed = trim_silence(&audio);
        // The sound and at most a frame either side of it.
        assert!(trimmed.len() >= 8_000 && trimmed.len() <= 8_000 + 2 * 2048);
        assert!(trim_silence(&[0.0; 5000]).is_empty());
        assert!(trim_silence(&[]).is_empty());
    }

    #[test]
    fn bad_speed_is_refused() {
        assert!(check_speed(1.0).is_ok());
        assert!(check_speed(0.5).is_ok() && check_speed(2.0).is_ok());
        assert!(check_speed(0.49).is_err());
        assert!(check_speed(f32::NAN).is_err());
        assert!(check_speed(3.0).unwrap_err().to_string().contains("0.5"));
    }
}

//! Where prompts come from: a built-in generator of varied English sentences, a local file
//! (txt, csv or jsonl), or a Hugging Face dataset through the datasets-server rows API (the
//! seed's `--hub_key` route). Every prompt is normalized once here; the validator's copy is the
//! only reference its scoring ever uses.

use rand::Rng;
use rand::seq::SliceRandom;
use std::path::Path;
use unicode_normalization::UnicodeNormalization;

/// The longest prompt sent, in characters (the original subnet's limit).
pub const MAX_PROMPT_CHARS: usize = 256;

/// Why prompts could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromptError {
    /// The prompts file cannot be read.
    #[error("cannot read prompts file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds no usable prompt.
    #[error(
        "no usable prompt in {0} (expected one prompt per line, a csv with a `text` column, or jsonl with a `text` field)"
    )]
    Empty(String),
    /// The dataset server failed or answered something unexpected.
    #[error("dataset {dataset}: {msg}")]
    Dataset {
        /// The dataset.
        dataset: String,
        /// What went wrong.
        msg: String,
    },
}

/// Collapses whitespace, applies Unicode NFC, drops control characters, and cuts to at most
/// [`MAX_PROMPT_CHARS`] characters at a word boundary (never mid-word, never a random
/// character). Returns `None` when nothing speakable is left.
pub fn normalize_prompt(raw: &str) -> Option<String> {
    let cleaned: String = raw
        .nfc()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    let mut out = String::new();
    for w in words {
        let extra = if out.is_empty() { 0 } else { 1 };
        if out.chars().count() + extra + w.chars().count() > MAX_PROMPT_CHARS {
            break;
        }
        if extra == 1 {
            out.push(' ');
        }
        out.push_str(w);
    }
    (out.chars().any(char::is_alphabetic)).then_some(out)
}

/// A source of prompts.
pub trait PromptSource: Send {
    /// The next prompt, already normalized.
    fn next_prompt(&mut self) -> String;
}

/// Prompts loaded up front (from a file or a dataset page), served in shuffled order.
#[derive(Debug)]
pub struct PromptList {
    prompts: Vec<String>,
    cursor: usize,
}

impl PromptList {
    /// A list from raw prompts; unusable ones are dropped.
    pub fn new(raw: impl IntoIterator<Item = String>) -> Option<Self> {
        let mut prompts: Vec<String> = raw
            .into_iter()
            .filter_map(|p| normalize_prompt(&p))
            .collect();
        if prompts.is_empty() {
            return None;
        }
        prompts.shuffle(&mut rand::thread_rng());
        Some(PromptList { prompts, cursor: 0 })
    }

    /// Loads `--prompts.file`: `.jsonl` (field `text`, or `prompt`), `.csv` (column `text` or
    /// `prompt`, else the first), otherwise one prompt per line.
    pub fn from_file(path: &Path) -> Result<Self, PromptError> {
        let shown = path.display().to_string();
        let data = std::fs::read_to_string(path).map_err(|source| PromptError::Io {
            path: shown.clone(),
            source,
        })?;
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let raw: Vec<String> = match ext.as_str() {
            "jsonl" | "ndjson" => data
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter_map(|v| {
                    v.get("text")
                        .or_else(|| v.get("prompt"))
                        .and_then(|t| t.as_str())
                        .map(str::to_string)
                })
                .collect(),
            "csv" => parse_csv_column(&data),
            _ => data.lines().map(str::to_string).collect(),
        };
        Self::new(raw).ok_or(PromptError::Empty(shown))
    }

    /// Number of prompts.
    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    /// True when empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }
}

impl PromptSource for PromptList {
    fn next_prompt(&mut self) -> String {
        if self.cursor >= self.prompts.len() {
            self.prompts.shuffle(&mut rand::thread_rng());
            self.cursor = 0;
        }
        self.cursor += 1;
        self.prompts[self.cursor - 1].clone()
    }
}

/// The `text` (or `prompt`) column of a CSV with a header row; RFC 4180 quoting.
fn parse_csv_column(data: &str) -> Vec<String> {
    let rows = parse_csv(data);
    let Some((header, body)) = rows.split_first() else {
        return Vec::new();
    };
    let col = header
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case("text"))
        .or_else(|| {
            header
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case("prompt"))
        })
        .unwrap_or(0);
    body.iter().filter_map(|r| r.get(col).cloned()).collect()
}

fn parse_csv(data: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = data.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            ('\r', false) => {}
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// Varied English prompts from templates: names, numbers, dates, times, money, questions and
/// punctuation, so miners cannot precompute answers and number reading is exercised.
#[derive(Default)]
pub struct GeneratedPrompts;

const NAMES: &[&str] = &[
    "Amelia", "Noah", "Priya", "Mateo", "Yuki", "Olivia", "Kwame", "Sofia", "Liam", "Fatima",
    "Ethan", "Chloe", "Dmitri", "Aisha", "Lucas", "Hannah", "Diego", "Mei", "Samuel", "Zara",
];
const PLACES: &[&str] = &[
    "Lisbon",
    "the harbor",
    "Nairobi",
    "the old library",
    "Vancouver",
    "the train station",
    "Kyoto",
    "the farmers market",
    "Buenos Aires",
    "the mountain cabin",
    "Oslo",
    "the museum",
];
const THINGS: &[&str] = &[
    "umbrellas",
    "notebooks",
    "tickets",
    "oranges",
    "bicycles",
    "letters",
    "candles",
    "maps",
    "chairs",
    "postcards",
    "lanterns",
    "sandwiches",
];
const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const ADJECTIVES: &[&str] = &[
    "quiet", "crowded", "bright", "rainy", "peaceful", "noisy", "cold", "sunny", "busy", "calm",
];
const TEMPLATES: &[&str] = &[
    "{name} bought {n} {things} in {place} on {month} {day}, {year}.",
    "Did {name} really walk {n} kilometers to {place} before noon?",
    "The meeting with {name} moved to {hour}:{minute} on {month} {day}; please bring the {things}.",
    "\"It's {adj} in {place} today,\" said {name}, counting {n} {things}.",
    "Why would anyone leave {n} {things} at {place} in the middle of {month}?",
    "{name} paid ${dollars}.{cents} for {n} {things}, which seemed fair.",
    "On {month} {day}, {year}, {name} finally reached {place}; it was {adj} and beautiful.",
    "Please remind {name} that the train to {place} leaves at {hour}:{minute} sharp.",
    "About {pct} percent of the {things} in {place} were sold by {month}.",
    "How many {things} can {name} carry up {n} flights of stairs without resting?",
    "{name} and {name2} argued for {n} minutes about the {adj} weather in {place}.",
    "The {adj} road to {place} is {n} miles long, or so {name} claims.",
];

impl GeneratedPrompts {
    fn render(rng: &mut impl Rng) -> String {
        let template = TEMPLATES[rng.gen_range(0..TEMPLATES.len())];
        let pick = |rng: &mut dyn rand::RngCore, list: &[&str]| {
            list[rng.gen_range(0..list.len())].to_string()
        };
        let name = pick(rng, NAMES);
        let mut name2 = pick(rng, NAMES);
        while name2 == name {
            name2 = pick(rng, NAMES);
        }
        template
            .replace("{name2}", &name2)
            .replace("{name}", &name)
            .replace("{place}", &pick(rng, PLACES))
            .replace("{things}", &pick(rng, THINGS))
            .replace("{month}", &pick(rng, MONTHS))
            .replace("{adj}", &pick(rng, ADJECTIVES))
            .replace("{n}", &rng.gen_range(2..=99).to_string())
            .replace("{day}", &rng.gen_range(1..=28).to_string())
            .replace("{year}", &rng.gen_range(1950..=2030).to_string())
            .replace("{hour}", &rng.gen_range(1..=12).to_string())
            .replace("{minute}", &format!("{:02}", rng.gen_range(0..60) / 5 * 5))
            .replace("{dollars}", &rng.gen_range(1..=500).to_string())
            .replace("{cents}", &format!("{:02}", rng.gen_range(0..100)))
            .replace("{pct}", &rng.gen_range(5..=95).to_string())
    }
}

impl PromptSource for GeneratedPrompts {
    fn next_prompt(&mut self) -> String {
        let mut rng = rand::thread_rng();
        loop {
            if let Some(p) = normalize_prompt(&Self::render(&mut rng)) {
                return p;
            }
        }
    }
}

/// Where the Hugging Face datasets-server answers (overridable for tests and mirrors).
pub const DATASETS_SERVER: &str = "https://datasets-server.huggingface.co";

/// A page of a Hugging Face dataset, fetched once at start (`--hub_key`).
#[derive(Debug, Clone)]
pub struct HubDataset {
    /// Dataset id, e.g. `etechgrid/Prompts_for_Voice_cloning_and_TTS` (the original's).
    pub dataset: String,
    /// Config name.
    pub config: String,
    /// Split.
    pub split: String,
    /// Column holding the text.
    pub column: String,
    /// Rows to fetch.
    pub rows: usize,
    /// Base URL of the datasets server.
    pub server: String,
}

impl HubDataset {
    /// Fetches `rows` rows at a random offset and returns them as a prompt list.
    pub async fn fetch(&self, hub_key: Option<&str>) -> Result<PromptList, PromptError> {
        let err = |msg: String| PromptError::Dataset {
            dataset: self.dataset.clone(),
            msg,
        };
        let total = self.page(0, 1, hub_key).await?.1;
        let max_offset = total.saturating_sub(self.rows as u64);
        let offset = if max_offset == 0 {
            0
        } else {
            rand::thread_rng().gen_range(0..=max_offset)
        };
        let (texts, _) = self.page(offset, self.rows.min(100), hub_key).await?;
        PromptList::new(texts).ok_or_else(|| err(format!("no text in column `{}`", self.column)))
    }

    async fn page(
        &self,
        offset: u64,
        length: usize,
        hub_key: Option<&str>,
    ) -> Result<(Vec<String>, u64), PromptError> {
        let err = |msg: String| PromptError::Dataset {
            dataset: self.dataset.clone(),
            msg,
        };
        let url = format!(
            "{}/rows?dataset={}&config={}&split={}&offset={offset}&length={length}",
            self.server.trim_end_matches('/'),
            encode(&self.dataset),
            encode(&self.config),
            encode(&self.split)
        );
        let body = http_get(&url, hub_key).await.map_err(err)?;
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| err(format!("invalid JSON: {e}")))?;
        let rows = v
            .get("rows")
            .and_then(|r| r.as_array())
            .ok_or_else(|| err("no `rows` in reply".into()))?;
        let texts = rows
            .iter()
            .filter_map(|r| {
                r.get("row")?
                    .get(&self.column)?
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        let total = v
            .get("num_rows_total")
            .and_then(|n| n.as_u64())
            .unwrap_or(rows.len() as u64);
        Ok((texts, total))
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One GET with an optional bearer token; http and https.
async fn http_get(url: &str, bearer: Option<&str>) -> Result<bytes::Bytes, String> {
    use http_body_util::{BodyExt, Empty, Limited};
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("TLS roots: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Empty<bytes::Bytes>>(connector);
    let mut req = http::Request::get(url);
    if let Some(key) = bearer {
        req = req.header(http::header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let req = req.body(Empty::new()).map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(std::time::Duration::from_secs(30), client.request(req))
        .await
        .map_err(|_| "timed out after 30 s".to_string())?
        // The URL has no secret in it; the error text from hyper does not include headers.
        .map_err(|e| format!("request failed: {e}"))?;
    let status = resp.status();
    let body = Limited::new(resp.into_body(), 16 * 1024 * 1024)
        .collect()
        .await
        .map_err(|e| format!("reading reply: {e}"))?
        .to_bytes();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_a_word_boundary() {
        let long = "word ".repeat(100);
        let p = normalize_prompt(&long).expect("speakable");
        assert!(p.chars().count() <= MAX_PROMPT_CHARS);
        assert!(p.ends_with("word"));
        assert_eq!(normalize_prompt("  \t  "), None);
        assert_eq!(normalize_prompt("1234 5678"), None);
        assert_eq!(
            normalize_prompt("Hello\u{7}  world\n"),
            Some("Hello world".into())
        );
    }

    #[test]
    fn generated_prompts_are_varied_and_bounded() {
        let mut g = GeneratedPrompts;
        let prompts: Vec<String> = (0..200).map(|_| g.next_prompt()).collect();
        let distinct: std::collections::HashSet<_> = prompts.iter().collect();
        assert!(distinct.len() > 150, "only {} distinct", distinct.len());
        assert!(
            prompts
                .iter()
                .all(|p| p.chars().count() <= MAX_PROMPT_CHARS)
        );
        assert!(prompts.iter().any(|p| p.ends_with('?')));
        assert!(
            prompts
                .iter()
                .any(|p| p.chars().any(|c| c.is_ascii_digit()))
        );
    }

    #[test]
    fn files_in_three_formats() {
        let dir = tempfile::tempdir().expect("tempdir");
        let txt = dir.path().join("p.txt");
        std::fs::write(&txt, "First prompt.\n\nSecond prompt?\n").expect("write");
        assert_eq!(PromptList::from_file(&txt).expect("txt").len(), 2);
        let csv = dir.path().join("p.csv");
        std::fs::write(
            &csv,
            "id,text\n1,\"Hello, world.\"\n2,\"She said \"\"hi\"\".\"\n",
        )
        .expect("write");
        let mut list = PromptList::from_file(&csv).expect("csv");
        let mut got = vec![list.next_prompt(), list.next_prompt()];
        got.sort();
        assert_eq!(
            got,
            vec!["Hello, world.".to_string(), "She said \"hi\".".to_string()]
        );
        let jsonl = dir.path().join("p.jsonl");
        std::fs::write(
            &jsonl,
            "{\"text\": \"One.\"}\nnot json\n{\"prompt\": \"Two.\"}\n",
        )
        .expect("write");
        assert_eq!(PromptList::from_file(&jsonl).expect("jsonl").len(), 2);
        let empty = dir.path().join("e.txt");
        std::fs::write(&empty, "\n\n").expect("write");
        assert!(matches!(
            PromptList::from_file(&empty),
            Err(PromptError::Empty(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn normalization_never_panics_and_respects_the_limit(s in "\\PC{0,600}") {
            if let Some(p) = normalize_prompt(&s) {
                proptest::prop_assert!(p.chars().count() <= MAX_PROMPT_CHARS);
                proptest::prop_assert!(!p.starts_with(' ') && !p.ends_with(' '));
            }
        }
    }
}

//! Reading replies without trusting their size: the validator's own view of a `TextToSpeech`
//! reply ([`TtsReply`]) reads only the fields it scores, skips everything else without building
//! it (`clone_input`, echoed or unknown fields), stops at the longest clip the checks accept, and
//! cuts every string the miner controls with [`bounded_text`].

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, SeqAccess, Visitor};
use std::fmt;

/// Longest clip the validator's checks accept, seconds (scoring's `MAX_DURATION_S`).
pub const MAX_CLIP_SECONDS: usize = 30;
/// Highest sample rate the checks accept, Hz (scoring's `ALLOWED_SAMPLE_RATES`).
pub const MAX_SAMPLE_RATE: usize = 48_000;
/// Samples in the longest acceptable clip; a reply with more is refused while it is parsed.
pub const MAX_SAMPLES: usize = MAX_CLIP_SECONDS * MAX_SAMPLE_RATE;
/// Longest JSON spelling of one sample an honest miner sends, separator included: Python's
/// `json.dumps` of a float is its shortest round-trip repr, at most 17 significant digits, a
/// sign and an exponent (`-1.2345678901234567e-05, `).
pub const MAX_SAMPLE_JSON_BYTES: usize = 25;
/// Room for everything else in a reply (the echoed prompt, terminals, names).
pub const REPLY_SLACK_BYTES: usize = 1 << 20;
/// The largest `TextToSpeech` reply worth reading: the longest acceptable clip in its longest
/// spelling, plus slack (about 37 MB). Anything larger cannot pass the checks.
pub const MAX_TTS_REPLY_BYTES: usize = MAX_SAMPLES * MAX_SAMPLE_JSON_BYTES + REPLY_SLACK_BYTES;
/// Longest miner-controlled string kept (status messages, model names), in bytes.
pub const MAX_MINER_TEXT_BYTES: usize = 512;

/// Text a miner controls, made safe to log and store: control characters removed (no forged log
/// lines, no terminal escapes) and cut to at most [`MAX_MINER_TEXT_BYTES`] bytes on a character
/// boundary. Reads at most a bounded prefix of `s`, so its cost does not grow with the input.
pub fn bounded_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_MINER_TEXT_BYTES));
    for c in s.chars() {
        if c.is_control() {
            continue;
        }
        if out.len() + c.len_utf8() > MAX_MINER_TEXT_BYTES {
            break;
        }
        out.push(c);
    }
    out
}

/// A reply type the dendrite can read in one pass. Any [`Synapse`](audiosubnet_protocol::Synapse)
/// is one (its `axon` terminal is then read in a second pass when the status headers are
/// absent); [`TtsReply`] reads the terminal in the same pass.
pub trait Reply: DeserializeOwned + Send + 'static {
    /// Whether [`take_axon`](Self::take_axon) returns the terminal read while parsing.
    const READS_AXON: bool = false;

    /// The body's `axon` status, when this type read it while parsing; `None` asks the dendrite
    /// for a second pass over the body.
    fn take_axon(&mut self) -> Option<AxonStatus> {
        None
    }
}

impl<S: audiosubnet_protocol::Synapse> Reply for S {}

/// The status part of a reply's `axon` terminal, bounded.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct AxonStatus {
    /// The axon's status code.
    #[serde(default, deserialize_with = "lenient_int")]
    pub status_code: Option<i64>,
    /// Its message, through [`bounded_text`].
    #[serde(default, deserialize_with = "bounded_opt_text")]
    pub status_message: Option<String>,
    /// Seconds it spent.
    #[serde(default, deserialize_with = "lenient_float")]
    pub process_time: Option<f64>,
}

/// What the validator reads of a `TextToSpeech` or `MusicGeneration` reply; every other field is
/// skipped unread.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct TtsReply {
    /// The engine the miner says it used, through [`bounded_text`].
    #[serde(default, deserialize_with = "bounded_opt_text")]
    pub model_name: Option<String>,
    /// Mono samples (`music_output` in a `MusicGeneration` reply); more than [`MAX_SAMPLES`]
    /// is a parse error.
    #[serde(default, alias = "music_output", deserialize_with = "bounded_samples")]
    pub speech_output: Option<Vec<f32>>,
    /// Declared rate of `speech_output`, Hz.
    #[serde(default)]
    pub sample_rate: Option<u32>,
    /// The axon terminal, status only.
    #[serde(default)]
    axon: Option<AxonStatus>,
}

impl TtsReply {
    /// A reply built from decoded audio (the `btauth/1` `/tts` path), with a 200 axon status so
    /// it reads like a successful Synapse reply.
    pub fn from_audio(model_name: Option<String>, samples: Vec<f32>, sample_rate: u32) -> Self {
        TtsReply {
            model_name: model_name.as_deref().map(bounded_text),
            speech_output: Some(samples),
            sample_rate: Some(sample_rate),
            axon: Some(AxonStatus {
                status_code: Some(200),
                status_message: Some("Success".into()),
                process_time: None,
            }),
        }
    }

    /// The rate of `speech_output`, with the original validator's fallback on `model_name`
    /// (as [`audiosubnet_protocol::TextToSpeech::effective_sample_rate`]).
    pub fn effective_sample_rate(&self) -> u32 {
        audiosubnet_protocol::effective_sample_rate(self.sample_rate, self.model_name.as_deref())
    }
}

impl Reply for TtsReply {
    const READS_AXON: bool = true;

    fn take_axon(&mut self) -> Option<AxonStatus> {
        Some(self.axon.take().unwrap_or_default())
    }
}

/// Parses a reply body as `R`, refusing bodies over `limit` bytes before parsing.
pub fn parse_body<R: Reply>(body: &[u8], limit: usize) -> Result<R, String> {
    if body.len() > limit {
        return Err(format!("body exceeds {limit} bytes"));
    }
    serde_json::from_slice(body).map_err(|e| bounded_text(&e.to_string()))
}

fn bounded_opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(self)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            Ok(Some(bounded_text(s)))
        }
    }
    d.deserialize_option(V)
}

fn bounded_samples<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<f32>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Vec<f32>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a list of at most {MAX_SAMPLES} numbers, or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_seq(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            // No capacity from the size hint: a miner's claim is not a reason to allocate.
            let mut out = Vec::new();
            while let Some(x) = seq.next_element::<f32>()? {
                if out.len() == MAX_SAMPLES {
                    return Err(de::Error::custom(format!(
                        "speech_output longer than {MAX_SAMPLES} samples"
                    )));
                }
                out.push(x);
            }
            out.shrink_to_fit();
            Ok(Some(out))
        }
    }
    d.deserialize_option(V)
}

/// An integer status as the SDK writes it: a number, or a numeric string; anything else is
/// skipped as absent.
fn lenient_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Lenient::deserialize(d)?.0.and_then(|n| match n {
        Number::I(i) => Some(i),
        Number::F(f) => (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64),
    }))
}

fn lenient_float<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(Lenient::deserialize(d)?.0.map(|n| match n {
        Number::I(i) => i as f64,
        Number::F(f) => f,
    }))
}

#[derive(Clone, Copy)]
enum Number {
    I(i64),
    F(f64),
}

/// A number, a numeric string, or anything else (skipped without being built).
struct Lenient(Option<Number>);

impl<'de> Deserialize<'de> for Lenient {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Lenient;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Lenient, E> {
                Ok(Lenient(Some(Number::I(v))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Lenient, E> {
                Ok(Lenient(i64::try_from(v).ok().map(Number::I)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Lenient, E> {
                Ok(Lenient(Some(Number::F(v))))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Lenient, E> {
                let s = s.trim();
                Ok(Lenient(
                    s.parse::<i64>()
                        .map(Number::I)
                        .or_else(|_| s.parse::<f64>().map(Number::F))
                        .ok(),
                ))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Lenient, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Lenient, A::Error> {
                IgnoredAny.visit_seq(seq)?;
                Ok(Lenient(None))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Lenient, A::Error> {
                IgnoredAny.visit_map(map)?;
                Ok(Lenient(None))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_text_cuts_on_a_char_boundary_and_drops_controls() {
        assert_eq!(bounded_text("a\u{1b}[2J\nb\tc"), "a[2Jbc");
        let long = "é".repeat(1000);
        let cut = bounded_text(&long);
        assert_eq!(cut.len(), MAX_MINER_TEXT_BYTES);
        assert!(cut.chars().all(|c| c == 'é'));
        let odd = format!("x{}", "é".repeat(600));
        assert_eq!(bounded_text(&odd).len(), MAX_MINER_TEXT_BYTES - 1);
    }

    #[test]
    fn tts_reply_reads_scored_fields_and_skips_the_rest() {
        let body = br#"{"clone_input":[[],[1,{"a":[]}],"x"],"model_name":"m\nx","speech_output":[0.5,-1,2147483647],
            "sample_rate":22050,"axon":{"status_code":"200","status_message":"OK","hotkey":[1]},"extra":{"deep":[[[]]]}}"#;
        let mut r: TtsReply = parse_body(body, 1 << 20).expect("parses");
        assert_eq!(r.model_name.as_deref(), Some("mx"));
        assert_eq!(r.speech_output.as_ref().map(Vec::len), Some(3));
        assert_eq!(r.effective_sample_rate(), 22_050);
        let axon = r.take_axon().expect("read in the same pass");
        assert_eq!(axon.status_code, Some(200));
        assert_eq!(axon.status_message.as_deref(), Some("OK"));
        let none: TtsReply = parse_body(br#"{"speech_output":null}"#, 100).expect("parses");
        assert_eq!(none.speech_output, None);
        assert!(parse_body::<TtsReply>(br#"{"speech_output":[1]}"#, 5).is_err());
    }

    #[test]
    fn too_many_samples_are_refused_while_parsing() {
        let mut body = String::from(r#"{"speech_output":["#);
        body.push_str(&"0,".repeat(MAX_SAMPLES));
        body.push_str("0]}");
        let err = parse_body::<TtsReply>(body.as_bytes(), usize::MAX).expect_err("too long");
        assert!(err.contains("longer than"), "{err}");
    }

    #[test]
    fn the_cap_fits_the_longest_clip_in_the_longest_spelling() {
        let sample = "-1.2345678901234567e-05, ";
        assert_eq!(sample.len(), MAX_SAMPLE_JSON_BYTES);
        const { assert!(MAX_TTS_REPLY_BYTES < 40_000_000) };
    }
}

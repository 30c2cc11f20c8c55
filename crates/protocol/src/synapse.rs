//! Synapse types and their JSON bodies: what a dendrite sends, what an axon echoes back.

use crate::error::ProtocolError;
use crate::hash::{EMPTY_BODY_HASH, body_hash};
use crate::terminal::TerminalInfo;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A request/response type carried over the Synapse protocol. The route is `/{NAME}`.
pub trait Synapse: Serialize + DeserializeOwned + Default + Clone + Send + Sync + 'static {
    /// The Python class name; also the HTTP path.
    const NAME: &'static str;
    /// Fields bound to the signature through the body hash, in definition order.
    const HASH_FIELDS: &'static [&'static str];
    /// Fields without a default in the Python class, with the JSON of their type's default
    /// (`""` for `str`): the dendrite sends these as `bt_header_input_obj_*` placeholders.
    const REQUIRED_FIELDS: &'static [(&'static str, &'static str)] = &[];
    /// Whether the axon serves clients that sign the constant empty-field hash, as synapses
    /// declared without `required_hash_fields` do (the original subnet's validators). Their
    /// body is not integrity-protected.
    const ACCEPTS_UNHASHED: bool = false;
}

/// How a verified request's body is bound to its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyBinding {
    /// The signed hash covers the synapse's hashed fields.
    Hashed,
    /// The client signed the empty-field hash: the body is unauthenticated.
    Legacy,
}

/// Checks the signed `computed_body_hash` against the body for synapse `S`.
pub fn check_body_hash<S: Synapse>(
    body: &Map<String, Value>,
    signed_hash: &str,
) -> Result<BodyBinding, ProtocolError> {
    if signed_hash == body_hash(body, S::HASH_FIELDS) {
        Ok(BodyBinding::Hashed)
    } else if S::ACCEPTS_UNHASHED && signed_hash == EMPTY_BODY_HASH {
        Ok(BodyBinding::Legacy)
    } else {
        Err(ProtocolError::BodyHashMismatch)
    }
}

/// The body hash a dendrite signs for `synapse`.
pub fn synapse_body_hash<S: Synapse>(synapse: &S) -> String {
    match serde_json::to_value(synapse) {
        Ok(Value::Object(map)) => body_hash(&map, S::HASH_FIELDS),
        _ => body_hash(&Map::new(), S::HASH_FIELDS),
    }
}

/// The names of the fields `S` serializes (its own fields, not the envelope's).
pub fn field_names<S: Synapse>() -> Vec<String> {
    match serde_json::to_value(S::default()) {
        Ok(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// The JSON body a dendrite sends: the envelope fields, both terminals, and the synapse fields.
#[derive(Serialize)]
pub struct RequestBody<'a, S: Synapse> {
    /// Synapse class name.
    pub name: &'a str,
    /// Caller timeout, seconds.
    pub timeout: f64,
    /// `sys.getsizeof` noise in Python; 0 is accepted.
    pub total_size: i64,
    /// `sys.getsizeof` noise in Python; 0 is accepted.
    pub header_size: i64,
    /// The caller's terminal (mirrors the headers; unauthenticated).
    pub dendrite: &'a TerminalInfo,
    /// The target's terminal.
    pub axon: &'a TerminalInfo,
    /// Empty in bodies; the real value travels in the signed header.
    pub computed_body_hash: &'a str,
    /// The hashed fields, for 6.x axons where this is a pydantic field.
    pub required_hash_fields: &'a [&'a str],
    /// The synapse's own fields.
    #[serde(flatten)]
    pub synapse: &'a S,
}

/// The JSON body an axon returns on success: the request body echoed, overlaid with the
/// synapse's fields as the handler left them and the axon terminal with status 200.
#[derive(Serialize)]
pub struct ResponseBody<'a, S: Synapse> {
    /// Request keys that are neither the synapse's fields nor the terminals.
    #[serde(flatten)]
    pub echo: &'a Map<String, Value>,
    /// The caller's terminal as received.
    pub dendrite: &'a TerminalInfo,
    /// This axon's terminal with `status_code`, `status_message` and `process_time`.
    pub axon: &'a TerminalInfo,
    /// The handler's output.
    #[serde(flatten)]
    pub synapse: &'a S,
}

/// Splits a parsed request body into the echo part (without `S`'s fields and the terminals)
/// and the typed synapse.
pub fn split_request_body<S: Synapse>(
    mut body: Map<String, Value>,
) -> Result<(Map<String, Value>, S), ProtocolError> {
    let own: Map<String, Value> = field_names::<S>()
        .into_iter()
        .filter_map(|k| body.shift_remove(&k).map(|v| (k, v)))
        .collect();
    body.shift_remove("dendrite");
    body.shift_remove("axon");
    let synapse = S::deserialize(Value::Object(own))
        .map_err(|e| ProtocolError::InvalidBody(format!("{} fields: {e}", S::NAME)))?;
    Ok((body, synapse))
}

/// The `axon` terminal of a response body, read without materialising the (large) outputs.
#[derive(Deserialize, Default)]
pub struct ResponseTerminals {
    /// The axon's terminal, if the body has one.
    #[serde(default)]
    pub axon: Option<TerminalInfo>,
}

/// The text-to-speech request of the audio subnet, wire-compatible with the original
/// `TextToSpeech` (all fields default to `None`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TextToSpeech {
    /// The prompt to speak. Bound to the signature (`required_hash_fields = ["text_input"]`).
    #[serde(default)]
    pub text_input: Option<String>,
    /// The model the miner used; the original validator inferred the sample rate from it.
    #[serde(default)]
    pub model_name: Option<String>,
    /// Unused by text-to-speech; kept for compatibility.
    #[serde(default)]
    pub clone_input: Option<Vec<Value>>,
    /// Mono samples as a JSON list of numbers (floats in [-1, 1], or int PCM from old miners).
    #[serde(default)]
    pub speech_output: Option<Vec<f32>>,
    /// Hz of `speech_output`. Absent from the original protocol; when `None` the receiver falls
    /// back to the original model-name rule.
    #[serde(default)]
    pub sample_rate: Option<u32>,
}

impl Synapse for TextToSpeech {
    const NAME: &'static str = "TextToSpeech";
    const HASH_FIELDS: &'static [&'static str] = &["text_input"];
    const ACCEPTS_UNHASHED: bool = true;
}

/// The sample rate of a `TextToSpeech` reply: the declared one, else the original validator's
/// inference from `model_name` (Bark 24 kHz, ElevenLabs/MeloTTS 44.1 kHz, else 16 kHz).
pub fn effective_sample_rate(declared: Option<u32>, model_name: Option<&str>) -> u32 {
    if let Some(sr) = declared {
        return sr;
    }
    match model_name {
        Some("suno/bark") => 24_000,
        Some(m) if m.contains("elevenlabs/eleven") || m.contains("MeloTTS") => 44_100,
        _ => 16_000,
    }
}

impl TextToSpeech {
    /// A request for `text`.
    pub fn request(text: impl Into<String>) -> Self {
        TextToSpeech {
            text_input: Some(text.into()),
            ..Default::default()
        }
    }

    /// The sample rate of `speech_output`: the declared one, else the original validator's
    /// inference from `model_name` (Bark 24 kHz, ElevenLabs/MeloTTS 44.1 kHz, else 16 kHz).
    pub fn effective_sample_rate(&self) -> u32 {
        effective_sample_rate(self.sample_rate, self.model_name.as_deref())
    }
}

/// Samples per second of MusicGen's audio, and of every `MusicGeneration` reply that declares
/// no rate (the original validator assumed it for all music).
pub const MUSIC_SAMPLE_RATE: u32 = 32_000;
/// MusicGen's audio tokens per second: the original `duration` field counts these
/// (`max_new_tokens`; 755 ≈ 15 s).
pub const MUSICGEN_TOKENS_PER_SECOND: f64 = 50.0;
/// Seconds of music asked for when a request names no duration.
pub const DEFAULT_MUSIC_SECONDS: f64 = 15.0;

/// The text-to-music request of the audio subnet, wire-compatible with the original
/// `MusicGeneration` (all fields default to `None`).
///
/// Two duration fields, never confused: `duration` is the original's, a MusicGen *token* count
/// (50 per second: the original validator sent 755 for about 15 s); `duration_seconds` is ours,
/// in seconds, and wins when both are present ([`MusicGeneration::requested_seconds`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MusicGeneration {
    /// The prompt. Bound to the signature (`required_hash_fields = ["text_input"]`).
    #[serde(default)]
    pub text_input: Option<String>,
    /// The model the miner used (the original's default was `facebook/musicgen-medium`).
    #[serde(default)]
    pub model_name: Option<String>,
    /// The original's length: MusicGen tokens, 50 per second of audio.
    #[serde(default)]
    pub duration: Option<i64>,
    /// The length in seconds; absent from the original protocol.
    #[serde(default)]
    pub duration_seconds: Option<f64>,
    /// Mono samples as a JSON list of floats in [-1, 1].
    #[serde(default)]
    pub music_output: Option<Vec<f32>>,
    /// Hz of `music_output`; absent from the original protocol, where it was always 32 kHz.
    #[serde(default)]
    pub sample_rate: Option<u32>,
}

impl Synapse for MusicGeneration {
    const NAME: &'static str = "MusicGeneration";
    const HASH_FIELDS: &'static [&'static str] = &["text_input"];
    const ACCEPTS_UNHASHED: bool = true;
}

impl MusicGeneration {
    /// A request for `seconds` of music for `text`, with both duration fields set so that
    /// original miners (which read `duration` as tokens) and ours agree on the length.
    pub fn request(text: impl Into<String>, seconds: f64) -> Self {
        MusicGeneration {
            text_input: Some(text.into()),
            duration: Some((seconds * MUSICGEN_TOKENS_PER_SECOND).round() as i64),
            duration_seconds: Some(seconds),
            ..Default::default()
        }
    }

    /// The length asked for, in seconds: `duration_seconds`, else `duration` tokens / 50, else
    /// [`DEFAULT_MUSIC_SECONDS`]. May be non-finite or non-positive: the miner checks it.
    pub fn requested_seconds(&self) -> f64 {
        match (self.duration_seconds, self.duration) {
            (Some(seconds), _) => seconds,
            (None, Some(tokens)) => tokens as f64 / MUSICGEN_TOKENS_PER_SECOND,
            (None, None) => DEFAULT_MUSIC_SECONDS,
        }
    }

    /// The sample rate of `music_output`: the declared one, else 32 kHz.
    pub fn effective_sample_rate(&self) -> u32 {
        self.sample_rate.unwrap_or(MUSIC_SAMPLE_RATE)
    }
}

/// The base `Synapse` route every Python axon serves: no fields, echoed back (a ping).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ping {}

impl Synapse for Ping {
    const NAME: &'static str = "Synapse";
    const HASH_FIELDS: &'static [&'static str] = &[];
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tts_hash_binds_the_prompt() {
        let a = synapse_body_hash(&TextToSpeech::request("hello"));
        let b = synapse_body_hash(&TextToSpeech::request("hullo"));
        assert_ne!(a, b);
        let body = json!({"text_input": "hello", "speech_output": null});
        let body = body.as_object().expect("object");
        assert_eq!(
            check_body_hash::<TextToSpeech>(body, &a),
            Ok(BodyBinding::Hashed)
        );
        assert_eq!(
            check_body_hash::<TextToSpeech>(body, EMPTY_BODY_HASH),
            Ok(BodyBinding::Legacy)
        );
        assert_eq!(
            check_body_hash::<TextToSpeech>(body, &b),
            Err(ProtocolError::BodyHashMismatch)
        );
        assert_eq!(
            check_body_hash::<Ping>(&Map::new(), EMPTY_BODY_HASH),
            Ok(BodyBinding::Hashed)
        );
    }

    #[test]
    fn response_echoes_unknown_fields_and_overlays_outputs() {
        let body = json!({
            "name": "TextToSpeech", "timeout": 12.0, "roles": ["user"],
            "dendrite": {"hotkey": "x"}, "axon": {}, "text_input": "hi", "speech_output": null
        });
        let (echo, mut tts) =
            split_request_body::<TextToSpeech>(body.as_object().cloned().expect("object"))
                .expect("valid body");
        assert_eq!(tts.text_input.as_deref(), Some("hi"));
        tts.speech_output = Some(vec![0.5, -0.25]);
        tts.sample_rate = Some(22_050);
        let axon = TerminalInfo {
            status_code: Some(200),
            ..Default::default()
        };
        let dendrite = TerminalInfo::default();
        let out = serde_json::to_value(ResponseBody {
            echo: &echo,
            dendrite: &dendrite,
            axon: &axon,
            synapse: &tts,
        })
        .expect("serializes");
        assert_eq!(out["roles"], json!(["user"]));
        assert_eq!(out["speech_output"], json!([0.5, -0.25]));
        assert_eq!(out["axon"]["status_code"], json!(200));
        assert_eq!(out["text_input"], json!("hi"));
    }

    #[test]
    fn music_duration_reads_seconds_then_tokens() {
        let original: MusicGeneration =
            serde_json::from_str(r#"{"text_input":"lo-fi","duration":755}"#).expect("parses");
        assert!((original.requested_seconds() - 15.1).abs() < 1e-9);
        assert_eq!(original.effective_sample_rate(), 32_000);
        let ours = MusicGeneration::request("lo-fi", 12.5);
        assert_eq!(ours.duration, Some(625));
        assert_eq!(ours.requested_seconds(), 12.5);
        let both: MusicGeneration =
            serde_json::from_str(r#"{"duration":755,"duration_seconds":4.0}"#).expect("parses");
        assert_eq!(both.requested_seconds(), 4.0);
        assert_eq!(MusicGeneration::default().requested_seconds(), 15.0);
        let a = synapse_body_hash(&MusicGeneration::request("jazz", 5.0));
        let b = synapse_body_hash(&MusicGeneration::request("jazz", 30.0));
        assert_eq!(a, b, "only the prompt is hashed, as in the original");
        assert_ne!(a, synapse_body_hash(&MusicGeneration::request("rock", 5.0)));
    }

    #[test]
    fn int_pcm_from_old_miners_parses() {
        let t: TextToSpeech =
            serde_json::from_str(r#"{"speech_output":[2147483647,-5,0.5]}"#).expect("parses");
        assert_eq!(t.speech_output.as_ref().map(Vec::len), Some(3));
        assert_eq!(t.effective_sample_rate(), 16_000);
    }
}

//! The `POST /tts` and `POST /music` endpoints for `btauth/1` callers: a small JSON request,
//! binary audio back.
//!
//! The Synapse reply carries audio as a JSON list of floats (~2.3 MB for 5 s at 22 kHz); these
//! endpoints answer with a 16-bit PCM WAV body (or raw s16le PCM), about 160 KB for 5 s at
//! 16 kHz. Sample rate and model travel in headers ([`HEADER_SAMPLE_RATE`], [`HEADER_MODEL`]).

use serde::{Deserialize, Serialize};

/// The speech route (the path, without a query).
pub const TTS_PATH: &str = "/tts";
/// The music route (the path, without a query).
pub const MUSIC_PATH: &str = "/music";
/// Response header: samples per second of the audio body.
pub const HEADER_SAMPLE_RATE: &str = "X-Audio-Sample-Rate";
/// Response header: the engine that spoke.
pub const HEADER_MODEL: &str = "X-Audio-Model";
/// Response header: `wav` or `s16le`.
pub const HEADER_ENCODING: &str = "X-Audio-Encoding";
/// Lowest preferred sample rate honoured.
pub const MIN_SAMPLE_RATE: u32 = 8_000;
/// Highest preferred sample rate honoured.
pub const MAX_SAMPLE_RATE: u32 = 48_000;

/// The request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TtsRequest {
    /// What to say.
    pub text: String,
    /// A voice or speaker name; engines that have one voice ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    /// Preferred output sample rate ([`MIN_SAMPLE_RATE`]..=[`MAX_SAMPLE_RATE`]); absent: the
    /// engine's own rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
}

/// The `POST /music` request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MusicRequest {
    /// What to play: style, mood, instruments, tempo, key.
    pub text: String,
    /// Seconds of music; absent: [`crate::DEFAULT_MUSIC_SECONDS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// Preferred output sample rate ([`MIN_SAMPLE_RATE`]..=[`MAX_SAMPLE_RATE`]); absent: the
    /// engine's own rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
}

impl MusicRequest {
    /// The length asked for, in seconds (not checked: the miner compares it with its limit).
    pub fn seconds(&self) -> f64 {
        self.duration_seconds
            .unwrap_or(crate::DEFAULT_MUSIC_SECONDS)
    }
}

/// How the audio body is encoded, chosen by the request's `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AudioEncoding {
    /// `audio/wav`: a RIFF/WAVE file, mono 16-bit PCM.
    #[default]
    Wav,
    /// `application/octet-stream`: headerless mono signed 16-bit little-endian PCM.
    S16le,
}

impl AudioEncoding {
    /// The response `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            AudioEncoding::Wav => "audio/wav",
            AudioEncoding::S16le => "application/octet-stream",
        }
    }

    /// The [`HEADER_ENCODING`] value.
    pub fn name(self) -> &'static str {
        match self {
            AudioEncoding::Wav => "wav",
            AudioEncoding::S16le => "s16le",
        }
    }

    /// Picks the encoding from an `Accept` header: the first listed media type that names one
    /// (`audio/wav`, `audio/x-wav`, `audio/wave` → WAV; `audio/L16`,
    /// `application/octet-stream` → raw s16le), WAV when none does or the header is absent.
    pub fn from_accept(accept: Option<&str>) -> AudioEncoding {
        for range in accept.unwrap_or_default().split(',') {
            let media = range.split(';').next().unwrap_or_default().trim();
            let media = media.to_ascii_lowercase();
            match media.as_str() {
                "audio/wav" | "audio/x-wav" | "audio/wave" => return AudioEncoding::Wav,
                "audio/l16" | "application/octet-stream" => return AudioEncoding::S16le,
                _ => {}
            }
        }
        AudioEncoding::Wav
    }
}

/// An error reply body: `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TtsError {
    /// What went wrong (never echoes auth headers or the payload).
    pub error: String,
}

/// Encodes mono samples in [-1, 1] as s16le PCM with the workspace's one rule
/// ([`audiosubnet_audio::f32_to_i16`]: NaN silent, clamped, × 32767, rounded), so a `/tts` reply
/// has the same samples as the WAV of the same speech.
pub fn pcm16le(samples: &[f32]) -> Vec<u8> {
    audiosubnet_audio::encode_pcm16le(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_picks_the_encoding() {
        assert_eq!(AudioEncoding::from_accept(None), AudioEncoding::Wav);
        assert_eq!(AudioEncoding::from_accept(Some("*/*")), AudioEncoding::Wav);
        assert_eq!(
            AudioEncoding::from_accept(Some("audio/L16;rate=16000")),
            AudioEncoding::S16le
        );
        assert_eq!(
            AudioEncoding::from_accept(Some("text/html, application/octet-stream")),
            AudioEncoding::S16le
        );
        assert_eq!(
            AudioEncoding::from_accept(Some("audio/wav, audio/L16")),
            AudioEncoding::Wav
        );
    }

    #[test]
    fn request_json() {
        let r: TtsRequest = serde_json::from_str(r#"{"text":"hi"}"#).unwrap();
        assert_eq!(r.voice, None);
        let r: TtsRequest =
            serde_json::from_str(r#"{"text":"hi","voice":"a","sample_rate":16000}"#).unwrap();
        assert_eq!(r.sample_rate, Some(16000));
        assert!(serde_json::from_str::<TtsRequest>(r#"{"voice":"a"}"#).is_err());
    }

    #[test]
    fn music_request_json() {
        let r: MusicRequest = serde_json::from_str(r#"{"text":"jazz"}"#).unwrap();
        assert_eq!(r.seconds(), crate::DEFAULT_MUSIC_SECONDS);
        let r: MusicRequest =
            serde_json::from_str(r#"{"text":"jazz","duration_seconds":7.5}"#).unwrap();
        assert_eq!(r.seconds(), 7.5);
        assert!(serde_json::from_str::<MusicRequest>(r#"{"duration_seconds":3}"#).is_err());
    }

    #[test]
    fn pcm_is_clamped_little_endian() {
        assert_eq!(
            pcm16le(&[0.0, 1.0, -2.0, f32::NAN]),
            vec![0, 0, 0xff, 0x7f, 0x01, 0x80, 0, 0]
        );
    }
}

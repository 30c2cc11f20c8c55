//! The `btauth/1` client for `POST /tts` and `POST /music` (bittensor SDK 11 peers), and the
//! per-miner choice between it and the Synapse route ([`Dendrite::speak`], [`Dendrite::ask`]).
//!
//! A `/tts` call is signed with the dendrite's hotkey ([`audiosubnet_protocol::btauth::sign`]),
//! bound to the miner's hotkey, with a fresh nonce per call, and read with the same care as a
//! Synapse reply: the same per-call timeout, a byte cap fitted to the longest clip the checks
//! accept as 16-bit PCM (a larger declared or received body is refused before it is all read),
//! the WAV decoded by `audiosubnet-audio`, error bodies read up to a few KiB and bounded. The
//! result is the same [`SynapseResponse<TtsReply>`] the Synapse path returns, so the round and
//! the judge do not care how the audio travelled.

use crate::reply::{MAX_CLIP_SECONDS, MAX_SAMPLE_RATE, MAX_SAMPLES, TtsReply, bounded_text};
use crate::transport::{Transport, TransportMode};
use crate::{
    AxonTarget, BodyError, Dendrite, INLINE_PARSE_BYTES, Outcome, SynapseResponse, timed_call,
};
use audiosubnet_protocol::btauth;
use audiosubnet_protocol::tts_http::{
    HEADER_ENCODING, HEADER_MODEL, HEADER_SAMPLE_RATE, MUSIC_PATH, MusicRequest, TTS_PATH,
    TtsRequest,
};
use audiosubnet_protocol::{MUSIC_SAMPLE_RATE, MusicGeneration, TextToSpeech};
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::Full;
use std::time::{Duration, Instant};

/// Bytes per sample of the `/tts` body (16-bit PCM).
const BYTES_PER_SAMPLE: usize = 2;
/// Room for a WAV header and any extra chunks a miner's writer adds.
const WAV_HEADER_SLACK_BYTES: usize = 64 * 1024;
/// Largest `/tts` reply read: the longest clip the checks accept (30 s at 48 kHz) as 16-bit
/// PCM, plus header slack (about 2.9 MB). A larger one cannot pass the checks.
pub const MAX_BTAUTH_REPLY_BYTES: usize =
    MAX_CLIP_SECONDS * MAX_SAMPLE_RATE * BYTES_PER_SAMPLE + WAV_HEADER_SLACK_BYTES;
/// Most of a `/tts` error body read for its `{"error": …}` (ours are a line).
const MAX_TTS_ERROR_BYTES: usize = 4 * 1024;

/// What a validator asks a miner for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AudioAsk<'a> {
    /// Speech of `text`.
    Speech {
        /// The sentence.
        text: &'a str,
    },
    /// `seconds` of music for `text`.
    Music {
        /// The description (style, tempo, key, instruments).
        text: &'a str,
        /// Length asked for.
        seconds: f64,
    },
}

impl AudioAsk<'_> {
    /// The `btauth/1` route it goes to.
    pub fn path(&self) -> &'static str {
        match self {
            AudioAsk::Speech { .. } => TTS_PATH,
            AudioAsk::Music { .. } => MUSIC_PATH,
        }
    }
}

/// One miner's reply and the transport it came over.
#[derive(Debug, Clone)]
pub struct Spoken {
    /// How the reply travelled.
    pub transport: Transport,
    /// The reply, the same shape for both transports.
    pub response: SynapseResponse<TtsReply>,
}

/// A `/tts` error body (`{"error"}`; `{"message"}` as the Synapse axons write it, for peers that
/// answer the route with their generic error).
#[derive(serde::Deserialize)]
struct TtsErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl Dendrite {
    /// Asks one miner for speech over `POST /tts` (`btauth/1`), waiting at most `timeout` for the
    /// whole reply. Status codes as for Synapse calls: the miner's HTTP status, or client-side
    /// 408 (timeout), 503 (unreachable), 422 (oversized or undecodable audio).
    pub async fn call_tts(
        &self,
        target: &AxonTarget,
        request: &TtsRequest,
        timeout: Duration,
    ) -> SynapseResponse<TtsReply> {
        let built = serde_json::to_vec(request)
            .map_err(|e| format!("request does not serialize: {e}"))
            .and_then(|body| self.build_btauth_request(target, TTS_PATH, body));
        timed_call(target, "btauth /tts", timeout, built, |r| {
            self.exchange_tts(r)
        })
        .await
    }

    /// Asks one miner to speak `text` over the transport `mode` picks for it: always the one
    /// named, or with [`TransportMode::Auto`] the one this dendrite learnt the miner serves
    /// ([`crate::TransportCache`]): an unknown miner is tried on `/tts`, and one that answers
    /// that it has no such route is asked again at once over Synapse (within what is left of
    /// `timeout`) and remembered as Synapse-only for an hour.
    pub async fn speak(
        &self,
        target: &AxonTarget,
        text: &str,
        timeout: Duration,
        mode: TransportMode,
    ) -> Spoken {
        self.ask(target, &AudioAsk::Speech { text }, timeout, mode)
            .await
    }

    /// [`speak`](Self::speak) to every target concurrently; results are in target order.
    pub async fn speak_all(
        &self,
        targets: &[AxonTarget],
        text: &str,
        timeout: Duration,
        mode: TransportMode,
    ) -> Vec<Spoken> {
        self.ask_all(targets, &AudioAsk::Speech { text }, timeout, mode)
            .await
    }

    /// Asks one miner for `ask` (speech or music) over the transport `mode` picks, as
    /// [`speak`](Self::speak) does. Music goes to `POST /music` or the `MusicGeneration`
    /// synapse; a reply without a sample rate is read at MusicGen's 32 kHz, as the original
    /// validator did. Only speech answers teach the transport cache: a miner without `/music`
    /// may still serve `/tts`, so a refused music call says nothing about its transport.
    pub async fn ask(
        &self,
        target: &AxonTarget,
        ask: &AudioAsk<'_>,
        timeout: Duration,
        mode: TransportMode,
    ) -> Spoken {
        let first = match mode {
            TransportMode::Btauth => Transport::Btauth,
            TransportMode::Synapse => Transport::Synapse,
            TransportMode::Auto => self.cache().first_try(&target.hotkey, Instant::now()),
        };
        if first == Transport::Synapse {
            return self.ask_synapse(target, ask, timeout).await;
        }
        let started = Instant::now();
        let response = self.call_btauth(target, ask, timeout).await;
        if mode == TransportMode::Auto {
            let retry = match ask {
                AudioAsk::Speech { .. } => self.cache().learn_btauth_answer(
                    &target.hotkey,
                    Some(response.status_code),
                    Instant::now(),
                ),
                AudioAsk::Music { .. } => crate::transport::means_no_btauth(response.status_code)
                    .then_some(Transport::Synapse),
            };
            if retry == Some(Transport::Synapse) {
                // Learnt once per hour for speech; a music miss is asked every music round.
                if matches!(ask, AudioAsk::Speech { .. }) {
                    tracing::info!(axon = %target, status = response.status_code, "no btauth /tts: using the Synapse protocol for an hour");
                } else {
                    tracing::debug!(axon = %target, status = response.status_code, path = ask.path(), "no btauth route: asking over the Synapse protocol");
                }
                let left = timeout.saturating_sub(started.elapsed());
                return self.ask_synapse(target, ask, left).await;
            }
        }
        Spoken {
            transport: Transport::Btauth,
            response,
        }
    }

    /// [`ask`](Self::ask) every target concurrently; results are in target order.
    pub async fn ask_all(
        &self,
        targets: &[AxonTarget],
        ask: &AudioAsk<'_>,
        timeout: Duration,
        mode: TransportMode,
    ) -> Vec<Spoken> {
        futures::stream::iter(targets.iter().map(|t| self.ask(t, ask, timeout, mode)))
            .buffered(self.config.max_in_flight.max(1))
            .collect()
            .await
    }

    /// What auto-detection currently knows of `hotkey` (fresh entries only).
    pub fn known_transport(&self, hotkey: &str) -> Option<Transport> {
        self.cache().known(hotkey, Instant::now())
    }

    async fn ask_synapse(
        &self,
        target: &AxonTarget,
        ask: &AudioAsk<'_>,
        timeout: Duration,
    ) -> Spoken {
        let response = match *ask {
            AudioAsk::Speech { text } => {
                self.call_for::<TextToSpeech, TtsReply>(
                    target,
                    &TextToSpeech::request(text),
                    timeout,
                )
                .await
            }
            AudioAsk::Music { text, seconds } => {
                let mut response = self
                    .call_for::<MusicGeneration, TtsReply>(
                        target,
                        &MusicGeneration::request(text, seconds),
                        timeout,
                    )
                    .await;
                if let Some(reply) = response.synapse.as_mut() {
                    reply.sample_rate.get_or_insert(MUSIC_SAMPLE_RATE);
                }
                response
            }
        };
        Spoken {
            transport: Transport::Synapse,
            response,
        }
    }

    /// Sends `ask` over `btauth/1` (`POST /tts` or `POST /music`).
    async fn call_btauth(
        &self,
        target: &AxonTarget,
        ask: &AudioAsk<'_>,
        timeout: Duration,
    ) -> SynapseResponse<TtsReply> {
        let body = match *ask {
            AudioAsk::Speech { text } => serde_json::to_vec(&TtsRequest {
                text: text.to_string(),
                voice: None,
                sample_rate: None,
            }),
            AudioAsk::Music { text, seconds } => serde_json::to_vec(&MusicRequest {
                text: text.to_string(),
                duration_seconds: Some(seconds),
                sample_rate: None,
            }),
        };
        let built = body
            .map_err(|e| format!("request does not serialize: {e}"))
            .and_then(|body| self.build_btauth_request(target, ask.path(), body));
        timed_call(target, ask.path(), timeout, built, |r| self.exchange_tts(r)).await
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, crate::TransportCache> {
        // The cache is plain data; a panic elsewhere cannot leave it inconsistent.
        self.transports.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn build_btauth_request(
        &self,
        target: &AxonTarget,
        path: &str,
        body: Vec<u8>,
    ) -> Result<http::Request<Full<Bytes>>, String> {
        // A fresh nonce per call (strictly increasing within this dendrite), bound to the miner.
        let nonce = i128::from(self.next_nonce());
        let headers = btauth::sign(
            &self.keypair,
            "POST",
            path,
            &body,
            Some(&target.hotkey),
            Some(nonce),
        );
        let mut builder = http::Request::post(target.url(path.trim_start_matches('/')))
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "audio/wav");
        for (k, v) in headers {
            builder = builder.header(k, v);
        }
        builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("request: {e}"))
    }

    async fn exchange_tts(&self, request: http::Request<Full<Bytes>>) -> Outcome<TtsReply> {
        let response = match self.client.request(request).await {
            Ok(r) => r,
            Err(e) => return Outcome::transport_failed(&e),
        };
        let status = response.status().as_u16();
        if status != 200 {
            let message = crate::read_body(response.into_body(), MAX_TTS_ERROR_BYTES)
                .await
                .ok()
                .and_then(|b| serde_json::from_slice::<TtsErrorBody>(&b).ok())
                .and_then(|b| b.error.or(b.message));
            return Outcome::failed(status, message.unwrap_or_else(|| format!("HTTP {status}")));
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let model = header(HEADER_MODEL).map(bounded_text);
        let declared_rate = match header(HEADER_SAMPLE_RATE).map(str::parse::<u32>) {
            None => None,
            Some(Ok(rate)) => Some(rate),
            Some(Err(_)) => {
                return Outcome::failed(422, format!("{HEADER_SAMPLE_RATE} is not a number"));
            }
        };
        let raw_pcm = header(HEADER_ENCODING).is_some_and(|e| e.eq_ignore_ascii_case("s16le"));
        let body = match crate::read_body(response.into_body(), MAX_BTAUTH_REPLY_BYTES).await {
            Ok(b) => b,
            Err(BodyError::TooLong) => {
                return Outcome::failed(
                    422,
                    format!(
                        "Failed to parse response: body exceeds {MAX_BTAUTH_REPLY_BYTES} bytes"
                    ),
                );
            }
            Err(BodyError::Read(e)) => {
                return Outcome::failed(422, format!("Response body could not be read: {e}"));
            }
        };
        let body_bytes = body.len();
        let decode = move || decode_audio(&body, raw_pcm, declared_rate);
        let decoded = if body_bytes <= INLINE_PARSE_BYTES {
            decode()
        } else {
            tokio::task::spawn_blocking(decode)
                .await
                .unwrap_or_else(|e| Err(format!("decoder task failed: {e}")))
        };
        match decoded {
            Ok((samples, rate)) => Outcome {
                synapse: Some(TtsReply::from_audio(model, samples, rate)),
                status_code: 200,
                status_message: "Success".into(),
                process_time: None,
                body_bytes,
            },
            Err(e) => Outcome {
                body_bytes,
                ..Outcome::failed(422, format!("Failed to parse response: {e}"))
            },
        }
    }
}

/// Decodes a `/tts` body: a WAV file (its own rate; a disagreeing rate header is refused), or
/// raw s16le PCM at the header's rate.
fn decode_audio(
    body: &[u8],
    raw_pcm: bool,
    declared_rate: Option<u32>,
) -> Result<(Vec<f32>, u32), String> {
    let (samples, rate) = if raw_pcm {
        let rate = declared_rate.ok_or_else(|| format!("raw PCM without {HEADER_SAMPLE_RATE}"))?;
        let samples = audiosubnet_audio::decode_pcm16le(body).map_err(|e| e.to_string())?;
        (samples, rate)
    } else {
        let (samples, rate) = match mono_pcm16(body) {
            Some(fast) => fast,
            None => {
                let wav = audiosubnet_audio::decode_wav(body)
                    .map_err(|e| bounded_text(&e.to_string()))?;
                (wav.samples, wav.sample_rate)
            }
        };
        if declared_rate.is_some_and(|r| r != rate) {
            return Err(format!(
                "{HEADER_SAMPLE_RATE} disagrees with the WAV header ({rate} Hz)"
            ));
        }
        (samples, rate)
    };
    // Narrower samples (8-bit WAV) fit more of them in the byte cap.
    if samples.len() > MAX_SAMPLES {
        return Err(format!("audio longer than {MAX_SAMPLES} samples"));
    }
    Ok((samples, rate))
}

/// The common case, fast: a well-formed mono 16-bit PCM WAV (what `/tts` sends). hound parses
/// and checks the header, and the data chunk is converted by `audiosubnet-audio`'s own rule
/// ([`audiosubnet_audio::decode_pcm16le`]), so the samples are bit-identical to
/// [`audiosubnet_audio::decode_wav`]'s, about 30 times faster than reading them one by one
/// through hound. Anything else (other formats, several channels, a data chunk longer than the
/// body) returns `None` for the general decoder.
fn mono_pcm16(body: &[u8]) -> Option<(Vec<f32>, u32)> {
    let reader = hound::WavReader::new(std::io::Cursor::new(body)).ok()?;
    let spec = reader.spec();
    if spec.channels != 1
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        return None;
    }
    let len = usize::try_from(reader.duration()).ok()?.checked_mul(2)?;
    let start = usize::try_from(reader.into_inner().position()).ok()?;
    let data = body.get(start..start.checked_add(len)?)?;
    let samples = audiosubnet_audio::decode_pcm16le(data).ok()?;
    Some((samples, spec.sample_rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_fits_the_longest_clip_as_16_bit_pcm() {
        let longest =
            audiosubnet_audio::encode_wav16(&vec![0.1; MAX_SAMPLES], 48_000).expect("encodes");
        assert!(longest.len() <= MAX_BTAUTH_REPLY_BYTES);
        const { assert!(MAX_BTAUTH_REPLY_BYTES < 3_000_000) };
        let (samples, rate) = decode_audio(&longest, false, Some(48_000)).expect("decodes");
        assert_eq!((samples.len(), rate), (MAX_SAMPLES, 48_000));
    }

    #[test]
    fn wav_and_raw_pcm_decode_to_the_same_samples() {
        let clip: Vec<f32> = (0..1000).map(|i| ((i as f32) * 0.01).sin() * 0.5).collect();
        let wav = audiosubnet_audio::encode_wav16(&clip, 16_000).expect("encodes");
        let pcm = audiosubnet_audio::encode_pcm16le(&clip);
        let a = decode_audio(&wav, false, None).expect("wav");
        let b = decode_audio(&pcm, true, Some(16_000)).expect("pcm");
        assert_eq!(a, b);
        assert!(
            decode_audio(&pcm, true, None).is_err(),
            "raw PCM needs a rate"
        );
        assert!(
            decode_audio(&wav, false, Some(22_050)).is_err(),
            "rates disagree"
        );
        assert!(decode_audio(b"not a wav", false, None).is_err());
    }

    #[test]
    fn the_fast_path_reads_what_the_audio_crate_reads() {
        let clip: Vec<f32> = (0..5000)
            .map(|i| ((i as f32) * 0.37).sin() * (i as f32 / 5000.0))
            .collect();
        let wav = audiosubnet_audio::encode_wav16(&clip, 22_050).expect("encodes");
        let general = audiosubnet_audio::decode_wav(&wav).expect("decodes");
        let (fast, rate) = mono_pcm16(&wav).expect("fast path");
        assert_eq!(rate, 22_050);
        assert_eq!(fast.len(), general.samples.len());
        assert!(
            fast.iter()
                .zip(&general.samples)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        // Truncated data, stereo, other widths: the general decoder decides.
        assert!(mono_pcm16(&wav[..wav.len() - 3]).is_none());
        let mut stereo = Vec::new();
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        {
            let mut w = hound::WavWriter::new(std::io::Cursor::new(&mut stereo), spec).expect("w");
            for s in [100i16, 300, -2, 2] {
                w.write_sample(s).expect("sample");
            }
            w.finalize().expect("finalize");
        }
        assert!(mono_pcm16(&stereo).is_none());
        let (both, _) = decode_audio(&stereo, false, None).expect("general");
        assert_eq!(both, vec![200.0 / 32_768.0, 0.0]);
    }

    #[test]
    fn too_many_narrow_samples_are_refused() {
        let mut wav = Vec::new();
        let spec = hound_spec();
        {
            let mut w = hound::WavWriter::new(std::io::Cursor::new(&mut wav), spec).expect("w");
            for _ in 0..=MAX_SAMPLES {
                w.write_sample(1i8).expect("sample");
            }
            w.finalize().expect("finalize");
        }
        assert!(wav.len() <= MAX_BTAUTH_REPLY_BYTES);
        let err = decode_audio(&wav, false, None).expect_err("too long");
        assert!(err.contains("longer than"), "{err}");
    }

    fn hound_spec() -> hound::WavSpec {
        hound::WavSpec {
            channels: 1,
            sample_rate: 48_000,
            bits_per_sample: 8,
            sample_format: hound::SampleFormat::Int,
        }
    }
}

//! An OpenAI-compatible speech endpoint on the miner's [`SynthesisPool`], for operators and
//! tools that speak the OpenAI audio API (`POST /v1/audio/speech`).
//!
//! Request: `{"model": "...", "input": "...", "voice": "...", "response_format": "wav",
//! "speed": 1.0}`. `model` may be any OpenAI name (`tts-1`, …) or the engine this pool runs;
//! naming another of our engines is an error. `voice` and `instructions` are accepted and
//! ignored (each engine has one voice). `response_format` is `wav` (the default here; OpenAI's
//! is `mp3`, which this server does not encode) or `pcm` (raw 16-bit little-endian mono at
//! 24 kHz, like OpenAI's). `speed` must be 1.0 when given.
//!
//! Errors are OpenAI-style `{"error": {"message", "type", "param", "code"}}`: 400 for bad
//! requests, 413 for oversized bodies, 503 (with `Retry-After`) when the synthesis queue is full,
//! 504 on timeout, 500 when the engine fails. There is no authentication: bind it to a private
//! interface (the miner's default is 127.0.0.1).

use std::sync::Arc;
use std::time::Duration;

use audiosubnet_tts::{ENGINE_NAMES, Speech, SynthesisPool};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::stats::RequestMetric;
use crate::{SynthesisError, run_synthesis};

/// Sample rate of `response_format: "pcm"` (OpenAI's).
pub const PCM_SAMPLE_RATE: u32 = 24_000;

/// Limits of the OpenAI endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// Largest request body accepted (413 above).
    pub max_body_bytes: usize,
    /// Longest a request may wait for its audio, queueing included (504 after).
    pub request_timeout: Duration,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(120),
        }
    }
}

struct Shared {
    pool: Arc<SynthesisPool>,
    config: OpenAiConfig,
}

/// The endpoint's routes: `POST /v1/audio/speech` and `GET /v1/models`.
pub fn openai_router(pool: Arc<SynthesisPool>, config: OpenAiConfig) -> Router {
    let limit = config.max_body_bytes;
    Router::new()
        .route("/v1/audio/speech", post(speech))
        .route("/v1/models", get(models))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(Arc::new(Shared { pool, config }))
}

/// Serves [`openai_router`] on `listener` until `shutdown` resolves.
pub async fn serve_openai(
    listener: tokio::net::TcpListener,
    pool: Arc<SynthesisPool>,
    config: OpenAiConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, openai_router(pool, config))
        .with_graceful_shutdown(shutdown)
        .await
}

/// An OpenAI-style error response.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    code: Option<&'static str>,
    param: Option<&'static str>,
    message: String,
}

impl ApiError {
    fn invalid(param: Option<&'static str>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: None,
            param,
            message: message.into(),
        }
    }

    fn server(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind: "server_error",
            code: Some(code),
            param: None,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }});
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

#[derive(Debug, Deserialize)]
struct SpeechRequest {
    #[serde(default)]
    model: Option<String>,
    input: String,
    // `voice`, `instructions` and unknown fields are ignored: each engine has one voice.
    #[serde(default)]
    response_format: Option<String>,
    #[serde(default)]
    speed: Option<f64>,
    #[serde(default)]
    stream_format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Wav,
    Pcm,
}

fn parse_format(format: Option<&str>) -> Result<Format, ApiError> {
    match format.map(str::to_ascii_lowercase).as_deref() {
        None | Some("wav") => Ok(Format::Wav),
        Some("pcm") => Ok(Format::Pcm),
        Some(f @ ("mp3" | "opus" | "aac" | "flac")) => Err(ApiError::invalid(
            Some("response_format"),
            format!("response_format `{f}` is not supported by this server; use `wav` or `pcm`"),
        )),
        Some(f) => Err(ApiError::invalid(
            Some("response_format"),
            format!("unknown response_format `{f}`; use `wav` or `pcm`"),
        )),
    }
}

fn check_speed(speed: Option<f64>) -> Result<(), ApiError> {
    let Some(speed) = speed else { return Ok(()) };
    if !(0.25..=4.0).contains(&speed) {
        return Err(ApiError::invalid(
            Some("speed"),
            format!("speed {speed} is out of range; it must be between 0.25 and 4.0"),
        ));
    }
    if (speed - 1.0).abs() > 1e-6 {
        return Err(ApiError::invalid(
            Some("speed"),
            format!("speed {speed} is not supported by this server; only 1.0 is"),
        ));
    }
    Ok(())
}

/// Our own engine names (and aliases) that differ from the one this pool runs are refused; any
/// other name (`tts-1`, `gpt-4o-mini-tts`, …) means "whatever this server runs".
fn check_model(model: Option<&str>, engine: &str) -> Result<(), ApiError> {
    let Some(model) = model else { return Ok(()) };
    let canonical = match model {
        "en_US-joe-medium" => "piper",
        "espeak-ng" => "espeak",
        m => m,
    };
    let ours = ENGINE_NAMES.contains(&canonical);
    if ours && canonical != engine {
        return Err(ApiError::invalid(
            Some("model"),
            format!("model `{model}` is not served here; this server runs `{engine}`"),
        ));
    }
    Ok(())
}

fn parse_request(body: &[u8]) -> Result<SpeechRequest, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::invalid(None, format!("invalid request: {e}")),
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::invalid(None, format!("the request body is not valid JSON: {e}"))
            }
        }
    })
}

async fn speech(
    State(shared): State<Arc<Shared>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let metric = RequestMetric::start("openai");
    let response = match answer(&shared, body).await {
        Ok(response) => response,
        Err(e) => {
            tracing::debug!(status = e.status.as_u16(), error = %e.message, "openai speech refused");
            e.into_response()
        }
    };
    metric.finish(response.status().as_u16());
    response
}

async fn answer(
    shared: &Shared,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError {
                status,
                kind: "invalid_request_error",
                code: Some("request_too_large"),
                param: None,
                message: format!(
                    "the request body is larger than {} bytes",
                    shared.config.max_body_bytes
                ),
            }
        } else {
            ApiError::invalid(None, format!("cannot read the request body: {rejection}"))
        }
    })?;
    let request = parse_request(&body)?;
    let format = parse_format(request.response_format.as_deref())?;
    check_speed(request.speed)?;
    check_model(request.model.as_deref(), shared.pool.engine_name())?;
    if let Some(s) = request.stream_format.as_deref().filter(|s| *s != "audio") {
        return Err(ApiError::invalid(
            Some("stream_format"),
            format!("stream_format `{s}` is not supported; use `audio`"),
        ));
    }
    if request.input.trim().is_empty() {
        return Err(ApiError::invalid(Some("input"), "input is empty"));
    }

    let speech = tokio::time::timeout(
        shared.config.request_timeout,
        run_synthesis(&shared.pool, request.input),
    )
    .await
    .map_err(|_| {
        ApiError::server(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!(
                "no audio within {} s",
                shared.config.request_timeout.as_secs_f64()
            ),
        )
    })?
    .map_err(|e| match e {
        SynthesisError::BadRequest(m) => ApiError::invalid(Some("input"), m),
        SynthesisError::Overloaded(m) => ApiError::server(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            format!("the server is busy ({m}); retry shortly"),
        ),
        SynthesisError::Internal(m) => {
            tracing::warn!(error = %m, "openai speech: synthesis failed");
            ApiError::server(
                StatusCode::INTERNAL_SERVER_ERROR,
                "synthesis_failed",
                "speech synthesis failed",
            )
        }
    })?;
    let engine = shared.pool.engine_name().to_owned();
    let (content_type, bytes) = encode(&speech, format)
        .map_err(|m| ApiError::server(StatusCode::INTERNAL_SERVER_ERROR, "encoding_failed", m))?;
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&engine) {
        headers.insert("x-audiosubnet-engine", v);
    }
    Ok(response)
}

fn encode(speech: &Speech, format: Format) -> Result<(&'static str, Vec<u8>), String> {
    match format {
        Format::Wav => speech
            .to_wav_bytes()
            .map(|b| ("audio/wav", b))
            .map_err(|e| e.to_string()),
        Format::Pcm => {
            let samples = resample(&speech.samples, speech.sample_rate, PCM_SAMPLE_RATE);
            let mut out = Vec::with_capacity(samples.len() * 2);
            for s in samples {
                let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
                out.extend_from_slice(&v.to_le_bytes());
            }
            Ok(("audio/pcm", out))
        }
    }
}

async fn models(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    Json(json!({
        "object": "list",
        "data": [{
            "id": shared.pool.engine_name(),
            "object": "model",
            "created": 0,
            "owned_by": "audiosubnet",
        }],
    }))
}

async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        kind: "invalid_request_error",
        code: Some("not_found"),
        param: None,
        message: "no such route; this server answers POST /v1/audio/speech and GET /v1/models"
            .to_owned(),
    }
}

/// Band-limited resampling (windowed sinc, polyphase) from `from` Hz to `to` Hz.
pub(crate) fn resample(samples: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || from == 0 || to == 0 || samples.is_empty() {
        return samples.to_vec();
    }
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let g = gcd(u64::from(from), u64::from(to));
    // Output sample j sits at input position j * m / l.
    let (l, m) = (u64::from(to) / g, u64::from(from) / g);
    // Low-pass at the lower Nyquist, with a little headroom.
    let cutoff = (f64::from(to) / f64::from(from)).min(1.0) * 0.95;
    const ZERO_CROSSINGS: f64 = 16.0;
    let half_width = ZERO_CROSSINGS / cutoff;
    let k = half_width.ceil() as i64;
    let taps = (2 * k) as usize;
    // One filter per fractional phase p / l; taps cover input offsets -k+1 ..= k.
    let table: Vec<f32> = (0..l)
        .flat_map(|p| {
            let frac = p as f64 / l as f64;
            (0..taps).map(move |t| {
                let x = (t as i64 - k + 1) as f64 - frac;
                if x.abs() >= half_width {
                    return 0.0;
                }
                let arg = std::f64::consts::PI * cutoff * x;
                let sinc = if arg.abs() < 1e-12 {
                    1.0
                } else {
                    arg.sin() / arg
                };
                let window = 0.5 + 0.5 * (std::f64::consts::PI * x / half_width).cos();
                (cutoff * sinc * window) as f32
            })
        })
        .collect();
    let out_len = (samples.len() as u64 * l).div_ceil(m) as usize;
    let n_in = samples.len() as i64;
    (0..out_len as u64)
        .map(|j| {
            let pos = j * m;
            let n = (pos / l) as i64;
            let phase = (pos % l) as usize;
            let filter = &table[phase * taps..(phase + 1) * taps];
            let first = n - k + 1;
            let lo = (-first).max(0) as usize;
            let hi = (n_in - first).clamp(0, taps as i64) as usize;
            let mut acc = 0.0f32;
            for t in lo..hi {
                acc += samples[(first + t as i64) as usize] * filter[t];
            }
            acc
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, rate: u32, secs: f32) -> Vec<f32> {
        let n = (rate as f32 * secs) as usize;
        (0..n)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    fn rms(s: &[f32]) -> f32 {
        (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt()
    }

    #[test]
    fn resampling_keeps_tones_and_drops_what_cannot_be_represented() {
        for from in [16_000, 22_050, 32_000] {
            let input = tone(440.0, from, 1.0);
            let out = resample(&input, from, PCM_SAMPLE_RATE);
            assert!(
                (out.len() as i64 - PCM_SAMPLE_RATE as i64).abs() <= 1,
                "{from}: {} samples",
                out.len()
            );
            // Away from the edges the 440 Hz tone is intact.
            let mid = &out[2_000..out.len() - 2_000];
            let expected = tone(440.0, PCM_SAMPLE_RATE, 1.0);
            let max_err = mid
                .iter()
                .zip(&expected[2_000..])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(max_err < 0.01, "{from}: max error {max_err}");
        }
        // 14 kHz fits at 32 kHz but not at 24 kHz: it is filtered out, not aliased to 10 kHz.
        let high = resample(&tone(14_000.0, 32_000, 0.5), 32_000, PCM_SAMPLE_RATE);
        assert!(rms(&high[1_000..high.len() - 1_000]) < 0.01);
        assert_eq!(resample(&[0.1, 0.2], 24_000, 24_000), vec![0.1, 0.2]);
        assert!(resample(&[], 22_050, 24_000).is_empty());
    }

    #[test]
    fn request_validation() {
        assert_eq!(parse_format(None).unwrap(), Format::Wav);
        assert_eq!(parse_format(Some("PCM")).unwrap(), Format::Pcm);
        let e = parse_format(Some("mp3")).unwrap_err();
        assert!(e.message.contains("not supported"), "{}", e.message);
        assert!(
            parse_format(Some("ogg"))
                .unwrap_err()
                .message
                .contains("unknown")
        );
        assert!(check_speed(None).is_ok());
        assert!(check_speed(Some(1.0)).is_ok());
        assert!(check_speed(Some(1.5)).is_err());
        assert!(check_speed(Some(0.0)).is_err());
        assert!(check_speed(Some(f64::NAN)).is_err());
        assert!(check_model(Some("tts-1"), "piper").is_ok());
        assert!(check_model(Some("en_US-joe-medium"), "piper").is_ok());
        assert!(check_model(Some("flite"), "piper").is_err());
        assert!(check_model(None, "espeak").is_ok());
        assert!(parse_request(b"{\"input\": 3}").is_err());
        assert!(
            parse_request(b"{\"model\":\"tts-1\",\"input\":\"hi\",\"voice\":{\"id\":\"x\"}}")
                .is_ok()
        );
    }
}

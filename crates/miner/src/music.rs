//! The miner's music front ends: `MusicGeneration` (Synapse) and `POST /music` (`btauth/1`)
//! requests checked (prompt, length against the miner's limit) and queued on a [`MusicPool`].

use std::sync::Arc;
use std::time::Instant;

use audiosubnet_axon::{AudioEncoding, Caller, ForwardError, MusicRequest, TtsAudio};
use audiosubnet_music::{MusicError, MusicJob, MusicPool};
use audiosubnet_protocol::MusicGeneration;
use audiosubnet_protocol::tts_http::pcm16le;

use crate::stats;

/// Longest music prompt accepted, in characters.
pub const MAX_PROMPT_CHARS: usize = 1000;

/// A music pool and the limits requests are checked against.
#[derive(Debug)]
pub struct MusicService {
    /// The resident engines.
    pub pool: MusicPool,
    /// Longest clip served, in seconds (`--music.max_seconds`); longer requests get 400.
    pub max_seconds: f64,
}

/// Answers one `MusicGeneration`: check the prompt and length (400), queue it (503 at once when
/// the queue is full), wait for a worker, and fill `music_output`, `sample_rate` and, when the
/// caller left it unset, `model_name`. Each request gets a fresh seed, as a sampling model
/// would.
pub async fn generate_music(
    service: Arc<MusicService>,
    caller: Caller,
    mut request: MusicGeneration,
) -> Result<MusicGeneration, ForwardError> {
    let metric = stats::RequestMetric::start("music");
    let started = Instant::now();
    let prompt = request.text_input.as_deref().unwrap_or("");
    let result = run(&service, prompt, request.requested_seconds()).await;
    metric.finish(status_of(&result));
    let (samples, sample_rate) = result?;
    tracing::debug!(
        caller = %caller.hotkey_ss58,
        seconds = samples.len() as f64 / f64::from(sample_rate.max(1)),
        took_ms = started.elapsed().as_millis() as u64,
        "music generated"
    );
    request.music_output = Some(samples);
    request.sample_rate = Some(sample_rate);
    // A model the caller named stays as sent: BittAudio's class declares `model_name` a Literal
    // of the two MusicGen names, and its dendrite refuses (422) a reply naming anything else.
    if request.model_name.is_none() {
        request.model_name = Some(service.pool.engine_name().to_string());
    }
    Ok(request)
}

/// Answers one `POST /music`: the same checks, queue and engines as [`generate_music`], the
/// audio resampled to the caller's preferred rate when it named one, as 16-bit WAV or s16le.
pub async fn generate_music_audio(
    service: Arc<MusicService>,
    caller: Caller,
    request: MusicRequest,
    encoding: AudioEncoding,
) -> Result<TtsAudio, ForwardError> {
    let metric = stats::RequestMetric::start("music-btauth");
    let result = run(&service, &request.text, request.seconds()).await;
    metric.finish(status_of(&result));
    let (mut samples, mut sample_rate) = result?;
    if let Some(rate) = request.sample_rate
        && rate != sample_rate
    {
        samples = audiosubnet_audio::resample(&samples, sample_rate, rate);
        sample_rate = rate;
    }
    tracing::debug!(caller = %caller.hotkey_ss58, samples = samples.len(), "music generated (btauth)");
    let body = match encoding {
        AudioEncoding::Wav => audiosubnet_audio::encode_wav16(&samples, sample_rate)
            .map_err(|e| ForwardError::Internal(e.to_string()))?,
        AudioEncoding::S16le => pcm16le(&samples),
    };
    Ok(TtsAudio {
        body: body.into(),
        sample_rate,
        model: service.pool.engine_name().to_string(),
    })
}

fn status_of<T>(result: &Result<T, ForwardError>) -> u16 {
    match result {
        Ok(_) => 200,
        Err(ForwardError::BadRequest(_)) => 400,
        Err(ForwardError::Overloaded(_)) => 503,
        Err(_) => 500,
    }
}

/// Checks the prompt and length, queues the job and waits for its samples.
async fn run(
    service: &MusicService,
    prompt: &str,
    seconds: f64,
) -> Result<(Vec<f32>, u32), ForwardError> {
    let prompt = prompt.trim();
    if prompt.is_empty() {
        return Err(ForwardError::BadRequest("the prompt is empty".into()));
    }
    let chars = prompt.chars().count();
    if chars > MAX_PROMPT_CHARS {
        return Err(ForwardError::BadRequest(format!(
            "the prompt has {chars} characters; this miner takes at most {MAX_PROMPT_CHARS}"
        )));
    }
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(ForwardError::BadRequest(format!(
            "duration must be a positive length (duration_seconds, or duration in MusicGen tokens at 50 per second); got {seconds} s"
        )));
    }
    if seconds > service.max_seconds {
        return Err(ForwardError::BadRequest(format!(
            "{seconds:.1} s of music asked for; this miner makes at most {} s (--music.max_seconds)",
            service.max_seconds
        )));
    }
    let job = MusicJob {
        prompt: prompt.to_owned(),
        seconds: seconds as f32,
        seed: rand::random(),
    };
    let pending = service
        .pool
        .try_submit(job)
        .map_err(|e| ForwardError::Overloaded(e.to_string()))?;
    match pending.await {
        Ok(Ok(clip)) => Ok((clip.samples, clip.sample_rate)),
        Ok(Err(e @ MusicError::Duration(_))) => Err(ForwardError::BadRequest(e.to_string())),
        Ok(Err(e)) => Err(ForwardError::Internal(e.to_string())),
        Err(_) => Err(ForwardError::Internal("music worker stopped".into())),
    }
}

//! The music judge: what a music prompt states (tempo, key and mode, length, drums) measured in
//! the clip, behind checks that turn away what is not honest music (silence, clipping, noise,
//! static tones, one segment looped, a track replayed for another prompt).
//!
//! The reward is the product of the adherence factors of what the prompt states (see
//! `docs/scoring.md`): tempo × key × duration × drums, each in [0, 1] with the tolerances of
//! `audiosubnet-music-analysis`. A product because each stated attribute is a requirement: a
//! track in the right key at the wrong tempo did not do what was asked. The measurable terms
//! are what a cheap cheat cannot fake without playing music that actually has the asked tempo
//! and key. With CLAP weights ([`crate::music_clap`]) the product is further scaled by
//! `1 − CLAP_WEIGHT + CLAP_WEIGHT × rank`, CLAP's judgement of whether the clip sounds like the
//! prompt's description; without them the product is the whole score.
//!
//! Measurement runs on blocking threads, at most [`MUSIC_JUDGE_THREADS`] at once, so a large
//! round never stalls the async runtime.

use crate::judge::{Judge, JudgeError, Judgement, ReplayMemory, ValidatorFault};
use crate::music_clap::ClapScorer;
use crate::state::FingerprintRecord;
use audiosubnet_music::{PromptFacts, read_prompt};
use audiosubnet_music_analysis as analysis;
use audiosubnet_scoring::{Fingerprint, exact_hash};
use futures::future::BoxFuture;
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Clips measured at once.
pub const MUSIC_JUDGE_THREADS: usize = 2;
/// Sample rates a music reply may declare (as for speech: an odd rate is a bug or a free
/// time-stretch).
pub const MUSIC_SAMPLE_RATES: [u32; 6] = [16_000, 22_050, 24_000, 32_000, 44_100, 48_000];
/// RMS below this is silence, not music.
pub const MIN_MUSIC_RMS_DBFS: f32 = -50.0;
/// More than this fraction of samples at full scale is clipping or a square wave.
pub const MAX_CLIPPED_FRACTION: f32 = 0.05;
/// Shortest clip judged at all (tempo needs a few beats).
pub const MIN_MUSIC_SECONDS: f32 = 3.0;
/// A clip this many times the requested length is refused before it is measured: it cannot
/// score on duration, and measuring it costs the validator in proportion.
pub const MAX_LENGTH_RATIO: f32 = 2.0;
/// Only clips at least this good enter the replay index, so a miner cannot plant another
/// prompt's track and have the honest miners who play that prompt later flagged as replays.
pub const INDEX_MIN_REWARD: f64 = 0.5;
/// The share of the reward CLAP decides when its weights are present: a clip that sounds like
/// none of its prompt keeps half of what its tempo, key and length earned. Half, because the
/// measurable terms are exact and CLAP is a learned guess that can be wrong about honest music.
pub const CLAP_WEIGHT: f64 = 0.5;

/// What the judge measured, as it appears in the round table and the report.
#[derive(Debug, Clone, Serialize)]
pub struct MusicBreakdown {
    /// The task (`music`).
    pub task: &'static str,
    /// Reward in [0, 1].
    pub reward: f64,
    /// Tempo asked for, when the prompt states one.
    pub tempo_requested: Option<f32>,
    /// Tempo measured.
    pub tempo_measured: Option<f32>,
    /// The tempo factor (absent when the prompt states no tempo).
    pub tempo: Option<f32>,
    /// Key asked for ("A minor"), when the prompt states one.
    pub key_requested: Option<String>,
    /// Key measured.
    pub key_measured: Option<String>,
    /// The key factor (absent when the prompt states no key).
    pub key: Option<f32>,
    /// Seconds asked for.
    pub duration_requested_s: f32,
    /// Seconds of sound (leading and trailing silence left out).
    pub duration_s: f32,
    /// The duration factor.
    pub duration: f32,
    /// RMS level, dBFS.
    pub rms_dbfs: f32,
    /// Spectral flatness (noise is high, music low).
    pub spectral_flatness: f32,
    /// How much of the clip one short segment repeated explains.
    pub loop_repetition: f32,
    /// The percussive share of the energy (reported, not scored: piano attacks count as
    /// percussive, so it does not tell drums from their absence; `drum_noise` does).
    pub percussive_fraction: f32,
    /// Drums asked for (`true`) or ruled out (`false`), when the prompt says.
    pub drums_requested: Option<bool>,
    /// How noise-like the clip's 4.5–7.2 kHz band is: high with drums.
    pub drum_noise: f32,
    /// The drums factor (absent when the prompt says nothing of drums).
    pub drums: Option<f32>,
    /// Tempo × key × duration × drums, before CLAP.
    pub adherence: f64,
    /// CLAP cosine similarity of the clip and its prompt (absent without CLAP weights).
    pub clap_similarity: Option<f32>,
    /// The CLAP term: the share of decoy descriptions the prompt beats (absent without CLAP).
    pub clap: Option<f32>,
    /// Robust fingerprint (hex), for replay detection (kept in the judgement, not the table).
    #[serde(skip)]
    pub fingerprint: String,
    /// Exact hash, for identical audio across miners in a round.
    #[serde(skip)]
    pub exact_hash: String,
}

/// Judges music replies against the prompt's stated facts and `seconds` requested.
#[derive(Debug, Clone)]
pub struct MusicJudge {
    seconds: f32,
    threads: Arc<Semaphore>,
    replays: ReplayMemory,
    clap: Option<Arc<ClapScorer>>,
}

impl MusicJudge {
    /// A judge for `seconds`-long requests, remembering `history` (the state's music
    /// fingerprints) so replays across a restart are caught.
    pub fn new(seconds: f64, history: impl IntoIterator<Item = FingerprintRecord>) -> Self {
        MusicJudge {
            seconds: seconds as f32,
            threads: Arc::new(Semaphore::new(MUSIC_JUDGE_THREADS)),
            replays: ReplayMemory::new(history),
            clap: None,
        }
    }

    /// Adds CLAP's text–audio term to the reward.
    pub fn with_clap(mut self, clap: Arc<ClapScorer>) -> Self {
        self.clap = Some(clap);
        self
    }

    async fn score(
        &self,
        hotkey: String,
        prompt: String,
        samples: Arc<Vec<f32>>,
        sample_rate: u32,
    ) -> Result<Judgement, JudgeError> {
        let _thread = self
            .threads
            .acquire()
            .await
            .map_err(|_| ValidatorFault::QueueClosed)?;
        let seconds = self.seconds;
        let facts = read_prompt(&prompt);
        let clip = samples.clone();
        let mut measured =
            tokio::task::spawn_blocking(move || measure(&clip, sample_rate, &facts, seconds))
                .await
                .map_err(|e| ValidatorFault::Invalid(format!("music measurement failed: {e}")))??;
        let indexable = measured.reward >= INDEX_MIN_REWARD;
        let replay = self
            .replays
            .check(
                hotkey,
                prompt.clone(),
                measured.fingerprint.clone(),
                indexable,
            )
            .await;
        if let Some(m) = replay {
            return Err(JudgeError::Rejected(format!(
                "replayed music: matches a track {} sent for another prompt (similarity {:.2})",
                m.label.chars().take(10).collect::<String>(),
                m.similarity
            )));
        }
        // CLAP runs last: a clip the checks turned away costs it nothing.
        if let Some(clap) = &self.clap {
            let verdict = clap
                .judge(prompt, samples, sample_rate)
                .await
                .map_err(|e| ValidatorFault::Clap(e.to_string()))?;
            measured.clap_similarity = Some(verdict.similarity);
            measured.clap = Some(verdict.rank);
            measured.reward = with_clap(measured.adherence, verdict.rank);
        }
        Ok(Judgement {
            reward: measured.reward,
            breakdown: serde_json::to_value(&measured).unwrap_or(serde_json::Value::Null),
            fingerprint: Some(measured.fingerprint),
            exact_hash: Some(measured.exact_hash),
            indexed: indexable,
            wer: None,
            mos: None,
            transcript: None,
        })
    }
}

impl Judge for MusicJudge {
    fn judge(
        &self,
        hotkey: String,
        prompt: String,
        samples: Arc<Vec<f32>>,
        sample_rate: u32,
    ) -> BoxFuture<'static, Result<Judgement, JudgeError>> {
        let this = self.clone();
        Box::pin(async move { this.score(hotkey, prompt, samples, sample_rate).await })
    }
}

/// The reward from the adherence product and CLAP's rank term.
pub fn with_clap(adherence: f64, rank: f32) -> f64 {
    let rank = f64::from(rank).clamp(0.0, 1.0);
    (adherence * (1.0 - CLAP_WEIGHT + CLAP_WEIGHT * rank)).clamp(0.0, 1.0)
}

/// Checks and measures one clip (blocking). Errors are the miner's fault. The reward is the
/// adherence product; CLAP, when present, is applied by the judge afterwards.
pub fn measure(
    samples: &[f32],
    sample_rate: u32,
    facts: &PromptFacts,
    requested_s: f32,
) -> Result<MusicBreakdown, JudgeError> {
    let reject = |why: String| Err(JudgeError::Rejected(why));
    if samples.is_empty() {
        return reject("empty audio".into());
    }
    if !MUSIC_SAMPLE_RATES.contains(&sample_rate) {
        return reject(format!("sample rate {sample_rate} Hz is not allowed"));
    }
    if let Some(index) = samples.iter().position(|s| !s.is_finite()) {
        return reject(format!("sample {index} is not finite"));
    }
    let seconds = samples.len() as f32 / sample_rate as f32;
    if seconds < MIN_MUSIC_SECONDS {
        return reject(format!(
            "{seconds:.2} s is too short (at least {MIN_MUSIC_SECONDS} s)"
        ));
    }
    if seconds > MAX_LENGTH_RATIO * requested_s.max(MIN_MUSIC_SECONDS) {
        return reject(format!(
            "{seconds:.1} s is far longer than the {requested_s:.1} s asked for"
        ));
    }
    let peak = analysis::peak(samples);
    if peak > 1.5 {
        return reject(format!("peak {peak} is out of range"));
    }
    let rms_dbfs = analysis::rms_dbfs(samples);
    if rms_dbfs < MIN_MUSIC_RMS_DBFS {
        return reject(format!("silent ({rms_dbfs:.1} dBFS)"));
    }
    let clipped = analysis::clipped_fraction(samples);
    if clipped > MAX_CLIPPED_FRACTION {
        return reject(format!(
            "{:.1} % of the samples are clipped",
            100.0 * clipped
        ));
    }
    let Some(honesty) = analysis::measure_honesty(samples, sample_rate) else {
        return reject("the clip cannot be measured".into());
    };
    if let Some(cheat) = analysis::detect_cheat(&honesty) {
        return reject(format!("not music: {cheat}"));
    }

    let tempo_measured = analysis::estimate_tempo(samples, sample_rate).map(|t| t.bpm);
    let tempo = facts
        .tempo_bpm
        .map(|asked| tempo_measured.map_or(0.0, |m| analysis::tempo_adherence(m, asked)));
    let key_measured = analysis::estimate_key(samples, sample_rate);
    let key_requested = facts
        .tonic
        .zip(facts.mode)
        .map(|(tonic, mode)| (analysis::PitchClass::from_semitones(i32::from(tonic)), mode));
    let key = key_requested.map(|asked| {
        key_measured.map_or(0.0, |k| analysis::key_adherence((k.tonic, k.mode), asked))
    });
    let sounding_s = (seconds - honesty.leading_silence_s - honesty.trailing_silence_s).max(0.0);
    let duration = analysis::duration_adherence(sounding_s, requested_s);
    let drums = facts
        .drums
        .map(|asked| analysis::drums_adherence(honesty.drum_noise, asked));
    let reward =
        f64::from(tempo.unwrap_or(1.0) * key.unwrap_or(1.0) * duration * drums.unwrap_or(1.0))
            .clamp(0.0, 1.0);

    let at_16k = audiosubnet_audio::resample(samples, sample_rate, 16_000);
    Ok(MusicBreakdown {
        task: "music",
        reward,
        tempo_requested: facts.tempo_bpm,
        tempo_measured,
        tempo,
        key_requested: key_requested.map(|(t, m)| format!("{} {m}", t.name())),
        key_measured: key_measured.map(|k| format!("{} {}", k.tonic.name(), k.mode)),
        key,
        duration_requested_s: requested_s,
        duration_s: sounding_s,
        duration,
        rms_dbfs,
        spectral_flatness: honesty.spectral_flatness,
        loop_repetition: honesty.loop_repetition,
        percussive_fraction: honesty.percussive_fraction,
        drums_requested: facts.drums,
        drum_noise: honesty.drum_noise,
        drums,
        adherence: reward,
        clap_similarity: None,
        clap: None,
        fingerprint: Fingerprint::of_16k(&at_16k).to_hex(),
        exact_hash: exact_hash(samples, sample_rate),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_scales_the_adherence_product_by_at_most_half() {
        assert_eq!(with_clap(1.0, 1.0), 1.0);
        assert_eq!(with_clap(1.0, 0.0), 0.5);
        assert!((with_clap(0.8, 0.5) - 0.6).abs() < 1e-12);
        assert_eq!(with_clap(0.0, 1.0), 0.0);
        // Out-of-range ranks cannot push the reward outside [0, 1].
        assert_eq!(with_clap(1.0, 7.0), 1.0);
        assert_eq!(with_clap(1.0, -1.0), 0.5);
    }
}

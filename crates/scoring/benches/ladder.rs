//! The quality ladder: which judge tells good speech from bad? Speaks the 40 prompts of
//! `tests/common/ladder.rs` with Kokoro (two voices), Piper, Festival HTS, flite and espeak-ng,
//! measures every clip with both Whisper checkpoints (tiny.en, base), both naturalness models
//! (DNSMOS P.835 OVRL, Distill-MOS) and the VAD, and prints per engine the mean WER, the mean of
//! each MOS, and the mean reward under each of the four judges (the formula of
//! `audiosubnet_scoring::formula` with that ASR and that MOS). Then, per judge, how well it
//! separates the ladder: for each pair of neighbouring rungs, the share of prompts on which the
//! better engine got the higher reward (ties count half), their mean and minimum, and the
//! smallest gap between neighbouring mean rewards. A benchmark, not a test: it asserts nothing.
//!
//! ```text
//! source scripts/lib.sh; ensure_tts_deps; ensure_scoring_deps
//! cargo bench -p audiosubnet-scoring --bench ladder
//! ```
//!
//! `AUDIOSUBNET_BENCH_PROMPTS=N` uses the first N prompts (default 40).

#[path = "../tests/common/ladder.rs"]
mod ladder;

use std::time::Instant;

use audiosubnet_models::ModelStore;
use audiosubnet_scoring::formula::{self, Naturalness};
use audiosubnet_scoring::onnx::{DnsmosModel, VadModel};
use audiosubnet_scoring::resample::to_16k;
use audiosubnet_scoring::text::{spoken_chars, wer};
use audiosubnet_scoring::whisper::WhisperAsr;
use audiosubnet_scoring::{AsrModel, Measurements, check_response};

/// What one clip measured.
struct Clip {
    wer: [f64; 2],
    ovrl: f64,
    distill: f64,
    measurements: Measurements,
}

impl Clip {
    fn reward(&self, asr: usize, nat: Naturalness) -> f64 {
        let mos = match nat {
            Naturalness::Dnsmos => self.ovrl,
            Naturalness::DistillMos => self.distill,
        };
        let m = Measurements {
            wer: self.wer[asr],
            mos,
            naturalness: nat,
            ..self.measurements
        };
        formula::factors(&m).reward
    }
}

fn main() {
    let n: usize = std::env::var("AUDIOSUBNET_BENCH_PROMPTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ladder::PROMPTS.len())
        .clamp(1, ladder::PROMPTS.len());
    let prompts = &ladder::PROMPTS[..n];
    let store = ModelStore::from_env().expect("model store");
    let ort = store
        .require("onnxruntime")
        .expect("onnxruntime")
        .file("libonnxruntime.so.1.31.1");
    let cpu = candle_core::Device::Cpu;
    let mut whisper: Vec<WhisperAsr> = AsrModel::ALL
        .iter()
        .map(|m| WhisperAsr::load(&store.require(m.model_name()).expect("whisper").dir, &cpu))
        .collect::<Result<_, _>>()
        .expect("whisper");
    let mut dnsmos = DnsmosModel::load(
        &store
            .require("dnsmos")
            .expect("dnsmos")
            .file("sig_bak_ovr.onnx"),
        &ort,
    )
    .expect("dnsmos");
    let distill = audiosubnet_distillmos::DistillMos::load(
        &store
            .require("distill-mos")
            .expect("distill-mos")
            .file(audiosubnet_distillmos::WEIGHTS_FILE),
    )
    .expect("distill-mos");
    let mut vad = VadModel::load(
        &store
            .require("silero-vad")
            .expect("silero-vad")
            .file("silero_vad_op18_ifless.onnx"),
        &ort,
    )
    .expect("vad");

    let mut times = [0.0f64; 5]; // tiny, base, dnsmos, distill, vad (seconds, all clips)
    let mut clips_measured = 0usize;
    let mut table: Vec<Vec<Clip>> = Vec::new();
    for rung in &ladder::LADDER {
        let started = Instant::now();
        let speech = ladder::speak(rung, prompts);
        eprintln!(
            "{}: {} clips in {:.1} s",
            rung.label,
            speech.len(),
            started.elapsed().as_secs_f64()
        );
        let mut clips = Vec::new();
        for (prompt, s) in prompts.iter().zip(&speech) {
            let checked = check_response(prompt, &s.samples, s.sample_rate)
                .unwrap_or_else(|e| panic!("{}: {prompt:?} failed the checks: {e}", rung.label));
            let pcm = to_16k(&checked.samples, s.sample_rate);
            let budget = 3 * audiosubnet_scoring::text::normalize_words(prompt).len() + 16;
            let mut wers = [0.0; 2];
            for (i, w) in whisper.iter_mut().enumerate() {
                let t = Instant::now();
                let heard = w.transcribe(&pcm, budget).expect("transcribe");
                times[i] += t.elapsed().as_secs_f64();
                wers[i] = wer(prompt, &heard.text);
            }
            let t = Instant::now();
            let ovrl = dnsmos.score(&pcm).expect("dnsmos").ovrl;
            times[2] += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let distilled = f64::from(distill.score(&pcm).expect("distill-mos"));
            times[3] += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let act = vad.activity(&pcm).expect("vad");
            times[4] += t.elapsed().as_secs_f64();
            clips_measured += 1;
            clips.push(Clip {
                wer: wers,
                ovrl,
                distill: distilled,
                measurements: Measurements {
                    wer: wers[0],
                    mos: ovrl,
                    naturalness: Naturalness::Dnsmos,
                    speech_fraction: act.speech_fraction,
                    speaking_rate: (act.span_s > 0.0)
                        .then(|| spoken_chars(prompt) as f64 / act.span_s),
                    leading_silence_s: act.leading_silence_s,
                    trailing_silence_s: act.trailing_silence_s,
                },
            });
        }
        table.push(clips);
    }

    let judges: Vec<(String, usize, Naturalness)> = AsrModel::ALL
        .iter()
        .enumerate()
        .flat_map(|(i, asr)| {
            [Naturalness::Dnsmos, Naturalness::DistillMos]
                .into_iter()
                .map(move |nat| (format!("{} + {}", asr.as_str(), nat.as_str()), i, nat))
        })
        .collect();
    let mean = |xs: &mut dyn Iterator<Item = f64>| {
        let (s, c) = xs.fold((0.0, 0usize), |(s, c), x| (s + x, c + 1));
        s / c.max(1) as f64
    };

    println!("\n## The ladder on {n} prompts\n");
    print!("| engine | WER tiny.en | WER base | DNSMOS OVRL | Distill-MOS |");
    for (name, _, _) in &judges {
        print!(" reward {name} |");
    }
    println!();
    println!("|---|---|---|---|---|{}", "---|".repeat(judges.len()));
    for (rung, clips) in ladder::LADDER.iter().zip(&table) {
        print!(
            "| {} | {:.3} | {:.3} | {:.2} | {:.2} |",
            rung.label,
            mean(&mut clips.iter().map(|c| c.wer[0])),
            mean(&mut clips.iter().map(|c| c.wer[1])),
            mean(&mut clips.iter().map(|c| c.ovrl)),
            mean(&mut clips.iter().map(|c| c.distill)),
        );
        for (_, asr, nat) in &judges {
            print!(
                " {:.3} |",
                mean(&mut clips.iter().map(|c| c.reward(*asr, *nat)))
            );
        }
        println!();
    }

    // Neighbouring rungs; the two Kokoro voices are one rung (their per-prompt mean).
    println!(
        "\n## Separation (neighbouring rungs: Kokoro > Piper > Festival > flite > espeak-ng)\n"
    );
    println!("| judge | ladder order kept | mean win rate | worst win rate | smallest mean gap |");
    println!("|---|---|---|---|---|");
    for (name, asr, nat) in &judges {
        let per_prompt: Vec<Vec<f64>> = {
            let reward =
                |r: usize| -> Vec<f64> { table[r].iter().map(|c| c.reward(*asr, *nat)).collect() };
            let kokoro: Vec<f64> = reward(0)
                .iter()
                .zip(reward(1))
                .map(|(a, b)| (a + b) / 2.0)
                .collect();
            let mut v = vec![kokoro];
            v.extend((2..table.len()).map(reward));
            v
        };
        let means: Vec<f64> = per_prompt
            .iter()
            .map(|r| mean(&mut r.iter().copied()))
            .collect();
        let order_kept = means.windows(2).all(|w| w[0] > w[1]);
        let win_rates: Vec<f64> = per_prompt
            .windows(2)
            .map(|w| {
                let wins: f64 = w[0]
                    .iter()
                    .zip(&w[1])
                    .map(|(a, b)| match a.partial_cmp(b) {
                        Some(std::cmp::Ordering::Greater) => 1.0,
                        Some(std::cmp::Ordering::Equal) => 0.5,
                        _ => 0.0,
                    })
                    .sum();
                wins / w[0].len() as f64
            })
            .collect();
        let gap = means
            .windows(2)
            .map(|w| w[0] - w[1])
            .fold(f64::INFINITY, f64::min);
        println!(
            "| {name} | {} | {:.3} | {:.3} | {:+.3} |",
            if order_kept { "yes" } else { "no" },
            mean(&mut win_rates.iter().copied()),
            win_rates.iter().copied().fold(f64::INFINITY, f64::min),
            gap
        );
    }

    println!("\n## Time per clip ({clips_measured} clips)\n");
    for (name, t) in [
        "Whisper tiny.en",
        "Whisper base",
        "DNSMOS",
        "Distill-MOS",
        "Silero VAD",
    ]
    .iter()
    .zip(times)
    {
        println!(
            "- {name}: {:.0} ms",
            1000.0 * t / clips_measured.max(1) as f64
        );
    }
}

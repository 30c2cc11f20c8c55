//! Real-time factor of an engine on 20 fixed sentences (a benchmark, not a test).
//!
//! `cargo run --release -p audiosubnet-tts --example rtf -- [ENGINE] [INTRA_THREADS]`
//! (default `piper`, ONNX Runtime's default thread count). Needs the engine installed.

use std::time::Instant;

use audiosubnet_tts::{EngineOptions, load_engine};

const SENTENCES: [&str; 20] = [
    "The quick brown fox jumps over the lazy dog.",
    "Validators score each miner by transcribing the audio and comparing it with the prompt.",
    "A gentle breeze carried the scent of rain across the quiet valley.",
    "Please remember to bring your identification card to the appointment on Tuesday.",
    "The museum opens at nine in the morning and closes at five in the evening.",
    "She poured a cup of tea and watched the sun set behind the hills.",
    "Our quarterly revenue grew by twelve percent compared with last year.",
    "The train to Boston departs from platform four in ten minutes.",
    "He carefully folded the letter and placed it inside the envelope.",
    "Scientists discovered a new species of frog in the rainforest.",
    "Turn left at the second intersection and continue for two miles.",
    "The library will be closed for renovations until the end of the month.",
    "Children laughed as they chased each other around the playground.",
    "Dr. Smith paid $3.50 for coffee on March 3, 2024.",
    "The orchestra rehearsed the symphony for three hours without a break.",
    "Fresh vegetables from the local market make the best soup.",
    "Our flight was delayed because of heavy snow at the airport.",
    "The software update fixes several bugs and improves battery life.",
    "Every evening the old lighthouse keeper climbed the spiral staircase.",
    "Thank you for calling; a representative will be with you shortly.",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "piper".to_owned());
    let intra_threads = args.next().map(|s| s.parse()).transpose()?.unwrap_or(0);
    let opts = EngineOptions {
        intra_threads,
        ..EngineOptions::default()
    };

    let t = Instant::now();
    let mut engine = load_engine(&name, &opts)?;
    let load = t.elapsed().as_secs_f64();
    engine.synthesize("Warming up.")?;

    let (mut synth_total, mut audio_total) = (0.0, 0.0);
    let mut rtfs = Vec::new();
    for s in SENTENCES {
        let t = Instant::now();
        let speech = engine.synthesize(s)?;
        let secs = t.elapsed().as_secs_f64();
        let audio = speech.duration_secs();
        synth_total += secs;
        audio_total += audio;
        rtfs.push(secs / audio);
    }
    rtfs.sort_by(f64::total_cmp);
    println!(
        "{name}: load {load:.2} s; {} sentences, {audio_total:.1} s of audio in {synth_total:.2} s: \
         RTF {:.3} overall, median {:.3}, max {:.3} (intra_threads={intra_threads})",
        SENTENCES.len(),
        synth_total / audio_total,
        rtfs[rtfs.len() / 2],
        rtfs[rtfs.len() - 1],
    );
    Ok(())
}

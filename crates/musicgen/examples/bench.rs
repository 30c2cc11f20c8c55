//! Times MusicGen text-to-music on a checkpoint directory: greedy decoding with guidance 3 for
//! SECONDS of audio (default 2), printing one JSON line with the load and generation wall and
//! CPU seconds (Linux: from /proc/self/stat). `fixtures/musicgen/bench.py` runs it next to
//! transformers on the same checkpoint.
//!
//!     cargo run -p audiosubnet-musicgen --example bench -- DIR [SECONDS] [PROMPT]

use std::path::PathBuf;
use std::time::Instant;

use audiosubnet_musicgen::{MusicGen, Sampling};
use candle_core::Device;

/// User + system CPU seconds of this process so far (0 where /proc is missing).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: bench DIR [SECONDS] [PROMPT]")?);
    let seconds: f32 = args.next().map_or(Ok(2.0), |s| s.parse())?;
    let prompt = args
        .next()
        .unwrap_or_else(|| "a calm piano tune at 90 bpm".to_owned());
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    let model = MusicGen::load(&dir, &Device::Cpu)?;
    let (load_wall, load_cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    let ids = model.tokenize(&prompt)?;
    let tokens = model.max_new_tokens_for(seconds)?;
    let (codes, frames) = model.generate_codes(&ids, tokens, 3.0, Sampling::Greedy)?;
    let (codes_wall, codes_cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    let audio = model.decode_codes(&codes, frames)?;
    let (gen_wall, gen_cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    let audio_s = (audio.len() as f64 / f64::from(model.sample_rate())).min(f64::from(seconds));
    println!(
        "{{\"engine\": \"candle\", \"max_new_tokens\": {tokens}, \"audio_s\": {audio_s}, \"load_wall_s\": {load_wall:.3}, \"load_cpu_s\": {load_cpu:.3}, \"codes_wall_s\": {codes_wall:.3}, \"codes_cpu_s\": {codes_cpu:.3}, \"gen_wall_s\": {gen_wall:.3}, \"gen_cpu_s\": {gen_cpu:.3}, \"cpu_s_per_audio_s\": {:.3}}}",
        gen_cpu / audio_s.max(1e-9),
    );
    Ok(())
}

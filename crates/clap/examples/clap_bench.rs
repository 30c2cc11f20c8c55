//! Times CLAP on a checkpoint directory: the load, one text embedding, and the audio embedding
//! of a SECONDS-long 48 kHz clip (default 10, one window; 30 makes three), printing one JSON
//! line with wall and CPU seconds (Linux: from /proc/self/stat) and the first values of both
//! embeddings. `fixtures/clap/bench.py` runs transformers on the same inputs.
//! `fixtures/clap/make_fixtures.py --full-size DIR` writes a random checkpoint with
//! laion/larger_clap_music's geometry to run it on.
//!
//!     cargo run -p audiosubnet-clap --release --example clap_bench -- DIR [SECONDS]

use std::path::PathBuf;
use std::time::Instant;

use audiosubnet_clap::ClapModel;
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
    let dir = PathBuf::from(args.next().ok_or("usage: bench DIR [SECONDS]")?);
    let seconds: f32 = args.next().map_or(Ok(10.0), |s| s.parse())?;
    let timed = |f: &mut dyn FnMut() -> Result<(), Box<dyn std::error::Error>>| {
        let (wall, cpu) = (Instant::now(), cpu_seconds());
        f().map(|()| (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu))
    };
    let mut model = None;
    let (load_wall, load_cpu) = timed(&mut || {
        model = Some(ClapModel::load(&dir, &Device::Cpu)?);
        Ok(())
    })?;
    let model = model.ok_or("not loaded")?;
    let mut text = Vec::new();
    let (text_wall, text_cpu) = timed(&mut || {
        text = model.text_embedding("an upbeat electronic track with a driving bass line")?;
        Ok(())
    })?;
    let samples: Vec<f32> = (0..(seconds * 48_000.0) as usize)
        .map(|i| 0.3 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 48_000.0).sin())
        .collect();
    let mut audio = Vec::new();
    let (audio_wall, audio_cpu) = timed(&mut || {
        audio = model.audio_embedding(&samples, 48_000)?;
        Ok(())
    })?;
    let head = |v: &[f32]| {
        v.iter()
            .take(4)
            .map(|x| format!("{x:.6}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "{{\"engine\": \"candle\", \"audio_s\": {seconds}, \"load_wall_s\": {load_wall:.3}, \"load_cpu_s\": {load_cpu:.3}, \"text_wall_s\": {text_wall:.3}, \"text_cpu_s\": {text_cpu:.3}, \"audio_wall_s\": {audio_wall:.3}, \"audio_cpu_s\": {audio_cpu:.3}, \"similarity\": {:.6}, \"text_head\": [{}], \"audio_head\": [{}]}}",
        audiosubnet_clap::similarity(&text, &audio),
        head(&text),
        head(&audio),
    );
    Ok(())
}

//! Speaks a text with a checkpoint directory and writes a 16-bit mono WAV, printing how long it
//! took (for listening checks and CPU timing):
//!
//! `cargo run --release -p audiosubnet-vits --example vits_synthesize -- DIR "text" out.wav [--deterministic]`

use std::io::Write;
use std::time::Instant;

use audiosubnet_vits::{SynthesisOptions, Vits};
use candle_core::Device;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, text, out, rest @ ..] = args.as_slice() else {
        return Err("usage: synthesize DIR TEXT OUT.wav [--deterministic]".into());
    };
    let started = Instant::now();
    let vits = Vits::load(dir, &Device::Cpu)?;
    println!("loaded in {:.2?}", started.elapsed());
    let options = if rest.iter().any(|a| a == "--deterministic") {
        SynthesisOptions::deterministic()
    } else {
        SynthesisOptions::from_config(vits.config())
    };
    let started = Instant::now();
    let (samples, rate) = vits.synthesize_with(text, &options)?;
    let took = started.elapsed();
    let seconds = samples.len() as f64 / f64::from(rate);
    println!(
        "{seconds:.2} s of audio in {took:.2?} (real-time factor {:.2})",
        took.as_secs_f64() / seconds.max(1e-9)
    );
    write_wav(out, &samples, rate)?;
    Ok(())
}

fn write_wav(path: &str, samples: &[f32], rate: u32) -> std::io::Result<()> {
    let data_len = u32::try_from(samples.len() * 2).map_err(std::io::Error::other)?;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    w.write_all(b"RIFF")?;
    w.write_all(&(36 + data_len).to_le_bytes())?;
    w.write_all(b"WAVEfmt ")?;
    w.write_all(&16u32.to_le_bytes())?; // fmt chunk size
    w.write_all(&1u16.to_le_bytes())?; // PCM
    w.write_all(&1u16.to_le_bytes())?; // mono
    w.write_all(&rate.to_le_bytes())?;
    w.write_all(&(rate * 2).to_le_bytes())?; // bytes per second
    w.write_all(&2u16.to_le_bytes())?; // block align
    w.write_all(&16u16.to_le_bytes())?; // bits per sample
    w.write_all(b"data")?;
    w.write_all(&data_len.to_le_bytes())?;
    for s in samples {
        // The model's tanh keeps samples in [-1, 1]; clamp anyway before quantising.
        let v = (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16;
        w.write_all(&v.to_le_bytes())?;
    }
    w.flush()
}

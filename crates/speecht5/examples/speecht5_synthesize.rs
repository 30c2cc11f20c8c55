//! Speaks a text with a SpeechT5 checkpoint, its vocoder and a speaker embedding, and writes a
//! 16-bit mono WAV, printing how long it took (for listening checks and CPU timing):
//!
//! `cargo run --release -p audiosubnet-speecht5 --example speecht5_synthesize -- TTS_DIR VOCODER_DIR
//! SPEAKER.npy|--zero-speaker "text" out.wav [--seed N] [--threshold X] [--maxlenratio X]`

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use audiosubnet_speecht5::{GenerationOptions, SpeakerEmbedding, SpeechT5};
use candle_core::Device;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [tts, vocoder, speaker, text, out, rest @ ..] = args.as_slice() else {
        return Err(
            "usage: synthesize TTS_DIR VOCODER_DIR SPEAKER.npy|--zero-speaker TEXT OUT.wav \
             [--seed N] [--threshold X] [--maxlenratio X]"
                .into(),
        );
    };
    let started = Instant::now();
    let model = SpeechT5::load(tts, vocoder, &Device::Cpu)?;
    println!("loaded in {:.2?}", started.elapsed());
    let speaker = if speaker == "--zero-speaker" {
        SpeakerEmbedding::zeros(model.config().speaker_embedding_dim)
    } else {
        SpeakerEmbedding::from_file(Path::new(speaker))?
    };
    let mut options = GenerationOptions::default();
    for pair in rest.chunks(2) {
        match pair {
            [flag, n] if flag == "--seed" => options.seed = n.parse()?,
            [flag, x] if flag == "--threshold" => options.threshold = x.parse()?,
            [flag, x] if flag == "--maxlenratio" => options.maxlenratio = x.parse()?,
            _ => return Err(format!("unexpected arguments {pair:?}").into()),
        }
    }
    let started = Instant::now();
    let (samples, rate) = model.synthesize_with(text, &speaker, &options)?;
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
        // The vocoder's tanh keeps samples in [-1, 1]; clamp anyway before quantising.
        let v = (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16;
        w.write_all(&v.to_le_bytes())?;
    }
    w.flush()
}

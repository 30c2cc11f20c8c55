//! WAV in (subprocess engines write files) and out (16-bit PCM for callers).

use std::io::Cursor;

use crate::{Speech, TtsError};

/// Encodes mono 16-bit PCM.
pub(crate) fn encode_pcm16(speech: &Speech) -> Result<Vec<u8>, TtsError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: speech.sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::with_capacity(44 + speech.samples.len() * 2));
    let err = |e: hound::Error| TtsError::BadAudio {
        engine: "wav".to_owned(),
        reason: e.to_string(),
    };
    let mut writer = hound::WavWriter::new(&mut out, spec).map_err(err)?;
    for &s in &speech.samples {
        // Round to nearest; NaN becomes 0 through the saturating cast.
        let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        writer.write_sample(v).map_err(err)?;
    }
    writer.finalize().map_err(err)?;
    Ok(out.into_inner())
}

/// Decodes a WAV file into mono f32 (channels averaged).
pub(crate) fn decode(engine: &str, bytes: &[u8]) -> Result<Speech, TtsError> {
    let bad = |reason: String| TtsError::BadAudio {
        engine: engine.to_owned(),
        reason,
    };
    let reader = hound::WavReader::new(Cursor::new(bytes)).map_err(|e| bad(e.to_string()))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => reader
            .into_samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| bad(e.to_string()))?,
        (hound::SampleFormat::Int, bits @ 1..=32) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(|e| bad(e.to_string()))?
        }
        (fmt, bits) => return Err(bad(format!("unsupported WAV format {fmt:?} {bits} bit"))),
    };
    let samples = interleaved
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / frame.len() as f32)
        .collect();
    Ok(Speech {
        samples,
        sample_rate: spec.sample_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let speech = Speech {
            samples: vec![0.0, 0.5, -0.5, 1.0, -1.0],
            sample_rate: 16_000,
        };
        let back = decode("t", &encode_pcm16(&speech).unwrap()).unwrap();
        assert_eq!(back.sample_rate, 16_000);
        for (a, b) in speech.samples.iter().zip(&back.samples) {
            assert!((a - b).abs() < 1e-3, "{a} {b}");
        }
        assert!(decode("t", b"not a wav").is_err());
    }
}

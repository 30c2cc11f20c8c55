//! Audio I/O for the whole workspace: how float samples become integer PCM and back, WAV files
//! in and out, and raw 16-bit little-endian PCM; also [`resample()`], pitch-preserving
//! [`time_stretch`] and, with the `encode` feature, mp3, Ogg Opus and FLAC (module `encode`).
//! Every crate that writes or reads audio goes through here, so a clip is converted the same way
//! wherever it is made or judged.
//!
//! # The conversion rule
//!
//! * **f32 → i16** ([`f32_to_i16`]): NaN becomes 0; the sample is clamped to [-1, 1] (so ±∞
//!   become full scale), multiplied by 32767 and rounded to the nearest integer, halves away
//!   from zero. 1.0 is 32767, -1.0 is -32767 (never -32768), 0.5 is 16384.
//! * **integer → f32** ([`i16_to_f32`], [`int_to_f32`]): divided by 2^(bits − 1), so -32768 is
//!   exactly -1.0 and 32767 is 0.99997; 8-, 16-, 24- and 32-bit WAV samples all read into [-1, 1).
//!
//! The two directions are deliberately not inverses. Writing with 32767 and rounding is what the
//! miner's WAV and OpenAI `pcm` replies and the SDK-11 `/tts` encoder already produced, so for
//! finite samples every byte a miner sent before this crate existed is sent again unchanged (the
//! validator's report used to truncate instead and now rounds like the rest; the `/tts` encoder
//! used to send ±∞ as silence and now clips it like the WAV writer always did). Reading with
//! 2^(bits − 1) is what the engines' WAV reader, espeak-ng's samples and `audiosubnet score`
//! already did (and soundfile and torchaudio do). A write-then-read round trip is off by at most
//! 1.5/32768.
//!
//! # Example
//!
//! ```
//! let wav = audiosubnet_audio::encode_wav16(&[0.0, 0.5, -1.0], 16_000)?;
//! let back = audiosubnet_audio::decode_wav(&wav)?;
//! assert_eq!(back.sample_rate, 16_000);
//! assert_eq!(back.samples, vec![0.0, 16_384.0 / 32_768.0, -32_767.0 / 32_768.0]);
//! # Ok::<(), audiosubnet_audio::AudioError>(())
//! ```

use std::io::Cursor;
use std::path::{Path, PathBuf};

#[cfg(feature = "encode")]
pub mod encode;
pub mod resample;
pub mod stretch;

pub use resample::resample;
pub use stretch::time_stretch;

/// What can go wrong reading or writing audio.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// The bytes are not a WAV file hound can parse, or writing one failed.
    #[error("{0}")]
    Wav(#[from] hound::Error),
    /// A WAV sample format this crate does not read (float other than 32-bit, integers wider
    /// than 32 bits).
    #[error("unsupported WAV format {format} {bits} bit")]
    Unsupported {
        /// `Int` or `Float`.
        format: &'static str,
        /// Bits per sample.
        bits: u16,
    },
    /// Raw 16-bit PCM with an odd number of bytes.
    #[error("raw 16-bit PCM must have an even number of bytes, got {0}")]
    OddPcmLength(usize),
    /// A compressed encoder (feature `encode`) failed.
    #[error("encoding {format}: {message}")]
    Encode {
        /// `mp3`, `opus` or `flac`.
        format: &'static str,
        /// The encoder's message.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Full scale of a 16-bit sample when writing: 1.0 becomes this.
pub const I16_WRITE_SCALE: f32 = 32_767.0;

/// One float sample as 16-bit PCM: NaN → 0, clamp to [-1, 1], × 32767, round half away from zero.
pub fn f32_to_i16(sample: f32) -> i16 {
    if sample.is_nan() {
        return 0;
    }
    // In range after the clamp, so the cast never saturates.
    (sample.clamp(-1.0, 1.0) * I16_WRITE_SCALE).round() as i16
}

/// One 16-bit PCM sample as a float: divided by 32768, so the result is in [-1, 1).
pub fn i16_to_f32(sample: i16) -> f32 {
    f32::from(sample) / 32_768.0
}

/// One `bits`-bit integer sample (1 to 32 bits, sign-extended into an `i32`, as WAV readers
/// give them) as a float: divided by 2^(bits − 1).
pub fn int_to_f32(sample: i32, bits: u16) -> f32 {
    let scale = 1.0 / (1u64 << (bits.clamp(1, 32) - 1)) as f32;
    // Rounding the integer to f32 and scaling by a power of two is exact apart from that one
    // rounding, the same as dividing in f64 first.
    sample as f32 * scale
}

/// Float samples as raw 16-bit little-endian PCM ([`f32_to_i16`] per sample).
pub fn encode_pcm16le(samples: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(samples.len() * 2);
    for &s in samples {
        out.extend_from_slice(&f32_to_i16(s).to_le_bytes());
    }
    out
}

/// Raw 16-bit little-endian PCM as float samples ([`i16_to_f32`] per sample).
pub fn decode_pcm16le(bytes: &[u8]) -> Result<Vec<f32>, AudioError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(AudioError::OddPcmLength(bytes.len()));
    }
    Ok(bytes
        .chunks_exact(2)
        .map(|b| i16_to_f32(i16::from_le_bytes([b[0], b[1]])))
        .collect())
}

/// A mono 16-bit PCM WAV file of `samples` at `sample_rate` ([`f32_to_i16`] per sample).
pub fn encode_wav16(samples: &[f32], sample_rate: u32) -> Result<Vec<u8>, AudioError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    let mut writer = hound::WavWriter::new(&mut out, spec)?;
    for &s in samples {
        writer.write_sample(f32_to_i16(s))?;
    }
    writer.finalize()?;
    Ok(out.into_inner())
}

/// Writes [`encode_wav16`] to `path` through a temporary file beside it and a rename, so a
/// reader (a browser on the report, a player) never sees half a file.
pub fn write_wav16(path: &Path, samples: &[f32], sample_rate: u32) -> Result<(), AudioError> {
    let bytes = encode_wav16(samples, sample_rate)?;
    let io = |source| AudioError::Io {
        path: path.to_owned(),
        source,
    };
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// Decoded audio: mono samples in [-1, 1] and the file's rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Wav {
    /// Samples, channels averaged into one.
    pub samples: Vec<f32>,
    /// Samples per second.
    pub sample_rate: u32,
    /// Channels the file had.
    pub channels: u16,
}

/// Decodes a WAV file of 8-, 16-, 24- or 32-bit integer or 32-bit float samples into mono
/// floats (channels averaged; integers by [`int_to_f32`], floats as they are).
pub fn decode_wav(bytes: &[u8]) -> Result<Wav, AudioError> {
    decode_reader(hound::WavReader::new(Cursor::new(bytes))?)
}

/// [`decode_wav`] of the file at `path`.
pub fn read_wav(path: &Path) -> Result<Wav, AudioError> {
    let bytes = std::fs::read(path).map_err(|source| AudioError::Io {
        path: path.to_owned(),
        source,
    })?;
    decode_wav(&bytes)
}

fn decode_reader<R: std::io::Read>(reader: hound::WavReader<R>) -> Result<Wav, AudioError> {
    let spec = reader.spec();
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => {
            reader.into_samples::<f32>().collect::<Result<_, _>>()?
        }
        (hound::SampleFormat::Int, bits @ 1..=32) => reader
            .into_samples::<i32>()
            .map(|s| s.map(|v| int_to_f32(v, bits)))
            .collect::<Result<_, _>>()?,
        (format, bits) => {
            return Err(AudioError::Unsupported {
                format: match format {
                    hound::SampleFormat::Float => "Float",
                    hound::SampleFormat::Int => "Int",
                },
                bits,
            });
        }
    };
    let channels = usize::from(spec.channels.max(1));
    let samples = interleaved
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / frame.len() as f32)
        .collect();
    Ok(Wav {
        samples,
        sample_rate: spec.sample_rate,
        channels: spec.channels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writing_full_scale_is_32767_and_clips_beyond() {
        assert_eq!(f32_to_i16(1.0), 32_767);
        assert_eq!(f32_to_i16(-1.0), -32_767);
        assert_eq!(f32_to_i16(1.5), 32_767);
        assert_eq!(f32_to_i16(-7.0), -32_767);
        assert_eq!(f32_to_i16(f32::INFINITY), 32_767);
        assert_eq!(f32_to_i16(f32::NEG_INFINITY), -32_767);
        assert_eq!(f32_to_i16(0.0), 0);
        assert_eq!(f32_to_i16(-0.0), 0);
    }

    #[test]
    fn writing_rounds_to_nearest_halves_away_from_zero() {
        assert_eq!(f32_to_i16(0.5), 16_384); // 16383.5
        assert_eq!(f32_to_i16(-0.5), -16_384);
        assert_eq!(f32_to_i16(1.4 / 32_767.0), 1);
        assert_eq!(f32_to_i16(1.6 / 32_767.0), 2);
        assert_eq!(f32_to_i16(-1.6 / 32_767.0), -2);
    }

    #[test]
    fn nan_is_silence() {
        assert_eq!(f32_to_i16(f32::NAN), 0);
        assert_eq!(encode_pcm16le(&[f32::NAN, 1.0]), vec![0, 0, 0xff, 0x7f]);
    }

    #[test]
    fn reading_divides_by_two_to_the_bits_minus_one() {
        assert_eq!(i16_to_f32(-32_768), -1.0);
        assert_eq!(i16_to_f32(16_384), 0.5);
        assert_eq!(i16_to_f32(32_767), 32_767.0 / 32_768.0);
        assert_eq!(int_to_f32(-128, 8), -1.0);
        assert_eq!(int_to_f32(1 << 22, 24), 0.5);
        assert_eq!(int_to_f32(i32::MIN, 32), -1.0);
        assert_eq!(int_to_f32(1 << 30, 32), 0.5);
        for v in [i16::MIN, -1, 0, 1, 12_345, i16::MAX] {
            assert_eq!(int_to_f32(i32::from(v), 16), i16_to_f32(v));
        }
    }

    #[test]
    fn every_i16_survives_read_then_write_within_one_step() {
        for v in i16::MIN..=i16::MAX {
            let back = f32_to_i16(i16_to_f32(v));
            assert!((i32::from(back) - i32::from(v)).abs() <= 1, "{v} -> {back}");
        }
    }

    #[test]
    fn pcm16le_round_trips_and_refuses_odd_lengths() {
        let bytes = encode_pcm16le(&[0.0, 0.5, -1.0]);
        assert_eq!(bytes, vec![0, 0, 0x00, 0x40, 0x01, 0x80]);
        assert_eq!(
            decode_pcm16le(&bytes).unwrap(),
            vec![0.0, 0.5, -32_767.0 / 32_768.0]
        );
        assert!(matches!(
            decode_pcm16le(&[1, 2, 3]),
            Err(AudioError::OddPcmLength(3))
        ));
    }

    #[test]
    fn wav16_is_the_pcm_behind_a_44_byte_header() {
        let samples = [0.0, 0.25, -0.25, 1.0, -1.0, f32::NAN];
        let wav = encode_wav16(&samples, 22_050).unwrap();
        assert_eq!(&wav[..4], b"RIFF");
        assert_eq!(&wav[44..], &encode_pcm16le(&samples)[..]);
        let back = decode_wav(&wav).unwrap();
        assert_eq!((back.sample_rate, back.channels), (22_050, 1));
        assert_eq!(back.samples.len(), samples.len());
        assert!(decode_wav(b"not a wav").is_err());
    }

    fn write_with(
        spec: hound::WavSpec,
        write: impl FnOnce(&mut hound::WavWriter<std::io::BufWriter<std::fs::File>>),
    ) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        write(&mut w);
        w.finalize().unwrap();
        (dir, path)
    }

    fn int_spec(channels: u16, bits: u16) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate: 22_050,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        }
    }

    #[test]
    fn reads_8_16_24_and_32_bit_integers_and_averages_channels() {
        let (_d, path) = write_with(int_spec(2, 16), |w| {
            for (l, r) in [(16_384i16, 0i16), (-32_768, -32_768)] {
                w.write_sample(l).unwrap();
                w.write_sample(r).unwrap();
            }
        });
        let wav = read_wav(&path).unwrap();
        assert_eq!((wav.sample_rate, wav.channels), (22_050, 2));
        assert_eq!(wav.samples, vec![0.25, -1.0]);

        let (_d, path) = write_with(int_spec(1, 8), |w| {
            for v in [-128i8, 0, 64] {
                w.write_sample(v).unwrap();
            }
        });
        assert_eq!(read_wav(&path).unwrap().samples, vec![-1.0, 0.0, 0.5]);

        let (_d, path) = write_with(int_spec(1, 24), |w| {
            for v in [-(1i32 << 23), 1 << 22, (1 << 23) - 1] {
                w.write_sample(v).unwrap();
            }
        });
        let s = read_wav(&path).unwrap().samples;
        assert_eq!(&s[..2], &[-1.0, 0.5]);
        assert!(s[2] < 1.0 && s[2] > 0.999_999);

        let (_d, path) = write_with(int_spec(1, 32), |w| {
            for v in [i32::MIN, 1 << 29] {
                w.write_sample(v).unwrap();
            }
        });
        assert_eq!(read_wav(&path).unwrap().samples, vec![-1.0, 0.25]);
    }

    #[test]
    fn reads_32_bit_float_as_is() {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let (_d, path) = write_with(spec, |w| {
            for v in [0.5f32, -1.25] {
                w.write_sample(v).unwrap();
            }
        });
        assert_eq!(read_wav(&path).unwrap().samples, vec![0.5, -1.25]);
        assert!(matches!(
            read_wav(&path.with_file_name("missing.wav")),
            Err(AudioError::Io { .. })
        ));
    }

    #[test]
    fn write_wav16_replaces_the_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.wav");
        std::fs::write(&path, b"old").unwrap();
        write_wav16(&path, &[0.5; 100], 16_000).unwrap();
        let wav = read_wav(&path).unwrap();
        assert_eq!(wav.samples.len(), 100);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary left behind");
        assert!(write_wav16(&dir.path().join("no/such/dir.wav"), &[0.0], 16_000).is_err());
    }
}

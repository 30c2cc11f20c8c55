//! Compressed encoders for the formats OpenAI's speech API returns: mp3 (LAME), Ogg Opus
//! (libopus in an Ogg container as RFC 7845 lays it out) and FLAC (pure Rust). Each takes mono
//! float samples and applies the crate's one conversion rule ([`crate::f32_to_i16`]) where the
//! codec wants integers.

use mp3lame_encoder::{Bitrate, Builder, FlushGap, Mode, MonoPcm, Quality};
use ogg::writing::{PacketWriteEndInfo, PacketWriter};

use crate::{AudioError, f32_to_i16, resample};

/// mp3 bit rate: 64 kbit/s mono is transparent enough for speech at 16–24 kHz and exists in
/// every MPEG version LAME may pick for those rates.
const MP3_BITRATE: Bitrate = Bitrate::Kbps64;

/// Opus bit rate in bit/s: wideband speech is near transparent here.
const OPUS_BITRATE: i32 = 48_000;

/// Rates libopus encodes; anything else is resampled up to the next one.
const OPUS_RATES: [u32; 5] = [8_000, 12_000, 16_000, 24_000, 48_000];

/// Ogg granule positions of Opus always count 48 kHz samples.
const OPUS_GRANULE_RATE: u32 = 48_000;

/// The Ogg stream's serial number. A file holds one stream, so any fixed value is valid, and a
/// fixed one keeps the output deterministic.
const OGG_SERIAL: u32 = 0x6175_6469;

fn failed(format: &'static str) -> impl Fn(&dyn std::fmt::Display) -> AudioError {
    move |e| AudioError::Encode {
        format,
        message: e.to_string(),
    }
}

/// Mono `samples` at `sample_rate` as a constant-bit-rate MPEG layer III stream, with a LAME
/// ("Info") tag in its first frame so decoders can trim the encoder's delay and padding.
pub fn encode_mp3(samples: &[f32], sample_rate: u32) -> Result<Vec<u8>, AudioError> {
    let err = failed("mp3");
    let mut builder = Builder::new().ok_or_else(|| err(&"LAME could not allocate an encoder"))?;
    builder.set_num_channels(1).map_err(|e| err(&e))?;
    builder.set_sample_rate(sample_rate).map_err(|e| err(&e))?;
    builder.set_mode(Mode::Mono).map_err(|e| err(&e))?;
    builder.set_brate(MP3_BITRATE).map_err(|e| err(&e))?;
    builder.set_quality(Quality::Good).map_err(|e| err(&e))?;
    builder.set_to_write_vbr_tag(true).map_err(|e| err(&e))?;
    let mut encoder = builder.build().map_err(|e| err(&e))?;

    let pcm: Vec<i16> = samples.iter().map(|&s| f32_to_i16(s)).collect();
    // LAME writes into spare capacity only; its documented worst cases.
    let mut out = Vec::with_capacity(mp3lame_encoder::max_required_buffer_size(pcm.len()));
    encoder
        .encode_to_vec(MonoPcm(&pcm), &mut out)
        .map_err(|e| err(&e))?;
    out.reserve(7_200);
    encoder
        .flush_to_vec::<FlushGap>(&mut out)
        .map_err(|e| err(&e))?;
    // LAME left a placeholder frame of the tag's size at the start (there is no ID3 tag before
    // it); the tag carries the delay and padding, so it can only be written now.
    let mut tag = Vec::with_capacity(encoder.lame_tag_size());
    if encoder.lame_tag_encode_to_vec(&mut tag).is_some() && tag.len() <= out.len() {
        out[..tag.len()].copy_from_slice(&tag);
    }
    Ok(out)
}

/// Mono `samples` at `sample_rate` as an Ogg Opus file (RFC 7845): an `OpusHead` page, an
/// `OpusTags` page, then 20 ms packets, granule positions in 48 kHz samples counting the
/// pre-skip, and the last page's granule trimmed to the real length. Rates libopus does not take
/// are resampled up to the next one it does ([`resample()`]).
pub fn encode_ogg_opus(samples: &[f32], sample_rate: u32) -> Result<Vec<u8>, AudioError> {
    let err = failed("opus");
    let rate = OPUS_RATES
        .iter()
        .copied()
        .find(|&r| r >= sample_rate)
        .unwrap_or(OPUS_GRANULE_RATE);
    let input = resample(samples, sample_rate, rate);
    let mut encoder = opus::Encoder::new(rate, opus::Channels::Mono, opus::Application::Audio)
        .map_err(|e| err(&e))?;
    encoder
        .set_bitrate(opus::Bitrate::Bits(OPUS_BITRATE))
        .map_err(|e| err(&e))?;
    let lookahead =
        usize::try_from(encoder.get_lookahead().map_err(|e| err(&e))?).map_err(|e| err(&e))?;
    // `rate` divides 48 kHz.
    let to_granule = u64::from(OPUS_GRANULE_RATE / rate);
    let pre_skip = lookahead as u64 * to_granule;
    let pre_skip_u16 = u16::try_from(pre_skip).map_err(|e| err(&e))?;

    let frame = rate as usize / 50;
    // The encoder's lookahead delays everything: feed that much silence after the audio so its
    // last sample comes out, then pad to whole frames.
    let frames = (input.len() + lookahead).div_ceil(frame).max(1);
    let mut pcm = input.clone();
    pcm.resize(frames * frame, 0.0);
    let end_granule = pre_skip + input.len() as u64 * to_granule;

    let mut head = Vec::with_capacity(19);
    head.extend_from_slice(b"OpusHead");
    head.push(1); // version
    head.push(1); // channels
    head.extend_from_slice(&pre_skip_u16.to_le_bytes());
    head.extend_from_slice(&sample_rate.to_le_bytes()); // the original rate, informational
    head.extend_from_slice(&0i16.to_le_bytes()); // output gain
    head.push(0); // channel mapping family 0: mono or stereo
    let vendor = format!("audiosubnet ({})", opus::version());
    let mut tags = Vec::with_capacity(16 + vendor.len());
    tags.extend_from_slice(b"OpusTags");
    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    tags.extend_from_slice(vendor.as_bytes());
    tags.extend_from_slice(&0u32.to_le_bytes()); // no user comments

    let io = |e: std::io::Error| err(&e);
    let mut writer = PacketWriter::new(Vec::new());
    // Each header packet ends its own page, as RFC 7845 requires.
    writer
        .write_packet(head, OGG_SERIAL, PacketWriteEndInfo::EndPage, 0)
        .map_err(io)?;
    writer
        .write_packet(tags, OGG_SERIAL, PacketWriteEndInfo::EndPage, 0)
        .map_err(io)?;
    for (i, chunk) in pcm.chunks_exact(frame).enumerate() {
        let packet = encoder
            .encode_vec_float(chunk, 4_000)
            .map_err(|e| err(&e))?;
        let last = i + 1 == frames;
        let granule = if last {
            end_granule
        } else {
            (i as u64 + 1) * frame as u64 * to_granule
        };
        // A page a second keeps pages small for players that stream.
        let end = if last {
            PacketWriteEndInfo::EndStream
        } else if (i + 1) % 50 == 0 {
            PacketWriteEndInfo::EndPage
        } else {
            PacketWriteEndInfo::NormalPacket
        };
        writer
            .write_packet(packet, OGG_SERIAL, end, granule)
            .map_err(io)?;
    }
    Ok(writer.into_inner())
}

/// Mono `samples` at `sample_rate` as a 16-bit FLAC file.
pub fn encode_flac(samples: &[f32], sample_rate: u32) -> Result<Vec<u8>, AudioError> {
    use flacenc::component::BitRepr;
    use flacenc::error::Verify;
    let err = failed("flac");
    let config = flacenc::config::Encoder::default()
        .into_verified()
        .map_err(|(_, e)| err(&e))?;
    let pcm: Vec<i32> = samples.iter().map(|&s| i32::from(f32_to_i16(s))).collect();
    let source = flacenc::source::MemSource::from_samples(&pcm, 1, 16, sample_rate as usize);
    let stream = flacenc::encode_with_fixed_block_size(&config, source, config.block_size)
        .map_err(|e| err(&e))?;
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream.write(&mut sink).map_err(|e| err(&e))?;
    Ok(sink.into_inner())
}

#[cfg(test)]
mod tests {
    //! Each format is decoded by an independent decoder (symphonia for mp3, claxon for FLAC, the Ogg
    //! demuxer and libopus's decoder for Opus) and compared with the input: length, and the
    //! waveform's correlation at the best lag (which must be about zero: delays are trimmed).
    use super::*;

    /// A 150 Hz buzz with harmonics, gated on and off like syllables.
    fn speechlike(rate: u32, secs: f64) -> Vec<f32> {
        (0..(f64::from(rate) * secs) as usize)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                let gate = if (t * 4.0).fract() < 0.6 { 1.0 } else { 0.1 };
                let buzz: f64 = (1..8)
                    .map(|h| {
                        (std::f64::consts::TAU * 150.0 * f64::from(h) * t).sin() / f64::from(h)
                    })
                    .sum();
                (0.25 * gate * buzz) as f32
            })
            .collect()
    }

    /// Normalised correlation of `a` and `b` at the best lag within ±`max_lag` (positive: `b`
    /// is late), and that lag.
    fn best_correlation(a: &[f32], b: &[f32], max_lag: isize) -> (f64, isize) {
        let mut best = (f64::NEG_INFINITY, 0);
        for lag in -max_lag..=max_lag {
            let (mut dot, mut ea, mut eb) = (0.0f64, 0.0f64, 0.0f64);
            for (i, &x) in a.iter().enumerate() {
                let j = i as isize + lag;
                if j < 0 || j as usize >= b.len() {
                    continue;
                }
                let y = f64::from(b[j as usize]);
                dot += f64::from(x) * y;
                ea += f64::from(x) * f64::from(x);
                eb += y * y;
            }
            let c = dot / (ea * eb).sqrt().max(1e-12);
            if c > best.0 {
                best = (c, lag);
            }
        }
        best
    }

    fn symphonia_decode(bytes: Vec<u8>, extension: &str) -> (u32, Vec<f32>) {
        use symphonia::core::audio::SampleBuffer;
        use symphonia::core::codecs::DecoderOptions;
        use symphonia::core::errors::Error;
        use symphonia::core::formats::FormatOptions;
        use symphonia::core::io::MediaSourceStream;
        use symphonia::core::meta::MetadataOptions;
        use symphonia::core::probe::Hint;
        let stream =
            MediaSourceStream::new(Box::new(std::io::Cursor::new(bytes)), Default::default());
        let mut hint = Hint::new();
        hint.with_extension(extension);
        let options = FormatOptions {
            enable_gapless: true,
            ..Default::default()
        };
        let mut format = symphonia::default::get_probe()
            .format(&hint, stream, &options, &MetadataOptions::default())
            .expect("a stream symphonia recognises")
            .format;
        let track = format.default_track().expect("a track");
        let (id, rate) = (track.id, track.codec_params.sample_rate.expect("a rate"));
        assert_eq!(track.codec_params.channels.map(|c| c.count()), Some(1));
        let mut decoder = symphonia::default::get_codecs()
            .make(&track.codec_params, &DecoderOptions::default())
            .expect("a decoder");
        let mut out = Vec::new();
        loop {
            let packet = match format.next_packet() {
                Ok(p) => p,
                Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => panic!("demuxing: {e}"),
            };
            if packet.track_id() != id {
                continue;
            }
            let decoded = decoder.decode(&packet).expect("decodes");
            let mut buf = SampleBuffer::<f32>::new(decoded.capacity() as u64, *decoded.spec());
            buf.copy_interleaved_ref(decoded);
            out.extend_from_slice(buf.samples());
        }
        (rate, out)
    }

    #[test]
    fn mp3_decodes_to_the_same_sound_and_length() {
        for rate in [16_000, 22_050, 24_000] {
            let input = speechlike(rate, 1.5);
            let mp3 = encode_mp3(&input, rate).expect("encodes");
            // Frame sync, and 64 kbit/s.
            assert_eq!((mp3[0], mp3[1] & 0xE0), (0xFF, 0xE0), "{rate}");
            let expected_bytes = 1.5 * 64_000.0 / 8.0;
            assert!(
                (mp3.len() as f64) < expected_bytes * 1.3,
                "{rate}: {} bytes",
                mp3.len()
            );
            let (decoded_rate, decoded) = symphonia_decode(mp3, "mp3");
            assert_eq!(decoded_rate, rate);
            // The LAME tag lets the decoder trim delay and padding (to within a frame's slack).
            let diff = decoded.len() as i64 - input.len() as i64;
            assert!(
                diff.abs() <= 1_152,
                "{rate}: {} vs {} samples",
                decoded.len(),
                input.len()
            );
            let (c, lag) = best_correlation(&input, &decoded, 1_200);
            assert!(c > 0.95, "{rate}: correlation {c} at lag {lag}");
            assert!(lag.abs() <= 2, "{rate}: lag {lag}");
        }
    }

    #[test]
    fn flac_is_lossless() {
        let input = speechlike(22_050, 1.0);
        let flac = encode_flac(&input, 22_050).expect("encodes");
        assert_eq!(&flac[..4], b"fLaC");
        assert!(
            flac.len() < input.len() * 2,
            "not compressed: {} bytes",
            flac.len()
        );
        let mut reader =
            claxon::FlacReader::new(std::io::Cursor::new(flac)).expect("a FLAC stream");
        let info = reader.streaminfo();
        assert_eq!(
            (info.sample_rate, info.channels, info.bits_per_sample),
            (22_050, 1, 16)
        );
        assert_eq!(info.samples, Some(input.len() as u64));
        let decoded: Vec<f32> = reader
            .samples()
            .map(|s| crate::int_to_f32(s.expect("a sample"), 16))
            .collect();
        let expected: Vec<f32> = input
            .iter()
            .map(|&s| crate::i16_to_f32(f32_to_i16(s)))
            .collect();
        assert_eq!(decoded, expected);
    }

    /// Demuxes an Ogg Opus file and decodes it with libopus at 48 kHz, checking the headers and
    /// granule positions on the way; returns the samples trimmed as RFC 7845 says (pre-skip
    /// off the front, the last granule position ends it) and the header's input rate.
    fn opus_decode(bytes: Vec<u8>) -> (u32, Vec<f32>) {
        let mut reader = ogg::reading::PacketReader::new(std::io::Cursor::new(bytes));
        let head = reader.read_packet_expected().expect("OpusHead");
        assert!(head.first_in_stream() && head.last_in_page());
        assert_eq!(&head.data[..8], b"OpusHead");
        assert_eq!((head.data[8], head.data[9], head.data[18]), (1, 1, 0));
        let pre_skip = usize::from(u16::from_le_bytes([head.data[10], head.data[11]]));
        let input_rate = u32::from_le_bytes(head.data[12..16].try_into().expect("4 bytes"));
        let tags = reader.read_packet_expected().expect("OpusTags");
        assert_eq!(&tags.data[..8], b"OpusTags");
        assert!(tags.last_in_page() && tags.absgp_page() == 0);
        let mut decoder = opus::Decoder::new(48_000, opus::Channels::Mono).expect("decoder");
        let mut out = Vec::new();
        let mut last_granule = 0;
        let mut ended = false;
        while let Some(packet) = reader.read_packet().expect("a valid Ogg stream") {
            assert!(!ended, "packets after the end of the stream");
            let mut buf = vec![0.0f32; 5_760];
            let n = decoder
                .decode_float(&packet.data, &mut buf, false)
                .expect("decodes");
            out.extend_from_slice(&buf[..n]);
            if packet.last_in_page() {
                let granule = packet.absgp_page();
                assert!(granule >= last_granule, "granule positions go back");
                last_granule = granule;
                if !packet.last_in_stream() {
                    // Every page's granule is the samples decoded through its last packet.
                    assert_eq!(granule as usize, out.len());
                }
            }
            ended = packet.last_in_stream();
        }
        assert!(ended, "no end-of-stream page");
        let end = last_granule as usize;
        assert!(end <= out.len() && end > pre_skip);
        (input_rate, out[pre_skip..end].to_vec())
    }

    #[test]
    fn ogg_opus_decodes_to_the_same_sound_and_length() {
        for rate in [16_000, 22_050, 24_000] {
            let input = speechlike(rate, 1.5);
            let opus = encode_ogg_opus(&input, rate).expect("encodes");
            assert_eq!(&opus[..4], b"OggS");
            assert!(opus.len() < 16_000, "{rate}: {} bytes", opus.len());
            let (header_rate, decoded) = opus_decode(opus);
            assert_eq!(header_rate, rate);
            // 48 kHz, exactly as long as the input.
            let reference = resample(&input, rate, 48_000);
            let diff = decoded.len() as i64 - reference.len() as i64;
            assert!(
                diff.abs() <= 3,
                "{rate}: {} vs {}",
                decoded.len(),
                reference.len()
            );
            let (c, lag) = best_correlation(&reference[..24_000], &decoded[..24_000], 480);
            assert!(c > 0.9, "{rate}: correlation {c} at lag {lag}");
            assert!(lag.abs() <= 4, "{rate}: lag {lag}");
        }
    }

    #[test]
    fn short_and_silent_inputs_encode() {
        for samples in [&[][..], &[0.0; 10][..], &[0.0; 24_000][..]] {
            assert!(encode_mp3(samples, 24_000).is_ok());
            assert!(encode_ogg_opus(samples, 24_000).is_ok());
            if !samples.is_empty() {
                assert!(encode_flac(samples, 24_000).is_ok());
            }
        }
    }
}

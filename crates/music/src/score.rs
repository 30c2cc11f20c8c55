//! The composed piece as timed General MIDI note events ([`Score`]), and its Standard MIDI File.

/// Channel of the melody.
pub const MELODY_CHANNEL: u8 = 0;
/// Channel of the chord instrument.
pub const HARMONY_CHANNEL: u8 = 1;
/// Channel of the bass.
pub const BASS_CHANNEL: u8 = 2;
/// Channel of the pad.
pub const PAD_CHANNEL: u8 = 3;
/// General MIDI's percussion channel (channel 10, counted from 1).
pub const DRUM_CHANNEL: u8 = 9;

/// One note: a key held on a channel from `start_s` to `end_s`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Note {
    /// MIDI channel, 0–15 (9 is percussion).
    pub channel: u8,
    /// MIDI key, 0–127 (60 is middle C; on channel 9 it picks the drum).
    pub key: u8,
    /// Velocity, 1–127.
    pub velocity: u8,
    /// Seconds from the start.
    pub start_s: f64,
    /// Seconds from the start, after `start_s`.
    pub end_s: f64,
}

/// A channel's setup: its General MIDI program and volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// MIDI channel, 0–15.
    pub channel: u8,
    /// General MIDI program, 0–127 (ignored on the percussion channel).
    pub program: u8,
    /// Channel volume (controller 7), 0–127.
    pub volume: u8,
    /// The instrument's name, for people.
    pub name: &'static str,
}

/// A piece as timed note events per channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// Beats per minute (written as the file's tempo).
    pub tempo_bpm: f32,
    /// Beats per bar (written as the file's time signature, over 4).
    pub beats_per_bar: u8,
    /// Length of the piece in seconds; the rendering is exactly this long.
    pub duration_s: f32,
    /// Seconds of fade-out at the end of the rendering.
    pub fade_s: f32,
    /// Reverb send for every channel (controller 91), 0–127.
    pub reverb: u8,
    /// The channels in use.
    pub parts: Vec<Part>,
    /// Every note, sorted by start time.
    pub notes: Vec<Note>,
}

/// Ticks per quarter note in the written file.
const PPQ: u16 = 480;

impl Score {
    /// The notes on `channel`.
    pub fn notes_on(&self, channel: u8) -> impl Iterator<Item = &Note> {
        self.notes.iter().filter(move |n| n.channel == channel)
    }

    /// The score as a format-0 Standard MIDI File (480 ticks per quarter note): tempo, time
    /// signature, each part's program, volume and reverb send, then the notes. For people to
    /// inspect in any MIDI tool; the engine renders from the [`Score`] itself.
    pub fn to_smf(&self) -> Vec<u8> {
        let bpm = if self.tempo_bpm.is_finite() && self.tempo_bpm > 0.0 {
            f64::from(self.tempo_bpm)
        } else {
            120.0
        };
        let ticks_per_s = bpm / 60.0 * f64::from(PPQ);
        let to_ticks = |s: f64| (s.max(0.0) * ticks_per_s).round() as u64;

        // (tick, order, bytes): at equal ticks setup first, then note-offs, then note-ons, so
        // a repeated key is released before it is struck again.
        let mut events: Vec<(u64, u8, Vec<u8>)> = Vec::new();
        let uspq = (60_000_000.0 / bpm).round().clamp(1.0, 16_777_215.0) as u32;
        events.push((
            0,
            0,
            vec![
                0xFF,
                0x51,
                0x03,
                (uspq >> 16) as u8,
                (uspq >> 8) as u8,
                uspq as u8,
            ],
        ));
        events.push((
            0,
            0,
            vec![0xFF, 0x58, 0x04, self.beats_per_bar.max(1), 2, 24, 8],
        ));
        for p in &self.parts {
            let ch = p.channel & 0x0F;
            if ch != DRUM_CHANNEL {
                events.push((0, 0, vec![0xC0 | ch, p.program & 0x7F]));
            }
            events.push((0, 0, vec![0xB0 | ch, 7, p.volume & 0x7F]));
            events.push((0, 0, vec![0xB0 | ch, 91, self.reverb & 0x7F]));
        }
        for n in &self.notes {
            let ch = n.channel & 0x0F;
            events.push((
                to_ticks(n.start_s),
                2,
                vec![0x90 | ch, n.key & 0x7F, n.velocity.clamp(1, 127)],
            ));
            events.push((to_ticks(n.end_s), 1, vec![0x80 | ch, n.key & 0x7F, 0]));
        }
        events.sort_by_key(|(tick, order, _)| (*tick, *order));

        let mut track = Vec::new();
        let mut last = 0_u64;
        for (tick, _, bytes) in &events {
            write_vlq(&mut track, (tick - last).min(0x0FFF_FFFF) as u32);
            track.extend_from_slice(bytes);
            last = *tick;
        }
        track.extend_from_slice(&[0x00, 0xFF, 0x2F, 0x00]);

        let mut out = Vec::with_capacity(track.len() + 22);
        out.extend_from_slice(b"MThd");
        out.extend_from_slice(&6_u32.to_be_bytes());
        out.extend_from_slice(&0_u16.to_be_bytes());
        out.extend_from_slice(&1_u16.to_be_bytes());
        out.extend_from_slice(&PPQ.to_be_bytes());
        out.extend_from_slice(b"MTrk");
        out.extend_from_slice(&(track.len() as u32).to_be_bytes());
        out.extend_from_slice(&track);
        out
    }
}

/// MIDI variable-length quantity: 7 bits per byte, most significant first, high bit set on all
/// but the last.
fn write_vlq(out: &mut Vec<u8>, mut v: u32) {
    let mut buf = [0_u8; 5];
    let mut i = buf.len() - 1;
    buf[i] = (v & 0x7F) as u8;
    v >>= 7;
    while v > 0 {
        i -= 1;
        buf[i] = 0x80 | (v & 0x7F) as u8;
        v >>= 7;
    }
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlq_examples_from_the_spec() {
        for (v, bytes) in [
            (0_u32, vec![0x00]),
            (0x40, vec![0x40]),
            (0x7F, vec![0x7F]),
            (0x80, vec![0x81, 0x00]),
            (0x2000, vec![0xC0, 0x00]),
            (0x3FFF, vec![0xFF, 0x7F]),
            (0x0FFF_FFFF, vec![0xFF, 0xFF, 0xFF, 0x7F]),
        ] {
            let mut out = Vec::new();
            write_vlq(&mut out, v);
            assert_eq!(out, bytes, "{v:#x}");
        }
    }

    #[test]
    fn smf_layout() {
        let score = Score {
            tempo_bpm: 120.0,
            beats_per_bar: 4,
            duration_s: 1.0,
            fade_s: 0.1,
            reverb: 40,
            parts: vec![Part {
                channel: 0,
                program: 0,
                volume: 100,
                name: "piano",
            }],
            notes: vec![Note {
                channel: 0,
                key: 60,
                velocity: 90,
                start_s: 0.0,
                end_s: 0.5,
            }],
        };
        let smf = score.to_smf();
        assert_eq!(&smf[..4], b"MThd");
        assert_eq!(&smf[8..14], &[0, 0, 0, 1, 0x01, 0xE0]);
        assert_eq!(&smf[14..18], b"MTrk");
        let len = u32::from_be_bytes([smf[18], smf[19], smf[20], smf[21]]) as usize;
        assert_eq!(smf.len(), 22 + len);
        // 120 BPM is 500 000 µs per quarter note.
        assert_eq!(&smf[22..29], &[0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20]);
        // The note-off comes 480 ticks (one beat, VLQ 0x83 0x60) after the note-on.
        assert!(smf.windows(5).any(|w| w == [0x83, 0x60, 0x80, 60, 0]));
        assert!(smf.ends_with(&[0x00, 0xFF, 0x2F, 0x00]));
    }
}

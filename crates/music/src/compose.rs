//! From an [`Arrangement`] and a duration to a [`Score`]: a chord per bar with a V–I cadence
//! into a held final tonic chord, bass, comping, pad, a seeded phrase-structured melody and
//! drums, all on the beat grid so the tempo is audible and measurable.

use crate::arrange::{Arrangement, BassLine, Comping, DrumPattern};
use crate::rng::Rng;
use crate::score::{
    BASS_CHANNEL, DRUM_CHANNEL, HARMONY_CHANNEL, MELODY_CHANNEL, Note, PAD_CHANNEL, Part, Score,
};
use crate::theory::{Chord, Key};

/// Notes end this long before the piece does, so their release starts inside it.
const RELEASE_S: f64 = 0.05;
/// The longest piece `compose` writes; longer requests are cut to it.
const MAX_COMPOSE_S: f32 = 600.0;

// General MIDI percussion keys.
const KICK: u8 = 36;
const SIDE_STICK: u8 = 37;
const SNARE: u8 = 38;
const CLAP: u8 = 39;
const LOW_TOM: u8 = 41;
const CLOSED_HAT: u8 = 42;
const PEDAL_HAT: u8 = 44;
const LOW_MID_TOM: u8 = 47;
const OPEN_HAT: u8 = 46;
const CRASH: u8 = 49;
const RIDE: u8 = 51;
const TAMBOURINE: u8 = 54;

struct Writer {
    notes: Vec<Note>,
    end: f64,
}

impl Writer {
    fn note(&mut self, channel: u8, key: i32, velocity: f32, start: f64, end: f64) {
        let end = end.min(self.end);
        if !(start >= 0.0 && end > start + 0.005) {
            return;
        }
        self.notes.push(Note {
            channel,
            key: key.clamp(0, 127) as u8,
            velocity: velocity.round().clamp(1.0, 127.0) as u8,
            start_s: start,
            end_s: end,
        });
    }
}

/// Writes the piece `arrangement` describes, `duration_s` seconds long (non-finite or negative
/// durations write an empty score; over 600 s is cut to 600 s). The same arrangement and
/// duration always give the same score.
pub fn compose(arrangement: &Arrangement, duration_s: f32) -> Score {
    let a = arrangement;
    let duration = if duration_s.is_finite() {
        duration_s.clamp(0.0, MAX_COMPOSE_S)
    } else {
        0.0
    };
    let mut rng = Rng::new(a.seed ^ 0x6D75_7369_635F_636F);
    let n = usize::from(a.beats_per_bar.clamp(1, 16));
    let nb = n as f64;
    let tempo = if a.tempo_bpm.is_finite() {
        a.tempo_bpm.clamp(20.0, 400.0)
    } else {
        100.0
    };
    let beat = 60.0 / f64::from(tempo);
    let bar_s = nb * beat;
    let dur = f64::from(duration);
    let mut w = Writer {
        notes: Vec::new(),
        end: (dur - RELEASE_S).max(0.0),
    };

    // The final tonic chord takes the last (possibly partial) bar, or the last two when the
    // last would be shorter than a beat.
    let mut final_bar = ((dur / bar_s).ceil() as usize).max(1) - 1;
    if final_bar >= 1 && dur - final_bar as f64 * bar_s < beat {
        final_bar -= 1;
    }
    let key = a.key;
    let progression = if a.progression.is_empty() {
        vec![1, 4, 5, 1]
    } else {
        a.progression.clone()
    };
    let chords: Vec<Chord> = (0..final_bar)
        .map(|b| {
            let degree = if final_bar >= 2 && b == final_bar - 1 {
                5
            } else {
                progression[b % progression.len()]
            };
            key.chord(degree, a.sevenths)
        })
        .collect();
    let energy = a.energy.clamp(0.0, 1.0);
    let vel = |base: f32| base * (0.75 + 0.4 * energy);
    let t = |bar: usize, beats: f64| bar as f64 * bar_s + beats * beat;

    let bass_root = |c: &Chord| 36 + (i32::from(key.tonic) + c.semis[0]).rem_euclid(12);
    let voicing = |c: &Chord, centre: i32| {
        let mut v: Vec<i32> = c
            .semis
            .iter()
            .map(|&s| {
                let pc = (i32::from(key.tonic) + s).rem_euclid(12);
                // The octave of this pitch class nearest the centre: close position, and
                // smooth voice leading from chord to chord for free.
                pc + 12 * ((centre - pc + 6).div_euclid(12))
            })
            .collect();
        v.sort_unstable();
        v
    };

    for (b, chord) in chords.iter().enumerate() {
        // A little louder in the second half: the piece goes somewhere.
        let lift = if b * 2 >= final_bar { 1.06 } else { 1.0 };
        let next_step = chords.get(b + 1).map_or(0, |c| c.root_step);
        let v = voicing(chord, 64);
        let root = bass_root(chord);
        harmony(
            &mut w,
            a.comping,
            &v,
            root,
            n,
            t(b, 0.0),
            beat,
            vel(72.0) * lift,
        );
        bass(
            &mut w,
            a.bass_line,
            chord,
            root,
            next_step,
            key,
            n,
            t(b, 0.0),
            beat,
            vel(88.0) * lift,
            &mut rng,
        );
        if a.pad.is_some() {
            for &k in &voicing(chord, 57) {
                w.note(
                    PAD_CHANNEL,
                    k,
                    vel(52.0) * lift,
                    t(b, 0.0),
                    t(b + 1, 0.0) - 0.02,
                );
            }
        }
        if let Some(pattern) = a.drums {
            drums(
                &mut w,
                pattern,
                b,
                n,
                t(b, 0.0),
                beat,
                vel(92.0) * lift,
                &mut rng,
            );
        }
    }
    melody(
        &mut w,
        a,
        &chords,
        final_bar,
        &mut rng,
        t(0, 0.0),
        bar_s,
        beat,
        vel(90.0),
    );

    // The final chord: tonic everywhere, struck together, held to the end.
    let start = t(final_bar, 0.0);
    let tonic = key.chord(1, false);
    let end = dur;
    for &k in &voicing(&tonic, 64) {
        w.note(HARMONY_CHANNEL, k, vel(75.0), start, end);
    }
    w.note(BASS_CHANNEL, bass_root(&tonic), vel(90.0), start, end);
    if a.pad.is_some() {
        for &k in &voicing(&tonic, 57) {
            w.note(PAD_CHANNEL, k, vel(55.0), start, end);
        }
    }
    if a.drums.is_some() {
        w.note(DRUM_CHANNEL, i32::from(KICK), vel(95.0), start, start + 0.2);
        w.note(DRUM_CHANNEL, i32::from(CRASH), vel(85.0), start, end);
    }

    let mut parts = vec![
        Part {
            channel: MELODY_CHANNEL,
            program: a.melody.program,
            volume: 100,
            name: a.melody.name,
        },
        Part {
            channel: HARMONY_CHANNEL,
            program: a.harmony.program,
            volume: 88,
            name: a.harmony.name,
        },
        Part {
            channel: BASS_CHANNEL,
            program: a.bass.program,
            volume: 100,
            name: a.bass.name,
        },
    ];
    if let Some(p) = a.pad {
        parts.push(Part {
            channel: PAD_CHANNEL,
            program: p.program,
            volume: 70,
            name: p.name,
        });
    }
    if a.drums.is_some() {
        parts.push(Part {
            channel: DRUM_CHANNEL,
            program: 0,
            volume: 100,
            name: "drums",
        });
    }
    let mut notes = w.notes;
    notes.sort_by(|x, y| {
        x.start_s
            .total_cmp(&y.start_s)
            .then(x.channel.cmp(&y.channel))
            .then(x.key.cmp(&y.key))
    });
    Score {
        tempo_bpm: tempo,
        beats_per_bar: n as u8,
        duration_s: duration,
        fade_s: (0.25 * duration).min(0.8),
        reverb: a.reverb,
        parts,
        notes,
    }
}

#[allow(clippy::too_many_arguments)]
fn harmony(
    w: &mut Writer,
    comping: Comping,
    v: &[i32],
    root: i32,
    n: usize,
    t0: f64,
    beat: f64,
    vel: f32,
) {
    let ch = HARMONY_CHANNEL;
    let at = |beats: f64| t0 + beats * beat;
    let chord = |w: &mut Writer, start: f64, len: f64, vel: f32| {
        for &k in v {
            w.note(ch, k, vel, at(start), at(start + len));
        }
    };
    let nb = n as f64;
    match comping {
        Comping::Block => {
            for i in 0..n {
                chord(
                    w,
                    i as f64,
                    0.85,
                    if i == 0 { vel * 1.1 } else { vel * 0.9 },
                );
            }
        }
        Comping::Strum => {
            for i in 0..2 * n {
                let on = i % 2 == 0;
                chord(w, i as f64 * 0.5, 0.45, if on { vel } else { vel * 0.7 });
            }
        }
        Comping::PowerEighths => {
            let r = 40 + (root - 36).rem_euclid(12);
            for i in 0..2 * n {
                let v8 = if i % 2 == 0 { vel } else { vel * 0.8 };
                for k in [r, r + 7, r + 12] {
                    w.note(ch, k, v8, at(i as f64 * 0.5), at(i as f64 * 0.5 + 0.45));
                }
            }
        }
        Comping::Arpeggio => {
            // Alberti order (low, high, middle, high) for triads, straight up for sevenths.
            // Eighths at moderate tempi; at slow ones quarters, else the eighths (past 150 a
            // minute) would be heard, and measured, as the beat.
            let order: Vec<usize> = if v.len() == 3 {
                vec![0, 2, 1, 2]
            } else {
                (0..v.len()).collect()
            };
            let per_beat = if beat > 60.0 / 84.0 { 1 } else { 2 };
            let step = 1.0 / per_beat as f64;
            for i in 0..per_beat * n {
                let k = v[order[i % order.len()]];
                let on_beat = i % per_beat == 0;
                let v8 = if on_beat { vel } else { vel * 0.65 };
                w.note(
                    ch,
                    k,
                    v8,
                    at(i as f64 * step),
                    at(i as f64 * step + 1.8 * step),
                );
            }
        }
        Comping::Sustained => {
            if n == 4 {
                chord(w, 0.0, 2.4, vel);
                chord(w, 2.5, 1.4, vel * 0.8);
            } else {
                chord(w, 0.0, nb - 0.1, vel);
            }
        }
        Comping::OffbeatStabs => {
            for i in 0..n {
                chord(w, i as f64 + 0.5, 0.3, vel * 0.7);
            }
        }
        Comping::Charleston => {
            chord(w, 0.0, 0.9, vel);
            chord(w, 1.5, 0.4, vel * 0.85);
            if n >= 4 {
                chord(w, 2.0, 0.9, vel * 0.9);
                chord(w, 3.5, 0.4, vel * 0.8);
            }
        }
        Comping::OomPahPah => {
            w.note(
                ch,
                48 + (root - 36).rem_euclid(12),
                vel * 1.1,
                at(0.0),
                at(0.9),
            );
            for i in 1..n {
                chord(w, i as f64, 0.6, vel * 0.8);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn bass(
    w: &mut Writer,
    line: BassLine,
    chord: &Chord,
    root: i32,
    next_step: i32,
    key: Key,
    n: usize,
    t0: f64,
    beat: f64,
    vel: f32,
    rng: &mut Rng,
) {
    let ch = BASS_CHANNEL;
    let at = |beats: f64| t0 + beats * beat;
    let nb = n as f64;
    let fifth = root + 7;
    match line {
        BassLine::Roots => {
            let mut i = 0;
            while i < n {
                let k = if i > 0 && rng.chance(0.5) {
                    fifth
                } else {
                    root
                };
                let len = (n - i).min(2) as f64 - 0.1;
                w.note(
                    ch,
                    k,
                    if i == 0 { vel } else { vel * 0.9 },
                    at(i as f64),
                    at(i as f64 + len),
                );
                i += 2;
            }
        }
        BassLine::Eighths => {
            for i in 0..2 * n {
                let v8 = if i % 2 == 0 { vel } else { vel * 0.8 };
                w.note(ch, root, v8, at(i as f64 * 0.5), at(i as f64 * 0.5 + 0.45));
            }
        }
        BassLine::Offbeat => {
            w.note(ch, root, vel * 0.9, at(0.0), at(0.3));
            for i in 0..n {
                w.note(ch, root + 12, vel, at(i as f64 + 0.5), at(i as f64 + 0.9));
            }
        }
        BassLine::Walking => {
            let third = root + (chord.semis.get(1).copied().unwrap_or(4) - chord.semis[0]);
            for i in 0..n {
                let k = if i == 0 {
                    root
                } else if i == n - 1 {
                    // Approach the next root by a scale step from above or below (diatonic,
                    // not chromatic: passing chromatic tones would blur the key).
                    let from = if rng.chance(0.5) { 1 } else { -1 };
                    key.step_to_midi(next_step + from, 1, false)
                } else {
                    *rng.pick(&[third, fifth, fifth, root + 12])
                        .unwrap_or(&fifth)
                };
                w.note(
                    ch,
                    k,
                    if i == 0 { vel } else { vel * 0.85 },
                    at(i as f64),
                    at(i as f64 + 0.92),
                );
            }
        }
        BassLine::Pedal => {
            w.note(ch, root, vel, at(0.0), at(nb - 0.05));
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn drums(
    w: &mut Writer,
    pattern: DrumPattern,
    bar: usize,
    n: usize,
    t0: f64,
    beat: f64,
    vel: f32,
    rng: &mut Rng,
) {
    let at = |beats: f64| t0 + beats * beat;
    let mut hit = |w: &mut Writer, key: u8, beats: f64, v: f32| {
        // A little velocity variation, none in timing: the grid is what carries the tempo.
        let v = v * (0.94 + 0.12 * rng.unit());
        w.note(DRUM_CHANNEL, i32::from(key), v, at(beats), at(beats) + 0.12);
    };
    let section = bar.is_multiple_of(4) && bar > 0;
    match pattern {
        DrumPattern::Backbeat | DrumPattern::Rock => {
            let rock = pattern == DrumPattern::Rock;
            for i in 0..n {
                let (k, v) = if i % 2 == 0 {
                    (KICK, vel)
                } else {
                    (SNARE, vel * 0.95)
                };
                hit(w, k, i as f64, v);
            }
            if rock && n == 4 {
                hit(w, KICK, 2.5, vel * 0.8);
            }
            let hat = if rock { 0.7 } else { 0.55 };
            for i in 0..2 * n {
                hit(
                    w,
                    CLOSED_HAT,
                    i as f64 * 0.5,
                    vel * if i % 2 == 0 { hat } else { hat * 0.75 },
                );
            }
            if section && (rock || bar.is_multiple_of(8)) {
                hit(w, CRASH, 0.0, vel * 0.8);
            }
        }
        DrumPattern::FourOnTheFloor => {
            for i in 0..n {
                hit(w, KICK, i as f64, vel);
                // Claps and hats stay well under the kick: the beat, not the half-bar or the
                // off-beat, must be the strongest pulse.
                if i % 2 == 1 {
                    hit(w, CLAP, i as f64, vel * 0.55);
                }
                hit(w, OPEN_HAT, i as f64 + 0.5, vel * 0.45);
                hit(w, CLOSED_HAT, i as f64 + 0.25, vel * 0.22);
                hit(w, CLOSED_HAT, i as f64 + 0.75, vel * 0.22);
            }
            if section && bar.is_multiple_of(8) {
                hit(w, CRASH, 0.0, vel * 0.75);
            }
        }
        DrumPattern::BoomBap => {
            for i in 0..n {
                if i % 2 == 1 {
                    hit(w, SNARE, i as f64, vel * 0.95);
                } else if i == 0 || n != 4 {
                    hit(w, KICK, i as f64, vel);
                }
            }
            if n == 4 {
                hit(w, KICK, 2.5, vel * 0.9);
                if bar % 2 == 1 {
                    hit(w, KICK, 2.0, vel * 0.7);
                }
            }
            for i in 0..2 * n {
                hit(
                    w,
                    CLOSED_HAT,
                    i as f64 * 0.5,
                    vel * if i % 2 == 0 { 0.5 } else { 0.35 },
                );
            }
        }
        DrumPattern::JazzRide => {
            for i in 0..n {
                hit(w, RIDE, i as f64, vel * 0.75);
                if i % 2 == 1 {
                    hit(w, RIDE, i as f64 + 2.0 / 3.0, vel * 0.5);
                    hit(w, PEDAL_HAT, i as f64, vel * 0.6);
                }
            }
            hit(w, KICK, 0.0, vel * 0.6);
        }
        DrumPattern::Light => {
            for i in 0..n {
                if i % 2 == 0 {
                    hit(w, KICK, i as f64, vel * 0.85);
                } else {
                    hit(w, TAMBOURINE, i as f64, vel * 0.7);
                    hit(w, SIDE_STICK, i as f64, vel * 0.7);
                }
                hit(w, CLOSED_HAT, i as f64 + 0.5, vel * 0.35);
            }
        }
        DrumPattern::Toms => {
            // Kicks carry the pulse; toms are pitched, so only one per bar where they would
            // otherwise colour the key.
            for i in 0..n {
                hit(w, KICK, i as f64, vel * if i % 2 == 0 { 1.0 } else { 0.8 });
            }
            hit(w, LOW_TOM, 0.0, vel * 0.6);
            if n == 4 {
                hit(w, LOW_MID_TOM, 3.5, vel * 0.6);
            }
            if section || bar == 0 {
                hit(w, CRASH, 0.0, vel * 0.7);
            }
        }
        DrumPattern::Waltz => {
            hit(w, KICK, 0.0, vel);
            for i in 1..n {
                hit(w, SIDE_STICK, i as f64, vel * 0.7);
            }
            for i in 0..n {
                hit(w, CLOSED_HAT, i as f64, vel * 0.45);
            }
        }
    }
}

/// One-bar rhythms (note lengths in beats) for the common metres; other metres use quarters.
fn rhythms(n: usize) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    match n {
        4 => (
            vec![
                vec![1.0, 1.0, 1.0, 1.0],
                vec![1.5, 0.5, 1.0, 1.0],
                vec![0.5, 0.5, 1.0, 2.0],
                vec![1.0, 0.5, 0.5, 2.0],
                vec![0.5, 0.5, 0.5, 0.5, 1.0, 1.0],
                vec![1.0, 1.0, 0.5, 0.5, 1.0],
            ],
            vec![
                vec![1.0, 1.0, 2.0],
                vec![2.0, 2.0],
                vec![1.5, 0.5, 2.0],
                vec![4.0],
            ],
        ),
        3 => (
            vec![
                vec![1.0, 1.0, 1.0],
                vec![2.0, 1.0],
                vec![1.5, 0.5, 1.0],
                vec![1.0, 0.5, 0.5, 1.0],
            ],
            vec![vec![2.0, 1.0], vec![3.0], vec![1.0, 2.0]],
        ),
        _ => (vec![vec![1.0; n]], vec![vec![n as f64]]),
    }
}

/// A seeded melody: two-bar phrases (one-bar when the piece is short) in an A A′ B A′ plan
/// (the A rhythms repeat, pitches vary), stepwise motion through the scale, chord tones on
/// strong beats, each phrase ending long on a chord tone and the last on the tonic.
#[allow(clippy::too_many_arguments)]
fn melody(
    w: &mut Writer,
    a: &Arrangement,
    chords: &[Chord],
    final_bar: usize,
    rng: &mut Rng,
    t0: f64,
    bar_s: f64,
    beat: f64,
    vel: f32,
) {
    let key = a.key;
    let n = usize::from(a.beats_per_bar.clamp(1, 16));
    let octave = if key.tonic < 2 { 4 } else { 3 };
    let (bodies, endings) = rhythms(n);
    let phrase_bars = if final_bar >= 4 { 2 } else { 1 };
    // A one-bar intro when there is room, so the groove starts first.
    let first = usize::from(final_bar >= 6);
    let scale = key.scale();
    let pc_of = |step: i32, raise: bool| {
        let d = step.rem_euclid(7) as usize;
        scale[d] + i32::from(raise && d == 6 && key.mode == crate::theory::Mode::Minor)
    };
    let mut pos: i32 = if rng.chance(0.5) { 4 } else { 2 };
    let mut a_rhythms: Vec<Vec<f64>> = Vec::new();
    let mut bar = first;
    let mut phrase = 0;
    while bar < final_bar {
        let bars_here = phrase_bars.min(final_bar - bar);
        let plan_b = phrase % 4 == 2;
        for i in 0..bars_here {
            let b = bar + i;
            let chord = &chords[b];
            let last_bar = i + 1 == bars_here;
            let rhythm = if last_bar {
                rng.pick(&endings)
                    .cloned()
                    .unwrap_or_else(|| vec![n as f64])
            } else if !plan_b && a_rhythms.len() > i {
                a_rhythms[i].clone()
            } else {
                let r = rng.pick(&bodies).cloned().unwrap_or_else(|| vec![1.0; n]);
                if !plan_b && a_rhythms.len() == i {
                    a_rhythms.push(r.clone());
                }
                r
            };
            let mut offset = 0.0_f64;
            let count = rhythm.len();
            for (j, &len) in rhythm.iter().enumerate() {
                let strong = offset.fract() == 0.0 && (offset == 0.0 || (n == 4 && offset == 2.0));
                let ending = last_bar && j + 1 == count;
                if ending {
                    // Phrases end on the tonic where the chord has it, else on the chord's
                    // root; the one before the final bar always on the tonic.
                    let target = if b + 1 == final_bar || chord.contains_pc(0) {
                        0
                    } else {
                        chord.root_step
                    };
                    pos = nearest_step(pos, |s| s.rem_euclid(7) == target.rem_euclid(7));
                } else if strong {
                    // Strong beats take a chord tone, by preference one of the tonic triad's
                    // (1, 3, 5): the melody keeps stating the key, and in minor its third.
                    let raise = chord.raise_leading;
                    let from = pos + if rng.chance(0.5) { 1 } else { -1 };
                    let tonal = |s: i32| {
                        chord.contains_pc(pc_of(s, raise)) && matches!(s.rem_euclid(7), 0 | 2 | 4)
                    };
                    let near = nearest_step(from, tonal);
                    pos = if (near - from).abs() <= 2 && tonal(near) {
                        near
                    } else {
                        nearest_step(from, |s| chord.contains_pc(pc_of(s, raise)))
                    };
                } else {
                    let toward_centre = if pos > 6 {
                        -1
                    } else if pos < 1 || rng.chance(0.5) {
                        1
                    } else {
                        -1
                    };
                    let size = if rng.chance(0.8) { 1 } else { 2 };
                    pos += toward_centre * size;
                }
                pos = pos.clamp(-2, 9);
                let rest = !strong && !ending && j > 0 && rng.chance(0.1);
                if !rest {
                    let k = key.step_to_midi(pos, octave, chord.raise_leading);
                    let v =
                        vel * if offset == 0.0 {
                            1.05
                        } else if strong {
                            0.98
                        } else {
                            0.9
                        } * (0.95 + 0.1 * rng.unit());
                    let start = t0 + b as f64 * bar_s + offset * beat;
                    let hold = if ending { len * 0.98 } else { len * 0.9 };
                    w.note(MELODY_CHANNEL, k, v, start, start + hold * beat);
                }
                offset += len;
            }
        }
        bar += bars_here;
        phrase += 1;
    }
    // The melody ends on the tonic with the final chord.
    let start = t0 + final_bar as f64 * bar_s;
    pos = nearest_step(pos, |s| s.rem_euclid(7) == 0).clamp(-2, 9);
    w.note(
        MELODY_CHANNEL,
        key.step_to_midi(pos, octave, false),
        vel * 0.95,
        start,
        w.end,
    );
}

/// The step nearest `from` (searching outward, lower first) that satisfies `ok`; `from` if
/// none within an octave does.
fn nearest_step(from: i32, ok: impl Fn(i32) -> bool) -> i32 {
    for d in 0..=7 {
        for s in [from - d, from + d] {
            if ok(s) && (-2..=9).contains(&s) {
                return s;
            }
        }
    }
    from
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrange::arrange;

    #[test]
    fn scores_fill_the_duration_and_stay_in_range() {
        for (prompt, secs) in [
            ("lo-fi hip hop at 80 bpm", 10.0),
            ("jazz in Bb major", 7.3),
            ("a waltz", 5.0),
            ("techno 128 bpm", 15.0),
            ("ambient", 1.0),
            ("classical piece in 5/4", 9.0),
            ("epic cinematic", 0.2),
        ] {
            let a = arrange(prompt, 11);
            let s = compose(&a, secs);
            assert_eq!(s.duration_s, secs);
            assert!(!s.notes.is_empty(), "{prompt}");
            for n in &s.notes {
                assert!(
                    n.start_s >= 0.0 && n.end_s > n.start_s && n.end_s <= f64::from(secs) + 1e-9,
                    "{prompt}: {n:?}"
                );
                assert!(n.key < 128 && (1..128).contains(&n.velocity));
            }
            let last_start = s.notes.iter().map(|n| n.start_s).fold(0.0, f64::max);
            assert!(last_start < f64::from(secs), "{prompt}");
            assert_eq!(s, compose(&a, secs), "deterministic");
        }
        assert!(compose(&arrange("x", 1), f32::NAN).notes.is_empty());
        assert!(compose(&arrange("x", 1), -3.0).notes.is_empty());
    }

    #[test]
    fn drums_sit_on_the_beat_grid() {
        let a = arrange("rock at 120 bpm", 4);
        let s = compose(&a, 8.0);
        let kicks: Vec<f64> = s
            .notes_on(DRUM_CHANNEL)
            .filter(|n| n.key == KICK)
            .map(|n| n.start_s)
            .collect();
        assert!(kicks.len() >= 8);
        for k in kicks {
            let beats = k / 0.5;
            assert!(
                (beats * 2.0 - (beats * 2.0).round()).abs() < 1e-9,
                "kick at {k}"
            );
        }
    }
}

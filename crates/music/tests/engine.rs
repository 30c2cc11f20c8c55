//! The engine end to end through the real General MIDI SoundFont, checked with the signal
//! measurements of `audiosubnet-music-analysis`: tempo, key, duration, level, clipping,
//! determinism. A missing SoundFont fails every test with the Debian package to install.

use std::path::PathBuf;
use std::sync::OnceLock;

use audiosubnet_music::{
    ClassicMusicEngine, DEFAULT_SOUNDFONT, MAX_DURATION_S, Mode, MusicClip, MusicError,
    SAMPLE_RATE, SOUNDFONT_PACKAGE,
};
use audiosubnet_music_analysis as analysis;

/// The SoundFont: `AUDIOSUBNET_SOUNDFONT` if set, else Debian's FluidR3_GM, loaded once for
/// every test in this binary.
fn engine() -> &'static ClassicMusicEngine {
    static ENGINE: OnceLock<ClassicMusicEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let path = std::env::var_os("AUDIOSUBNET_SOUNDFONT").map_or_else(|| PathBuf::from(DEFAULT_SOUNDFONT), PathBuf::from);
        match ClassicMusicEngine::load(&path) {
            Ok(e) => e,
            Err(e) => panic!(
                "{e}: these tests render through a General MIDI SoundFont; install the Debian package \
                 {SOUNDFONT_PACKAGE} (apt-get install {SOUNDFONT_PACKAGE}) or set AUDIOSUBNET_SOUNDFONT"
            ),
        }
    })
}

fn generate(prompt: &str, secs: f32, seed: u64) -> MusicClip {
    engine()
        .generate(prompt, secs, seed)
        .unwrap_or_else(|e| panic!("{prompt}: {e}"))
}

fn assert_valid(prompt: &str, clip: &MusicClip, secs: f32) {
    assert_eq!(clip.sample_rate, SAMPLE_RATE);
    let got = clip.samples.len() as f32 / clip.sample_rate as f32;
    assert!((got - secs).abs() <= 0.5, "{prompt}: {got} s for {secs} s");
    assert!(
        clip.samples.iter().all(|x| x.is_finite()),
        "{prompt}: non-finite samples"
    );
    let rms = analysis::rms_dbfs(&clip.samples);
    assert!(rms > -40.0, "{prompt}: RMS {rms} dBFS is near silence");
    assert_eq!(
        analysis::clipped_fraction(&clip.samples),
        0.0,
        "{prompt}: clipped"
    );
    let peak = analysis::peak(&clip.samples);
    assert!(
        (0.85..=0.9).contains(&peak),
        "{prompt}: peak {peak}, expected about -1 dBFS"
    );
}

#[test]
fn requested_tempo_is_measured_within_two_percent() {
    for (prompt, bpm) in [
        ("lo-fi hip hop beat with mellow piano, 80 bpm", 80.0),
        ("upbeat pop song at 100 BPM", 100.0),
        ("techno track, 128 bpm", 128.0),
        ("classical piano piece, tempo 90", 90.0),
        ("jazz trio at 120 bpm", 120.0),
        ("folk song with banjo, 110bpm", 110.0),
    ] {
        for seed in [1, 2] {
            let clip = generate(prompt, 12.0, seed);
            assert_eq!(clip.arrangement.tempo_bpm, bpm, "{prompt}: parsed tempo");
            let est = analysis::estimate_tempo(&clip.samples, clip.sample_rate)
                .unwrap_or_else(|| panic!("{prompt} (seed {seed}): no tempo measured"));
            let err = (est.bpm - bpm).abs() / bpm;
            assert!(
                err < 0.02,
                "{prompt} (seed {seed}, {}): measured {:.2} BPM ({:.1} % off)",
                clip.arrangement.describe(),
                est.bpm,
                err * 100.0
            );
        }
    }
}

/// Prompts naming a key, in many styles (the survey below runs them over more seeds).
const KEY_PROMPTS: &[(&str, u8, Mode)] = &[
    ("sad piano ballad in A minor", 9, Mode::Minor),
    ("folk song in E major", 4, Mode::Major),
    ("classical piece in G major", 7, Mode::Major),
    ("lo-fi beat in F# minor", 6, Mode::Minor),
    ("jazz in Bb major", 10, Mode::Major),
    ("techno in C minor", 0, Mode::Minor),
    ("pop song in D major", 2, Mode::Major),
    ("rock anthem in A minor", 9, Mode::Minor),
    ("cinematic theme in D minor", 2, Mode::Minor),
    ("hip hop in G minor", 7, Mode::Minor),
    ("ambient in F major", 5, Mode::Major),
    ("a waltz in E flat major", 3, Mode::Major),
];

fn key_matches(clip: &MusicClip, tonic: u8, mode: Mode) -> Result<(), String> {
    let est = analysis::estimate_key(&clip.samples, clip.sample_rate).ok_or("no key measured")?;
    let minor = est.mode == analysis::Mode::Minor;
    if (est.tonic.index(), minor) == (tonic, mode == Mode::Minor) {
        Ok(())
    } else {
        Err(format!(
            "measured {} {} ({})",
            est.tonic,
            est.mode,
            clip.arrangement.describe()
        ))
    }
}

#[test]
fn requested_key_is_detected() {
    for &(prompt, tonic, mode) in KEY_PROMPTS {
        for seed in [1, 2] {
            let clip = generate(prompt, 10.0, seed);
            assert_eq!(
                (clip.arrangement.key.tonic, clip.arrangement.key.mode),
                (tonic, mode),
                "{prompt}: parsed key"
            );
            if let Err(e) = key_matches(&clip, tonic, mode) {
                panic!("{prompt} (seed {seed}): {e}");
            }
        }
    }
}

#[test]
fn durations_levels_and_no_clipping() {
    for (prompt, secs) in [
        ("ambient pads, calm", 5.0),
        ("energetic rock with drums", 10.0),
        ("a waltz for violin and piano", 15.0),
        ("epic cinematic trailer", 7.5),
        ("hip hop beat", 3.0),
    ] {
        let clip = generate(prompt, secs, 9);
        assert_valid(prompt, &clip, secs);
    }
}

#[test]
fn a_prompt_naming_nothing_still_makes_music() {
    for (i, prompt) in [
        "something nice",
        "",
        "🎵🎶 ∑ 日本語 \u{0}\u{202e}",
        "asdf qwerty",
    ]
    .into_iter()
    .enumerate()
    {
        let clip = generate(prompt, 6.0, i as u64);
        assert_valid(prompt, &clip, 6.0);
        assert!(
            clip.score.notes.len() > 10,
            "{prompt}: {} notes",
            clip.score.notes.len()
        );
        assert!(clip.score.parts.len() >= 3, "{prompt}: several instruments");
    }
}

#[test]
fn same_seed_same_samples_other_seed_other_samples() {
    let prompt = "happy jazz with piano and saxophone";
    let a = generate(prompt, 5.0, 7);
    let b = generate(prompt, 5.0, 7);
    assert_eq!(a.samples, b.samples);
    let c = generate(prompt, 5.0, 8);
    assert_ne!(a.samples, c.samples);
    // The engine is shareable: a clone (same resident SoundFont) renders the same.
    let clone = engine().clone();
    let d = clone
        .generate(prompt, 5.0, 7)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.samples, d.samples);
}

#[test]
fn bad_durations_are_typed_errors() {
    for secs in [0.0, -1.0, f32::NAN, f32::INFINITY, MAX_DURATION_S + 0.1] {
        match engine().generate("pop", secs, 1) {
            Err(MusicError::Duration(_)) => {}
            other => panic!("{secs}: {:?}", other.map(|c| c.samples.len())),
        }
    }
    let clip = generate("pop", 0.25, 1);
    assert_eq!(clip.samples.len(), 8_000);
}

#[test]
fn missing_soundfont_names_the_package() {
    let err = ClassicMusicEngine::load("/nonexistent/FluidR3_GM.sf2")
        .map(|_| ())
        .unwrap_err();
    assert!(err.to_string().contains(SOUNDFONT_PACKAGE), "{err}");
}

#[test]
fn the_midi_file_parses_and_lasts_as_long_as_the_clip() {
    let clip = generate("lo-fi hip hop in A minor, 85 bpm", 8.0, 3);
    let smf = clip.score.to_smf();
    let midi = rustysynth::MidiFile::new(&mut smf.as_slice()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        (midi.get_length() - 8.0).abs() < 0.1,
        "{} s",
        midi.get_length()
    );
}

/// Not a check: a table of what the analysis measures over styles and seeds, for people tuning
/// the engine (`cargo test -p audiosubnet-music --test engine -- --ignored --nocapture`).
#[test]
#[ignore]
fn survey() {
    for prompt in [
        "lo-fi hip hop beat, 80 bpm",
        "techno track, 128 bpm",
        "ambient at 70 bpm",
        "a waltz at 96 bpm",
        "rock anthem in A minor",
        "cinematic theme in D minor",
        "jazz in Bb major",
    ] {
        for seed in 1..=4 {
            let t = std::time::Instant::now();
            let c = generate(prompt, 12.0, seed);
            let rtf = t.elapsed().as_secs_f32() / 12.0;
            let tempo = analysis::estimate_tempo(&c.samples, c.sample_rate);
            let key = analysis::estimate_key(&c.samples, c.sample_rate);
            println!(
                "{prompt:32} seed {seed} RTF {rtf:.3} | {} | tempo {:?} | key {:?}",
                c.arrangement.describe(),
                tempo.map(|t| t.bpm.round()),
                key.map(|k| format!("{} {}", k.tonic, k.mode)),
            );
        }
    }
}

/// Not a check: how often the requested key is measured over more seeds (69 of 72 when
/// written).
#[test]
#[ignore]
fn key_survey() {
    let mut right = 0;
    let mut misses = Vec::new();
    for &(prompt, tonic, mode) in KEY_PROMPTS {
        for seed in 1..=6 {
            match key_matches(&generate(prompt, 10.0, seed), tonic, mode) {
                Ok(()) => right += 1,
                Err(e) => misses.push(format!("{prompt} (seed {seed}): {e}")),
            }
        }
    }
    println!(
        "{right} of {} keys measured as requested; misses: {misses:#?}",
        KEY_PROMPTS.len() * 6
    );
}

/// What the judge's adherence factors make of the engine's clips: asked for 90 vs 140 BPM and
/// for A minor vs C major (relative keys: the same notes, the hardest pair to tell apart), the
/// clip made for a request scores higher against it than the clip made for the other, on every
/// seed.
#[test]
fn adherence_prefers_the_clip_made_for_the_request() {
    use analysis::{PitchClass, key_adherence, tempo_adherence};
    let bpm =
        |c: &MusicClip| analysis::estimate_tempo(&c.samples, c.sample_rate).map_or(0.0, |t| t.bpm);
    let key = |c: &MusicClip| {
        let k = analysis::estimate_key(&c.samples, c.sample_rate).expect("a key");
        (k.tonic, k.mode)
    };
    let (a, c) = (PitchClass::from_semitones(9), PitchClass::from_semitones(0));
    for seed in [1, 2, 3] {
        let slow = generate(
            "a funk groove with slap bass and drums at 90 bpm",
            12.0,
            seed,
        );
        let fast = generate(
            "a funk groove with slap bass and drums at 140 bpm",
            12.0,
            seed,
        );
        let (s, f) = (bpm(&slow), bpm(&fast));
        assert!(
            tempo_adherence(s, 90.0) > tempo_adherence(f, 90.0)
                && tempo_adherence(f, 140.0) > tempo_adherence(s, 140.0),
            "seed {seed}: measured {s} BPM for 90 and {f} BPM for 140"
        );

        let minor = generate("a calm piano and strings piece in A minor", 12.0, seed);
        let major = generate("a calm piano and strings piece in C major", 12.0, seed);
        let (km, kj) = (key(&minor), key(&major));
        let a_minor = (a, Mode::Minor);
        let c_major = (c, Mode::Major);
        assert!(
            key_adherence(km, a_minor) > key_adherence(kj, a_minor)
                && key_adherence(kj, c_major) > key_adherence(km, c_major),
            "seed {seed}: measured {km:?} for A minor and {kj:?} for C major"
        );
    }
}

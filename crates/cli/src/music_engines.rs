//! Music engines by name for the miner and `audiosubnet music`: MusicGen checkpoints
//! (facebook/musicgen-small|medium|large, also without `facebook/`) through
//! `audiosubnet-musicgen`, everything else through `audiosubnet_music::load_engines`.

use audiosubnet_music::{MusicEngine, MusicError, MusicOptions};
use audiosubnet_musicgen::{MUSICGEN_MODELS, MusicGenEngine, MusicGenOptions, is_musicgen_name};

/// `count` engines `name` for a worker pool (MusicGen workers share one loaded checkpoint).
pub(crate) fn load_music_engines(
    name: &str,
    options: &MusicOptions,
    musicgen: &MusicGenOptions,
    count: usize,
) -> Result<Vec<Box<dyn MusicEngine>>, MusicError> {
    if is_musicgen_name(name) {
        return MusicGenEngine::load_many(name, musicgen, count);
    }
    audiosubnet_music::load_engines(name, options, count).map_err(with_musicgen_names)
}

/// Adds the MusicGen names to an unknown-engine error's list.
fn with_musicgen_names(e: MusicError) -> MusicError {
    match e {
        MusicError::UnknownEngine { name, known } => MusicError::UnknownEngine {
            name,
            known: std::iter::once(known.as_str())
                .chain(MUSICGEN_MODELS.iter().map(|(n, _)| *n))
                .collect::<Vec<_>>()
                .join(", "),
        },
        other => other,
    }
}

/// The classic SoundFont engine's names.
pub(crate) fn is_classic_name(name: &str) -> bool {
    matches!(name, "soundfont" | "fluidsynth" | "classic")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_list_every_engine() {
        let err = load_music_engines(
            "wavenet-music",
            &MusicOptions::default(),
            &MusicGenOptions::default(),
            1,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        for name in [
            "soundfont",
            "loop",
            "facebook/musicgen-small",
            "facebook/musicgen-large",
        ] {
            assert!(err.contains(name), "{err}");
        }
    }
}

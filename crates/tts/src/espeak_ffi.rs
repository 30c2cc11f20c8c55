//! Minimal FFI to libespeak-ng (synthesis and text-to-phonemes), loaded at run time.
//!
//! The library is dlopen'ed rather than linked so that the workspace builds and its other tests run
//! without the Debian package; a missing library is a clear [`TtsError::EngineUnavailable`].
//! libespeak-ng keeps global state and is not thread-safe, so every call goes through one
//! process-wide mutex.

// Calling C is the point of this module; the unsafe blocks are kept small and commented.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_short, c_uint, c_void};
use std::sync::{Mutex, MutexGuard, OnceLock};

use libloading::Library;

use crate::TtsError;

const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
const ESPEAK_INITIALIZE_DONT_EXIT: c_int = 0x8000;
const ESPEAK_CHARS_UTF8: c_uint = 1;
const ESPEAK_PHONEMES_IPA: c_int = 0x02;
const POS_CHARACTER: c_int = 1;
const EE_OK: c_int = 0;

/// `espeak_EVENT` from speak_lib.h; only `user_data` is read.
#[repr(C)]
struct EspeakEvent {
    event_type: c_int,
    unique_identifier: c_uint,
    text_position: c_int,
    length: c_int,
    audio_position: c_int,
    sample: c_int,
    user_data: *mut c_void,
    id: [u8; 8],
}

type SynthCallback = unsafe extern "C" fn(*mut c_short, c_int, *mut EspeakEvent) -> c_int;

struct Api {
    synth: unsafe extern "C" fn(
        *const c_void,
        usize,
        c_uint,
        c_int,
        c_uint,
        c_uint,
        *mut c_uint,
        *mut c_void,
    ) -> c_int,
    set_voice_by_name: unsafe extern "C" fn(*const c_char) -> c_int,
    text_to_phonemes: unsafe extern "C" fn(*mut *const c_void, c_int, c_int) -> *const c_char,
    sample_rate: u32,
    voice: Option<String>,
    // Kept last so the symbols above never outlive the library.
    _lib: Library,
}

/// The loaded library, or why it could not be loaded (remembered: loading is tried once).
static ESPEAK: OnceLock<Result<Mutex<Api>, String>> = OnceLock::new();

fn unavailable(reason: impl Into<String>) -> TtsError {
    TtsError::EngineUnavailable {
        engine: "espeak-ng".to_owned(),
        reason: reason.into(),
    }
}

fn load() -> Result<Mutex<Api>, String> {
    let candidates: Vec<String> = match std::env::var("AUDIOSUBNET_ESPEAK_LIB") {
        Ok(p) if !p.is_empty() => vec![p],
        _ => vec!["libespeak-ng.so.1".to_owned(), "libespeak-ng.so".to_owned()],
    };
    let mut errors = Vec::new();
    let lib = candidates
        .iter()
        // SAFETY: loading libespeak-ng runs no initialisers with preconditions.
        .find_map(|name| match unsafe { Library::new(name) } {
            Ok(lib) => Some(lib),
            Err(e) => {
                errors.push(e.to_string());
                None
            }
        })
        .ok_or_else(|| {
            format!(
                "cannot load libespeak-ng ({}); install the Debian packages libespeak-ng1 and espeak-ng-data",
                errors.join("; ")
            )
        })?;
    // SAFETY: the signatures below match speak_lib.h of espeak-ng 1.51/1.52.
    unsafe {
        let initialize = *lib
            .get::<unsafe extern "C" fn(c_int, c_int, *const c_char, c_int) -> c_int>(
                b"espeak_Initialize\0",
            )
            .map_err(|e| e.to_string())?;
        let set_cb = *lib
            .get::<unsafe extern "C" fn(Option<SynthCallback>)>(b"espeak_SetSynthCallback\0")
            .map_err(|e| e.to_string())?;
        let api = Api {
            synth: *lib.get(b"espeak_Synth\0").map_err(|e| e.to_string())?,
            set_voice_by_name: *lib
                .get(b"espeak_SetVoiceByName\0")
                .map_err(|e| e.to_string())?,
            text_to_phonemes: *lib
                .get(b"espeak_TextToPhonemes\0")
                .map_err(|e| e.to_string())?,
            sample_rate: 0,
            voice: None,
            _lib: lib,
        };
        // DONT_EXIT: espeak otherwise calls exit() when its data directory is missing.
        let rate = initialize(
            AUDIO_OUTPUT_SYNCHRONOUS,
            0,
            std::ptr::null(),
            ESPEAK_INITIALIZE_DONT_EXIT,
        );
        let rate = u32::try_from(rate).ok().filter(|&r| r > 0).ok_or_else(|| {
            "espeak_Initialize failed (is espeak-ng-data installed? set ESPEAK_DATA_PATH otherwise)"
                .to_owned()
        })?;
        set_cb(Some(collect_samples));
        Ok(Mutex::new(Api {
            sample_rate: rate,
            ..api
        }))
    }
}

/// Locks the library, loading and initialising it on first use.
fn lock() -> Result<MutexGuard<'static, Api>, TtsError> {
    let api = ESPEAK
        .get_or_init(load)
        .as_ref()
        .map_err(|e| unavailable(e.clone()))?;
    // A panic while holding the lock cannot leave espeak half-called (the C calls do not unwind),
    // so a poisoned lock is still usable.
    Ok(api
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner))
}

/// Appends the callback's samples to the `Vec<i16>` passed as user data to `espeak_Synth`.
unsafe extern "C" fn collect_samples(
    wav: *mut c_short,
    numsamples: c_int,
    events: *mut EspeakEvent,
) -> c_int {
    if wav.is_null() || numsamples <= 0 || events.is_null() {
        return 0;
    }
    // SAFETY: espeak passes an event list whose first entry carries our user_data, which is the
    // `&mut Vec<i16>` given to `espeak_Synth` below and alive for the whole (synchronous) call;
    // `wav` holds `numsamples` samples.
    unsafe {
        let out = (*events).user_data.cast::<Vec<i16>>();
        if out.is_null() {
            return 0;
        }
        let len = usize::try_from(numsamples).unwrap_or(0);
        (*out).extend_from_slice(std::slice::from_raw_parts(wav, len));
    }
    0
}

impl Api {
    fn set_voice(&mut self, voice: &str) -> Result<(), TtsError> {
        if self.voice.as_deref() == Some(voice) {
            return Ok(());
        }
        let c_voice = CString::new(voice).map_err(|_| unavailable("voice name has a NUL"))?;
        // SAFETY: valid NUL-terminated string; library initialised.
        let rc = unsafe { (self.set_voice_by_name)(c_voice.as_ptr()) };
        if rc != EE_OK {
            return Err(unavailable(format!(
                "voice `{voice}` not found (error {rc}); is espeak-ng-data installed?"
            )));
        }
        self.voice = Some(voice.to_owned());
        Ok(())
    }
}

/// Library sample rate (22,050 Hz for the stock voices).
pub(crate) fn sample_rate() -> Result<u32, TtsError> {
    Ok(lock()?.sample_rate)
}

/// Synthesises `text` with `voice`; returns 16-bit samples at [`sample_rate`].
pub(crate) fn synthesize(text: &str, voice: &str) -> Result<Vec<i16>, TtsError> {
    let mut api = lock()?;
    api.set_voice(voice)?;
    let c_text = CString::new(text.replace('\0', " ")).map_err(|_| TtsError::EmptyText)?;
    let bytes = c_text.as_bytes_with_nul();
    let mut out: Vec<i16> = Vec::new();
    // SAFETY: synchronous mode: the callback runs inside this call, while `out` and `c_text` live;
    // the mutex guarantees no other thread is inside the library.
    let rc = unsafe {
        (api.synth)(
            bytes.as_ptr().cast(),
            bytes.len(),
            0,
            POS_CHARACTER,
            0,
            ESPEAK_CHARS_UTF8,
            std::ptr::null_mut(),
            (&raw mut out).cast(),
        )
    };
    if rc != EE_OK {
        return Err(TtsError::Synthesis {
            engine: "espeak-ng".to_owned(),
            message: format!("espeak_Synth returned {rc}"),
        });
    }
    Ok(out)
}

/// IPA phonemes of `text` (one clause per call of the C function; clauses joined by a space).
/// espeak 1.51 drops punctuation here; the caller puts it back.
pub(crate) fn phonemize(text: &str, voice: &str) -> Result<String, TtsError> {
    let mut api = lock()?;
    api.set_voice(voice)?;
    let c_text = CString::new(text.replace('\0', " ")).map_err(|_| TtsError::EmptyText)?;
    let mut ptr: *const c_void = c_text.as_ptr().cast();
    let mut out = String::new();
    // Bounded: each call consumes at least one clause; a broken library must not loop forever.
    for _ in 0..=text.len() {
        if ptr.is_null() {
            break;
        }
        // SAFETY: `ptr` points into `c_text` (NUL-terminated, alive); espeak advances it or sets
        // it to NULL at the end; the returned buffer is static inside espeak and copied at once.
        let phonemes = unsafe {
            let p = (api.text_to_phonemes)(
                &raw mut ptr,
                ESPEAK_CHARS_UTF8 as c_int,
                ESPEAK_PHONEMES_IPA,
            );
            if p.is_null() {
                break;
            }
            CStr::from_ptr(p).to_string_lossy().into_owned()
        };
        let phonemes = phonemes.trim();
        if !phonemes.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(phonemes);
        }
    }
    Ok(out)
}

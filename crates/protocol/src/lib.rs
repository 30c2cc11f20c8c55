//! The Bittensor Synapse wire protocol, as the Python SDK (6.x–10.x) speaks it over HTTP.
//!
//! This crate owns the pure parts: synapse types ([`TextToSpeech`], [`MusicGeneration`]), the header codec
//! ([`SynapseHeaders`]), the body hash with Python `str()` semantics ([`body_hash`]), the
//! signature message ([`signature_message`]) and the nonce rules ([`NonceTracker`]). It does no
//! IO and holds no keys; `audiosubnet-axon` and `audiosubnet-dendrite` put it on the wire.
//!
//! [`btauth`] is the SDK 11 request signing (`btauth/1`), and [`tts_http`] the `POST /tts` and
//! `POST /music` endpoints that carry binary audio for it.
//!
//! ```
//! use audiosubnet_protocol::{synapse_body_hash, TextToSpeech};
//! let hash = synapse_body_hash(&TextToSpeech::request("Hello there."));
//! assert_eq!(hash.len(), 64);
//! ```

pub mod btauth;
mod error;
mod hash;
mod headers;
mod nonce;
mod pystr;
mod synapse;
mod terminal;
pub mod tts_http;

pub use error::ProtocolError;
pub use hash::{EMPTY_BODY_HASH, body_hash, sha3_hex};
pub use headers::{
    AXON_PREFIX, COMPUTED_BODY_HASH, DENDRITE_PREFIX, INPUT_OBJ_PREFIX, MAX_ID_HEADER_LEN,
    MAX_INPUT_OBJECTS, MAX_NUMBER_HEADER_LEN, MAX_SIGNATURE_HEADER_LEN, MAX_TEXT_HEADER_LEN,
    SynapseHeaders, format_signature, parse_signature, signature_message,
};
pub use nonce::{
    ALLOWED_DELTA_NS, DEFAULT_TIMEOUT_SECS, NonceConfig, NonceTracker, WALL_CLOCK_NONCE_VERSION,
};
pub use pystr::{python_float_repr, python_repr, python_str, python_str_repr};
pub use synapse::{
    BodyBinding, DEFAULT_MUSIC_SECONDS, MUSIC_SAMPLE_RATE, MUSICGEN_TOKENS_PER_SECOND,
    MusicGeneration, Ping, RequestBody, ResponseBody, ResponseTerminals, Synapse, TextToSpeech,
    check_body_hash, effective_sample_rate, field_names, split_request_body, synapse_body_hash,
};
pub use terminal::TerminalInfo;

/// The SDK version this implementation speaks, as `version_as_int` (10.5.0).
pub const PROTOCOL_VERSION: i64 = 10_005_000;

//! The Synapse header codec (`Synapse.to_headers` / `from_headers`): lowercase names with
//! underscores, every value `str(python_value)`.

use crate::error::ProtocolError;
use crate::pystr::python_float_repr;
use crate::terminal::{TerminalInfo, parse_python_int};

/// Prefix of the caller's terminal headers.
pub const DENDRITE_PREFIX: &str = "bt_header_dendrite_";
/// Prefix of the target's terminal headers.
pub const AXON_PREFIX: &str = "bt_header_axon_";
/// Prefix of the base64 JSON placeholders for required fields.
pub const INPUT_OBJ_PREFIX: &str = "bt_header_input_obj_";
/// The signed body hash header.
pub const COMPUTED_BODY_HASH: &str = "computed_body_hash";

/// Longest value accepted for the identity headers (`bt_header_*_hotkey`, `_uuid`, `_ip`),
/// `name` and `computed_body_hash`. Real values are 36–64 characters; anything far longer is
/// an attempt to make the axon store or echo it.
pub const MAX_ID_HEADER_LEN: usize = 128;
/// Longest value accepted for numeric headers (`timeout`, `_nonce`, `_version`, `_port`, …).
pub const MAX_NUMBER_HEADER_LEN: usize = 64;
/// Longest `bt_header_*_signature` (`0x` + 128 hex characters, with room for whitespace).
pub const MAX_SIGNATURE_HEADER_LEN: usize = 160;
/// Longest `bt_header_*_status_message` or `bt_header_input_obj_*` value.
pub const MAX_TEXT_HEADER_LEN: usize = 2048;
/// Most `bt_header_input_obj_*` placeholders kept (a synapse has a handful of fields).
pub const MAX_INPUT_OBJECTS: usize = 32;
/// Longest header name quoted in an error message.
const MAX_NAME_IN_ERROR: usize = 64;

/// The length limit for a (lowercase) header name, or `None` for headers this codec ignores.
fn value_limit(name: &str) -> Option<usize> {
    let suffix = name
        .strip_prefix(DENDRITE_PREFIX)
        .or_else(|| name.strip_prefix(AXON_PREFIX));
    if let Some(suffix) = suffix {
        return match suffix {
            "hotkey" | "uuid" | "ip" => Some(MAX_ID_HEADER_LEN),
            "signature" => Some(MAX_SIGNATURE_HEADER_LEN),
            "status_message" => Some(MAX_TEXT_HEADER_LEN),
            "status_code" | "process_time" | "port" | "version" | "nonce" => {
                Some(MAX_NUMBER_HEADER_LEN)
            }
            _ => None,
        };
    }
    if name.starts_with(INPUT_OBJ_PREFIX) {
        return Some(MAX_TEXT_HEADER_LEN);
    }
    match name {
        "name" | COMPUTED_BODY_HASH => Some(MAX_ID_HEADER_LEN),
        "timeout" | "header_size" | "total_size" => Some(MAX_NUMBER_HEADER_LEN),
        _ => None,
    }
}

/// `name` for an error message: long names are cut, so an error never carries much of what a
/// caller sent.
fn name_for_error(name: &str) -> String {
    if name.len() <= MAX_NAME_IN_ERROR {
        return name.to_string();
    }
    let cut = name.floor_char_boundary(MAX_NAME_IN_ERROR);
    format!("{}…", &name[..cut])
}

/// The Synapse fields that travel in headers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SynapseHeaders {
    /// Synapse class name.
    pub name: Option<String>,
    /// The caller's timeout in seconds.
    pub timeout: Option<f64>,
    /// The caller's terminal.
    pub dendrite: TerminalInfo,
    /// The target's terminal.
    pub axon: TerminalInfo,
    /// The body hash the caller signed.
    pub computed_body_hash: Option<String>,
    /// `bt_header_input_obj_<field>` placeholders, as (field, base64 JSON).
    pub input_objects: Vec<(String, String)>,
}

impl SynapseHeaders {
    /// Parses request headers. Names are matched case-insensitively (HTTP semantics); numeric
    /// values must parse as Python `int()`/`float()` would. Values of the headers this codec
    /// reads are length-capped (see [`MAX_ID_HEADER_LEN`] and its neighbours): an oversized
    /// value is an error that names the header but does not quote the value.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ProtocolError> {
        let mut h = SynapseHeaders::default();
        for (name, value) in pairs {
            let name = name.to_ascii_lowercase();
            let bad = |msg: String| ProtocolError::InvalidHeader {
                name: name_for_error(&name),
                msg,
            };
            let Some(limit) = value_limit(&name) else {
                continue;
            };
            if value.len() > limit {
                return Err(bad(format!(
                    "value is {} bytes; the limit is {limit}",
                    value.len()
                )));
            }
            if let Some(suffix) = name.strip_prefix(DENDRITE_PREFIX) {
                h.dendrite.set_from_header(suffix, value).map_err(bad)?;
            } else if let Some(suffix) = name.strip_prefix(AXON_PREFIX) {
                h.axon.set_from_header(suffix, value).map_err(bad)?;
            } else if let Some(field) = name.strip_prefix(INPUT_OBJ_PREFIX) {
                if field.len() > MAX_ID_HEADER_LEN || h.input_objects.len() >= MAX_INPUT_OBJECTS {
                    return Err(bad("too many or too long input object headers".into()));
                }
                h.input_objects.push((field.to_string(), value.to_string()));
            } else {
                match name.as_str() {
                    "name" => h.name = Some(value.to_string()),
                    "timeout" => {
                        let t = value.trim().parse::<f64>();
                        h.timeout = Some(t.map_err(|_| bad(format!("not a float: {value:?}")))?);
                    }
                    "header_size" | "total_size" => {
                        parse_python_int(value)
                            .ok_or_else(|| bad(format!("not an integer: {value:?}")))?;
                    }
                    COMPUTED_BODY_HASH => h.computed_body_hash = Some(value.to_string()),
                    _ => {}
                }
            }
        }
        Ok(h)
    }

    /// Header pairs in the SDK's order.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut out = Vec::with_capacity(24);
        if let Some(name) = &self.name {
            out.push(("name".into(), name.clone()));
        }
        if let Some(t) = self.timeout {
            out.push(("timeout".into(), python_float_repr(t)));
        }
        for (k, v) in self.dendrite.header_pairs() {
            out.push((format!("{DENDRITE_PREFIX}{k}"), v));
        }
        for (k, v) in self.axon.header_pairs() {
            out.push((format!("{AXON_PREFIX}{k}"), v));
        }
        for (field, value) in &self.input_objects {
            out.push((format!("{INPUT_OBJ_PREFIX}{field}"), value.clone()));
        }
        out.push(("header_size".into(), "0".into()));
        out.push(("total_size".into(), "0".into()));
        if let Some(hash) = &self.computed_body_hash {
            out.push((COMPUTED_BODY_HASH.into(), hash.clone()));
        }
        out
    }
}

/// The message a dendrite signs and an axon verifies:
/// `"{nonce}.{dendrite_hotkey}.{axon_hotkey}.{uuid}.{body_hash}"`.
pub fn signature_message(
    nonce: i64,
    dendrite_hotkey: &str,
    axon_hotkey: &str,
    uuid: &str,
    body_hash: &str,
) -> String {
    format!("{nonce}.{dendrite_hotkey}.{axon_hotkey}.{uuid}.{body_hash}")
}

/// Parses a `0x`-prefixed 64-byte hex signature, as btwallet's verify requires.
pub fn parse_signature(s: &str) -> Result<[u8; 64], ProtocolError> {
    let hex_part = s
        .strip_prefix("0x")
        .ok_or(ProtocolError::BadSignatureEncoding)?;
    let bytes = hex::decode(hex_part).map_err(|_| ProtocolError::BadSignatureEncoding)?;
    bytes
        .try_into()
        .map_err(|_| ProtocolError::BadSignatureEncoding)
}

/// Formats a signature as the SDK does: `0x` + 128 lowercase hex characters.
pub fn format_signature(sig: &[u8; 64]) -> String {
    format!("0x{}", hex::encode(sig))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let h = SynapseHeaders {
            name: Some("TextToSpeech".into()),
            timeout: Some(12.0),
            dendrite: TerminalInfo {
                nonce: Some(1_700_000_000_000_000_000),
                version: Some(10_005_000),
                hotkey: Some("5Grw".into()),
                ..Default::default()
            },
            axon: TerminalInfo {
                port: Some(8091),
                ..Default::default()
            },
            computed_body_hash: Some("ab".into()),
            input_objects: vec![("text_input".into(), "IiI=".into())],
        };
        let pairs = h.to_pairs();
        assert!(pairs.iter().any(|(k, v)| k == "timeout" && v == "12.0"));
        let parsed = SynapseHeaders::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .expect("own headers parse");
        assert_eq!(parsed, h);
    }

    #[test]
    fn rejects_non_integer_nonce() {
        let err = SynapseHeaders::parse([("bt_header_dendrite_nonce", "12a")]);
        assert!(matches!(err, Err(ProtocolError::InvalidHeader { .. })));
    }

    #[test]
    fn oversized_values_are_refused_without_echoing_them() {
        let huge = "u".repeat(4096);
        for name in [
            "bt_header_dendrite_uuid",
            "bt_header_dendrite_hotkey",
            "bt_header_dendrite_signature",
            "bt_header_dendrite_nonce",
            "computed_body_hash",
            "timeout",
            "name",
        ] {
            let err = SynapseHeaders::parse([(name, huge.as_str())]).expect_err(name);
            let text = err.to_string();
            assert!(
                text.len() < 200,
                "{name}: error echoes the value: {text:.300}"
            );
        }
        // An oversized header name is not echoed either.
        let long_name = format!("{INPUT_OBJ_PREFIX}{huge}");
        let err = SynapseHeaders::parse([(long_name.as_str(), "IiI=")]).expect_err("long name");
        assert!(err.to_string().len() < 200);
    }

    #[test]
    fn signature_hex() {
        let sig = [7u8; 64];
        assert_eq!(
            parse_signature(&format_signature(&sig)).expect("valid"),
            sig
        );
        assert!(parse_signature("07").is_err());
        assert!(parse_signature("0x07").is_err());
    }
}

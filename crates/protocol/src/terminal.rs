//! `TerminalInfo`: the `dendrite` and `axon` objects of a Synapse, mirrored in
//! `bt_header_dendrite_*` / `bt_header_axon_*` headers.

use serde::{Deserialize, Serialize};

/// One end of a Synapse call, as the Python SDK's `TerminalInfo`. Every field is optional on the
/// wire; absent values serialize as `null` like pydantic's `model_dump`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TerminalInfo {
    /// HTTP-like status of the call at this end.
    #[serde(default, deserialize_with = "lenient::int")]
    pub status_code: Option<i64>,
    /// Human-readable status.
    #[serde(default)]
    pub status_message: Option<String>,
    /// Seconds the axon spent on the request.
    #[serde(default, deserialize_with = "lenient::float")]
    pub process_time: Option<f64>,
    /// IP address.
    #[serde(default)]
    pub ip: Option<String>,
    /// Port.
    #[serde(default, deserialize_with = "lenient::int")]
    pub port: Option<i64>,
    /// SDK version as an integer (`10005000` for 10.5.0).
    #[serde(default, deserialize_with = "lenient::int")]
    pub version: Option<i64>,
    /// Nonce in nanoseconds (dendrite: `time.time_ns()`).
    #[serde(default, deserialize_with = "lenient::int")]
    pub nonce: Option<i64>,
    /// Instance uuid of the sender.
    #[serde(default)]
    pub uuid: Option<String>,
    /// SS58 hotkey.
    #[serde(default)]
    pub hotkey: Option<String>,
    /// `0x`-prefixed hex sr25519 signature.
    #[serde(default)]
    pub signature: Option<String>,
}

impl TerminalInfo {
    /// The fields as (suffix, value) pairs for `bt_header_<side>_<suffix>` headers, skipping
    /// absent ones as the SDK does.
    pub fn header_pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::with_capacity(10);
        let mut push = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                out.push((k, v));
            }
        };
        push("status_code", self.status_code.map(|v| v.to_string()));
        push("status_message", self.status_message.clone());
        push(
            "process_time",
            self.process_time.map(crate::pystr::python_float_repr),
        );
        push("ip", self.ip.clone());
        push("port", self.port.map(|v| v.to_string()));
        push("version", self.version.map(|v| v.to_string()));
        push("nonce", self.nonce.map(|v| v.to_string()));
        push("uuid", self.uuid.clone());
        push("hotkey", self.hotkey.clone());
        push("signature", self.signature.clone());
        out
    }

    /// Sets one field from a header value. Returns an error message when a numeric field does not
    /// parse, as pydantic would reject it.
    pub(crate) fn set_from_header(&mut self, suffix: &str, value: &str) -> Result<(), String> {
        fn int(v: &str) -> Result<Option<i64>, String> {
            parse_python_int(v)
                .map(Some)
                .ok_or_else(|| format!("not an integer: {v:?}"))
        }
        match suffix {
            "status_code" => self.status_code = int(value)?,
            "status_message" => self.status_message = Some(value.to_string()),
            "process_time" => {
                self.process_time = Some(
                    value
                        .trim()
                        .parse::<f64>()
                        .map_err(|_| format!("not a float: {value:?}"))?,
                )
            }
            "ip" => self.ip = Some(value.to_string()),
            "port" => self.port = int(value)?,
            "version" => self.version = int(value)?,
            "nonce" => self.nonce = int(value)?,
            "uuid" => self.uuid = Some(value.to_string()),
            "hotkey" => self.hotkey = Some(value.to_string()),
            "signature" => self.signature = Some(value.to_string()),
            _ => {} // unknown suffixes are ignored, as pydantic ignores extra keys
        }
        Ok(())
    }
}

/// Python `int(str)` for header values: optional surrounding whitespace, optional sign, digits
/// with optional single underscores between them.
pub(crate) fn parse_python_int(v: &str) -> Option<i64> {
    let t = v.trim();
    let cleaned: String = t.chars().filter(|c| *c != '_').collect();
    if t.starts_with('_') || t.ends_with('_') || t.contains("__") {
        return None;
    }
    cleaned.parse::<i64>().ok()
}

/// Deserializers that accept numbers or numeric strings, like pydantic's lax mode.
mod lenient {
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    pub(super) fn int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Ok(match Option::<Value>::deserialize(d)? {
            Some(Value::Number(n)) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                    .map(|f| f as i64)
            }),
            Some(Value::String(s)) => super::parse_python_int(&s),
            _ => None,
        })
    }

    pub(super) fn float<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Ok(match Option::<Value>::deserialize(d)? {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        })
    }
}

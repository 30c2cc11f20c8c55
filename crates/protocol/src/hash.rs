//! The Synapse body hash: SHA3-256 over the concatenated hex digests of `str(field)` for each
//! hashed field (bittensor `Synapse.body_hash`).

use crate::pystr::python_str;
use serde_json::{Map, Value};
use sha3::{Digest, Sha3_256};

/// `sha3_256("")`: the body hash of a synapse that declares no hashed fields. Such a body is not
/// integrity-protected; the prompt travels unsigned.
pub const EMPTY_BODY_HASH: &str =
    "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a";

/// Lowercase hex SHA3-256 of a UTF-8 string.
pub fn sha3_hex(data: &str) -> String {
    hex::encode(Sha3_256::digest(data.as_bytes()))
}

/// The body hash over `fields` of a JSON body, in the given order. A field absent from the body
/// hashes as Python's `None`, the default every Synapse field has.
pub fn body_hash(body: &Map<String, Value>, fields: &[&str]) -> String {
    let mut concatenated = String::with_capacity(64 * fields.len());
    for field in fields {
        let text = body
            .get(*field)
            .map_or_else(|| "None".to_string(), python_str);
        concatenated.push_str(&sha3_hex(&text));
    }
    sha3_hex(&concatenated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("test literal is an object")
    }

    #[test]
    fn empty_hash_is_sha3_of_nothing() {
        assert_eq!(body_hash(&Map::new(), &[]), EMPTY_BODY_HASH);
    }

    #[test]
    fn vectors_from_the_python_sdk() {
        let echo = obj(json!({"text": "hi", "count": 2}));
        assert_eq!(
            body_hash(&echo, &["text", "count"]),
            "0f1c8a21c6f2a92bee209957e08a2938ad63ae4fbb69a3a1f377f3462eebd00a"
        );
        let echo3 = obj(json!({"text": "hi", "count": 3}));
        assert_eq!(
            body_hash(&echo3, &["text", "count"]),
            "dcd9e6cf38d229a7bfbd31b88f33d0a494b84e13899ceed13576b020e54cbc9d"
        );
        let mixed = obj(json!({
            "s": "hé", "i": 2, "f": 0.1, "big": 1e20, "small": 1e-7, "b": true, "n": null,
            "l": [1, "a", 2.5], "d": {"k": [1, 2], "z": null}, "m": {"a": 1, "b": "x"}
        }));
        assert_eq!(
            body_hash(
                &mixed,
                &["s", "i", "f", "big", "small", "b", "n", "l", "d", "m"]
            ),
            "5c719ac0530361f1eccac3e3809b08126f58804725e6fa6f3a16a05bf42c9895"
        );
    }
}

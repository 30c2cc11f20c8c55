//! Property test of the header codec against hostile input: real header sets from our dendrite
//! and the Python SDK, mutated with arbitrary names and huge or odd values. The parser never
//! panics, its errors are short (they never quote a value), and whatever it accepts is within
//! the length caps.

use audiosubnet_protocol::{
    MAX_ID_HEADER_LEN, MAX_INPUT_OBJECTS, MAX_NUMBER_HEADER_LEN, MAX_SIGNATURE_HEADER_LEN,
    MAX_TEXT_HEADER_LEN, ProtocolError, SynapseHeaders, TerminalInfo,
};
use proptest::prelude::*;

/// Headers as our dendrite and the Python SDK 10.5 dendrite send them (values from a real
/// request; the signature is not checked here).
fn corpus() -> Vec<(String, String)> {
    [
        ("name", "TextToSpeech"),
        ("timeout", "12.0"),
        ("bt_header_dendrite_ip", "127.0.0.1"),
        ("bt_header_dendrite_version", "10005000"),
        ("bt_header_dendrite_nonce", "1764680000123456789"),
        ("bt_header_dendrite_uuid", "5f2b3c5e-cf7a-11f0-9d1c-0242ac120002"),
        (
            "bt_header_dendrite_hotkey",
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
        ),
        (
            "bt_header_dendrite_signature",
            "0x2aa1e0a3b5c3a9a43c0c63b8a0a2f1e0b6e6ab6f3b0f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80",
        ),
        ("bt_header_axon_ip", "127.0.0.2"),
        ("bt_header_axon_port", "8091"),
        (
            "bt_header_axon_hotkey",
            "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
        ),
        ("bt_header_input_obj_text_input", "IiI="),
        ("header_size", "0"),
        ("total_size", "0"),
        (
            "computed_body_hash",
            "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a",
        ),
        ("content-type", "application/json"),
        ("content-length", "512"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn header_name() -> impl Strategy<Value = String> {
    let known: Vec<String> = corpus().into_iter().map(|(k, _)| k).collect();
    prop_oneof![
        4 => proptest::sample::select(known),
        1 => "(bt_header_dendrite_|bt_header_axon_|bt_header_input_obj_)[a-z_]{0,300}",
        1 => "[A-Za-z_-]{1,40}",
        1 => "BT_HEADER_DENDRITE_(NONCE|UUID|HOTKEY|SIGNATURE)",
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,80}",
        "\\PC{0,40}",
        "[0-9_+-]{0,30}",
        Just("nan".to_string()),
        Just("-inf".to_string()),
        Just("1e20".to_string()),
        Just("1e309".to_string()),
        Just("99999999999999999999999".to_string()),
        (1usize..9000).prop_map(|n| "x".repeat(n)),
        (1usize..3000).prop_map(|n| "é".repeat(n)),
    ]
}

fn check_terminal(t: &TerminalInfo) {
    for v in [&t.hotkey, &t.uuid, &t.ip].into_iter().flatten() {
        assert!(v.len() <= MAX_ID_HEADER_LEN);
    }
    if let Some(s) = &t.signature {
        assert!(s.len() <= MAX_SIGNATURE_HEADER_LEN);
    }
    if let Some(s) = &t.status_message {
        assert!(s.len() <= MAX_TEXT_HEADER_LEN);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn hostile_headers_never_panic_and_accepted_values_are_capped(
        mutations in proptest::collection::vec((header_name(), header_value()), 0..12),
        keep in proptest::collection::vec(any::<bool>(), 17),
    ) {
        let mut pairs: Vec<(String, String)> = corpus()
            .into_iter()
            .zip(keep.iter().copied())
            .filter_map(|(p, k)| k.then_some(p))
            .collect();
        pairs.extend(mutations);
        let result = SynapseHeaders::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        match result {
            Ok(h) => {
                check_terminal(&h.dendrite);
                check_terminal(&h.axon);
                if let Some(n) = &h.name {
                    prop_assert!(n.len() <= MAX_ID_HEADER_LEN);
                }
                if let Some(b) = &h.computed_body_hash {
                    prop_assert!(b.len() <= MAX_ID_HEADER_LEN);
                }
                prop_assert!(h.input_objects.len() <= MAX_INPUT_OBJECTS);
                let capped = h.input_objects.iter().all(|(k, v)| {
                    k.len() <= MAX_ID_HEADER_LEN && v.len() <= MAX_TEXT_HEADER_LEN
                });
                prop_assert!(capped);
                // What parsed also serializes back without panicking.
                let _ = h.to_pairs();
            }
            Err(e) => {
                prop_assert!(matches!(e, ProtocolError::InvalidHeader { .. }), "{e:?}");
                // Short enough that no oversized value can be in it (numbers are quoted, and
                // they are at most MAX_NUMBER_HEADER_LEN bytes).
                let text = e.to_string();
                prop_assert!(text.len() <= 160 + MAX_NUMBER_HEADER_LEN * 2, "{}", text.len());
            }
        }
    }
}

#[test]
fn the_corpus_parses() {
    let pairs = corpus();
    let h = SynapseHeaders::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .expect("real headers parse");
    assert_eq!(h.dendrite.nonce, Some(1_764_680_000_123_456_789));
    assert_eq!(h.timeout, Some(12.0));
}

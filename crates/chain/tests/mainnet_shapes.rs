//! Today's mainnet call shapes against what the chain crate encodes.
//!
//! `fixtures/mainnet_shapes.json` holds the shapes of everything the client uses, extracted by
//! `fixtures/extract_mainnet_shapes.py` from the bittensor SDK 11.3.0 wheel (generated from
//! mainnet metadata). This test compares it with the crate's own tables
//! (`audiosubnet_chain::shapes`), which are what the encoder builds calls from.

use std::collections::BTreeMap;

use audiosubnet_chain::shapes::{
    CALLS, CommitApi, GLOBAL_MAX_SUBNET_COUNT, RUNTIME_APIS, STORAGE, Ty, WeightsApi,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    constants: BTreeMap<String, u64>,
    /// `pallet.call` → `["name: Type"]`, `null` where mainnet lacks the call.
    calls: BTreeMap<String, Option<Vec<String>>>,
    /// `pallet.item` → value type, `null` where mainnet lacks it.
    storage: BTreeMap<String, Option<String>>,
    /// `api.method` → whether mainnet has it.
    runtime_apis: BTreeMap<String, bool>,
    /// `SubtensorModule.error` → whether mainnet has it.
    errors: BTreeMap<String, bool>,
}

fn fixture() -> Fixture {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/mainnet_shapes.json"
    );
    let text = std::fs::read_to_string(path).expect("read the fixture");
    serde_json::from_str(&text).expect("parse the fixture")
}

/// The mainnet type names a parameter we encode as `ty` may have. The SDK's generator writes
/// `Any` for every sequence (`Vec<u16>` included), so a sequence parameter is `Any` there.
fn mainnet_types(ty: Ty) -> &'static [&'static str] {
    match ty {
        Ty::U8 => &["u8", "MechId"],
        Ty::U16 => &["u16", "NetUid"],
        Ty::U32 => &["u32"],
        Ty::U64 => &["u64"],
        Ty::U128 => &["u128"],
        Ty::Account => &["AccountId32"],
        Ty::VecU16 => &["Any"],
        Ty::Bytes => &["BoundedVec", "Vec<u8>"],
    }
}

#[test]
fn every_call_we_encode_for_mainnet_exists_there_with_our_parameters() {
    let f = fixture();
    for shape in CALLS {
        let key = format!("{}.{}", shape.pallet, shape.name);
        let entry = f
            .calls
            .get(&key)
            .unwrap_or_else(|| panic!("{key} is not in the fixture; rerun the extract script"));
        let Some(params) = entry else {
            // Only calls kept for older runtimes may be missing from mainnet.
            assert!(
                !shape.on_mainnet,
                "{key} is sent to mainnet but mainnet has no such call"
            );
            continue;
        };
        // Calls for older runtimes that mainnet still has must fit too: the metadata picks them
        // wherever the newer call is missing.
        let ours: Vec<&str> = shape.params.iter().map(|(n, _)| *n).collect();
        let theirs: Vec<&str> = params
            .iter()
            .map(|p| p.split(": ").next().unwrap_or(p))
            .collect();
        assert_eq!(ours, theirs, "{key}: parameter names and order");
        for ((name, ty), p) in shape.params.iter().zip(params) {
            let mainnet_ty = p.split_once(": ").map_or("", |(_, t)| t);
            assert!(
                mainnet_types(*ty).contains(&mainnet_ty),
                "{key}.{name}: we encode {ty:?}, mainnet declares {mainnet_ty}"
            );
        }
    }
    assert_eq!(
        f.calls.len(),
        CALLS.len(),
        "fixture and CALLS list different calls"
    );
}

#[test]
fn mainnet_gets_the_mechanism_weights_calls() {
    let f = fixture();
    let has = |call: &str| {
        f.calls
            .get(&format!("SubtensorModule.{call}"))
            .is_some_and(Option::is_some)
    };
    assert_eq!(WeightsApi::detect(has), Some(WeightsApi::Mechanism));
    assert_eq!(CommitApi::detect(has), Some(CommitApi::TimelockedMechanism));
    // What the SDK sends on mainnet: mechanism index and commit-reveal version.
    assert_eq!(
        f.constants.get("GLOBAL_MAX_SUBNET_COUNT"),
        Some(&u64::from(GLOBAL_MAX_SUBNET_COUNT))
    );
    assert_eq!(f.constants.get("DEFAULT_COMMIT_REVEAL_VERSION"), Some(&4));
}

#[test]
fn every_storage_item_we_read_exists_on_mainnet_with_our_value_type() {
    let f = fixture();
    for item in STORAGE {
        let key = format!("{}.{}", item.pallet, item.name);
        match f.storage.get(&key) {
            None => panic!("{key} is not in the fixture; rerun the extract script"),
            Some(None) => assert!(
                !item.on_mainnet,
                "{key} is read on mainnet but missing there"
            ),
            Some(Some(value)) => assert_eq!(value, item.value, "{key}: value type"),
        }
    }
    assert_eq!(f.storage.len(), STORAGE.len(), "fixture and STORAGE differ");
}

#[test]
fn every_runtime_api_we_call_exists_on_mainnet() {
    let f = fixture();
    for (api, method) in RUNTIME_APIS {
        let key = format!("{api}.{method}");
        assert_eq!(f.runtime_apis.get(&key), Some(&true), "{key}");
    }
    assert_eq!(f.runtime_apis.len(), RUNTIME_APIS.len());
}

#[test]
fn every_dispatch_error_we_match_has_a_name_mainnet_uses() {
    let f = fixture();
    let mut listed = 0;
    for group in audiosubnet_chain::known_dispatch_errors() {
        let found: Vec<bool> = group
            .iter()
            .map(|name| {
                let key = format!("SubtensorModule.{name}");
                *f.errors
                    .get(&key)
                    .unwrap_or_else(|| panic!("{key} is not in the fixture; rerun the script"))
            })
            .collect();
        listed += group.len();
        // Older names (e.g. SubNetworkDoesNotExist) may be gone as long as one name is current.
        assert!(found.contains(&true), "mainnet has none of {group:?}");
    }
    assert_eq!(
        f.errors.len(),
        listed,
        "fixture and known_dispatch_errors differ"
    );
}

//! Unit tests of the weights-API selection and the field encoder.

use super::*;

fn names(shape: &CallShape) -> Vec<String> {
    shape.params.iter().map(|(n, _)| n.to_string()).collect()
}

fn u(n: u128) -> Value {
    Value::u128(n)
}

#[test]
fn mechanism_runtimes_get_the_mechanism_calls() {
    // Mainnet has both generations; the mechanism calls win.
    let mainnet = |c: &str| {
        [
            "set_weights",
            "set_mechanism_weights",
            "commit_timelocked_weights",
            "commit_timelocked_mechanism_weights",
        ]
        .contains(&c)
    };
    assert_eq!(WeightsApi::detect(mainnet), Some(WeightsApi::Mechanism));
    assert_eq!(
        CommitApi::detect(mainnet),
        Some(CommitApi::TimelockedMechanism)
    );
    assert_eq!(WeightsApi::Mechanism.call().name, "set_mechanism_weights");
    assert_eq!(
        CommitApi::TimelockedMechanism.call().name,
        "commit_timelocked_mechanism_weights"
    );
}

#[test]
fn older_runtimes_get_the_legacy_calls() {
    // Between spec 300 and the mechanism runtimes.
    let middle = |c: &str| ["set_weights", "commit_timelocked_weights"].contains(&c);
    assert_eq!(WeightsApi::detect(middle), Some(WeightsApi::Legacy));
    assert_eq!(CommitApi::detect(middle), Some(CommitApi::Timelocked));
    // The local spec 300 (what its metadata has; see localnet's runtime_shapes test).
    let spec300 = |c: &str| ["set_weights", "commit_crv3_weights"].contains(&c);
    assert_eq!(WeightsApi::detect(spec300), Some(WeightsApi::Legacy));
    assert_eq!(CommitApi::detect(spec300), Some(CommitApi::Crv3));
    assert!(!CommitApi::Crv3.versioned());
    assert!(CommitApi::Timelocked.versioned() && CommitApi::TimelockedMechanism.versioned());
    assert_eq!(WeightsApi::detect(|_| false), None);
    assert_eq!(CommitApi::detect(|_| false), None);
}

#[test]
fn fields_follow_the_live_parameter_order() {
    let live = names(&SET_MECHANISM_WEIGHTS);
    let fields = encode_fields(
        &SET_MECHANISM_WEIGHTS,
        &live,
        vec![u(7), u(0), u(1), u(2), u(3)],
    )
    .expect("same shape");
    assert_eq!(fields, vec![u(7), u(0), u(1), u(2), u(3)]);

    // A runtime that declares the same parameters in another order gets them in its order.
    let reordered: Vec<String> = ["mecid", "netuid", "dests", "weights", "version_key"]
        .map(String::from)
        .into();
    let fields = encode_fields(
        &SET_MECHANISM_WEIGHTS,
        &reordered,
        vec![u(7), u(0), u(1), u(2), u(3)],
    )
    .expect("same names");
    assert_eq!(fields, vec![u(0), u(7), u(1), u(2), u(3)]);
}

#[test]
fn other_parameters_are_a_metadata_error() {
    // The legacy call's parameters do not fit the mechanism shape.
    let err = encode_fields(
        &SET_MECHANISM_WEIGHTS,
        &names(&SET_WEIGHTS),
        vec![u(1), u(0), u(1), u(2), u(3)],
    )
    .expect_err("missing mecid");
    assert!(
        matches!(&err, ChainError::Metadata(m) if m.contains("mecid")),
        "{err}"
    );
    let renamed: Vec<String> = ["netuid", "uids", "weights", "version_key"]
        .map(String::from)
        .into();
    assert!(encode_fields(&SET_WEIGHTS, &renamed, vec![u(1), u(2), u(3), u(4)]).is_err());
    // Wrong number of values.
    assert!(encode_fields(&SET_WEIGHTS, &names(&SET_WEIGHTS), vec![u(1)]).is_err());
}

#[test]
fn mechanism_storage_index_is_the_sdks() {
    assert_eq!(mechanism_storage_index(1, 0).ok(), Some(1));
    assert_eq!(mechanism_storage_index(7, 1).ok(), Some(4096 + 7));
    assert_eq!(
        mechanism_storage_index(4095, 15).ok(),
        Some(15 * 4096 + 4095)
    );
    assert!(mechanism_storage_index(1, 16).is_err());
    assert!(mechanism_storage_index(4096, 0).is_err());
}

#[test]
fn every_call_is_in_the_table_once() {
    let mut keys: Vec<_> = CALLS.iter().map(|c| (c.pallet, c.name)).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), CALLS.len());
    for api in [WeightsApi::Mechanism, WeightsApi::Legacy] {
        assert!(CALLS.contains(api.call()));
    }
    for api in [
        CommitApi::TimelockedMechanism,
        CommitApi::Timelocked,
        CommitApi::Crv3,
    ] {
        assert!(CALLS.contains(api.call()));
    }
}

//! The mechanism weights calls, encoded the way the client encodes them, against call types shaped
//! like mainnet's (`NetUid(u16)` and `MechId(u8)` newtypes, `BoundedVec<u8>`; parameter names from
//! `fixtures/mainnet_shapes.json`): the bytes are the SCALE encoding the runtime decodes. No
//! mechanism runtime runs here (the local chain is spec 300), so this is what proves that the
//! dynamic values fit mainnet's newtypes.

#![allow(non_camel_case_types, dead_code)]

use audiosubnet_chain::Value;
use audiosubnet_chain::shapes::{
    COMMIT_TIMELOCKED_MECHANISM_WEIGHTS, CallShape, MAIN_MECHANISM, SET_MECHANISM_WEIGHTS,
    encode_fields,
};
use scale_info::{PortableRegistry, Registry, TypeInfo};
use subxt::ext::scale_encode::EncodeAsType;

#[derive(TypeInfo)]
struct NetUid(u16);

#[derive(TypeInfo)]
struct MechId(u8);

#[derive(TypeInfo)]
struct BoundedVec(Vec<u8>);

/// Mainnet's `SubtensorModule` calls as the SDK 11.3.0 wheel records them (the two we send).
#[derive(TypeInfo)]
enum SubtensorCall {
    set_mechanism_weights {
        netuid: NetUid,
        mecid: MechId,
        dests: Vec<u16>,
        weights: Vec<u16>,
        version_key: u64,
    },
    commit_timelocked_mechanism_weights {
        netuid: NetUid,
        mecid: MechId,
        commit: BoundedVec,
        reveal_round: u64,
        commit_reveal_version: u16,
    },
}

fn encode(shape: &CallShape, values: Vec<Value>) -> Vec<u8> {
    let mut registry = Registry::new();
    let id = registry
        .register_type(&scale_info::meta_type::<SubtensorCall>())
        .id;
    let types: PortableRegistry = registry.into();
    let live: Vec<String> = shape.params.iter().map(|(n, _)| n.to_string()).collect();
    let fields = encode_fields(shape, &live, values).expect("fields");
    Value::unnamed_variant(shape.name, fields)
        .encode_as_type(id, &types)
        .expect("encodes into mainnet's call type")
}

fn compact_len(n: u8) -> u8 {
    n << 2
}

#[test]
fn set_mechanism_weights_encodes_into_mainnets_types() {
    let u16s = |v: &[u16]| Value::unnamed_composite(v.iter().map(|x| Value::u128((*x).into())));
    let bytes = encode(
        &SET_MECHANISM_WEIGHTS,
        vec![
            Value::u128(7),
            Value::u128(MAIN_MECHANISM.into()),
            u16s(&[1, 2]),
            u16s(&[21845, 65535]),
            Value::u128(3),
        ],
    );
    let mut want = vec![0u8]; // variant index
    want.extend(7u16.to_le_bytes());
    want.push(0); // mecid
    want.push(compact_len(2));
    want.extend([1u16, 2].iter().flat_map(|v| v.to_le_bytes()));
    want.push(compact_len(2));
    want.extend([21845u16, 65535].iter().flat_map(|v| v.to_le_bytes()));
    want.extend(3u64.to_le_bytes());
    assert_eq!(bytes, want);
}

#[test]
fn commit_timelocked_mechanism_weights_encodes_into_mainnets_types() {
    let bytes = encode(
        &COMMIT_TIMELOCKED_MECHANISM_WEIGHTS,
        vec![
            Value::u128(7),
            Value::u128(MAIN_MECHANISM.into()),
            Value::from_bytes([0xaa, 0xbb, 0xcc]),
            Value::u128(123_456),
            Value::u128(4),
        ],
    );
    let mut want = vec![1u8];
    want.extend(7u16.to_le_bytes());
    want.push(0);
    want.push(compact_len(3));
    want.extend([0xaa, 0xbb, 0xcc]);
    want.extend(123_456u64.to_le_bytes());
    want.extend(4u16.to_le_bytes());
    assert_eq!(bytes, want);
}

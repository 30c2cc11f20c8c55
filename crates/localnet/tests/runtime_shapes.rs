//! The weights-API selection and the call encoder against the real runtime (spec 300 under
//! chopsticks): its metadata has no mechanism calls and no `commit_timelocked_weights`, so the
//! client picks the legacy `set_weights` / `commit_crv3_weights`, and every call of the chain crate's shape table
//! that the runtime has takes exactly the parameters the encoder sends. (Weights actually set and
//! committed through these calls: `localnet.rs` and `commit_reveal.rs`; mainnet's shapes:
//! `crates/chain/tests/mainnet_shapes.rs`.)

use std::time::Duration;

use audiosubnet_chain::shapes::{
    BURNED_REGISTER, CALLS, COMMIT_CRV3_WEIGHTS, COMMIT_TIMELOCKED_MECHANISM_WEIGHTS,
    COMMIT_TIMELOCKED_WEIGHTS, CommitApi, RUNTIME_APIS, SERVE_AXON, SET_MECHANISM_WEIGHTS,
    SET_WEIGHTS, WeightsApi, encode_fields,
};
use audiosubnet_chain::{Subtensor, Value};
use audiosubnet_localnet::{Localnet, LocalnetConfig, free_port};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local chain; run scripts/test"]
async fn spec_300_gets_the_legacy_weights_calls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = LocalnetConfig {
        state_dir: dir.path().join("localnet"),
        port: free_port().expect("free port"),
        miners: 1,
        block_interval: Duration::ZERO,
        ..LocalnetConfig::default()
    };
    let net = Localnet::start(cfg).await.expect("start");
    let result = check(&net).await;
    net.stop().expect("stop");
    result.expect("runtime shapes");
}

async fn check(net: &Localnet) -> Result<(), String> {
    let st: Subtensor = net.client().await.map_err(|e| e.to_string())?;
    let shapes = st.runtime_shapes().await.map_err(|e| e.to_string())?;
    eprintln!("{shapes:#?}");
    assert_eq!(shapes.weights, WeightsApi::Legacy);
    assert_eq!(shapes.commit, Some(CommitApi::Crv3));
    for absent in [
        SET_MECHANISM_WEIGHTS,
        COMMIT_TIMELOCKED_MECHANISM_WEIGHTS,
        COMMIT_TIMELOCKED_WEIGHTS,
    ] {
        assert!(
            shapes.params(&absent).is_err(),
            "{} on spec 300",
            absent.name
        );
    }
    // The calls this runtime gets take exactly the encoder's parameters, in its order.
    for shape in [
        SET_WEIGHTS,
        COMMIT_CRV3_WEIGHTS,
        BURNED_REGISTER,
        SERVE_AXON,
    ] {
        let live = shapes.params(&shape).map_err(|e| e.to_string())?;
        let ours: Vec<&str> = shape.params.iter().map(|(n, _)| *n).collect();
        assert_eq!(live, ours.as_slice(), "{}", shape.name);
        let values = (0..shape.params.len()).map(|i| Value::u128(i as u128));
        let fields =
            encode_fields(&shape, live, values.clone().collect()).map_err(|e| e.to_string())?;
        assert_eq!(fields, values.collect::<Vec<_>>(), "{}", shape.name);
    }
    // Every other call of the table this runtime has fits the table too.
    for shape in CALLS {
        if let Ok(live) = shapes.params(shape) {
            let ours: Vec<&str> = shape.params.iter().map(|(n, _)| *n).collect();
            assert_eq!(live, ours.as_slice(), "{}", shape.name);
        }
    }
    // Reads the client always does exist here.
    for name in [
        "LastUpdate",
        "Weights",
        "Uids",
        "Axons",
        "CommitRevealWeightsEnabled",
    ] {
        assert!(shapes.has_storage("SubtensorModule", name), "{name}");
    }
    assert_eq!(shapes.runtime_apis.len(), RUNTIME_APIS.len());
    Ok(())
}

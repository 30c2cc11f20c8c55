//! What the connected runtime has, read once per connection (a runtime upgrade opens a new
//! connection, so once per runtime version) from subxt's metadata: the weights and commit APIs
//! ([`WeightsApi`], [`CommitApi`]), the live parameter names of every call in
//! [`crate::shapes::CALLS`], and which storage items and runtime APIs of the tables exist.

use std::collections::BTreeMap;
use std::sync::Arc;

use subxt::Metadata;

use crate::call::SUBTENSOR;
use crate::connection::Subtensor;
use crate::error::ChainError;
use crate::shapes::{CALLS, CallShape, CommitApi, RUNTIME_APIS, STORAGE, WeightsApi};

/// The runtime's shapes, as far as this client uses them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeShapes {
    /// How the runtime takes weights.
    pub weights: WeightsApi,
    /// How it takes timelocked commits (`None`: no commit call at all).
    pub commit: Option<CommitApi>,
    /// Live parameter names of each call of [`CALLS`] the runtime has, by `pallet.call`.
    pub call_params: BTreeMap<String, Vec<String>>,
    /// `pallet.name` of each item of [`STORAGE`] the runtime has.
    pub storage: Vec<String>,
    /// `api.method` of each of [`RUNTIME_APIS`] the runtime has.
    pub runtime_apis: Vec<String>,
}

impl RuntimeShapes {
    /// Reads the shapes out of `md`.
    pub fn from_metadata(md: &Metadata) -> Result<Self, ChainError> {
        let has_call = |pallet: &str, call: &str| {
            md.pallet_by_name(pallet)
                .and_then(|p| p.call_variant_by_name(call))
                .is_some()
        };
        let weights = WeightsApi::detect(|c| has_call(SUBTENSOR, c)).ok_or_else(|| {
            ChainError::Metadata(
                "the runtime has neither set_mechanism_weights nor set_weights".into(),
            )
        })?;
        let commit = CommitApi::detect(|c| has_call(SUBTENSOR, c));
        let call_params = CALLS
            .iter()
            .filter_map(|shape| {
                let variant = md
                    .pallet_by_name(shape.pallet)?
                    .call_variant_by_name(shape.name)?;
                let params = variant
                    .fields
                    .iter()
                    .map(|f| f.name.clone().unwrap_or_default())
                    .collect();
                Some((key(shape.pallet, shape.name), params))
            })
            .collect();
        let storage = STORAGE
            .iter()
            .filter(|s| {
                md.pallet_by_name(s.pallet)
                    .and_then(|p| p.storage())
                    .and_then(|st| st.entry_by_name(s.name))
                    .is_some()
            })
            .map(|s| key(s.pallet, s.name))
            .collect();
        let runtime_apis = RUNTIME_APIS
            .iter()
            .filter(|(api, method)| {
                md.runtime_api_trait_by_name(api)
                    .and_then(|t| t.method_by_name(method))
                    .is_some()
            })
            .map(|(api, method)| key(api, method))
            .collect();
        Ok(RuntimeShapes {
            weights,
            commit,
            call_params,
            storage,
            runtime_apis,
        })
    }

    /// The live parameter names of `shape`, or a metadata error when the runtime lacks the call.
    pub fn params(&self, shape: &CallShape) -> Result<&[String], ChainError> {
        self.call_params
            .get(&key(shape.pallet, shape.name))
            .map(Vec::as_slice)
            .ok_or_else(|| {
                ChainError::Metadata(format!(
                    "the runtime has no {}.{}",
                    shape.pallet, shape.name
                ))
            })
    }

    /// Whether the runtime has the storage item `pallet.name` (of [`STORAGE`]).
    pub fn has_storage(&self, pallet: &str, name: &str) -> bool {
        self.storage.contains(&key(pallet, name))
    }
}

fn key(a: &str, b: &str) -> String {
    format!("{a}.{b}")
}

impl Subtensor {
    /// The connected runtime's shapes, read from its metadata on the first use of a connection.
    pub async fn runtime_shapes(&self) -> Result<Arc<RuntimeShapes>, ChainError> {
        self.with_retry("runtime shapes", |c| async move {
            c.shapes
                .get_or_try_init(|| async {
                    let at = c
                        .api
                        .at_current_block()
                        .await
                        .map_err(|e| crate::classify::classify("metadata", &e))?;
                    RuntimeShapes::from_metadata(at.metadata_ref()).map(Arc::new)
                })
                .await
                .cloned()
        })
        .await
    }
}

//! Transactions: sign, check with the pool, submit and watch until inclusion, then read the
//! extrinsic's events (a failed dispatch becomes [`ChainError::Dispatch`]). Also the two
//! neuron transactions that are not weights: `burned_register` and `serve_axon`.
//!
//! [`Subtensor::submit`] is public so that other crates (the local chain's admin helpers) can send
//! any [`Call`] without this crate knowing it.

use std::net::IpAddr;

use subxt::dynamic::{self, Value};
use subxt::error::DispatchError;
use subxt::tx::ValidationResult;
use subxt::utils::AccountId32;
use tracing::{debug, info, warn};

use crate::SubtensorConfig;
use crate::call::{Call, account_value};
use crate::classify::{classify, decode_error};
use crate::connection::{Conn, Subtensor, timed};
use crate::error::ChainError;
use crate::ip::{ip_to_int, validate_axon_endpoint};
use crate::rejection::Rejection;
use crate::shapes::{BURNED_REGISTER, SERVE_AXON, call_of};
use crate::signer::{ChainSigner, SubxtSigner};

/// What a finished extrinsic reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxOutcome {
    /// Hash of the block that included it.
    pub block_hash: String,
    /// `Pallet::Event` names it emitted, in order.
    pub events: Vec<String>,
}

/// Result of [`Subtensor::serve_axon`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeOutcome {
    /// The chain already had this endpoint; nothing was sent.
    AlreadyCurrent,
    /// `serve_axon` was submitted and included.
    Served,
}

/// `SubtensorModule` errors by pallet and variant, with their hint.
fn dispatch_to_error(err: &DispatchError) -> ChainError {
    match err {
        DispatchError::Module(m) => match m.details() {
            Ok(d) => ChainError::dispatch(d.pallet.name(), d.variant.name.as_str()),
            Err(_) => ChainError::Dispatch {
                pallet: format!("pallet#{}", m.pallet_index()),
                name: format!("error#{}", m.error_index()),
                hint: None,
            },
        },
        other => ChainError::Dispatch {
            pallet: "System".into(),
            name: format!("{other}"),
            hint: None,
        },
    }
}

impl Subtensor {
    /// Signs `call` with `signer`, submits it and waits for inclusion; turns `ExtrinsicFailed`
    /// and a failed `Sudid` into [`ChainError::Dispatch`]. Only the connection set-up is
    /// retried: a submitted transaction is never sent twice. `what` names it in logs and errors.
    ///
    /// A transaction the block builder turned away as `exhaustsResources` (the block was full) was
    /// never included; it is signed again and resent, a few times.
    pub async fn submit(
        &self,
        what: &str,
        signer: &dyn ChainSigner,
        call: Call,
    ) -> Result<TxOutcome, ChainError> {
        const FULL_BLOCK_RETRIES: u32 = 3;
        let mut attempt = 0;
        loop {
            match self.submit_once(what, signer, call.clone()).await {
                Err(ChainError::Rejected(r))
                    if r.is_block_full() && attempt < FULL_BLOCK_RETRIES =>
                {
                    attempt += 1;
                    warn!(%what, attempt, "block full (exhaustsResources); resending in a later block");
                    tokio::time::sleep(self.retry.delay(attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn submit_once(
        &self,
        what: &str,
        signer: &dyn ChainSigner,
        call: Call,
    ) -> Result<TxOutcome, ChainError> {
        let conn = self.with_retry(what, |c| async move { Ok(c) }).await?;
        let fut = async {
            let at = conn
                .api
                .at_current_block()
                .await
                .map_err(|e| classify(what, &e))?;
            let metadata = at.metadata();
            let payload = dynamic::tx(call.pallet, call.name, call.fields);
            // The pool's next nonce (includes pending transactions), not the nonce at `at`:
            // with blocks built back to back, `at` can trail the block our last transaction went in.
            let who = AccountId32(signer.public_key()).to_string();
            let nonce = conn
                .rpc
                .request::<u64>("system_accountNextIndex", subxt::rpcs::rpc_params![who])
                .await
                .map_err(|e| classify(what, &e))?;
            let params = subxt::config::DefaultExtrinsicParamsBuilder::<SubtensorConfig>::new()
                .nonce(nonce)
                .build();
            let mut txc = at.transactions();
            let tx = txc
                .create_signed(&payload, &SubxtSigner(signer), params)
                .await
                .map_err(|e| classify(what, &e))?;
            // Validate first: the pool's verdict (bad proof, subtensor's custom codes) comes back
            // typed here, while the watch stream only says "invalid".
            match tx.validate().await.map_err(|e| classify(what, &e))? {
                ValidationResult::Valid(_) => {}
                ValidationResult::Invalid(e) => {
                    return Err(ChainError::Rejected(Rejection::Invalid((&e).into())));
                }
                ValidationResult::Unknown(e) => {
                    return Err(ChainError::Rejected(Rejection::Unknown((&e).into())));
                }
            }
            // Watch through the raw subscription: chopsticks reports apply-time failures as
            // `{"invalid": {...}}`, which subxt's typed status cannot deserialize.
            let tx_hash = tx.hash();
            let mut params = subxt::rpcs::client::RpcParams::new();
            params
                .push(format!("0x{}", hex::encode(tx.encoded())))
                .map_err(|e| ChainError::InvalidInput(e.to_string()))?;
            let mut sub = conn
                .rpc
                .subscribe::<serde_json::Value>(
                    "author_submitAndWatchExtrinsic",
                    params,
                    "author_unwatchExtrinsic",
                )
                .await
                .map_err(|e| classify(what, &e))?;
            while let Some(status) = sub.next().await {
                let status = status.map_err(|e| classify(what, &e))?;
                if let Some(rejection) = Rejection::from_status(&status) {
                    return Err(ChainError::Rejected(rejection));
                }
                let block = ["inBlock", "finalized"]
                    .iter()
                    .find_map(|k| status.get(*k).and_then(|h| h.as_str()).map(str::to_string));
                let Some(block_hash) = block else {
                    continue;
                };
                let names = included_events(&conn, &block_hash, tx_hash, &metadata).await?;
                debug!(%what, %block_hash, "extrinsic included");
                return Ok(TxOutcome {
                    block_hash,
                    events: names,
                });
            }
            Err(ChainError::Connection {
                endpoint: String::new(),
                reason: "connection lost after submitting, before inclusion was seen (the \
                         transaction was not re-sent; it may still be included)"
                    .into(),
            })
        };
        let result = timed(what, self.retry.request_timeout, fut)
            .await
            .map_err(|e| e.at_endpoint(self.endpoint()));
        if matches!(result, Err(ref e) if e.is_connection()) {
            self.drop_conn().await;
        }
        result
    }

    /// `burned_register(netuid, hotkey)`, signed by the coldkey that pays the burn.
    pub async fn burned_register(
        &self,
        coldkey: &dyn ChainSigner,
        netuid: u16,
        hotkey: [u8; 32],
    ) -> Result<TxOutcome, ChainError> {
        info!(netuid, "burned_register");
        let shapes = self.runtime_shapes().await?;
        let call = call_of(
            &BURNED_REGISTER,
            shapes.params(&BURNED_REGISTER)?,
            vec![Value::u128(netuid.into()), account_value(hotkey)],
        )?;
        self.submit("burned_register", coldkey, call).await
    }

    /// `serve_axon`, signed by the hotkey; skipped when the chain already has this endpoint.
    pub async fn serve_axon(
        &self,
        hotkey: &dyn ChainSigner,
        netuid: u16,
        ip: IpAddr,
        port: u16,
        version: u32,
    ) -> Result<ServeOutcome, ChainError> {
        const PROTOCOL: u8 = 4;
        validate_axon_endpoint(ip, port)?;
        let (ip_int, ip_type) = ip_to_int(ip);
        if let Some(current) = self.axon_of(netuid, hotkey.public_key()).await?
            && current.ip == ip_int
            && current.port == port
            && current.ip_type == ip_type
            && current.version == version
            && current.protocol == PROTOCOL
        {
            debug!(netuid, %ip, port, "axon already current on chain");
            return Ok(ServeOutcome::AlreadyCurrent);
        }
        info!(netuid, %ip, port, version, "serve_axon");
        let fields = [
            u128::from(netuid),
            u128::from(version),
            ip_int,
            u128::from(port),
            u128::from(ip_type),
            u128::from(PROTOCOL),
            0,
            0,
        ];
        let shapes = self.runtime_shapes().await?;
        let call = call_of(
            &SERVE_AXON,
            shapes.params(&SERVE_AXON)?,
            fields.into_iter().map(Value::u128).collect(),
        )?;
        self.submit("serve_axon", hotkey, call).await?;
        Ok(ServeOutcome::Served)
    }
}

/// The events of our extrinsic in `block_hash`; a failed dispatch becomes an error.
async fn included_events(
    conn: &Conn,
    block_hash: &str,
    tx_hash: subxt::utils::H256,
    metadata: &subxt::metadata::ArcMetadata,
) -> Result<Vec<String>, ChainError> {
    let hash: subxt::utils::H256 = block_hash
        .parse()
        .map_err(|_| decode_error("block hash", block_hash))?;
    let at = conn
        .api
        .at_block(hash)
        .await
        .map_err(|e| classify("events", &e))?;
    let exts = at
        .extrinsics()
        .fetch()
        .await
        .map_err(|e| classify("block body", &e))?;
    let index = exts
        .iter()
        .filter_map(Result::ok)
        .find(|e| e.hash() == tx_hash)
        .map(|e| e.index())
        .ok_or_else(|| {
            decode_error(
                "block body",
                format!("transaction {tx_hash:?} not found in block {block_hash}"),
            )
        })?;
    let events = at
        .events()
        .fetch()
        .await
        .map_err(|e| classify("events", &e))?;
    let mut names = Vec::new();
    for ev in events.iter() {
        let ev = ev.map_err(|e| decode_error("event", e))?;
        if !matches!(ev.phase(), subxt::events::Phase::ApplyExtrinsic(i) if i as usize == index) {
            continue;
        }
        names.push(format!("{}::{}", ev.pallet_name(), ev.event_name()));
        let failed = match (ev.pallet_name(), ev.event_name()) {
            ("System", "ExtrinsicFailed") => Some(ev.field_bytes()),
            // Sudid { sudo_result: Result<(), DispatchError> }: byte 1 = Err.
            ("Sudo", "Sudid") if ev.field_bytes().first() == Some(&1) => ev.field_bytes().get(1..),
            _ => None,
        };
        if let Some(bytes) = failed {
            let err = DispatchError::decode_from(bytes, metadata.clone())
                .map_err(|e| decode_error("dispatch error", e))?;
            return Err(dispatch_to_error(&err));
        }
    }
    Ok(names)
}

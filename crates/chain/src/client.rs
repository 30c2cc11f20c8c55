//! The connection to a subtensor node: reads, signed writes, reconnect and retry.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use subxt::OnlineClient;
use subxt::config::substrate::SpecVersionForRange;
use subxt::dynamic::{self, Value};
use subxt::error::DispatchError;
use subxt::rpcs::RpcClient;
use subxt::tx::{TransactionInvalid, ValidationResult};
use subxt::utils::AccountId32;
use tokio::sync::Mutex;
use tracing::{debug, info, warn};

use crate::SubtensorConfig;
use crate::call::{Call, SUBTENSOR, account_value};
use crate::error::ChainError;
use crate::ip::{ip_to_int, validate_axon_endpoint};
use crate::signer::{ChainSigner, SubxtSigner};
use crate::types::{AxonInfo, Hyperparameters, Metagraph, Neuron, RawNeuronLite};
use crate::weights::normalize_for_emit;

/// How hard to try before giving up.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts for one operation (connection errors only; dispatch errors are not retried).
    pub attempts: u32,
    /// First back-off delay; doubles up to `max_delay`.
    pub base_delay: Duration,
    /// Largest back-off delay.
    pub max_delay: Duration,
    /// Limit for one request (and for waiting on a transaction's inclusion).
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(16));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// One live connection: subxt client plus the raw RPC client it runs on.
#[derive(Clone)]
struct Conn {
    api: OnlineClient<SubtensorConfig>,
    rpc: RpcClient,
    /// The runtime version the client is pinned to, and when it was last confirmed.
    runtime: RuntimeVersion,
    checked: Instant,
}

/// How often a connection confirms that the runtime has not been upgraded. Between checks the
/// client trusts the pinned version, which saves a `Core_version` runtime call on every read
/// (226 ms each on chopsticks); after an upgrade, transactions signed in that window are refused
/// by the pool and retried by their callers.
const RUNTIME_RECHECK: Duration = Duration::from_secs(30);

/// `specVersion` and `transactionVersion` of `state_getRuntimeVersion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuntimeVersion {
    spec_version: u32,
    transaction_version: u32,
}

/// A subtensor client. Cheap to clone; reconnects by itself after a dropped connection.
#[derive(Clone)]
pub struct Subtensor {
    endpoint: Arc<str>,
    retry: RetryPolicy,
    conn: Arc<Mutex<Option<Conn>>>,
}

impl std::fmt::Debug for Subtensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subtensor")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// What a finished extrinsic reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxOutcome {
    /// Hash of the block that included it.
    pub block_hash: String,
    /// `Pallet::Event` names it emitted, in order.
    pub events: Vec<String>,
}

/// Result of [`Subtensor::set_weights`] and [`Subtensor::commit_timelocked_weights`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightsSubmission {
    /// Uids sent.
    pub uids: Vec<u16>,
    /// Normalized u16 values sent.
    pub values: Vec<u16>,
    /// The version key used.
    pub version_key: u64,
    /// `Some(drand round)` when the weights went as a timelocked commit (commit-reveal on): the
    /// chain reveals them by itself once that quicknet round's pulse is on chain.
    pub reveal_round: Option<u64>,
}

/// Seconds per block assumed when converting the reveal block to a drand round (the SDK's
/// default; finney's block time).
const BLOCK_TIME_SECS: f64 = 12.0;

/// `CommitRevealWeightsVersion` where the runtime does not store it.
const DEFAULT_COMMIT_REVEAL_VERSION: u16 = 4;

/// What [`Subtensor::commit_timelocked_weights`] reads from the runtime.
struct CommitInputs {
    /// `commit_timelocked_weights` or `commit_crv3_weights`.
    call: &'static str,
    /// Whether the payload carries the hotkey (runtimes with `commit_timelocked_weights`).
    with_hotkey: bool,
    epochs: audiosubnet_timelock::EpochModel,
    reveal_period_epochs: u64,
    /// The version argument of `commit_timelocked_weights`; `None` for `commit_crv3_weights`.
    commit_reveal_version: Option<u16>,
}

/// Result of [`Subtensor::serve_axon`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeOutcome {
    /// The chain already had this endpoint; nothing was sent.
    AlreadyCurrent,
    /// `serve_axon` was submitted and included.
    Served,
}

/// Drops the "RPC error: client error: " layers subxt and jsonrpsee stack on a transport error.
fn tidy_reason(text: &str) -> String {
    let mut s = text.trim();
    while let Some(rest) = ["RPC error: ", "client error: "]
        .iter()
        .find_map(|p| s.strip_prefix(p))
    {
        s = rest;
    }
    s.to_string()
}

fn classify(
    what: &str,
    endpoint: &str,
    err: impl std::fmt::Display + std::fmt::Debug,
) -> ChainError {
    let text = format!("{err}");
    let debug = format!("{err:?}");
    let lower = format!("{text} {debug}").to_lowercase();
    // jsonrpsee reports a dead socket as "restart required"/"connection closed"; subxt wraps it.
    let transport = [
        "restart",
        "connection",
        "closed",
        "disconnected",
        "transport",
        "background task",
        "broken pipe",
        "reset by peer",
        "refused",
        "networking",
        "socket",
    ]
    .iter()
    .any(|k| lower.contains(k));
    if transport {
        ChainError::Connection {
            endpoint: endpoint.into(),
            reason: tidy_reason(&text),
        }
    } else if lower.contains("invalid transaction")
        || lower.contains("badproof")
        || lower.contains("bad proof")
        || lower.contains("\"invalid\"")
        || lower.contains("transaction is outdated")
        || lower.contains("priority is too low")
    {
        ChainError::Rejected(explain_rejection(&text))
    } else {
        ChainError::Rpc {
            what: what.into(),
            reason: text,
        }
    }
}

/// Names a pool rejection, including subtensor's custom validity codes.
fn explain_invalid(e: &TransactionInvalid) -> String {
    match e {
        TransactionInvalid::Custom(code) => match CUSTOM.get(usize::from(*code)) {
            Some(name) => format!("{name} (custom validity code {code})"),
            None => format!("custom validity code {code}"),
        },
        TransactionInvalid::BadProof => {
            "bad signature (wrong key, genesis hash or spec version?)".into()
        }
        TransactionInvalid::Payment => "the signer cannot pay the transaction fee".into(),
        TransactionInvalid::Stale => {
            "stale nonce (a transaction from this key was just included)".into()
        }
        TransactionInvalid::Future => "nonce from the future".into(),
        other => format!("{other:?}"),
    }
}

/// Subtensor's `CustomTransactionError` codes, by value.
const CUSTOM: [&str; 14] = [
    "ColdkeyInSwapSchedule",
    "StakeAmountTooLow",
    "BalanceTooLow",
    "SubnetDoesntExist",
    "HotkeyAccountDoesntExist",
    "NotEnoughStakeToWithdraw",
    "RateLimitExceeded",
    "InsufficientLiquidity",
    "SlippageTooHigh",
    "TransferDisallowed",
    "HotKeyNotRegisteredInNetwork",
    "InvalidIpAddress",
    "ServingRateLimitExceeded",
    "InvalidPort",
];

/// Adds the names of subtensor's custom validity codes (`SubtensorTransactionExtension`).
fn explain_rejection(text: &str) -> String {
    let lower = text.to_lowercase();
    if let Some(pos) = lower.find("custom") {
        let digits: String = lower[pos..]
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(code) = digits.parse::<usize>()
            && let Some(name) = CUSTOM.get(code)
        {
            return format!("{name} (custom validity code {code}; {text})");
        }
    }
    if lower.contains("badproof") || lower.contains("bad proof") {
        return format!("bad signature (wrong key, genesis or spec version?): {text}");
    }
    text.to_string()
}

/// A short "what to do" for the dispatch errors neurons hit most.
fn hint_for(name: &str) -> Option<String> {
    let h = match name {
        "HotKeyNotRegisteredInSubNet" | "HotKeyNotRegisteredInNetwork" => {
            "the hotkey is not registered on this subnet; run `audiosubnet register` first"
        }
        "HotKeyAlreadyRegisteredInSubNet" => "the hotkey already has a uid on this subnet",
        "NeuronNoValidatorPermit" => {
            "the hotkey has no validator permit (needs stake and an epoch to pass); only self-weights are allowed"
        }
        "CommitRevealEnabled" => {
            "the subnet has commit-reveal on; plain set_weights is refused (use commit_timelocked_weights)"
        }
        "CommitRevealDisabled" => {
            "the subnet has commit-reveal off; weights go with plain set_weights"
        }
        "TooManyUnrevealedCommits" => {
            "the hotkey already has 10 unrevealed commits in this epoch; wait for the reveal"
        }
        "IncorrectCommitRevealVersion" => {
            "commit_reveal_version differs from the chain's CommitRevealWeightsVersion"
        }
        "InvalidRevealRound" => "the reveal round is not ahead of the chain's last drand pulse",
        "IncorrectWeightVersionKey" => "version_key is below the subnet's WeightsVersionKey",
        "WeightVecLengthIsLow" => "fewer weights than the subnet's MinAllowedWeights",
        "MaxWeightExceeded" => "a weight is above the subnet's MaxWeightsLimit",
        "UidVecContainInvalidOne" | "UidsLengthExceedUidsInSubNet" => {
            "a uid does not exist on the subnet"
        }
        "DuplicateUids" => "the same uid appears twice",
        "ServingRateLimitExceeded" => "serve_axon was called too recently (ServingRateLimit)",
        "InvalidIpAddress" => {
            "the chain rejects this IP (127.0.0.1, ::1 and broadcast are not allowed)"
        }
        "InvalidPort" => "port 0 is not allowed",
        "TooManyRegistrationsThisBlock" | "TooManyRegistrationsThisInterval" => {
            "registrations are rate limited; retry in a later block/interval"
        }
        "NotEnoughBalanceToStake" | "NotEnoughBalanceToPayBurn" | "BalanceWithdrawalError" => {
            "the coldkey balance is too low"
        }
        "SubNetworkDoesNotExist" | "SubnetNotExists" => "no subnet with this netuid",
        "NotEnoughStakeToSetWeights" => "the hotkey's stake is below the subnet's stake threshold",
        "SubtokenDisabled" => "the subnet has not been started (start_call)",
        _ => return None,
    };
    Some(h.into())
}

fn dispatch_to_error(err: &DispatchError) -> ChainError {
    match err {
        DispatchError::Module(m) => match m.details() {
            Ok(d) => {
                let name = d.variant.name.clone();
                ChainError::Dispatch {
                    pallet: d.pallet.name().to_string(),
                    hint: hint_for(&name),
                    name,
                }
            }
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

/// `state_getRuntimeVersion` at `at` (the best block when `None`).
async fn runtime_version(
    rpc: &RpcClient,
    endpoint: &str,
    at: Option<&str>,
) -> Result<RuntimeVersion, ChainError> {
    rpc.request("state_getRuntimeVersion", subxt::rpcs::rpc_params![at])
        .await
        .map_err(|e| classify("runtime version", endpoint, e))
}

impl Subtensor {
    /// Connects to `endpoint` (ws:// or wss://), retrying with back-off.
    pub async fn connect(endpoint: &str) -> Result<Self, ChainError> {
        Self::connect_with(endpoint, RetryPolicy::default()).await
    }

    /// Connects with an explicit retry policy.
    pub async fn connect_with(endpoint: &str, retry: RetryPolicy) -> Result<Self, ChainError> {
        let client = Subtensor {
            endpoint: endpoint.into(),
            retry,
            conn: Arc::new(Mutex::new(None)),
        };
        client.with_retry("connect", |_| async { Ok(()) }).await?;
        Ok(client)
    }

    /// The websocket URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    async fn open(&self) -> Result<Conn, ChainError> {
        let ep = self.endpoint.to_string();
        let fut = async {
            let rpc =
                RpcClient::from_insecure_url(&ep)
                    .await
                    .map_err(|e| ChainError::Connection {
                        endpoint: ep.clone(),
                        reason: tidy_reason(&e.to_string()),
                    })?;
            // Pin the runtime version from the finalized head on: subxt otherwise asks the
            // runtime for it at every block it reads.
            let head: String = rpc
                .request("chain_getFinalizedHead", subxt::rpcs::rpc_params![])
                .await
                .map_err(|e| classify("connect", &ep, e))?;
            let header: serde_json::Value = rpc
                .request("chain_getHeader", subxt::rpcs::rpc_params![&head])
                .await
                .map_err(|e| classify("connect", &ep, e))?;
            let number = header["number"]
                .as_str()
                .and_then(|n| u64::from_str_radix(n.trim_start_matches("0x"), 16).ok())
                .ok_or_else(|| ChainError::Decode {
                    what: "block header".into(),
                    reason: format!("no block number in {header}"),
                })?;
            let runtime = runtime_version(&rpc, &ep, Some(&head)).await?;
            let config = SubtensorConfig::builder()
                .set_spec_version_for_block_ranges([SpecVersionForRange {
                    block_range: number..u64::MAX,
                    spec_version: runtime.spec_version,
                    transaction_version: runtime.transaction_version,
                }])
                .build();
            // The legacy backend only needs plain Substrate RPCs, which every node and chopsticks serve.
            let backend = subxt::backend::LegacyBackend::builder().build(rpc.clone());
            let api = OnlineClient::<SubtensorConfig>::from_backend_with_config(
                config,
                Arc::new(backend),
            )
            .await
            .map_err(|e| classify("connect", &ep, e))?;
            Ok::<_, ChainError>(Conn {
                api,
                rpc,
                runtime,
                checked: Instant::now(),
            })
        };
        match tokio::time::timeout(self.retry.request_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(ChainError::Timeout {
                what: "connect".into(),
                secs: self.retry.request_timeout.as_secs(),
            }),
        }
    }

    async fn conn(&self) -> Result<Conn, ChainError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_mut() {
            if c.checked.elapsed() < RUNTIME_RECHECK {
                return Ok(c.clone());
            }
            let now = runtime_version(&c.rpc, &self.endpoint, None).await?;
            if now == c.runtime {
                c.checked = Instant::now();
                return Ok(c.clone());
            }
            info!(
                from = c.runtime.spec_version,
                to = now.spec_version,
                "runtime upgraded; reconnecting"
            );
        }
        let c = self.open().await?;
        info!(endpoint = %self.endpoint, spec_version = c.runtime.spec_version, "connected to subtensor");
        *guard = Some(c.clone());
        Ok(c)
    }

    async fn drop_conn(&self) {
        *self.conn.lock().await = None;
    }

    /// Runs `op` on a live connection; on connection errors drops it, backs off and retries.
    async fn with_retry<T, F, Fut>(&self, what: &str, op: F) -> Result<T, ChainError>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = Result<T, ChainError>>,
    {
        let mut attempt = 0;
        loop {
            let result = match self.conn().await {
                Ok(c) => match tokio::time::timeout(self.retry.request_timeout, op(c)).await {
                    Ok(r) => r,
                    Err(_) => Err(ChainError::Timeout {
                        what: what.into(),
                        secs: self.retry.request_timeout.as_secs(),
                    }),
                },
                Err(e) => Err(e),
            };
            match result {
                Err(e) if e.is_connection() => {
                    self.drop_conn().await;
                    attempt += 1;
                    if attempt >= self.retry.attempts {
                        return Err(e);
                    }
                    let delay = self.retry.delay(attempt - 1);
                    warn!(%what, attempt, ?delay, error = %e, "chain connection problem; retrying");
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    // ---------------------------------------------------------------- reads

    /// The current (finalized) block number.
    pub async fn current_block(&self) -> Result<u64, ChainError> {
        let ep = self.endpoint.clone();
        self.with_retry("current_block", |c| {
            let ep = ep.clone();
            async move {
                let at = c
                    .api
                    .at_current_block()
                    .await
                    .map_err(|e| classify("current_block", &ep, e))?;
                Ok(at.block_number())
            }
        })
        .await
    }

    /// The runtime's spec version at the current block.
    pub async fn spec_version(&self) -> Result<u32, ChainError> {
        let ep = self.endpoint.clone();
        self.with_retry("spec_version", |c| {
            let ep = ep.clone();
            async move {
                let at = c
                    .api
                    .at_current_block()
                    .await
                    .map_err(|e| classify("spec_version", &ep, e))?;
                Ok(at.spec_version())
            }
        })
        .await
    }

    /// Reads a `SubtensorModule` storage value keyed by `netuid` (default value when absent).
    async fn netuid_storage<V>(&self, entry: &'static str, netuid: u16) -> Result<V, ChainError>
    where
        V: scale_decode::DecodeAsType + Send + 'static,
    {
        let ep = self.endpoint.clone();
        self.with_retry(entry, |c| {
            let ep = ep.clone();
            async move {
                let at = c
                    .api
                    .at_current_block()
                    .await
                    .map_err(|e| classify(entry, &ep, e))?;
                let addr = dynamic::storage::<(u16,), V>(SUBTENSOR, entry);
                let v = at
                    .storage()
                    .fetch(addr, (netuid,))
                    .await
                    .map_err(|e| classify(entry, &ep, e))?;
                v.decode().map_err(|e| ChainError::Decode {
                    what: entry.into(),
                    reason: e.to_string(),
                })
            }
        })
        .await
    }

    /// Whether a subnet exists.
    pub async fn subnet_exists(&self, netuid: u16) -> Result<bool, ChainError> {
        self.netuid_storage::<bool>("NetworksAdded", netuid).await
    }

    /// Number of neurons on a subnet.
    pub async fn subnet_n(&self, netuid: u16) -> Result<u16, ChainError> {
        self.netuid_storage::<u16>("SubnetworkN", netuid).await
    }

    /// The hyperparameters neurons need (storage reads).
    pub async fn hyperparameters(&self, netuid: u16) -> Result<Hyperparameters, ChainError> {
        Ok(Hyperparameters {
            tempo: self.netuid_storage("Tempo", netuid).await?,
            weights_rate_limit: self.netuid_storage("WeightsSetRateLimit", netuid).await?,
            min_allowed_weights: self.netuid_storage("MinAllowedWeights", netuid).await?,
            max_weight_limit: self.netuid_storage("MaxWeightsLimit", netuid).await?,
            weights_version_key: self.netuid_storage("WeightsVersionKey", netuid).await?,
            commit_reveal_enabled: self
                .netuid_storage("CommitRevealWeightsEnabled", netuid)
                .await?,
        })
    }

    /// The uid of `hotkey` on `netuid` (storage `Uids`), if registered.
    pub async fn uid_of(&self, netuid: u16, hotkey: [u8; 32]) -> Result<Option<u16>, ChainError> {
        let ep = self.endpoint.clone();
        self.with_retry("Uids", |c| {
            let ep = ep.clone();
            async move {
                let at = c
                    .api
                    .at_current_block()
                    .await
                    .map_err(|e| classify("Uids", &ep, e))?;
                let addr = dynamic::storage::<(u16, AccountId32), u16>(SUBTENSOR, "Uids");
                let v = at
                    .storage()
                    .try_fetch(addr, (netuid, AccountId32(hotkey)))
                    .await
                    .map_err(|e| classify("Uids", &ep, e))?;
                v.map(|v| v.decode())
                    .transpose()
                    .map_err(|e| ChainError::Decode {
                        what: "Uids".into(),
                        reason: e.to_string(),
                    })
            }
        })
        .await
    }

    /// The axon a hotkey has on chain for `netuid` (storage `Axons`), if any.
    pub async fn axon_of(
        &self,
        netuid: u16,
        hotkey: [u8; 32],
    ) -> Result<Option<AxonInfo>, ChainError> {
        let ep = self.endpoint.clone();
        self.with_retry("Axons", |c| {
            let ep = ep.clone();
            async move {
                let at = c
                    .api
                    .at_current_block()
                    .await
                    .map_err(|e| classify("Axons", &ep, e))?;
                let addr = dynamic::storage::<(u16, AccountId32), AxonInfo>(SUBTENSOR, "Axons");
                let v = at
                    .storage()
                    .try_fetch(addr, (netuid, AccountId32(hotkey)))
                    .await
                    .map_err(|e| classify("Axons", &ep, e))?;
                v.map(|v| v.decode())
                    .transpose()
                    .map_err(|e| ChainError::Decode {
                        what: "Axons".into(),
                        reason: e.to_string(),
                    })
            }
        })
        .await
    }

    /// The weights a uid has set on a subnet (storage `Weights`), as `(uid, u16 value)` pairs.
    pub async fn weights_of(&self, netuid: u16, uid: u16) -> Result<Vec<(u16, u16)>, ChainError> {
        let ep = self.endpoint.clone();
        self.with_retry("Weights", |c| {
            let ep = ep.clone();
            async move {
                let at = c
                    .api
                    .at_current_block()
                    .await
                    .map_err(|e| classify("Weights", &ep, e))?;
                let addr = dynamic::storage::<(u16, u16), Vec<(u16, u16)>>(SUBTENSOR, "Weights");
                let v = at
                    .storage()
                    .fetch(addr, (netuid, uid))
                    .await
                    .map_err(|e| classify("Weights", &ep, e))?;
                v.decode().map_err(|e| ChainError::Decode {
                    what: "Weights".into(),
                    reason: e.to_string(),
                })
            }
        })
        .await
    }

    /// Free balance of an account in rao.
    pub async fn balance(&self, account: [u8; 32]) -> Result<u128, ChainError> {
        #[derive(scale_decode::DecodeAsType)]
        struct AccountInfo {
            data: AccountData,
        }
        #[derive(scale_decode::DecodeAsType)]
        struct AccountData {
            free: u128,
        }
        let ep = self.endpoint.clone();
        self.with_retry("System.Account", |c| {
            let ep = ep.clone();
            async move {
                let at = c
                    .api
                    .at_current_block()
                    .await
                    .map_err(|e| classify("balance", &ep, e))?;
                let addr = dynamic::storage::<(AccountId32,), AccountInfo>("System", "Account");
                let v = at
                    .storage()
                    .fetch(addr, (AccountId32(account),))
                    .await
                    .map_err(|e| classify("balance", &ep, e))?;
                let info = v.decode().map_err(|e| ChainError::Decode {
                    what: "System.Account".into(),
                    reason: e.to_string(),
                })?;
                Ok(info.data.free)
            }
        })
        .await
    }

    /// The subnet's neurons through the runtime API `NeuronInfoRuntimeApi_get_neurons_lite`.
    pub async fn metagraph(&self, netuid: u16) -> Result<Metagraph, ChainError> {
        let ep = self.endpoint.clone();
        self.with_retry("get_neurons_lite", |c| {
            let ep = ep.clone();
            async move {
                let at = c
                    .api
                    .at_current_block()
                    .await
                    .map_err(|e| classify("metagraph", &ep, e))?;
                let block = at.block_number();
                let payload = dynamic::runtime_api_call::<_, Vec<RawNeuronLite>>(
                    "NeuronInfoRuntimeApi",
                    "get_neurons_lite",
                    (netuid,),
                );
                let raw = at
                    .runtime_apis()
                    .call(payload)
                    .await
                    .map_err(|e| classify("get_neurons_lite", &ep, e))?;
                let mut neurons: Vec<Neuron> = raw.into_iter().map(Neuron::from).collect();
                neurons.sort_by_key(|n| n.uid);
                Ok(Metagraph {
                    netuid,
                    block,
                    neurons,
                })
            }
        })
        .await
    }

    // ---------------------------------------------------------------- writes

    /// Signs, submits and waits for inclusion; turns `ExtrinsicFailed` and failed `Sudid` into
    /// [`ChainError::Dispatch`]. Only the connection set-up is retried: a submitted transaction is
    /// never sent twice.
    ///
    /// A transaction the block builder turned away as `exhaustsResources` (the block was full) was
    /// never included; it is signed again and resent, a few times.
    async fn submit(
        &self,
        what: &str,
        signer: &dyn ChainSigner,
        call: Call,
    ) -> Result<TxOutcome, ChainError> {
        const FULL_BLOCK_RETRIES: u32 = 3;
        let mut attempt = 0;
        loop {
            match self.submit_once(what, signer, call.clone()).await {
                Err(ChainError::Rejected(m))
                    if m.contains("exhaustsResources") && attempt < FULL_BLOCK_RETRIES =>
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
        let ep = self.endpoint.to_string();
        let conn = self.with_retry(what, |c| async move { Ok(c) }).await?;
        let fut = async {
            let at = conn
                .api
                .at_current_block()
                .await
                .map_err(|e| classify(what, &ep, e))?;
            let metadata = at.metadata();
            let payload = dynamic::tx(call.pallet, call.name, call.fields);
            // The pool's next nonce (includes pending transactions), not the nonce at `at`:
            // with blocks built back to back, `at` can trail the block our last transaction went in.
            let who = AccountId32(signer.public_key()).to_string();
            let nonce = conn
                .rpc
                .request::<u64>("system_accountNextIndex", subxt::rpcs::rpc_params![who])
                .await
                .map_err(|e| classify(what, &ep, e))?;
            let params = subxt::config::DefaultExtrinsicParamsBuilder::<SubtensorConfig>::new()
                .nonce(nonce)
                .build();
            let mut txc = at.transactions();
            let tx = txc
                .create_signed(&payload, &SubxtSigner(signer), params)
                .await
                .map_err(|e| classify(what, &ep, e))?;
            // Validate first: the pool's verdict (bad proof, subtensor's custom codes) comes back
            // typed here, while the watch stream only says "invalid".
            match tx.validate().await.map_err(|e| classify(what, &ep, e))? {
                ValidationResult::Valid(_) => {}
                ValidationResult::Invalid(e) => {
                    return Err(ChainError::Rejected(explain_invalid(&e)));
                }
                ValidationResult::Unknown(e) => {
                    return Err(ChainError::Rejected(format!("validity unknown: {e:?}")));
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
                .map_err(|e| classify(what, &ep, e))?;
            while let Some(status) = sub.next().await {
                let status = status.map_err(|e| classify(what, &ep, e))?;
                let block = ["inBlock", "finalized"]
                    .iter()
                    .find_map(|k| status.get(*k).and_then(|h| h.as_str()).map(str::to_string));
                let Some(block_hash) = block else {
                    if ["invalid", "dropped", "usurped"]
                        .iter()
                        .any(|k| status.get(*k).is_some())
                        || status
                            .as_str()
                            .is_some_and(|s| s == "invalid" || s == "dropped")
                    {
                        return Err(ChainError::Rejected(explain_rejection(&status.to_string())));
                    }
                    continue;
                };
                let names = self
                    .included_events(&conn, &block_hash, tx_hash, &metadata)
                    .await?;
                debug!(%what, %block_hash, "extrinsic included");
                return Ok(TxOutcome {
                    block_hash,
                    events: names,
                });
            }
            Err(ChainError::Connection {
                endpoint: ep.clone(),
                reason: "connection lost after submitting, before inclusion was seen (the \
                         transaction was not re-sent; it may still be included)"
                    .into(),
            })
        };
        let result = match tokio::time::timeout(self.retry.request_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(ChainError::Timeout {
                what: what.into(),
                secs: self.retry.request_timeout.as_secs(),
            }),
        };
        if matches!(result, Err(ref e) if e.is_connection()) {
            self.drop_conn().await;
        }
        result
    }

    /// The events of our extrinsic in `block_hash`; a failed dispatch becomes an error.
    async fn included_events(
        &self,
        conn: &Conn,
        block_hash: &str,
        tx_hash: subxt::utils::H256,
        metadata: &subxt::metadata::ArcMetadata,
    ) -> Result<Vec<String>, ChainError> {
        let ep = self.endpoint.clone();
        let hash: subxt::utils::H256 = block_hash.parse().map_err(|_| ChainError::Decode {
            what: "block hash".into(),
            reason: block_hash.into(),
        })?;
        let at = conn
            .api
            .at_block(hash)
            .await
            .map_err(|e| classify("events", &ep, e))?;
        let exts = at
            .extrinsics()
            .fetch()
            .await
            .map_err(|e| classify("block body", &ep, e))?;
        let index = exts
            .iter()
            .filter_map(Result::ok)
            .find(|e| e.hash() == tx_hash)
            .map(|e| e.index())
            .ok_or_else(|| ChainError::Decode {
                what: "block body".into(),
                reason: format!("transaction {tx_hash:?} not found in block {block_hash}"),
            })?;
        let events = at
            .events()
            .fetch()
            .await
            .map_err(|e| classify("events", &ep, e))?;
        let mut names = Vec::new();
        for ev in events.iter() {
            let ev = ev.map_err(|e| ChainError::Decode {
                what: "event".into(),
                reason: e.to_string(),
            })?;
            if !matches!(ev.phase(), subxt::events::Phase::ApplyExtrinsic(i) if i as usize == index)
            {
                continue;
            }
            names.push(format!("{}::{}", ev.pallet_name(), ev.event_name()));
            let failed = match (ev.pallet_name(), ev.event_name()) {
                ("System", "ExtrinsicFailed") => Some(ev.field_bytes()),
                // Sudid { sudo_result: Result<(), DispatchError> }: byte 1 = Err.
                ("Sudo", "Sudid") if ev.field_bytes().first() == Some(&1) => {
                    ev.field_bytes().get(1..)
                }
                _ => None,
            };
            if let Some(bytes) = failed {
                let err = DispatchError::decode_from(bytes, metadata.clone()).map_err(|e| {
                    ChainError::Decode {
                        what: "dispatch error".into(),
                        reason: e.to_string(),
                    }
                })?;
                return Err(dispatch_to_error(&err));
            }
        }
        Ok(names)
    }

    /// Whether the runtime's metadata has `pallet::call`, and how many arguments it takes.
    async fn call_arity(&self, pallet: &str, call: &str) -> Result<Option<usize>, ChainError> {
        let ep = self.endpoint.clone();
        let (pallet, call) = (pallet.to_string(), call.to_string());
        self.with_retry("metadata", |c| {
            let ep = ep.clone();
            let (pallet, call) = (pallet.clone(), call.clone());
            async move {
                let at = c
                    .api
                    .at_current_block()
                    .await
                    .map_err(|e| classify("metadata", &ep, e))?;
                let md = at.metadata();
                Ok(md
                    .pallet_by_name(&pallet)
                    .and_then(|p| p.call_variant_by_name(&call).map(|v| v.fields.len())))
            }
        })
        .await
    }

    /// `burned_register(netuid, hotkey)`, signed by the coldkey that pays the burn.
    pub async fn burned_register(
        &self,
        coldkey: &dyn ChainSigner,
        netuid: u16,
        hotkey: [u8; 32],
    ) -> Result<TxOutcome, ChainError> {
        info!(netuid, "burned_register");
        self.submit(
            "burned_register",
            coldkey,
            Call::burned_register(netuid, hotkey),
        )
        .await
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
        self.submit(
            "serve_axon",
            hotkey,
            Call::new(
                SUBTENSOR,
                "serve_axon",
                vec![
                    Value::u128(netuid.into()),
                    Value::u128(version.into()),
                    Value::u128(ip_int),
                    Value::u128(port.into()),
                    Value::u128(ip_type.into()),
                    Value::u128(PROTOCOL.into()),
                    Value::u128(0),
                    Value::u128(0),
                ],
            ),
        )
        .await?;
        Ok(ServeOutcome::Served)
    }

    /// `set_weights`, signed by the hotkey. `weights` are raw scores: they are normalized the way
    /// the SDK does (max-upscale to u16, round half to even, zeros dropped). The version key sent
    /// is `max(version_key, on-chain WeightsVersionKey)`.
    ///
    /// Callers that want the subnet's min-allowed / max-limit policy applied first pass the
    /// output of [`crate::weights::process_weights_for_netuid`].
    pub async fn set_weights(
        &self,
        hotkey: &dyn ChainSigner,
        netuid: u16,
        uids: &[u16],
        weights: &[f32],
        version_key: u64,
    ) -> Result<WeightsSubmission, ChainError> {
        let (uids, values) = normalize_nonzero(uids, weights)?;
        let hp = self.hyperparameters(netuid).await?;
        if hp.commit_reveal_enabled {
            return self
                .commit_normalized(hotkey, netuid, uids, values, version_key, &hp)
                .await;
        }
        let version_key = version_key.max(hp.weights_version_key);
        info!(netuid, n = uids.len(), version_key, "set_weights");
        let fields = vec![
            Value::u128(netuid.into()),
            Value::unnamed_composite(uids.iter().map(|u| Value::u128((*u).into()))),
            Value::unnamed_composite(values.iter().map(|v| Value::u128((*v).into()))),
            Value::u128(version_key.into()),
        ];
        match self
            .submit(
                "set_weights",
                hotkey,
                Call::new(SUBTENSOR, "set_weights", fields),
            )
            .await
        {
            Ok(_) => Ok(WeightsSubmission {
                uids,
                values,
                version_key,
                reveal_round: None,
            }),
            Err(e) => Err(self.explain_rate_limit(e, netuid, hotkey, &hp).await),
        }
    }

    /// Adds how many blocks to wait to a weights rate-limit refusal; other errors pass through.
    async fn explain_rate_limit(
        &self,
        error: ChainError,
        netuid: u16,
        hotkey: &dyn ChainSigner,
        hp: &Hyperparameters,
    ) -> ChainError {
        match error {
            ChainError::Dispatch { pallet, name, .. }
                if name == "SettingWeightsTooFast" || name == "CommittingWeightsTooFast" =>
            {
                let hint = self
                    .rate_limit_hint(netuid, hotkey.public_key(), hp.weights_rate_limit)
                    .await;
                ChainError::Dispatch {
                    pallet,
                    name,
                    hint: Some(hint),
                }
            }
            other => other,
        }
    }

    /// Commit-reveal weights: the weights (normalized like [`Subtensor::set_weights`]) go
    /// timelock-encrypted to a drand quicknet round in the subnet's reveal epoch, and the chain
    /// reveals them by itself once that round's pulse is on chain (CR v3/v4, what the SDK does
    /// when `CommitRevealWeightsEnabled` is on; [`Subtensor::set_weights`] comes here by itself
    /// then). Signed by the hotkey.
    ///
    /// The call and payload follow the runtime: `commit_timelocked_weights(netuid, commit,
    /// reveal_round, CommitRevealWeightsVersion)` with the hotkey in the payload where the
    /// runtime has it, else `commit_crv3_weights(netuid, commit, reveal_round)` with the older
    /// payload. The reveal round uses the stateful epoch schedule (`SubnetEpochIndex`, ...) where
    /// the runtime stores it (bittensor-drand 2.x), else block-modulo epochs (1.x).
    pub async fn commit_timelocked_weights(
        &self,
        hotkey: &dyn ChainSigner,
        netuid: u16,
        uids: &[u16],
        weights: &[f32],
        version_key: u64,
    ) -> Result<WeightsSubmission, ChainError> {
        let (uids, values) = normalize_nonzero(uids, weights)?;
        let hp = self.hyperparameters(netuid).await?;
        self.commit_normalized(hotkey, netuid, uids, values, version_key, &hp)
            .await
    }

    async fn commit_normalized(
        &self,
        hotkey: &dyn ChainSigner,
        netuid: u16,
        uids: Vec<u16>,
        values: Vec<u16>,
        version_key: u64,
        hp: &Hyperparameters,
    ) -> Result<WeightsSubmission, ChainError> {
        let version_key = version_key.max(hp.weights_version_key);
        let inputs = self.commit_inputs(netuid).await?;
        let commit = audiosubnet_timelock::WeightsCommit {
            hotkey: inputs.with_hotkey.then(|| hotkey.public_key()),
            uids: uids.clone(),
            values: values.clone(),
            version_key,
            epochs: inputs.epochs,
            reveal_period_epochs: inputs.reveal_period_epochs,
            block_time: BLOCK_TIME_SECS,
        };
        let (ciphertext, reveal_round) = commit
            .encrypt()
            .map_err(|e| ChainError::InvalidInput(format!("timelocked commit: {e}")))?;
        let mut fields = vec![
            Value::u128(netuid.into()),
            Value::from_bytes(&ciphertext),
            Value::u128(reveal_round.into()),
        ];
        if let Some(v) = inputs.commit_reveal_version {
            fields.push(Value::u128(v.into()));
        }
        info!(
            netuid,
            n = uids.len(),
            version_key,
            reveal_round,
            call = inputs.call,
            "commit timelocked weights"
        );
        match self
            .submit(
                inputs.call,
                hotkey,
                Call::new(SUBTENSOR, inputs.call, fields),
            )
            .await
        {
            Ok(_) => Ok(WeightsSubmission {
                uids,
                values,
                version_key,
                reveal_round: Some(reveal_round),
            }),
            Err(e) => Err(self.explain_rate_limit(e, netuid, hotkey, hp).await),
        }
    }

    /// What a timelocked commit needs from the runtime, read at one block: the call, the payload
    /// shape, the epoch schedule and the reveal period.
    async fn commit_inputs(&self, netuid: u16) -> Result<CommitInputs, ChainError> {
        let ep = self.endpoint.clone();
        self.with_retry("commit inputs", |c| {
            let ep = ep.clone();
            async move {
                let what = "commit inputs";
                let at = c
                    .api
                    .at_current_block()
                    .await
                    .map_err(|e| classify(what, &ep, e))?;
                let md = at.metadata();
                let pallet = md.pallet_by_name(SUBTENSOR).ok_or_else(|| {
                    ChainError::Metadata("the runtime has no SubtensorModule".into())
                })?;
                let has_call = |name: &str| pallet.call_variant_by_name(name).is_some();
                let has_storage = |name: &str| {
                    pallet
                        .storage()
                        .and_then(|s| s.entry_by_name(name))
                        .is_some()
                };
                let (call, with_hotkey) = if has_call("commit_timelocked_weights") {
                    ("commit_timelocked_weights", true)
                } else if has_call("commit_crv3_weights") {
                    ("commit_crv3_weights", false)
                } else {
                    return Err(ChainError::Metadata(
                        "the runtime has neither commit_timelocked_weights nor commit_crv3_weights"
                            .into(),
                    ));
                };
                let stateful = ["SubnetEpochIndex", "LastEpochBlock", "PendingEpochAt"]
                    .iter()
                    .all(|s| has_storage(s));
                let has_reveal_period = has_storage("RevealPeriodEpochs");
                let has_version = has_storage("CommitRevealWeightsVersion");
                drop(md);

                let storage = at.storage();
                let read_u64 = |entry: &'static str| {
                    let storage = &storage;
                    let ep = ep.clone();
                    async move {
                        let addr = dynamic::storage::<(u16,), u64>(SUBTENSOR, entry);
                        storage
                            .fetch(addr, (netuid,))
                            .await
                            .map_err(|e| classify(entry, &ep, e))?
                            .decode()
                            .map_err(|e| ChainError::Decode {
                                what: entry.into(),
                                reason: e.to_string(),
                            })
                    }
                };
                let current_block = at.block_number();
                let tempo: u16 = {
                    let addr = dynamic::storage::<(u16,), u16>(SUBTENSOR, "Tempo");
                    storage
                        .fetch(addr, (netuid,))
                        .await
                        .map_err(|e| classify("Tempo", &ep, e))?
                        .decode()
                        .map_err(|e| ChainError::Decode {
                            what: "Tempo".into(),
                            reason: e.to_string(),
                        })?
                };
                let epochs = if stateful {
                    audiosubnet_timelock::EpochModel::Stateful(
                        audiosubnet_timelock::EpochSchedule {
                            last_epoch_block: read_u64("LastEpochBlock").await?,
                            pending_epoch_at: read_u64("PendingEpochAt").await?,
                            subnet_epoch_index: read_u64("SubnetEpochIndex").await?,
                            tempo,
                            blocks_since_last_step: read_u64("BlocksSinceLastStep").await?,
                            current_block,
                        },
                    )
                } else {
                    audiosubnet_timelock::EpochModel::Modulo {
                        tempo,
                        netuid,
                        current_block,
                    }
                };
                let reveal_period_epochs = if has_reveal_period {
                    read_u64("RevealPeriodEpochs").await?
                } else {
                    1
                };
                let commit_reveal_version = if !with_hotkey {
                    None
                } else if has_version {
                    let addr = dynamic::storage::<(), u16>(SUBTENSOR, "CommitRevealWeightsVersion");
                    Some(
                        storage
                            .fetch(addr, ())
                            .await
                            .map_err(|e| classify("CommitRevealWeightsVersion", &ep, e))?
                            .decode()
                            .map_err(|e| ChainError::Decode {
                                what: "CommitRevealWeightsVersion".into(),
                                reason: e.to_string(),
                            })?,
                    )
                } else {
                    Some(DEFAULT_COMMIT_REVEAL_VERSION)
                };
                Ok(CommitInputs {
                    call,
                    with_hotkey,
                    epochs,
                    reveal_period_epochs,
                    commit_reveal_version,
                })
            }
        })
        .await
    }

    /// The timelocked weight commits waiting on a subnet (mechanism 0), from whichever of
    /// `TimelockedWeightCommits`, `CRV3WeightCommitsV2` and `CRV3WeightCommits` the runtime has:
    /// `(epoch, hotkey, reveal_round)` for each.
    pub async fn timelocked_commits(
        &self,
        netuid: u16,
    ) -> Result<Vec<(u64, [u8; 32], u64)>, ChainError> {
        /// `(who, commit_block, commit, reveal_round)`.
        type WithBlock = Vec<(AccountId32, u64, Vec<u8>, u64)>;
        /// `(who, commit, reveal_round)`.
        type WithoutBlock = Vec<(AccountId32, Vec<u8>, u64)>;
        let ep = self.endpoint.clone();
        self.with_retry("weight commits", |c| {
            let ep = ep.clone();
            async move {
                let at = c
                    .api
                    .at_current_block()
                    .await
                    .map_err(|e| classify("weight commits", &ep, e))?;
                let md = at.metadata();
                let entries: Vec<&'static str> = [
                    "TimelockedWeightCommits",
                    "CRV3WeightCommitsV2",
                    "CRV3WeightCommits",
                ]
                .into_iter()
                .filter(|name| {
                    md.pallet_by_name(SUBTENSOR)
                        .and_then(|p| p.storage())
                        .and_then(|s| s.entry_by_name(name))
                        .is_some()
                })
                .collect();
                drop(md);
                let decode_err = |what: &str, e: &dyn std::fmt::Display| ChainError::Decode {
                    what: what.into(),
                    reason: e.to_string(),
                };
                let mut out = Vec::new();
                for entry in entries {
                    let addr =
                        dynamic::storage::<(u16, u64), subxt::dynamic::Value>(SUBTENSOR, entry);
                    let mut iter = at
                        .storage()
                        .iter(addr, (netuid,))
                        .await
                        .map_err(|e| classify(entry, &ep, e))?;
                    while let Some(kv) = iter.next().await {
                        let kv = kv.map_err(|e| classify(entry, &ep, e))?;
                        let (_, epoch) = kv
                            .key()
                            .and_then(|k| k.decode())
                            .map_err(|e| decode_err(entry, &e))?;
                        let value = kv.value();
                        if entry == "CRV3WeightCommits" {
                            let items: WithoutBlock =
                                value.decode_as().map_err(|e| decode_err(entry, &e))?;
                            out.extend(items.into_iter().map(|(who, _, r)| (epoch, who.0, r)));
                        } else {
                            let items: WithBlock =
                                value.decode_as().map_err(|e| decode_err(entry, &e))?;
                            out.extend(items.into_iter().map(|(who, _, _, r)| (epoch, who.0, r)));
                        }
                    }
                }
                Ok(out)
            }
        })
        .await
    }

    /// The SDK's `process_weights_for_netuid` with this subnet's live `MinAllowedWeights`,
    /// `MaxWeightsLimit` and size: what a validator passes to [`Subtensor::set_weights`].
    pub async fn process_weights(
        &self,
        netuid: u16,
        uids: &[u16],
        weights: &[f32],
    ) -> Result<(Vec<u16>, Vec<f32>), ChainError> {
        let hp = self.hyperparameters(netuid).await?;
        let n = self.subnet_n(netuid).await?;
        crate::weights::process_weights_for_netuid(
            uids,
            weights,
            n,
            hp.min_allowed_weights,
            hp.max_weight_limit,
        )
    }

    async fn rate_limit_hint(&self, netuid: u16, hotkey: [u8; 32], limit: u64) -> String {
        let last = async {
            let uid = self.uid_of(netuid, hotkey).await?;
            let last_update: Vec<u64> = self.netuid_storage("LastUpdate", netuid).await?;
            let now = self.current_block().await?;
            Ok::<_, ChainError>((
                uid.and_then(|u| last_update.get(usize::from(u)).copied()),
                now,
            ))
        };
        match last.await {
            Ok((Some(last), now)) => {
                let wait = (last + limit).saturating_sub(now).max(1);
                format!(
                    "WeightsRateLimit: wait {wait} blocks (rate limit {limit}, last update at block {last})"
                )
            }
            _ => format!("WeightsRateLimit: wait up to {limit} blocks"),
        }
    }

    /// `add_stake(hotkey, netuid, amount)`, signed by the coldkey.
    pub async fn add_stake(
        &self,
        coldkey: &dyn ChainSigner,
        hotkey: [u8; 32],
        netuid: u16,
        amount_rao: u64,
    ) -> Result<TxOutcome, ChainError> {
        info!(netuid, amount_rao, "add_stake");
        self.submit(
            "add_stake",
            coldkey,
            Call::add_stake(hotkey, netuid, amount_rao),
        )
        .await
    }

    /// `Balances::transfer_keep_alive`.
    pub async fn transfer(
        &self,
        from: &dyn ChainSigner,
        to: [u8; 32],
        amount_rao: u128,
    ) -> Result<TxOutcome, ChainError> {
        self.submit("transfer", from, Call::transfer(to, amount_rao))
            .await
    }

    /// `register_network`, signed by the owner's coldkey; returns the new netuid. Handles the
    /// spec-218 shape `(hotkey, mechid)` and the later `(hotkey)`.
    pub async fn register_network(
        &self,
        coldkey: &dyn ChainSigner,
        hotkey: [u8; 32],
    ) -> Result<u16, ChainError> {
        let arity = self
            .call_arity(SUBTENSOR, "register_network")
            .await?
            .ok_or_else(|| {
                ChainError::Metadata("SubtensorModule::register_network is missing".into())
            })?;
        let mut fields = vec![account_value(hotkey)];
        if arity >= 2 {
            fields.push(Value::u128(1));
        }
        let before = self.total_networks().await?;
        self.submit(
            "register_network",
            coldkey,
            Call::new(SUBTENSOR, "register_network", fields),
        )
        .await?;
        // The new subnet takes the lowest free netuid; find the one owned by this hotkey.
        let total = self.total_networks().await?.max(before + 1);
        for netuid in (1..=total.saturating_add(1)).rev() {
            if self.subnet_exists(netuid).await?
                && self.subnet_owner_hotkey(netuid).await? == Some(hotkey)
            {
                return Ok(netuid);
            }
        }
        Err(ChainError::Metadata(
            "register_network succeeded but no subnet owned by the hotkey was found".into(),
        ))
    }

    async fn total_networks(&self) -> Result<u16, ChainError> {
        let ep = self.endpoint.clone();
        self.with_retry("TotalNetworks", |c| {
            let ep = ep.clone();
            async move {
                let at = c
                    .api
                    .at_current_block()
                    .await
                    .map_err(|e| classify("TotalNetworks", &ep, e))?;
                let addr = dynamic::storage::<(), u16>(SUBTENSOR, "TotalNetworks");
                let v = at
                    .storage()
                    .fetch(addr, ())
                    .await
                    .map_err(|e| classify("TotalNetworks", &ep, e))?;
                v.decode().map_err(|e| ChainError::Decode {
                    what: "TotalNetworks".into(),
                    reason: e.to_string(),
                })
            }
        })
        .await
    }

    /// The owner hotkey of a subnet (storage `SubnetOwnerHotkey`), if set.
    pub async fn subnet_owner_hotkey(&self, netuid: u16) -> Result<Option<[u8; 32]>, ChainError> {
        let ep = self.endpoint.clone();
        self.with_retry("SubnetOwnerHotkey", |c| {
            let ep = ep.clone();
            async move {
                let at = c
                    .api
                    .at_current_block()
                    .await
                    .map_err(|e| classify("SubnetOwnerHotkey", &ep, e))?;
                let addr = dynamic::storage::<(u16,), AccountId32>(SUBTENSOR, "SubnetOwnerHotkey");
                let v = at
                    .storage()
                    .try_fetch(addr, (netuid,))
                    .await
                    .map_err(|e| classify("SubnetOwnerHotkey", &ep, e))?;
                v.map(|v| v.decode().map(|a| a.0))
                    .transpose()
                    .map_err(|e| ChainError::Decode {
                        what: "SubnetOwnerHotkey".into(),
                        reason: e.to_string(),
                    })
            }
        })
        .await
    }

    /// `Sudo::sudo(AdminUtils::<call>(args))`, signed by the sudo key (Alice on the local chain).
    /// `args` are the call's fields in order, as unsigned integers or bools.
    pub async fn sudo_admin(
        &self,
        sudo_key: &dyn ChainSigner,
        call: &str,
        args: Vec<Value>,
    ) -> Result<TxOutcome, ChainError> {
        info!(call, "sudo AdminUtils");
        self.submit(call, sudo_key, Call::sudo_admin(call, args))
            .await
    }

    /// Sudo: subnet tempo.
    pub async fn sudo_set_tempo(
        &self,
        sudo_key: &dyn ChainSigner,
        netuid: u16,
        tempo: u16,
    ) -> Result<TxOutcome, ChainError> {
        self.sudo_admin(
            sudo_key,
            "sudo_set_tempo",
            vec![Value::u128(netuid.into()), Value::u128(tempo.into())],
        )
        .await
    }

    /// Sudo: weights rate limit in blocks.
    pub async fn sudo_set_weights_rate_limit(
        &self,
        sudo_key: &dyn ChainSigner,
        netuid: u16,
        blocks: u64,
    ) -> Result<TxOutcome, ChainError> {
        self.sudo_admin(
            sudo_key,
            "sudo_set_weights_set_rate_limit",
            vec![Value::u128(netuid.into()), Value::u128(blocks.into())],
        )
        .await
    }

    /// Sudo: commit-reveal on or off.
    pub async fn sudo_set_commit_reveal(
        &self,
        sudo_key: &dyn ChainSigner,
        netuid: u16,
        enabled: bool,
    ) -> Result<TxOutcome, ChainError> {
        self.sudo_admin(
            sudo_key,
            "sudo_set_commit_reveal_weights_enabled",
            vec![Value::u128(netuid.into()), Value::bool(enabled)],
        )
        .await
    }

    /// Sudo: serving rate limit in blocks.
    pub async fn sudo_set_serving_rate_limit(
        &self,
        sudo_key: &dyn ChainSigner,
        netuid: u16,
        blocks: u64,
    ) -> Result<TxOutcome, ChainError> {
        self.sudo_admin(
            sudo_key,
            "sudo_set_serving_rate_limit",
            vec![Value::u128(netuid.into()), Value::u128(blocks.into())],
        )
        .await
    }

    /// Sudo: minimum number of weights.
    pub async fn sudo_set_min_allowed_weights(
        &self,
        sudo_key: &dyn ChainSigner,
        netuid: u16,
        n: u16,
    ) -> Result<TxOutcome, ChainError> {
        self.sudo_admin(
            sudo_key,
            "sudo_set_min_allowed_weights",
            vec![Value::u128(netuid.into()), Value::u128(n.into())],
        )
        .await
    }

    /// Sudo: the minimum `version_key` `set_weights` accepts on a subnet.
    pub async fn sudo_set_weights_version_key(
        &self,
        sudo_key: &dyn ChainSigner,
        netuid: u16,
        key: u64,
    ) -> Result<TxOutcome, ChainError> {
        self.sudo_admin(
            sudo_key,
            "sudo_set_weights_version_key",
            vec![Value::u128(netuid.into()), Value::u128(key.into())],
        )
        .await
    }

    /// Sudo: the subnet owner's share of emission, as a u16 fraction (global).
    pub async fn sudo_set_subnet_owner_cut(
        &self,
        sudo_key: &dyn ChainSigner,
        cut: u16,
    ) -> Result<TxOutcome, ChainError> {
        self.sudo_admin(
            sudo_key,
            "sudo_set_subnet_owner_cut",
            vec![Value::u128(cut.into())],
        )
        .await
    }

    /// Sudo: network registration rate limit in blocks (global).
    pub async fn sudo_set_network_rate_limit(
        &self,
        sudo_key: &dyn ChainSigner,
        blocks: u64,
    ) -> Result<TxOutcome, ChainError> {
        self.sudo_admin(
            sudo_key,
            "sudo_set_network_rate_limit",
            vec![Value::u128(blocks.into())],
        )
        .await
    }

    /// Sudo: transaction rate limit in blocks (global).
    pub async fn sudo_set_tx_rate_limit(
        &self,
        sudo_key: &dyn ChainSigner,
        blocks: u64,
    ) -> Result<TxOutcome, ChainError> {
        self.sudo_admin(
            sudo_key,
            "sudo_set_tx_rate_limit",
            vec![Value::u128(blocks.into())],
        )
        .await
    }

    /// Sudo: registrations allowed per interval.
    pub async fn sudo_set_target_registrations_per_interval(
        &self,
        sudo_key: &dyn ChainSigner,
        netuid: u16,
        n: u16,
    ) -> Result<TxOutcome, ChainError> {
        self.sudo_admin(
            sudo_key,
            "sudo_set_target_registrations_per_interval",
            vec![Value::u128(netuid.into()), Value::u128(n.into())],
        )
        .await
    }

    /// Sudo: subnet started (subtoken enabled), where the runtime has the call.
    pub async fn sudo_set_subtoken_enabled(
        &self,
        sudo_key: &dyn ChainSigner,
        netuid: u16,
        enabled: bool,
    ) -> Result<TxOutcome, ChainError> {
        self.sudo_admin(
            sudo_key,
            "sudo_set_subtoken_enabled",
            vec![Value::u128(netuid.into()), Value::bool(enabled)],
        )
        .await
    }

    /// Sudo: minimum stake to set weights (global); see [`Subtensor::stake_threshold_call`].
    pub async fn sudo_set_stake_threshold(
        &self,
        sudo_key: &dyn ChainSigner,
        rao: u64,
    ) -> Result<TxOutcome, ChainError> {
        let call = self.stake_threshold_call(rao).await?;
        self.submit("stake threshold", sudo_key, call).await
    }

    /// The sudo call that sets the minimum stake to set weights: `sudo_set_stake_threshold` since
    /// spec 300, `sudo_set_weights_min_stake` before.
    pub async fn stake_threshold_call(&self, rao: u64) -> Result<Call, ChainError> {
        let name = if self
            .call_arity("AdminUtils", "sudo_set_stake_threshold")
            .await?
            .is_some()
        {
            "sudo_set_stake_threshold"
        } else {
            "sudo_set_weights_min_stake"
        };
        Ok(Call::sudo_admin(name, vec![Value::u128(rao.into())]))
    }

    /// `Utility::batch_all(calls)`, signed by `signer`: every call in one transaction and one
    /// block, all or nothing. A failed sudo call inside fails the whole result too (its
    /// `Sudid` event carries the error). `what` names the batch in logs and errors.
    pub async fn batch_all(
        &self,
        what: &str,
        signer: &dyn ChainSigner,
        calls: Vec<Call>,
    ) -> Result<TxOutcome, ChainError> {
        info!(
            what,
            calls = ?calls.iter().map(Call::label).collect::<Vec<_>>(),
            "batch_all"
        );
        let calls = Value::unnamed_composite(calls.into_iter().map(Call::into_value));
        self.submit(what, signer, Call::new("Utility", "batch_all", vec![calls]))
            .await
    }

    // ---------------------------------------------------------------- raw RPC

    /// A raw JSON-RPC request (for chopsticks' `dev_*` methods and the like).
    pub async fn rpc_raw(
        &self,
        method: &str,
        params: Vec<serde_json::Value>,
    ) -> Result<serde_json::Value, ChainError> {
        let ep = self.endpoint.clone();
        let method = method.to_string();
        self.with_retry(&method.clone(), |c| {
            let ep = ep.clone();
            let method = method.clone();
            let params = params.clone();
            async move {
                let mut p = subxt::rpcs::client::RpcParams::new();
                for v in params {
                    p.push(v)
                        .map_err(|e| ChainError::InvalidInput(e.to_string()))?;
                }
                c.rpc
                    .request::<serde_json::Value>(&method, p)
                    .await
                    .map_err(|e| classify(&method, &ep, e))
            }
        })
        .await
    }

    /// chopsticks: builds `count` blocks now.
    pub async fn dev_new_blocks(&self, count: u32) -> Result<(), ChainError> {
        self.rpc_raw("dev_newBlock", vec![serde_json::json!({ "count": count })])
            .await
            .map(|_| ())
    }

    /// chopsticks: overwrites storage (`{"Pallet": {"Item": [[[keys], value]]}}` form).
    pub async fn dev_set_storage(&self, storage: serde_json::Value) -> Result<(), ChainError> {
        self.rpc_raw("dev_setStorage", vec![storage])
            .await
            .map(|_| ())
    }

    /// The node's chain name (`system_chain`); a cheap liveness probe.
    pub async fn system_chain(&self) -> Result<String, ChainError> {
        let v = self.rpc_raw("system_chain", vec![]).await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }
}

/// The SDK's u16 normalisation, refusing an all-zero vector (the chain would reject it anyway).
fn normalize_nonzero(uids: &[u16], weights: &[f32]) -> Result<(Vec<u16>, Vec<u16>), ChainError> {
    let (uids, values) = normalize_for_emit(uids, weights)?;
    if uids.is_empty() {
        return Err(ChainError::InvalidInput(
            "all weights are zero; nothing to set".into(),
        ));
    }
    Ok((uids, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_names_custom_codes() {
        let m = explain_rejection("Invalid Transaction: {\"invalid\":{\"custom\":11}}");
        assert!(m.starts_with("InvalidIpAddress"), "{m}");
        let m = explain_rejection("{\"invalid\":{\"badProof\":null}}");
        assert!(m.contains("bad signature"), "{m}");
    }

    #[test]
    fn transport_reasons_lose_the_wrapper_layers() {
        assert_eq!(
            tidy_reason("RPC error: client error: RPC error: client error: Connection refused"),
            "Connection refused"
        );
        assert_eq!(tidy_reason("restart required"), "restart required");
    }

    #[test]
    fn backoff_is_bounded() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0), Duration::from_millis(250));
        assert_eq!(p.delay(1), Duration::from_millis(500));
        assert_eq!(p.delay(30), Duration::from_secs(5));
    }
}

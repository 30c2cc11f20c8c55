//! The connection to a subtensor node and the retry around it: [`Subtensor`] owns one live subxt
//! client (re-opened after a transport error or a runtime upgrade), runs every operation under a
//! timeout, and backs off and retries operations that failed on the transport. Also the `read`
//! helper every read of this crate goes through, and part of the small low-level API other crates
//! build on: raw JSON-RPC ([`Subtensor::rpc`]) and metadata lookups ([`Subtensor::call_arity`]).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use subxt::OnlineClient;
use subxt::client::OnlineClientAtBlock;
use subxt::config::substrate::SpecVersionForRange;
use subxt::rpcs::RpcClient;
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::SubtensorConfig;
use crate::classify::classify;
use crate::error::ChainError;

/// The client at one block, as reads see it.
pub(crate) type At = OnlineClientAtBlock<SubtensorConfig>;

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
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(16));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// One live connection: subxt client plus the raw RPC client it runs on.
#[derive(Clone)]
pub(crate) struct Conn {
    pub(crate) api: OnlineClient<SubtensorConfig>,
    pub(crate) rpc: RpcClient,
    /// The runtime version the client is pinned to, and when it was last confirmed.
    runtime: RuntimeVersion,
    checked: Instant,
    /// The runtime's shapes, read from metadata on first use (a new connection after an upgrade
    /// reads them again).
    pub(crate) shapes: Arc<tokio::sync::OnceCell<Arc<crate::detect::RuntimeShapes>>>,
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
    pub(crate) retry: RetryPolicy,
    conn: Arc<Mutex<Option<Conn>>>,
}

impl std::fmt::Debug for Subtensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subtensor")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// `state_getRuntimeVersion` at `at` (the best block when `None`).
async fn runtime_version(rpc: &RpcClient, at: Option<&str>) -> Result<RuntimeVersion, ChainError> {
    rpc.request("state_getRuntimeVersion", subxt::rpcs::rpc_params![at])
        .await
        .map_err(|e| classify("runtime version", &e))
}

/// Runs `fut` under `limit`; running out is a [`ChainError::Timeout`] of `what`.
pub(crate) async fn timed<T>(
    what: &str,
    limit: Duration,
    fut: impl Future<Output = Result<T, ChainError>>,
) -> Result<T, ChainError> {
    tokio::time::timeout(limit, fut).await.unwrap_or_else(|_| {
        Err(ChainError::Timeout {
            what: what.into(),
            secs: limit.as_secs(),
        })
    })
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
        let fut = async {
            let rpc = RpcClient::from_insecure_url(&*self.endpoint)
                .await
                .map_err(|e| classify("connect", &e))?;
            // Pin the runtime version from the finalized head on: subxt otherwise asks the
            // runtime for it at every block it reads.
            let head: String = rpc
                .request("chain_getFinalizedHead", subxt::rpcs::rpc_params![])
                .await
                .map_err(|e| classify("connect", &e))?;
            let header: serde_json::Value = rpc
                .request("chain_getHeader", subxt::rpcs::rpc_params![&head])
                .await
                .map_err(|e| classify("connect", &e))?;
            let number = header["number"]
                .as_str()
                .and_then(|n| u64::from_str_radix(n.trim_start_matches("0x"), 16).ok())
                .ok_or_else(|| ChainError::Decode {
                    what: "block header".into(),
                    reason: format!("no block number in {header}"),
                })?;
            let runtime = runtime_version(&rpc, Some(&head)).await?;
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
            .map_err(|e| classify("connect", &e))?;
            Ok::<_, ChainError>(Conn {
                api,
                rpc,
                runtime,
                checked: Instant::now(),
                shapes: Arc::default(),
            })
        };
        timed("connect", self.retry.request_timeout, fut)
            .await
            .map_err(|e| e.at_endpoint(&self.endpoint))
    }

    async fn conn(&self) -> Result<Conn, ChainError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_mut() {
            if c.checked.elapsed() < RUNTIME_RECHECK {
                return Ok(c.clone());
            }
            let now = runtime_version(&c.rpc, None)
                .await
                .map_err(|e| e.at_endpoint(&self.endpoint))?;
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

    pub(crate) async fn drop_conn(&self) {
        *self.conn.lock().await = None;
    }

    /// Runs `op` on a live connection under the request timeout; on transport errors drops the
    /// connection, backs off and retries.
    pub(crate) async fn with_retry<T, F, Fut>(&self, what: &str, op: F) -> Result<T, ChainError>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = Result<T, ChainError>>,
    {
        let mut attempt = 0;
        loop {
            let result = match self.conn().await {
                Ok(c) => timed(what, self.retry.request_timeout, op(c))
                    .await
                    .map_err(|e| e.at_endpoint(&self.endpoint)),
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

    /// A read at the current block, with retry: `op` gets the client at that block.
    pub(crate) async fn read<T, F, Fut>(&self, what: &'static str, op: F) -> Result<T, ChainError>
    where
        F: Fn(At) -> Fut,
        Fut: Future<Output = Result<T, ChainError>>,
    {
        self.with_retry(what, |c| {
            let op = &op;
            async move {
                let at = c
                    .api
                    .at_current_block()
                    .await
                    .map_err(|e| classify(what, &e))?;
                op(at).await
            }
        })
        .await
    }

    /// A raw JSON-RPC request, with retry (chopsticks' `dev_*` methods, `system_chain`, ...).
    pub async fn rpc(
        &self,
        method: &str,
        params: Vec<serde_json::Value>,
    ) -> Result<serde_json::Value, ChainError> {
        self.with_retry(method, |c| {
            let params = params.clone();
            async move {
                let mut p = subxt::rpcs::client::RpcParams::new();
                for v in params {
                    p.push(v)
                        .map_err(|e| ChainError::InvalidInput(e.to_string()))?;
                }
                c.rpc
                    .request::<serde_json::Value>(method, p)
                    .await
                    .map_err(|e| classify(method, &e))
            }
        })
        .await
    }

    /// Whether the runtime's metadata has `pallet::call`, and how many arguments it takes.
    pub async fn call_arity(&self, pallet: &str, call: &str) -> Result<Option<usize>, ChainError> {
        self.read("metadata", |at| async move {
            let md = at.metadata();
            Ok(md
                .pallet_by_name(pallet)
                .and_then(|p| p.call_variant_by_name(call).map(|v| v.fields.len())))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0), Duration::from_millis(250));
        assert_eq!(p.delay(1), Duration::from_millis(500));
        assert_eq!(p.delay(30), Duration::from_secs(5));
    }
}

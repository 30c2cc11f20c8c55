//! Network names and endpoints.

use crate::error::ChainError;

/// The main network's public entry point.
pub const FINNEY_ENDPOINT: &str = "wss://entrypoint-finney.opentensor.ai:443";
/// The test network's public entry point.
pub const TEST_ENDPOINT: &str = "wss://test.finney.opentensor.ai:443";
/// A node (or the local chopsticks chain) on this machine.
pub const LOCAL_ENDPOINT: &str = "ws://127.0.0.1:9944";

/// Resolves `--subtensor.network` / `--subtensor.chain_endpoint` into a websocket URL, the way the
/// SDK does: an explicit endpoint wins; otherwise the network name picks one.
pub fn resolve_endpoint(
    network: Option<&str>,
    chain_endpoint: Option<&str>,
) -> Result<String, ChainError> {
    if let Some(ep) = chain_endpoint.map(str::trim).filter(|s| !s.is_empty()) {
        return check_url(ep);
    }
    match network.map(str::trim).unwrap_or("finney") {
        "finney" | "" => Ok(FINNEY_ENDPOINT.into()),
        "test" => Ok(TEST_ENDPOINT.into()),
        "local" => Ok(LOCAL_ENDPOINT.into()),
        other if other.starts_with("ws://") || other.starts_with("wss://") => check_url(other),
        other => Err(ChainError::UnknownNetwork(other.into())),
    }
}

fn check_url(url: &str) -> Result<String, ChainError> {
    if url.starts_with("ws://") || url.starts_with("wss://") {
        Ok(url.into())
    } else if url.contains("://") {
        Err(ChainError::InvalidInput(format!(
            "chain endpoint must be ws:// or wss://, got {url}"
        )))
    } else {
        // The SDK accepts "host:port" and assumes ws://.
        Ok(format!("ws://{url}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_overrides() {
        assert_eq!(
            resolve_endpoint(None, None).expect("default"),
            FINNEY_ENDPOINT
        );
        assert_eq!(
            resolve_endpoint(Some("test"), None).expect("test"),
            TEST_ENDPOINT
        );
        assert_eq!(
            resolve_endpoint(Some("local"), None).expect("local"),
            LOCAL_ENDPOINT
        );
        assert_eq!(
            resolve_endpoint(Some("finney"), Some("ws://127.0.0.1:9955")).expect("explicit"),
            "ws://127.0.0.1:9955"
        );
        assert_eq!(
            resolve_endpoint(None, Some("127.0.0.1:9")).expect("bare"),
            "ws://127.0.0.1:9"
        );
        assert!(resolve_endpoint(Some("mainnet"), None).is_err());
        assert!(resolve_endpoint(None, Some("http://x")).is_err());
    }
}

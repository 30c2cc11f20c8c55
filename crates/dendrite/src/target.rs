//! Where an axon listens: `HOTKEY@IP:PORT`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// An axon to call: its hotkey (the one the request is signed for) and its address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AxonTarget {
    /// SS58 hotkey of the axon.
    pub hotkey: String,
    /// IP address.
    pub ip: IpAddr,
    /// Port.
    pub port: u16,
}

/// `HOTKEY@IP:PORT` did not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid axon {input:?}: expected HOTKEY@IP:PORT ({reason})")]
pub struct TargetParseError {
    input: String,
    reason: String,
}

impl AxonTarget {
    /// The URL of synapse `name` on this axon.
    pub fn url(&self, name: &str) -> String {
        format!("http://{}/{name}", SocketAddr::new(self.ip, self.port))
    }
}

impl fmt::Display for AxonTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.hotkey, SocketAddr::new(self.ip, self.port))
    }
}

impl FromStr for AxonTarget {
    type Err = TargetParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| TargetParseError {
            input: s.to_string(),
            reason: reason.into(),
        };
        let (hotkey, addr) = s.trim().split_once('@').ok_or_else(|| err("missing '@'"))?;
        audiosubnet_wallet::AccountId::from_ss58(hotkey).map_err(|e| err(&e.to_string()))?;
        let addr: SocketAddr = addr.parse().map_err(|_| err("bad IP:PORT"))?;
        Ok(AxonTarget {
            hotkey: hotkey.to_string(),
            ip: addr.ip(),
            port: addr.port(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v4_and_v6() {
        let t: AxonTarget = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY@127.0.0.2:8091"
            .parse()
            .expect("valid");
        assert_eq!(t.port, 8091);
        assert_eq!(t.url("TextToSpeech"), "http://127.0.0.2:8091/TextToSpeech");
        let t6: AxonTarget = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY@[::1]:9"
            .parse()
            .expect("valid");
        assert_eq!(t6.url("Synapse"), "http://[::1]:9/Synapse");
        assert!("nohotkey@127.0.0.1:1".parse::<AxonTarget>().is_err());
        assert!(
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY@127.0.0.1"
                .parse::<AxonTarget>()
                .is_err()
        );
    }
}

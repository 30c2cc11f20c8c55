//! Axon IP encoding as the chain stores it: `ip` is the address as an integer in a `u128`
//! (IPv4 in the low 32 bits), `ip_type` is 4 or 6.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::ChainError;

/// Encodes an address as `(ip, ip_type)`.
pub fn ip_to_int(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 4),
        IpAddr::V6(v6) => (u128::from(v6), 6),
    }
}

/// Decodes `(ip, ip_type)` back into an address.
pub fn int_to_ip(ip: u128, ip_type: u8) -> Result<IpAddr, ChainError> {
    match ip_type {
        4 => u32::try_from(ip)
            .map(|v| IpAddr::V4(Ipv4Addr::from(v)))
            .map_err(|_| ChainError::InvalidInput(format!("IPv4 value {ip} does not fit 32 bits"))),
        6 => Ok(IpAddr::V6(Ipv6Addr::from(ip))),
        other => Err(ChainError::InvalidInput(format!("unknown ip_type {other}"))),
    }
}

/// The runtime's `is_valid_ip_address` and port checks, run before submitting so that the user
/// gets a clear message instead of a dispatch error. `0.0.0.0` is allowed (it means "not serving").
pub fn validate_axon_endpoint(ip: IpAddr, port: u16) -> Result<(), ChainError> {
    if port == 0 {
        return Err(ChainError::InvalidInput(
            "axon port 0 is rejected by the chain".into(),
        ));
    }
    match ip {
        IpAddr::V4(v4) if v4 == Ipv4Addr::LOCALHOST => Err(ChainError::InvalidInput(
            "the chain rejects 127.0.0.1 as an axon address; use 127.0.0.2 or a public address"
                .into(),
        )),
        IpAddr::V4(v4) if v4 == Ipv4Addr::BROADCAST => Err(ChainError::InvalidInput(
            "the chain rejects 255.255.255.255 as an axon address".into(),
        )),
        IpAddr::V6(v6) if v6 == Ipv6Addr::LOCALHOST || u128::from(v6) == u128::MAX => Err(
            ChainError::InvalidInput(format!("the chain rejects {v6} as an axon address")),
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_roundtrip_and_values() {
        let ip: IpAddr = "127.0.0.2".parse().expect("literal");
        assert_eq!(ip_to_int(ip), (2_130_706_434, 4));
        assert_eq!(int_to_ip(2_130_706_434, 4).expect("valid"), ip);
        let ip: IpAddr = "1.2.3.4".parse().expect("literal");
        assert_eq!(ip_to_int(ip), (0x0102_0304, 4));
    }

    #[test]
    fn ipv6_roundtrip() {
        let ip: IpAddr = "2001:db8::1".parse().expect("literal");
        let (v, t) = ip_to_int(ip);
        assert_eq!(t, 6);
        assert_eq!(v, 0x2001_0db8_0000_0000_0000_0000_0000_0001);
        assert_eq!(int_to_ip(v, t).expect("valid"), ip);
    }

    #[test]
    fn bad_values() {
        assert!(int_to_ip(u128::from(u32::MAX) + 1, 4).is_err());
        assert!(int_to_ip(1, 5).is_err());
        assert!(validate_axon_endpoint("127.0.0.1".parse().expect("literal"), 8091).is_err());
        assert!(validate_axon_endpoint("::1".parse().expect("literal"), 8091).is_err());
        assert!(validate_axon_endpoint("127.0.0.2".parse().expect("literal"), 0).is_err());
        assert!(validate_axon_endpoint("127.0.0.2".parse().expect("literal"), 8091).is_ok());
        assert!(validate_axon_endpoint("0.0.0.0".parse().expect("literal"), 1).is_ok());
    }
}

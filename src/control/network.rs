//! `tcp_allow`: the client networks that may connect over TCP, written as
//! CIDR blocks (`10.0.0.0/8`, `fd00::/8`) or single addresses. Parsed here
//! with std's address types: a prefix and a mask are all it takes.

use std::net::IpAddr;
use std::str::FromStr;

/// One allowed network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

/// Why a `tcp_allow` entry is not a network.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "bad network {0:?} (expected an address or ADDRESS/PREFIX, e.g. \"10.0.0.0/8\" or \"::1\")"
)]
pub struct BadNetwork(pub String);

impl FromStr for Network {
    type Err = BadNetwork;

    fn from_str(text: &str) -> Result<Self, BadNetwork> {
        let bad = || BadNetwork(text.to_string());
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(bad)?,
            None => bits,
        };
        Ok(Network { addr, prefix })
    }
}

impl Network {
    /// Whether `peer` is in this network. An IPv4 client reaching an IPv6
    /// listener (as `::ffff:a.b.c.d`) counts as its IPv4 address.
    pub fn contains(&self, peer: IpAddr) -> bool {
        match (self.addr, peer.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(peer)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(peer) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(peer)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(peer) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Whether `peer` may connect: an empty list allows everyone.
pub fn is_allowed(allow: &[Network], peer: IpAddr) -> bool {
    allow.is_empty() || allow.iter().any(|n| n.contains(peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Network {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_contain_their_addresses() {
        assert!(net("10.0.0.0/8").contains(ip("10.200.3.4")));
        assert!(!net("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(net("127.0.0.1").contains(ip("127.0.0.1")));
        assert!(!net("127.0.0.1").contains(ip("127.0.0.2")));
        assert!(net("0.0.0.0/0").contains(ip("192.0.2.1")));
        assert!(net("fd00::/8").contains(ip("fd12::1")));
        assert!(!net("fd00::/8").contains(ip("fe80::1")));
        assert!(net("::/0").contains(ip("::1")));
        // An IPv4 client on a dual-stack listener.
        assert!(net("127.0.0.0/8").contains(ip("::ffff:127.0.0.5")));
        assert!(!net("::1").contains(ip("127.0.0.1")));
    }

    #[test]
    fn bad_networks_are_refused() {
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "host",
            "10.0.0.0/x",
            "1.2.3.4/-1",
        ] {
            assert_eq!(bad.parse::<Network>(), Err(BadNetwork(bad.into())), "{bad}");
        }
    }

    #[test]
    fn an_empty_list_allows_all() {
        assert!(is_allowed(&[], ip("192.0.2.1")));
        assert!(!is_allowed(&[net("10.0.0.0/8")], ip("192.0.2.1")));
    }
}

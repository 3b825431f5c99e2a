//! The client's address: the connection's peer, or — only when the peer is a proxy the
//! operator declared trusted (`--trusted-proxy`) — the address the proxy says it forwarded
//! for (`Forwarded: for=…`, RFC 7239, else `X-Forwarded-For`).
//!
//! Each proxy appends the address it received the request from, so the chain is read from
//! the right: trusted proxies are skipped, and the first address that is not one is the
//! client. Whatever a client writes into these headers itself stands to the left of what
//! the trusted proxy appended and is never reached. From an untrusted peer the headers are
//! ignored altogether: anyone can send them.

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// Networks whose requests may name the client they forward for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies(networks)
    }

    /// Reads one `--trusted-proxy` value: an address (`10.0.0.5`, `::1`) or a network
    /// (`10.0.0.0/8`).
    pub fn parse_one(text: &str) -> Result<IpNet, String> {
        let text = text.trim();
        if let Ok(address) = IpAddr::from_str(text) {
            return Ok(IpNet::from(address));
        }
        IpNet::from_str(text).map_err(|_| {
            format!("`{text}` is not an IP address or network (e.g. 127.0.0.1 or 10.0.0.0/8)")
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|n| n.contains(&address))
    }

    /// The client of a request that arrived from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let chain = forwarded_for(headers);
        let mut client = peer;
        for hop in chain.iter().rev() {
            match hop {
                // An address the proxy could not or would not name: the hop stays unknown,
                // so the last trusted proxy stands in for it.
                None => return client,
                Some(address) if self.trusts(*address) => client = *address,
                Some(address) => return *address,
            }
        }
        client
    }
}

/// IPv4 addresses arrive as IPv4-mapped IPv6 on a dual-stack socket.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// The forwarded-for chain, oldest first: `Forwarded` if the request has one, else
/// `X-Forwarded-For`. `None` marks an entry that is not an address (`unknown`, obfuscated).
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (key, value) = pair.split_once('=')?;
                    key.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| node_address(value.trim().trim_matches('"')))
                })
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|hop| node_address(hop.trim()))
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711`, `2001:db8::1`.
fn node_address(text: &str) -> Option<IpAddr> {
    if let Ok(address) = IpAddr::from_str(text) {
        return Some(canonical(address));
    }
    if let Ok(socket) = SocketAddr::from_str(text) {
        return Some(canonical(socket.ip()));
    }
    let inner = text.strip_prefix('[')?.split(']').next()?;
    IpAddr::from_str(inner).ok().map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            list.iter()
                .map(|p| TrustedProxies::parse_one(p).unwrap())
                .collect(),
        )
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.7"),
            ("forwarded", "for=198.51.100.8"),
        ]);
        assert_eq!(
            proxies(&[]).client(ip("203.0.113.1"), &h),
            ip("203.0.113.1")
        );
        assert_eq!(
            proxies(&["10.0.0.0/8"]).client(ip("203.0.113.1"), &h),
            ip("203.0.113.1")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let p = proxies(&["127.0.0.1", "10.0.0.0/8"]);
        // A client that forged a first entry; the proxies appended the real one.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.1.1.1")]);
        assert_eq!(p.client(ip("127.0.0.1"), &h), ip("198.51.100.7"));
        // Forwarded wins over X-Forwarded-For, with quotes, ports and IPv6.
        let h = headers(&[
            ("forwarded", "for=192.0.2.60;proto=https;by=10.0.0.1"),
            ("forwarded", "for=\"[2001:db8:cafe::17]:4711\""),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        assert_eq!(p.client(ip("10.9.9.9"), &h), ip("2001:db8:cafe::17"));
        // Only proxies in the chain: the leftmost is as far as it can be followed.
        let h = headers(&[("x-forwarded-for", "10.2.2.2, 10.3.3.3")]);
        assert_eq!(p.client(ip("127.0.0.1"), &h), ip("10.2.2.2"));
        // No header: the proxy itself.
        assert_eq!(
            p.client(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
        // An unknown hop behind the proxy: the proxy stands in for it.
        let h = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
        // IPv4-mapped peers are matched as IPv4.
        let h = headers(&[("x-forwarded-for", "198.51.100.9")]);
        assert_eq!(p.client(ip("::ffff:127.0.0.1"), &h), ip("198.51.100.9"));
    }

    #[test]
    fn bad_proxy_settings_are_refused() {
        assert!(TrustedProxies::parse_one("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse_one("proxy.example.com").is_err());
        assert!(TrustedProxies::parse_one(" ::1 ").is_ok());
    }
}

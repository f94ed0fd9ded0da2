//! Who the client is, behind reverse proxies.
//!
//! A proxy connects on the client's behalf and appends the address it saw
//! to `X-Forwarded-For`; anything further left was written by whoever sent
//! the request, so it proves nothing. Only when the peer is a trusted proxy
//! (`--trusted-proxy`) is the header read at all, from the right: the
//! first address that is not itself a trusted proxy is the client's.

use std::net::IpAddr;

use axum::http::HeaderMap;
use muster_domain::egress::Cidr;

/// One entry of `X-Forwarded-For`: an address, perhaps with a port
/// (`203.0.113.7:4711`, `[2001:db8::1]:4711`), which is dropped.
fn entry(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    s.rsplit_once(':').and_then(|(ip, port)| port.parse::<u16>().ok().and(ip.parse().ok()))
}

/// The client's address: the peer's, or — when the peer is a trusted proxy
/// — the right-most `X-Forwarded-For` address that is not a trusted proxy.
/// If every forwarded address is a trusted proxy, or one cannot be read
/// before an untrusted one is found, the last trusted hop is the client.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let forwarded: Vec<&str> =
        headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for hop in forwarded.iter().rev() {
        let Some(ip) = entry(hop) else { break };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn client(peer: &str, values: &[&str], trusted: &[&str]) -> String {
        let trusted: Vec<Cidr> = trusted.iter().map(|t| t.parse().unwrap()).collect();
        client_address(ip(peer), &headers(values), &trusted).to_string()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(client("198.51.100.9", &["203.0.113.7"], &[]), "198.51.100.9");
        assert_eq!(client("198.51.100.9", &["203.0.113.7"], &["10.0.0.0/8"]), "198.51.100.9");
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_address_is_the_client() {
        let proxies = ["10.0.0.0/8"];
        assert_eq!(client("10.0.0.2", &["203.0.113.7"], &proxies), "203.0.113.7");
        // The client wrote the left-most entry itself: it does not count.
        assert_eq!(client("10.0.0.2", &["1.2.3.4, 203.0.113.7, 10.0.0.5"], &proxies), "203.0.113.7");
        assert_eq!(client("10.0.0.2", &["1.2.3.4", "203.0.113.7:4711"], &proxies), "203.0.113.7");
        assert_eq!(client("10.0.0.2", &["[2001:db8::1]:443"], &proxies), "2001:db8::1");
        assert_eq!(client("10.0.0.2", &["10.0.0.9"], &proxies), "10.0.0.9", "only proxies: the first hop");
        assert_eq!(client("10.0.0.2", &[], &proxies), "10.0.0.2", "no header: the proxy itself");
        assert_eq!(client("10.0.0.2", &["1.2.3.4, unknown, 10.0.0.5"], &proxies), "10.0.0.5");
    }
}

//! Where Muster's outgoing requests may go, and which peers are proxies.
//!
//! A webhook is a URL chosen by a user and fetched by the server, so
//! without a rule anyone with a token could make the server reach what
//! only it can reach: its own loopback, the cloud's metadata service at
//! 169.254.169.254, the private network behind it. [`internal`] says
//! whether an address is one of those; [`WebhookAllow`] is the operator's
//! exception list (`--webhook-allow`), and [`WebhookAllow::check`] the
//! verdict for one resolved address. The application applies it when a
//! contact method is created and again on every address it connects to.
//!
//! [`Cidr`] is also what `--trusted-proxy` is written in.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::DomainError;

/// Why an address is not one a webhook may reach by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Internal {
    /// 127/8, ::1.
    Loopback,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// 10/8, 172.16/12, 192.168/16.
    Private,
    /// 100.64/10 (carrier-grade NAT).
    SharedAddressSpace,
    /// fc00::/7.
    UniqueLocal,
    /// 0.0.0.0, ::.
    Unspecified,
    /// 224/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// Not reachable on the internet, or reaching this host anyway:
    /// 0/8 ("this network", which Linux connects to itself), 192.0.0/24,
    /// 198.18/15 (benchmarking), 240/4, fec0::/10 (old site-local).
    Reserved,
}

impl Internal {
    pub fn as_str(self) -> &'static str {
        match self {
            Internal::Loopback => "loopback",
            Internal::LinkLocal => "link-local",
            Internal::Private => "private",
            Internal::SharedAddressSpace => "shared (CGNAT)",
            Internal::UniqueLocal => "unique-local",
            Internal::Unspecified => "unspecified",
            Internal::Multicast => "multicast",
            Internal::Broadcast => "broadcast",
            Internal::Reserved => "reserved",
        }
    }
}

impl std::fmt::Display for Internal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The IPv4 address an IPv6 address stands for, when it stands for one:
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, but not
/// `::` or `::1`) and NAT64 (`64:ff9b::a.b.c.d`), which all end up at the
/// IPv4 address.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    let compatible = s[..6] == [0; 6] && u32::from(low) > 1;
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    (compatible || nat64).then_some(low)
}

/// The address itself, or the IPv4 address an IPv6 one stands for: what
/// both [`internal`] and [`Cidr::contains`] look at, so `::ffff:127.0.0.1`
/// is treated as `127.0.0.1` everywhere.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<Internal> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() => Internal::Unspecified,
        _ if ip.is_broadcast() => Internal::Broadcast,
        (0, _, _) => Internal::Reserved,
        (127, _, _) => Internal::Loopback,
        (169, 254, _) => Internal::LinkLocal,
        (10, _, _) | (192, 168, _) => Internal::Private,
        (172, 16..=31, _) => Internal::Private,
        (100, 64..=127, _) => Internal::SharedAddressSpace,
        (192, 0, 0) | (198, 18..=19, _) => Internal::Reserved,
        (224..=239, _, _) => Internal::Multicast,
        (240..=255, _, _) => Internal::Reserved,
        _ => return None,
    })
}

/// Why `ip` is internal, or `None` for an address on the internet.
pub fn internal(ip: IpAddr) -> Option<Internal> {
    let v6 = match canonical(ip) {
        IpAddr::V4(v4) => return internal_v4(v4),
        IpAddr::V6(v6) => v6,
    };
    let first = v6.segments()[0];
    Some(match first {
        _ if v6.is_unspecified() => Internal::Unspecified,
        _ if v6.is_loopback() => Internal::Loopback,
        0xfe80..=0xfebf => Internal::LinkLocal,
        0xfec0..=0xfeff => Internal::Reserved,
        0xfc00..=0xfdff => Internal::UniqueLocal,
        0xff00..=0xffff => Internal::Multicast,
        _ => return None,
    })
}

/// A network: an address and how many of its leading bits are fixed
/// (`10.0.0.0/8`, `fd00::/8`). A bare address is a network of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

fn mask(prefix: u8, width: u8) -> u128 {
    if prefix == 0 { 0 } else { (u128::MAX << (width - prefix)) & (u128::MAX >> (128 - width)) }
}

impl Cidr {
    /// The network of the first `prefix` bits of `ip`; the host bits are
    /// dropped (`10.1.2.3/8` is `10.0.0.0/8`).
    pub fn new(ip: IpAddr, prefix: u8) -> Result<Cidr, DomainError> {
        let given = ip;
        let ip = canonical(ip);
        let (value, width) = bits(ip);
        // A prefix given for the IPv6 form of an IPv4 address counts the
        // 96 bits in front of it.
        let prefix = match (given, ip) {
            (IpAddr::V6(_), IpAddr::V4(_)) => prefix.checked_sub(96).ok_or_else(|| {
                DomainError::invalid("cidr", format!("a /{prefix} cuts into the 96 bits in front of an IPv4 address"))
            })?,
            _ => prefix,
        };
        if prefix > width {
            return Err(DomainError::invalid("cidr", format!("a /{prefix} is longer than the address's {width} bits")));
        }
        let network = value & mask(prefix, width);
        let network = match ip {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(network as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(network)),
        };
        Ok(Cidr { network, prefix })
    }

    pub fn network(&self) -> IpAddr {
        self.network
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in this network (IPv4-mapped IPv6 addresses count as
    /// their IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        let ((net, width), (value, other)) = (bits(self.network), bits(ip));
        width == other && value & mask(self.prefix, width) == net
    }
}

impl std::str::FromStr for Cidr {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || DomainError::invalid("cidr", format!("{s:?} is not an address or a network like 10.0.0.0/8"));
        let (address, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip: IpAddr = address.trim_start_matches('[').trim_end_matches(']').parse().map_err(|_| bad())?;
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
            None => bits(canonical(ip)).1,
        };
        Cidr::new(ip, prefix).map_err(|_| bad())
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// One exception to the rule: a host name allowed whatever it resolves
/// to, or a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    Host(String),
    Network(Cidr),
}

/// A host name as DNS and URLs have it: lower case, no trailing dot.
fn host_name(s: &str) -> Option<String> {
    let s = s.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    (!s.is_empty() && s.len() <= 253 && s.split('.').all(label_ok)).then_some(s)
}

/// The operator's exceptions to "webhooks reach only the internet"
/// (`--webhook-allow`): none by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookAllow {
    allowed: Vec<Allowed>,
}

/// What [`WebhookAllow::check`] refused, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub address: IpAddr,
    pub why: Internal,
}

impl WebhookAllow {
    /// Nothing internal is allowed.
    pub fn none() -> WebhookAllow {
        WebhookAllow::default()
    }

    /// Parses host names and networks, each entry one or several separated
    /// by commas: `["127.0.0.1/32", "hooks.internal,10.1.0.0/16"]`.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<WebhookAllow, DomainError> {
        let mut allowed = Vec::new();
        for part in entries.into_iter().flat_map(|e| e.split(',')).map(str::trim).filter(|p| !p.is_empty()) {
            if let Ok(cidr) = part.parse::<Cidr>() {
                allowed.push(Allowed::Network(cidr));
            } else if let Some(host) = host_name(part).filter(|h| !h.bytes().all(|b| b.is_ascii_digit() || b == b'.')) {
                allowed.push(Allowed::Host(host));
            } else {
                return Err(DomainError::invalid(
                    "webhook_allow",
                    format!("{part:?} is neither a host name nor an address or network like 10.0.0.0/8"),
                ));
            }
        }
        Ok(WebhookAllow { allowed })
    }

    pub fn entries(&self) -> &[Allowed] {
        &self.allowed
    }

    /// Whether the operator allowed `host` by name, whatever it resolves to.
    pub fn allows_host(&self, host: &str) -> bool {
        let Some(host) = host_name(host) else { return false };
        self.allowed.iter().any(|a| matches!(a, Allowed::Host(h) if *h == host))
    }

    /// Whether a webhook may connect to `ip`: an address on the internet,
    /// or one in an allowed network.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refused> {
        match internal(ip) {
            None => Ok(()),
            Some(_) if self.allowed.iter().any(|a| matches!(a, Allowed::Network(n) if n.contains(ip))) => Ok(()),
            Some(why) => Err(Refused { address: ip, why }),
        }
    }
}

#[cfg(test)]
mod tests;

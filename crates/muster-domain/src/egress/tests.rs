use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

/// The ranges webhooks may not reach by default, written out as the issue
/// lists them, independently of how [`internal`] decides.
const REFUSED_V4: &[(&str, Internal)] = &[
    ("0.0.0.0/8", Internal::Reserved),
    ("10.0.0.0/8", Internal::Private),
    ("100.64.0.0/10", Internal::SharedAddressSpace),
    ("127.0.0.0/8", Internal::Loopback),
    ("169.254.0.0/16", Internal::LinkLocal),
    ("172.16.0.0/12", Internal::Private),
    ("192.0.0.0/24", Internal::Reserved),
    ("192.168.0.0/16", Internal::Private),
    ("198.18.0.0/15", Internal::Reserved),
    ("224.0.0.0/4", Internal::Multicast),
    ("240.0.0.0/4", Internal::Reserved),
];

const REFUSED_V6: &[(&str, Internal)] = &[
    ("::1/128", Internal::Loopback),
    ("fe80::/10", Internal::LinkLocal),
    ("fec0::/10", Internal::Reserved),
    ("fc00::/7", Internal::UniqueLocal),
    ("ff00::/8", Internal::Multicast),
];

fn cidr(s: &str) -> Cidr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn listed_v4(v4: Ipv4Addr) -> bool {
    REFUSED_V4.iter().any(|(c, _)| cidr(c).contains(IpAddr::V4(v4)))
}

#[test]
fn the_usual_suspects_are_internal_and_say_why() {
    for (address, why) in [
        ("127.0.0.1", Internal::Loopback),
        ("169.254.169.254", Internal::LinkLocal),
        ("10.1.2.3", Internal::Private),
        ("172.31.255.255", Internal::Private),
        ("192.168.1.1", Internal::Private),
        ("100.100.100.200", Internal::SharedAddressSpace),
        ("0.0.0.0", Internal::Unspecified),
        ("255.255.255.255", Internal::Broadcast),
        ("239.1.1.1", Internal::Multicast),
        ("::", Internal::Unspecified),
        ("::1", Internal::Loopback),
        ("fe80::1", Internal::LinkLocal),
        ("fd00:ec2::254", Internal::UniqueLocal),
        ("ff02::1", Internal::Multicast),
        ("::ffff:127.0.0.1", Internal::Loopback),
        ("::ffff:169.254.169.254", Internal::LinkLocal),
        ("::10.0.0.1", Internal::Private),
        ("64:ff9b::a9fe:a9fe", Internal::LinkLocal),
    ] {
        assert_eq!(internal(ip(address)), Some(why), "{address}");
    }
    for public in ["1.1.1.1", "93.184.216.34", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
        assert_eq!(internal(ip(public)), None, "{public}");
    }
}

#[test]
fn by_default_nothing_internal_is_allowed() {
    let none = WebhookAllow::none();
    assert_eq!(
        none.check(ip("169.254.169.254")),
        Err(Refused { address: ip("169.254.169.254"), why: Internal::LinkLocal })
    );
    assert!(none.check(ip("1.1.1.1")).is_ok());
    assert!(!none.allows_host("localhost"));
}

#[test]
fn the_operator_allows_networks_and_hosts_in_one_or_many_entries() {
    let allow = WebhookAllow::parse(["127.0.0.1/32", "hooks.internal.example., 10.1.0.0/16", " fd00::/8 "]).unwrap();
    assert!(allow.check(ip("127.0.0.1")).is_ok());
    assert!(allow.check(ip("::ffff:127.0.0.1")).is_ok(), "the mapped form is the same address");
    assert_eq!(allow.check(ip("127.0.0.2")).map_err(|r| r.why), Err(Internal::Loopback));
    assert!(allow.check(ip("10.1.200.3")).is_ok());
    assert!(allow.check(ip("10.2.0.1")).is_err());
    assert!(allow.check(ip("fd12::1")).is_ok());
    assert!(allow.allows_host("Hooks.Internal.Example"));
    assert!(!allow.allows_host("other.internal.example"));
    assert_eq!(allow.entries().len(), 4);
    assert_eq!(WebhookAllow::parse(["", " , "]).unwrap(), WebhookAllow::none());
}

#[test]
fn an_allow_entry_that_is_neither_host_nor_network_is_refused_by_name() {
    for bad in ["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "300.1.1.1", "http://x", "a b", "-x.example", "::1/129"] {
        let e = WebhookAllow::parse([bad]).unwrap_err();
        assert!(matches!(&e, DomainError::Invalid { field, .. } if field == "webhook_allow"), "{bad}: {e}");
    }
}

#[test]
fn networks_parse_drop_their_host_bits_and_print_back() {
    assert_eq!(cidr("10.1.2.3/8").to_string(), "10.0.0.0/8");
    assert_eq!(cidr("127.0.0.1").to_string(), "127.0.0.1/32");
    assert_eq!(cidr("::1").to_string(), "::1/128");
    assert_eq!(cidr("[fe80::1]/10").to_string(), "fe80::/10");
    assert_eq!(cidr("::ffff:10.0.0.0/104").to_string(), "10.0.0.0/8");
    assert_eq!(cidr("0.0.0.0/0").to_string(), "0.0.0.0/0");
    assert!("::ffff:10.0.0.0/90".parse::<Cidr>().is_err());
}

fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        any::<u128>().prop_map(|v| IpAddr::V6(Ipv6Addr::from(v))),
        // Near the interesting places, too.
        (prop::sample::select(REFUSED_V4), any::<u32>()).prop_map(|((c, _), low)| {
            let c = cidr(c);
            let IpAddr::V4(net) = c.network() else { unreachable!() };
            let host_bits = if c.prefix() == 0 { u32::MAX } else { u32::MAX >> c.prefix() };
            IpAddr::V4(Ipv4Addr::from(u32::from(net) | (low & host_bits)))
        }),
    ]
}

proptest! {
    /// Every address in a listed range is refused, for the listed reason
    /// (the unspecified and broadcast addresses have their own), and every
    /// other IPv4 address is allowed.
    #[test]
    fn an_ipv4_address_is_refused_exactly_when_a_listed_range_holds_it(v in any::<u32>(), low in any::<u32>(), pick in 0..REFUSED_V4.len()) {
        let v4 = Ipv4Addr::from(v);
        let verdict = WebhookAllow::none().check(IpAddr::V4(v4));
        prop_assert_eq!(verdict.is_err(), listed_v4(v4) || v4.is_broadcast(), "{}", v4);

        let (range, why) = REFUSED_V4[pick];
        let c = cidr(range);
        let IpAddr::V4(net) = c.network() else { unreachable!() };
        let inside = Ipv4Addr::from(u32::from(net) | (low & (u32::MAX.checked_shr(u32::from(c.prefix())).unwrap_or(0))));
        let expected = match inside {
            a if a.is_unspecified() => Internal::Unspecified,
            a if a.is_broadcast() => Internal::Broadcast,
            _ => why,
        };
        prop_assert_eq!(internal(IpAddr::V4(inside)), Some(expected), "{} in {}", inside, range);
    }

    /// An IPv6 address that stands for an IPv4 one is judged as that
    /// address: a mapped 127.0.0.1 is no way around the rule.
    #[test]
    fn an_ipv4_mapped_address_is_judged_as_its_ipv4_address(v in any::<u32>()) {
        let v4 = Ipv4Addr::from(v);
        let mapped = IpAddr::V6(v4.to_ipv6_mapped());
        prop_assert_eq!(internal(mapped), internal(IpAddr::V4(v4)));
        let nat64 = IpAddr::V6(Ipv6Addr::from((0x0064_ff9b_u128 << 96) | u128::from(v)));
        prop_assert_eq!(internal(nat64), internal(IpAddr::V4(v4)));
    }

    #[test]
    fn ipv6_ranges_are_refused_for_their_reason(v in any::<u128>(), pick in 0..REFUSED_V6.len()) {
        let (range, why) = REFUSED_V6[pick];
        let c = cidr(range);
        let IpAddr::V6(net) = c.network() else { unreachable!() };
        let inside = Ipv6Addr::from(u128::from(net) | (v & u128::MAX.checked_shr(u32::from(c.prefix())).unwrap_or(0)));
        prop_assert_eq!(internal(IpAddr::V6(inside)), Some(why), "{}", inside);
    }

    /// A network holds its own address, and another address exactly when
    /// their first `prefix` bits agree.
    #[test]
    fn a_network_holds_what_shares_its_leading_bits(a in any_ip(), b in any_ip(), prefix in 0u8..=128) {
        let (a, b) = (canonical(a), canonical(b));
        let width = if a.is_ipv4() { 32 } else { 128 };
        let prefix = prefix % (width + 1);
        let net = Cidr::new(a, prefix).unwrap();
        prop_assert!(net.contains(a));
        let leading = |ip: IpAddr| -> Option<String> {
            let s = match ip {
                IpAddr::V4(v4) => format!("{:032b}", u32::from(v4)),
                IpAddr::V6(v6) => format!("{:0128b}", u128::from(v6)),
            };
            (s.len() == usize::from(width)).then(|| s[..usize::from(prefix)].to_owned())
        };
        prop_assert_eq!(net.contains(b), leading(b).is_some() && leading(b) == leading(a));
        prop_assert_eq!(net.to_string().parse::<Cidr>().unwrap(), net);
    }

    /// Parsing an allow list never panics, and what it accepts it
    /// accepts again from its own entries.
    #[test]
    fn any_allow_text_parses_or_is_refused_without_panicking(text in "[ -~]{0,40}") {
        if let Ok(allow) = WebhookAllow::parse([text.as_str()]) {
            let again: Vec<String> = allow.entries().iter().map(|e| match e {
                Allowed::Host(h) => h.clone(),
                Allowed::Network(n) => n.to_string(),
            }).collect();
            prop_assert_eq!(WebhookAllow::parse(again.iter().map(String::as_str)).unwrap(), allow);
        }
    }
}

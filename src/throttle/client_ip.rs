//! Which IP a request counts against: the TCP peer, or, when the peer is a
//! trusted proxy, the nearest hop its `X-Forwarded-For` names that is not a
//! trusted proxy itself.
//!
//! Each proxy appends the address it received the request from to the right of
//! `X-Forwarded-For`, so only the entries written by trusted proxies (the right
//! end) are believed; anything to their left may have been made up by the
//! client. [`rate_limit_key`] then widens an IPv6 client to its /64.

use std::{
    fmt,
    net::{IpAddr, Ipv6Addr, SocketAddr},
    str::FromStr,
};

use axum::http::HeaderMap;
use ipnet::{IpNet, Ipv4Net};

/// Proxies whose `X-Forwarded-For` is believed, from `TRUSTED_PROXIES`:
/// comma-separated IP addresses and CIDR blocks, IPv4 and IPv6.
///
/// Spaces around entries and empty entries are ignored, so an empty string is
/// the empty set (no proxy is trusted). Host bits in a block are ignored
/// (`10.1.2.3/8` is `10.0.0.0/8`), and an IPv4-mapped IPv6 address or block
/// (`::ffff:10.0.0.0/104`) stands for its IPv4 form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

/// A `TRUSTED_PROXIES` entry that is neither an IP address nor a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{entry}` is neither an IP address nor a CIDR block (like 10.0.0.0/8 or 2001:db8::/32)")]
pub struct InvalidTrustedProxy {
    entry: String,
}

impl InvalidTrustedProxy {
    /// The entry as written.
    pub fn entry(&self) -> &str {
        &self.entry
    }
}

impl FromStr for TrustedProxies {
    type Err = InvalidTrustedProxy;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let nets = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(parse_net)
            .collect::<Result<_, _>>()?;
        Ok(Self { nets })
    }
}

impl TrustedProxies {
    /// Whether no proxy is trusted (then the TCP peer is always the client).
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `ip` (an IPv4-mapped IPv6 address counting as its IPv4 form) is a
    /// trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(&ip))
    }
}

impl fmt::Display for TrustedProxies {
    /// The list in `TRUSTED_PROXIES` syntax, for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, net) in self.nets.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{net}")?;
        }
        Ok(())
    }
}

fn parse_net(entry: &str) -> Result<IpNet, InvalidTrustedProxy> {
    let net = if entry.contains('/') {
        entry.parse::<IpNet>().ok()
    } else {
        entry.parse::<IpAddr>().ok().map(IpNet::from)
    };
    net.map(canonical_net).ok_or_else(|| InvalidTrustedProxy {
        entry: entry.to_owned(),
    })
}

/// The block with its host bits cleared, in IPv4 form when it lies within the
/// IPv4-mapped range `::ffff:0:0/96`.
fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net {
        let mapped = v6
            .addr()
            .to_ipv4_mapped()
            .zip(v6.prefix_len().checked_sub(96));
        if let Some(v4) = mapped.and_then(|(addr, len)| Ipv4Net::new(addr, len).ok()) {
            return IpNet::V4(v4).trunc();
        }
    }
    net.trunc()
}

/// The client IP of a request.
///
/// The TCP `peer`, unless the peer is a trusted proxy: then `X-Forwarded-For`
/// (all its header lines, in order, each a comma-separated list) is walked
/// from the right, skipping entries that are trusted proxies, and the first
/// untrusted entry is the client. An entry that is not an address (`unknown`,
/// an obfuscated name, garbage) stops the walk, and the last trusted hop is the
/// client then, as it is when every entry is trusted or there is no header.
/// Entries may carry a port (`1.2.3.4:5678`, `[2001:db8::1]:443`).
///
/// The header of an untrusted peer is never read. IPv4-mapped IPv6 addresses
/// (`::ffff:1.2.3.4`), from the peer or from the header, are returned and
/// compared in their IPv4 form.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let mut hop = peer.ip().to_canonical();
    if !trusted.contains(hop) {
        return hop;
    }
    for line in headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(list) = line.to_str() else {
            return hop;
        };
        for entry in list.rsplit(',') {
            let Some(ip) = parse_hop(entry) else {
                return hop;
            };
            if !trusted.contains(ip) {
                return ip;
            }
            hop = ip;
        }
    }
    hop
}

/// Bits of an IPv6 address that name its network: one host is routinely
/// given a whole /64 (SLAAC, privacy addresses), so it can pick any of 2^64
/// addresses in it.
const IPV6_HOST_NETWORK_BITS: u8 = 64;

/// The key a client's requests count against in the per-IP limits: an IPv4
/// address (IPv4-mapped IPv6 ones included) as itself, an IPv6 address as
/// its /64 (the lower 64 bits cleared), so that one host cannot get a fresh
/// allowance by rotating through the addresses of its network.
pub fn rate_limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let mask = u128::MAX << (128 - u32::from(IPV6_HOST_NETWORK_BITS));
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

/// One `X-Forwarded-For` entry: an address, optionally with a port, IPv6
/// optionally in brackets.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
        .or_else(|| {
            let inner = entry.strip_prefix('[')?.strip_suffix(']')?;
            inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
        })?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("a test IP")
    }

    fn trusted(list: &str) -> TrustedProxies {
        list.parse().expect("a valid list")
    }

    /// The client IP for a request from `peer` with these `X-Forwarded-For` lines.
    fn client(peer: &str, lines: &[&str], proxies: &str) -> IpAddr {
        let mut headers = HeaderMap::new();
        for line in lines {
            let value = HeaderValue::from_str(line).expect("a valid header value");
            headers.append("x-forwarded-for", value);
        }
        client_ip(
            peer.parse().expect("a test peer"),
            &headers,
            &trusted(proxies),
        )
    }

    #[test]
    fn an_untrusted_peer_cannot_spoof_its_ip() {
        assert_eq!(
            client("203.0.113.9:5000", &["1.2.3.4"], ""),
            ip("203.0.113.9")
        );
        assert_eq!(
            client("203.0.113.9:5000", &["1.2.3.4"], "10.0.0.0/8"),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_trusted_peer_names_the_rightmost_untrusted_entry() {
        let lines = ["6.6.6.6, 1.2.3.4"];
        assert_eq!(client("10.0.0.1:443", &lines, "10.0.0.1"), ip("1.2.3.4"));
    }

    #[test]
    fn chains_of_trusted_proxies_are_skipped() {
        let lines = ["6.6.6.6, 1.2.3.4, 10.0.0.7,192.168.1.1"];
        let proxies = "10.0.0.0/8, 192.168.0.0/16";
        assert_eq!(client("10.0.0.1:443", &lines, proxies), ip("1.2.3.4"));
    }

    #[test]
    fn header_lines_are_read_as_one_list_in_order() {
        let proxies = "10.0.0.0/8";
        let lines = ["6.6.6.6, 1.2.3.4", "10.0.0.2"];
        assert_eq!(client("10.0.0.1:443", &lines, proxies), ip("1.2.3.4"));
        let lines = ["1.1.1.1", "2.2.2.2"];
        assert_eq!(client("10.0.0.1:443", &lines, proxies), ip("2.2.2.2"));
    }

    #[test]
    fn without_an_untrusted_entry_the_last_trusted_hop_is_the_client() {
        let proxies = "10.0.0.0/8";
        assert_eq!(client("10.0.0.1:443", &[], proxies), ip("10.0.0.1"));
        let lines = ["10.0.0.3, 10.0.0.2"];
        assert_eq!(client("10.0.0.1:443", &lines, proxies), ip("10.0.0.3"));
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_trusted_hop() {
        let proxies = "10.0.0.0/8";
        let peer = "10.0.0.1:443";
        let lines = ["1.2.3.4, garbage, 10.0.0.2"];
        assert_eq!(client(peer, &lines, proxies), ip("10.0.0.2"));
        assert_eq!(client(peer, &["unknown"], proxies), ip("10.0.0.1"));
        assert_eq!(client(peer, &["1.2.3.4,"], proxies), ip("10.0.0.1"));
        assert_eq!(client(peer, &[""], proxies), ip("10.0.0.1"));
        assert_eq!(
            client(peer, &["1.2.3.4", "_hidden"], proxies),
            ip("10.0.0.1")
        );
        assert_eq!(client(peer, &["1.2.3.4/8"], proxies), ip("10.0.0.1"));

        let mut headers = HeaderMap::new();
        let opaque = HeaderValue::from_bytes(b"1.2.3.4\xff").expect("opaque bytes are allowed");
        headers.append("x-forwarded-for", opaque);
        let peer = peer.parse().expect("peer");
        assert_eq!(client_ip(peer, &headers, &trusted(proxies)), ip("10.0.0.1"));
    }

    #[test]
    fn entries_may_carry_ports_and_brackets() {
        let proxies = "10.0.0.0/8";
        let peer = "10.0.0.1:443";
        assert_eq!(client(peer, &["1.2.3.4:5678"], proxies), ip("1.2.3.4"));
        assert_eq!(
            client(peer, &["[2001:db8::9]:443"], proxies),
            ip("2001:db8::9")
        );
        assert_eq!(client(peer, &["[2001:db8::9]"], proxies), ip("2001:db8::9"));
    }

    #[test]
    fn ipv6_peers_and_entries_are_walked_alike() {
        let proxies = "2001:db8::/32";
        let lines = ["2a00:1450::1, 2001:db8:1::7"];
        assert_eq!(
            client("[2001:db8::1]:443", &lines, proxies),
            ip("2a00:1450::1")
        );
        assert_eq!(client("[2a00::1]:443", &lines, proxies), ip("2a00::1"));
    }

    #[test]
    fn v4_mapped_peers_and_entries_count_as_ipv4() {
        let proxies = "10.0.0.0/8";
        let untrusted = client("[::ffff:1.2.3.4]:5000", &["9.9.9.9"], proxies);
        assert_eq!(untrusted, ip("1.2.3.4"));
        assert!(untrusted.is_ipv4());
        let lines = ["5.6.7.8, ::ffff:10.0.0.2"];
        assert_eq!(
            client("[::ffff:10.0.0.1]:5000", &lines, proxies),
            ip("5.6.7.8")
        );
        assert_eq!(
            client("10.0.0.1:5000", &["::ffff:5.6.7.8"], proxies),
            ip("5.6.7.8")
        );
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        assert_eq!(
            rate_limit_key(ip("2001:db8:aa:bb:1:2:3:4")),
            ip("2001:db8:aa:bb::")
        );
        assert_eq!(
            rate_limit_key(ip("2001:db8:aa:bb:ffff:ffff:ffff:ffff")),
            rate_limit_key(ip("2001:db8:aa:bb::1"))
        );
        assert_ne!(
            rate_limit_key(ip("2001:db8:aa:bb::1")),
            rate_limit_key(ip("2001:db8:aa:bc::1"))
        );
    }

    #[test]
    fn ipv4_and_v4_mapped_clients_are_keyed_by_their_ipv4_address() {
        assert_eq!(rate_limit_key(ip("203.0.113.9")), ip("203.0.113.9"));
        let mapped = rate_limit_key(ip("::ffff:203.0.113.9"));
        assert_eq!(mapped, ip("203.0.113.9"));
        assert!(mapped.is_ipv4());
        assert_ne!(
            rate_limit_key(ip("::ffff:203.0.113.9")),
            rate_limit_key(ip("::ffff:203.0.113.10"))
        );
    }

    #[test]
    fn lists_of_addresses_and_blocks_parse() {
        let proxies = trusted(" 10.0.0.0/8, 192.168.1.1 ,2001:db8::/32,::1,");
        assert!(!proxies.is_empty());
        for inside in [
            "10.255.0.1",
            "192.168.1.1",
            "2001:db8:ab::1",
            "::1",
            "::ffff:10.1.1.1",
        ] {
            assert!(proxies.contains(ip(inside)), "{inside}");
        }
        for outside in ["11.0.0.1", "192.168.1.2", "2001:db9::1", "::2", "127.0.0.1"] {
            assert!(!proxies.contains(ip(outside)), "{outside}");
        }
        assert_eq!(
            proxies.to_string(),
            "10.0.0.0/8,192.168.1.1/32,2001:db8::/32,::1/128"
        );
    }

    #[test]
    fn empty_lists_trust_nobody() {
        for list in ["", " ", ",", " , "] {
            let proxies = trusted(list);
            assert!(proxies.is_empty(), "{list:?}");
            assert!(!proxies.contains(ip("127.0.0.1")));
        }
        assert_eq!(TrustedProxies::default(), trusted(""));
    }

    #[test]
    fn blocks_ignore_host_bits_and_v4_mapped_forms() {
        let proxies = trusted("10.1.2.3/8, ::ffff:172.16.0.0/108, ::ffff:192.0.2.1");
        assert_eq!(proxies.to_string(), "10.0.0.0/8,172.16.0.0/12,192.0.2.1/32");
        assert!(proxies.contains(ip("10.200.0.1")));
        assert!(proxies.contains(ip("172.31.255.255")));
        assert!(proxies.contains(ip("::ffff:192.0.2.1")));
        assert!(!proxies.contains(ip("172.32.0.0")));
    }

    #[test]
    fn bad_entries_are_errors_naming_them() {
        let bad = [
            "banana",
            "10.0.0.0/33",
            "2001:db8::/129",
            "10.0.0.1/",
            "/8",
            "10.0.0.1/8/9",
            "10.0.0.1-10.0.0.9",
            "10.0.0.1:80",
            "10.0.0",
            "1.2.3.4 5.6.7.8",
            "fe80::1%eth0",
            "١٠.٠.٠.١",
        ];
        for entry in bad {
            let err = format!("10.0.0.1, {entry}")
                .parse::<TrustedProxies>()
                .expect_err(entry);
            assert_eq!(err.entry(), entry);
            assert!(err.to_string().contains(entry), "{err}");
        }
    }
}

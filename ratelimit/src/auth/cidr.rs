//! A network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`), for trusted proxies: a thin
//! layer over [`ipnet::IpNet`] for the rules of our own (a bare address is one host, an
//! IPv4-mapped network is its IPv4 network, a strict prefix).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;

/// An IPv4 or IPv6 network: an address and a prefix length, such as `10.0.0.0/8`.
///
/// Parsed from `ADDRESS/PREFIX` or a bare address (a single host: `/32` or `/128`). Bits
/// of the address past the prefix are cleared, so `192.168.1.7/24` is `192.168.1.0/24`.
/// An IPv4-mapped IPv6 network of prefix 96 or more (`::ffff:10.0.0.0/104`) is the IPv4
/// network it maps (`10.0.0.0/8`), as client addresses are compared in their IPv4 form.
/// Converts to and from [`ipnet::IpNet`] (normalised the same way).
///
/// ```
/// use ratelimit::auth::Cidr;
///
/// let lan: Cidr = "192.168.0.0/16".parse()?;
/// assert!(lan.contains("192.168.4.2".parse()?));
/// assert!(!lan.contains("10.0.0.1".parse()?));
/// assert_eq!("2001:db8::1/32".parse::<Cidr>()?.to_string(), "2001:db8::/32");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr(IpNet);

/// Why a string is not a [`Cidr`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidrParseError {
    /// The part before `/` is not an IPv4 or IPv6 address.
    #[error("`{0}` is not an IP address")]
    InvalidAddress(String),
    /// The part after `/` is not a number.
    #[error("`{0}` is not a prefix length")]
    InvalidPrefix(String),
    /// The prefix is longer than the address (32 bits for IPv4, 128 for IPv6).
    #[error("a prefix of {prefix} bits is longer than the address ({max} bits)")]
    PrefixTooLong {
        /// The prefix given.
        prefix: u32,
        /// The address's length in bits.
        max: u8,
    },
}

impl Cidr {
    /// The network of `addr` with a prefix of `prefix` bits (the host bits cleared).
    ///
    /// # Errors
    ///
    /// [`CidrParseError::PrefixTooLong`] if `prefix` exceeds 32 (IPv4) or 128 (IPv6).
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, CidrParseError> {
        IpNet::new(addr, prefix)
            .map(Self::from)
            .map_err(|_| CidrParseError::PrefixTooLong {
                prefix: prefix.into(),
                max: max_prefix(addr),
            })
    }

    /// A network of one address: `/32` or `/128`.
    #[must_use]
    pub fn host(addr: IpAddr) -> Self {
        Self(addr.to_canonical().into())
    }

    /// The network's first address.
    #[must_use]
    pub fn network(&self) -> IpAddr {
        self.0.network()
    }

    /// The prefix length, in bits.
    #[must_use]
    pub fn prefix(&self) -> u8 {
        self.0.prefix_len()
    }

    /// Whether `addr` is in this network. IPv4-mapped IPv6 addresses are compared as IPv4
    /// addresses; an IPv4 network never contains another IPv6 address, nor the reverse.
    #[must_use]
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.0.contains(&addr.to_canonical())
    }
}

/// 32 for an IPv4 address, 128 for IPv6.
fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

impl From<IpNet> for Cidr {
    /// The network of `net` (host bits cleared); an IPv4-mapped network of prefix 96 or
    /// more becomes the IPv4 network it maps.
    fn from(net: IpNet) -> Self {
        if let IpNet::V6(v6) = net
            && v6.prefix_len() >= 96
            && let Some(v4) = v6.addr().to_ipv4_mapped()
        {
            return Self(IpNet::new_assert(IpAddr::V4(v4), v6.prefix_len() - 96).trunc());
        }
        Self(net.trunc())
    }
}

impl From<Cidr> for IpNet {
    fn from(cidr: Cidr) -> Self {
        cidr.0
    }
}

impl From<IpAddr> for Cidr {
    fn from(addr: IpAddr) -> Self {
        Self::host(addr)
    }
}

impl FromStr for Cidr {
    type Err = CidrParseError;

    /// Parses with the standard library's address parser, not `ipnet`'s (which reads
    /// `010.0.0.0` as `10.0.0.0`): no leading zeros, no zone; the prefix is decimal digits.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| CidrParseError::InvalidAddress(addr.to_owned()))?;
        let Some(prefix) = prefix else {
            return Ok(Self::host(addr));
        };
        // `u32::from_str` accepts a leading `+`; a prefix is digits only.
        let invalid = || CidrParseError::InvalidPrefix(prefix.to_owned());
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let prefix: u32 = prefix.parse().map_err(|_| invalid())?;
        let max = max_prefix(addr);
        match u8::try_from(prefix) {
            Ok(prefix) if prefix <= max => Self::new(addr, prefix),
            _ => Err(CidrParseError::PrefixTooLong { prefix, max }),
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The networks the original `asgi-ratelimit` treated as "not global" (Python's
/// `ipaddress` `is_global`, negated): private, loopback, link-local, shared (CGNAT),
/// documentation, benchmarking and reserved ranges.
const PRIVATE_NETWORKS: &[IpNet] = &[
    v4(0, 0, 0, 0, 8),
    v4(10, 0, 0, 0, 8),
    v4(100, 64, 0, 0, 10),
    v4(127, 0, 0, 0, 8),
    v4(169, 254, 0, 0, 16),
    v4(172, 16, 0, 0, 12),
    v4(192, 0, 0, 0, 29),
    v4(192, 0, 0, 170, 31),
    v4(192, 0, 2, 0, 24),
    v4(192, 168, 0, 0, 16),
    v4(198, 18, 0, 0, 15),
    v4(198, 51, 100, 0, 24),
    v4(203, 0, 113, 0, 24),
    v4(240, 0, 0, 0, 4),
    v4(255, 255, 255, 255, 32),
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128),
    v6([0, 0, 0, 0, 0, 0, 0, 0], 128),
    v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64),
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
    v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48),
    v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
    v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28),
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
];

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> IpNet {
    IpNet::new_assert(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), prefix)
}

const fn v6(s: [u16; 8], prefix: u8) -> IpNet {
    let addr = Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
    IpNet::new_assert(IpAddr::V6(addr), prefix)
}

/// [`PRIVATE_NETWORKS`] as [`Cidr`]s.
pub(crate) fn private_networks() -> impl Iterator<Item = Cidr> {
    PRIVATE_NETWORKS.iter().copied().map(Cidr::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn parses_and_normalises() {
        let cases: &[(&str, &str)] = &[
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("10.1.2.3/8", "10.0.0.0/8"),
            ("1.2.3.4", "1.2.3.4/32"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("2001:db8::1/32", "2001:db8::/32"),
            ("::/0", "::/0"),
            ("::1", "::1/128"),
            ("::ffff:10.1.0.0/104", "10.0.0.0/8"),
            ("::ffff:1.2.3.4", "1.2.3.4/32"),
            (" 192.168.0.0/16 ", "192.168.0.0/16"),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Cidr>().unwrap().to_string(), *want, "{text}");
        }
    }

    #[test]
    fn rejects_with_typed_errors() {
        use CidrParseError::*;
        let cases: &[(&str, CidrParseError)] = &[
            (
                "10.0.0.0/33",
                PrefixTooLong {
                    prefix: 33,
                    max: 32,
                },
            ),
            (
                "::/129",
                PrefixTooLong {
                    prefix: 129,
                    max: 128,
                },
            ),
            (
                "::/300",
                PrefixTooLong {
                    prefix: 300,
                    max: 128,
                },
            ),
            ("::/99999999999", InvalidPrefix("99999999999".into())),
            ("10.0.0.0/", InvalidPrefix(String::new())),
            ("10.0.0.0/+8", InvalidPrefix("+8".into())),
            ("10.0.0.0/x", InvalidPrefix("x".into())),
            ("10.0.0/8", InvalidAddress("10.0.0".into())),
            ("", InvalidAddress(String::new())),
            ("fe80::1%eth0/64", InvalidAddress("fe80::1%eth0".into())),
            ("10.0.0.0/8/8", InvalidPrefix("8/8".into())),
            ("010.0.0.0/8", InvalidAddress("010.0.0.0".into())),
            ("10.0.0.0/ 8", InvalidPrefix(" 8".into())),
        ];
        for (text, want) in cases {
            assert_eq!(&text.parse::<Cidr>().unwrap_err(), want, "{text}");
        }
    }

    #[test]
    fn converts_from_and_to_ipnet_normalised() {
        let cases: &[(&str, &str)] = &[
            ("10.1.2.3/8", "10.0.0.0/8"),
            ("::ffff:10.1.0.0/104", "10.0.0.0/8"),
            ("::ffff:0:0/80", "::/80"),
            ("2001:db8::1/32", "2001:db8::/32"),
        ];
        for (text, want) in cases {
            let cidr = Cidr::from(text.parse::<IpNet>().unwrap());
            assert_eq!(cidr.to_string(), *want, "{text}");
            assert_eq!(IpNet::from(cidr).to_string(), *want, "{text}");
        }
    }

    #[test]
    fn contains() {
        let cases: &[(&str, &str, bool)] = &[
            ("10.0.0.0/8", "10.255.255.255", true),
            ("10.0.0.0/8", "11.0.0.0", false),
            ("10.0.0.0/8", "::ffff:10.0.0.1", true),
            ("0.0.0.0/0", "8.8.8.8", true),
            ("0.0.0.0/0", "::1", false),
            ("::/0", "::1", true),
            ("::/0", "1.2.3.4", false),
            ("2001:db8::/32", "2001:db8:ffff::1", true),
            ("2001:db8::/32", "2001:db9::1", false),
            ("1.2.3.4", "1.2.3.4", true),
            ("1.2.3.4", "1.2.3.5", false),
        ];
        for (cidr, addr, want) in cases {
            let got = cidr.parse::<Cidr>().unwrap().contains(ip(addr));
            assert_eq!(got, *want, "{cidr} contains {addr}");
        }
    }

    #[test]
    fn private_networks_are_the_originals() {
        let private = |addr: &str| private_networks().any(|net| net.contains(ip(addr)));
        for addr in [
            "127.0.0.1",
            "10.1.1.1",
            "172.18.81.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.1.1",
            "203.0.113.9",
            "::1",
            "fe80::1",
            "fd00::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(private(addr), "{addr} is private");
        }
        for addr in ["1.1.1.1", "70.41.3.18", "224.0.0.1", "2606:4700:4700::1111"] {
            assert!(!private(addr), "{addr} is global");
        }
    }
}

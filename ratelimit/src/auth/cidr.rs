//! A network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`), for trusted proxies.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 or IPv6 network: an address and a prefix length, such as `10.0.0.0/8`.
///
/// Parsed from `ADDRESS/PREFIX` or a bare address (a single host: `/32` or `/128`). Bits
/// of the address past the prefix are cleared, so `192.168.1.7/24` is `192.168.1.0/24`.
/// An IPv4-mapped IPv6 network of prefix 96 or more (`::ffff:10.0.0.0/104`) is the IPv4
/// network it maps (`10.0.0.0/8`), as client addresses are compared in their IPv4 form.
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
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

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
        let max = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        if prefix > max {
            return Err(CidrParseError::PrefixTooLong {
                prefix: prefix.into(),
                max,
            });
        }
        // An IPv4-mapped IPv6 network is compared as the IPv4 network it maps.
        if let IpAddr::V6(v6) = addr
            && prefix >= 96
            && let Some(v4) = v6.to_ipv4_mapped()
        {
            return Ok(Self::masked(IpAddr::V4(v4), prefix - 96));
        }
        Ok(Self::masked(addr, prefix))
    }

    /// A network of one address: `/32` or `/128`.
    #[must_use]
    pub fn host(addr: IpAddr) -> Self {
        let addr = addr.to_canonical();
        let prefix = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        Self {
            network: addr,
            prefix,
        }
    }

    /// `prefix` must be at most the address's length.
    fn masked(addr: IpAddr, prefix: u8) -> Self {
        Self {
            network: mask(addr, prefix),
            prefix,
        }
    }

    /// The network's first address.
    #[must_use]
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length, in bits.
    #[must_use]
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `addr` is in this network. IPv4-mapped IPv6 addresses are compared as IPv4
    /// addresses; an IPv4 network never contains another IPv6 address, nor the reverse.
    #[must_use]
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, addr.to_canonical()) {
            (IpAddr::V4(_), addr @ IpAddr::V4(_)) | (IpAddr::V6(_), addr @ IpAddr::V6(_)) => {
                mask(addr, self.prefix) == self.network
            }
            _ => false,
        }
    }
}

/// `addr` with every bit past the first `prefix` cleared; `prefix` at most the length.
pub(crate) fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let masked = bits
                .checked_shr(32 - u32::from(prefix.min(32)))
                .and_then(|high| high.checked_shl(32 - u32::from(prefix.min(32))))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(masked))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let masked = bits
                .checked_shr(128 - u32::from(prefix.min(128)))
                .and_then(|high| high.checked_shl(128 - u32::from(prefix.min(128))))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(masked))
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| CidrParseError::InvalidAddress(addr.to_owned()))?;
        match prefix {
            None => Ok(Self::host(addr)),
            Some(prefix) => {
                // `u8::from_str` accepts a leading `+`; a prefix is digits only.
                if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(CidrParseError::InvalidPrefix(prefix.to_owned()));
                }
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let prefix: u32 = prefix
                    .parse()
                    .map_err(|_| CidrParseError::InvalidPrefix(prefix.to_owned()))?;
                match u8::try_from(prefix) {
                    Ok(prefix) if prefix <= max => Self::new(addr, prefix),
                    _ => Err(CidrParseError::PrefixTooLong { prefix, max }),
                }
            }
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl From<IpAddr> for Cidr {
    fn from(addr: IpAddr) -> Self {
        Self::host(addr)
    }
}

/// The networks the original `asgi-ratelimit` treated as "not global" (Python's
/// `ipaddress` `is_global`, negated): private, loopback, link-local, shared (CGNAT),
/// documentation, benchmarking and reserved ranges.
pub(crate) const PRIVATE_NETWORKS: &[(IpAddr, u8)] = &[
    (v4(0, 0, 0, 0), 8),
    (v4(10, 0, 0, 0), 8),
    (v4(100, 64, 0, 0), 10),
    (v4(127, 0, 0, 0), 8),
    (v4(169, 254, 0, 0), 16),
    (v4(172, 16, 0, 0), 12),
    (v4(192, 0, 0, 0), 29),
    (v4(192, 0, 0, 170), 31),
    (v4(192, 0, 2, 0), 24),
    (v4(192, 168, 0, 0), 16),
    (v4(198, 18, 0, 0), 15),
    (v4(198, 51, 100, 0), 24),
    (v4(203, 0, 113, 0), 24),
    (v4(240, 0, 0, 0), 4),
    (v4(255, 255, 255, 255), 32),
    (v6([0, 0, 0, 0, 0, 0, 0, 1]), 128),
    (v6([0, 0, 0, 0, 0, 0, 0, 0]), 128),
    (v6([0x100, 0, 0, 0, 0, 0, 0, 0]), 64),
    (v6([0x2001, 0, 0, 0, 0, 0, 0, 0]), 23),
    (v6([0x2001, 2, 0, 0, 0, 0, 0, 0]), 48),
    (v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0]), 32),
    (v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0]), 28),
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0]), 7),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0]), 10),
];

const fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

const fn v6(s: [u16; 8]) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(
        s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
    ))
}

/// [`PRIVATE_NETWORKS`] as [`Cidr`]s.
pub(crate) fn private_networks() -> impl Iterator<Item = Cidr> {
    PRIVATE_NETWORKS.iter().map(|&(network, prefix)| Cidr {
        network: mask(network, prefix),
        prefix,
    })
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
        ];
        for (text, want) in cases {
            assert_eq!(&text.parse::<Cidr>().unwrap_err(), want, "{text}");
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

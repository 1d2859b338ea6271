//! Parsing of the proxy headers: `Forwarded` (RFC 7239), `X-Forwarded-For`, `X-Real-IP`.
//!
//! Every header yields its hops in order, leftmost (farthest from this server) first, all
//! field lines concatenated. A hop that is not an address (malformed, `unknown`, an
//! obfuscated identifier, a `Forwarded` element without `for=`) is [`Hop::Unusable`]: the
//! caller stops walking there. Nothing here panics or allocates more than one entry per
//! list element.
//!
//! Whitespace is trimmed with std's ASCII trims: besides spaces and tabs, they strip CR, LF and
//! form feed, which no `HeaderValue` holds (its checked constructors and hyper's parser
//! reject them), so they trim exactly the grammar's optional whitespace.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4};

use http::HeaderValue;

/// One element of a proxy header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hop {
    /// An address (not yet canonicalised).
    Addr(IpAddr),
    /// Anything else: malformed, `unknown`, obfuscated, or no `for=`.
    Unusable,
}

/// The hops of `X-Forwarded-For` or `X-Real-IP` field lines: comma-separated addresses,
/// each optionally with a port (`1.2.3.4:80`, `[2001:db8::1]:80`). Empty elements are
/// skipped, as list syntax allows.
pub(crate) fn address_list<'a>(
    lines: impl Iterator<Item = &'a HeaderValue>,
) -> impl Iterator<Item = Hop> {
    lines.flat_map(|line| {
        line.as_bytes()
            .split(|&b| b == b',')
            .map(<[u8]>::trim_ascii)
            .filter(|element| !element.is_empty())
            .map(hop)
    })
}

/// The hops of `Forwarded` field lines: one per element, from its `for=` parameter.
///
/// A line that breaks the RFC 7239 grammar (an unterminated quoted string, a parameter
/// without `=`, …) yields the elements before the error and then one [`Hop::Unusable`],
/// so a walk from the right stops there.
pub(crate) fn forwarded<'a>(lines: impl Iterator<Item = &'a HeaderValue>) -> Vec<Hop> {
    let mut hops = Vec::new();
    for line in lines {
        parse_forwarded_line(line.as_bytes(), &mut hops);
    }
    hops
}

fn parse_forwarded_line(mut rest: &[u8], hops: &mut Vec<Hop>) {
    // `for` of the current element: none seen yet, one address, or unusable.
    let mut element_for: Option<Hop> = None;
    let mut element_empty = true;
    loop {
        rest = rest.trim_ascii_start();
        match rest.first() {
            None => break,
            Some(b',') => {
                if !element_empty {
                    hops.push(element_for.take().unwrap_or(Hop::Unusable));
                }
                element_for = None;
                element_empty = true;
                rest = &rest[1..];
                continue;
            }
            Some(b';') => {
                rest = &rest[1..];
                continue;
            }
            Some(_) => {}
        }
        // name "=" value
        let name_len = rest.iter().take_while(|&&b| is_tchar(b)).count();
        let (name, after) = rest.split_at(name_len);
        let after = after.trim_ascii_start();
        let Some((b'=', after)) = after.split_first() else {
            hops.push(Hop::Unusable);
            return;
        };
        if name.is_empty() {
            hops.push(Hop::Unusable);
            return;
        }
        let after = after.trim_ascii_start();
        let (value, after): (Vec<u8>, &[u8]) = if let Some((b'"', quoted)) = after.split_first() {
            match quoted_string(quoted) {
                Some(parsed) => parsed,
                None => {
                    hops.push(Hop::Unusable);
                    return;
                }
            }
        } else {
            // Lenient: a bare value runs to the next `;` or `,` (RFC 7239 would quote
            // anything with `:` or `[`, but proxies don't all do so).
            let len = after
                .iter()
                .take_while(|&&b| b != b';' && b != b',')
                .count();
            let (value, after) = after.split_at(len);
            (value.trim_ascii().to_vec(), after)
        };
        element_empty = false;
        if name.eq_ignore_ascii_case(b"for") {
            let hop = hop(&value);
            // A parameter given twice in one element is invalid (RFC 7239 §4).
            element_for = Some(match element_for {
                None => hop,
                Some(_) => Hop::Unusable,
            });
        }
        rest = after.trim_ascii_start();
        match rest.first() {
            None | Some(b';' | b',') => {}
            Some(_) => {
                hops.push(Hop::Unusable);
                return;
            }
        }
    }
    if !element_empty {
        hops.push(element_for.unwrap_or(Hop::Unusable));
    }
}

/// The content of a quoted string whose opening quote is already consumed, and what
/// follows its closing quote; `None` if it is not terminated.
fn quoted_string(bytes: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut value = Vec::new();
    let mut iter = bytes.iter().enumerate();
    while let Some((i, &b)) = iter.next() {
        match b {
            b'"' => return Some((value, &bytes[i + 1..])),
            b'\\' => value.push(*iter.next()?.1),
            _ => value.push(b),
        }
    }
    None
}

/// The hop of a list element or a `for=` value: its node's address, if it is one.
fn hop(text: &[u8]) -> Hop {
    match std::str::from_utf8(text).ok().and_then(node) {
        Some(addr) => Hop::Addr(addr),
        None => Hop::Unusable,
    }
}

/// A node: `IPv4`, `IPv4:port`, `[IPv6]`, `[IPv6]:port`, or (leniently) a bare IPv6
/// address. A port is digits or an obfuscated port (`_abc`). `unknown` and obfuscated
/// identifiers (`_hidden`) are not addresses.
pub(crate) fn node(text: &str) -> Option<IpAddr> {
    let text = text.trim_matches([' ', '\t']);
    if let Some(bracketed) = text.strip_prefix('[') {
        let (addr, rest) = bracketed.split_once(']')?;
        let addr: Ipv6Addr = addr.parse().ok()?;
        let port_ok = rest.is_empty() || rest.strip_prefix(':').is_some_and(is_port);
        return port_ok.then_some(IpAddr::V6(addr));
    }
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Some(addr);
    }
    if let Ok(addr) = text.parse::<SocketAddrV4>() {
        return Some(IpAddr::V4(*addr.ip()));
    }
    // `1.2.3.4:_obf`
    let (addr, port) = text.split_once(':')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    is_port(port).then_some(IpAddr::V4(addr))
}

fn is_port(port: &str) -> bool {
    match port.strip_prefix('_') {
        Some(obfuscated) => {
            !obfuscated.is_empty()
                && obfuscated
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        }
        None => !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(text: &str) -> Hop {
        Hop::Addr(text.parse().unwrap())
    }

    const U: Hop = Hop::Unusable;

    fn values(lines: &[&[u8]]) -> Vec<HeaderValue> {
        lines
            .iter()
            .map(|line| HeaderValue::from_bytes(line).unwrap())
            .collect()
    }

    #[test]
    fn nodes() {
        let cases: &[(&str, Option<&str>)] = &[
            ("1.2.3.4", Some("1.2.3.4")),
            ("1.2.3.4:8080", Some("1.2.3.4")),
            ("1.2.3.4:_port", Some("1.2.3.4")),
            ("2001:db8::1", Some("2001:db8::1")),
            ("[2001:db8::1]", Some("2001:db8::1")),
            ("[2001:db8::1]:4711", Some("2001:db8::1")),
            ("[2001:db8::1]:_x", Some("2001:db8::1")),
            ("::ffff:1.2.3.4", Some("::ffff:1.2.3.4")),
            (" 1.2.3.4 ", Some("1.2.3.4")),
            ("unknown", None),
            ("_hidden", None),
            ("", None),
            ("1.2.3.4:", None),
            ("1.2.3.4:999999", None),
            ("1.2.3.4:80:80", None),
            ("[2001:db8::1", None),
            ("[2001:db8::1]x", None),
            ("[1.2.3.4]", None),
            ("[2001:db8::1]:", None),
            ("2001:db8::1:80x", None),
            ("fe80::1%eth0", None),
            ("1.2.3", None),
            ("01.2.3.4", None),
            ("example.com", None),
            ("1.2.3.4 5.6.7.8", None),
        ];
        for (text, want) in cases {
            assert_eq!(node(text), want.map(|w| w.parse().unwrap()), "{text:?}");
        }
    }

    #[test]
    fn x_forwarded_for() {
        let cases: &[(&[&[u8]], &[Hop])] = &[
            (&[b"1.2.3.4"], &[a("1.2.3.4")]),
            (&[b"1.2.3.4, 5.6.7.8"], &[a("1.2.3.4"), a("5.6.7.8")]),
            (&[b"1.2.3.4", b"5.6.7.8"], &[a("1.2.3.4"), a("5.6.7.8")]),
            (&[b"1.2.3.4,,\t5.6.7.8 ,"], &[a("1.2.3.4"), a("5.6.7.8")]),
            (&[b"spoof, 1.2.3.4"], &[U, a("1.2.3.4")]),
            (&[b"1.2.3.4, unknown"], &[a("1.2.3.4"), U]),
            (
                &[b"[2001:db8::1]:80, 1.2.3.4:5"],
                &[a("2001:db8::1"), a("1.2.3.4")],
            ),
            (&[b"\xff\xfe, 1.2.3.4"], &[U, a("1.2.3.4")]),
            (&[b""], &[]),
        ];
        for (lines, want) in cases {
            let lines = values(lines);
            let got: Vec<Hop> = address_list(lines.iter()).collect();
            assert_eq!(&got, want, "{lines:?}");
        }
    }

    /// Random lines over the bytes that matter to the parsers: nothing panics.
    #[test]
    fn arbitrary_bytes_never_panic() {
        const ALPHABET: &[u8] = b"for=FOR\"\\[]:;,_ \t0123456789abcdef.unknown\xff\x80";
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = usize::try_from(next() % 40).unwrap();
            let line: Vec<u8> = (0..len)
                .map(|_| ALPHABET[usize::try_from(next() % ALPHABET.len() as u64).unwrap()])
                .collect();
            let Ok(value) = HeaderValue::from_bytes(&line) else {
                continue;
            };
            let _ = forwarded([&value].into_iter());
            let _ = address_list([&value].into_iter()).count();
            let _ = std::str::from_utf8(&line).ok().map(node);
        }
    }

    #[test]
    fn forwarded_elements() {
        let cases: &[(&[&[u8]], &[Hop])] = &[
            (&[b"for=192.0.2.60"], &[a("192.0.2.60")]),
            (
                &[b"For=\"[2001:db8:cafe::17]:4711\""],
                &[a("2001:db8:cafe::17")],
            ),
            (
                &[b"for=192.0.2.43, for=198.51.100.17"],
                &[a("192.0.2.43"), a("198.51.100.17")],
            ),
            (
                &[b"for=192.0.2.43", b"for=198.51.100.17;by=203.0.113.43"],
                &[a("192.0.2.43"), a("198.51.100.17")],
            ),
            (
                &[b"for=192.0.2.60;proto=http;by=203.0.113.43"],
                &[a("192.0.2.60")],
            ),
            (&[b"proto=https;for=\"1.2.3.4:80\""], &[a("1.2.3.4")]),
            (&[b"for = 1.2.3.4 ; proto=http"], &[a("1.2.3.4")]),
            (&[b"for=unknown"], &[U]),
            (&[b"for=_hidden, for=1.2.3.4"], &[U, a("1.2.3.4")]),
            (&[b"proto=http"], &[U]),
            (&[b"for=1.2.3.4;for=5.6.7.8"], &[U]),
            (&[b"for=\"1.2.3.4, for=5.6.7.8"], &[U]),
            (&[b"for=1.2.3.4, for=\"5.6.7.8"], &[a("1.2.3.4"), U]),
            (&[b"for=\"\\1.2.3.4\""], &[a("1.2.3.4")]),
            (&[b"for=\"a,b\", for=1.2.3.4"], &[U, a("1.2.3.4")]),
            (&[b"for"], &[U]),
            (&[b"=1.2.3.4"], &[U]),
            (&[b"for=1.2.3.4 junk"], &[U]),
            (&[b"for=\"1.2.3.4\"junk"], &[U]),
            (&[b",, for=1.2.3.4 ,"], &[a("1.2.3.4")]),
            (&[b""], &[]),
            (&[b"for=\"[::1]"], &[U]),
            (&[b"for=[2001:db8::1]:80"], &[a("2001:db8::1")]),
            (&[b"for=\"\xff\""], &[U]),
        ];
        for (lines, want) in cases {
            let lines = values(lines);
            assert_eq!(&forwarded(lines.iter()), want, "{lines:?}");
        }
    }
}

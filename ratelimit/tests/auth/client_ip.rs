use std::net::SocketAddr;

use axum::extract::connect_info::MockConnectInfo;
use ratelimit::auth::{AuthError, Cidr, ClientIp, ProxyHeader};

use crate::{Headers, Outcome, head, ok, outcome, run};

fn cidrs(list: &[&str]) -> Vec<Cidr> {
    list.iter().map(|cidr| cidr.parse().unwrap()).collect()
}

const XFF: &str = "x-forwarded-for";
const FWD: &str = "forwarded";
const XRI: &str = "x-real-ip";

#[test]
fn peer_address_without_trusted_proxies() {
    let auth = ClientIp::new();
    // (peer, headers, user)
    let cases: &[(&str, Headers<'_>, &str)] = &[
        ("1.1.1.1:8000", &[], "1.1.1.1"),
        // Loopback and private peers are clients too (the original refused them).
        ("127.0.0.1:8000", &[], "127.0.0.1"),
        ("172.18.81.1:8000", &[], "172.18.81.1"),
        ("[::1]:8000", &[], "::1"),
        ("[2001:db8::1]:443", &[], "2001:db8::1"),
        // IPv4-mapped IPv6 is its IPv4 address.
        ("[::ffff:203.0.113.9]:443", &[], "203.0.113.9"),
        // Forged headers from an untrusted peer are ignored.
        ("1.1.1.1:8000", &[(XFF, b"6.6.6.6")], "1.1.1.1"),
        ("1.1.1.1:8000", &[(XRI, b"6.6.6.6")], "1.1.1.1"),
        ("1.1.1.1:8000", &[(FWD, b"for=6.6.6.6")], "1.1.1.1"),
        // The original's test: a loopback peer is not trusted unless configured.
        (
            "127.0.0.1:8000",
            &[
                (XFF, b"1.1.1.1, 70.41.3.18, 150.172.238.178"),
                (XRI, b"70.41.3.18"),
            ],
            "127.0.0.1",
        ),
        // Garbage headers never fail the request.
        (
            "1.1.1.1:8000",
            &[(XFF, b"\xff\xfe"), (FWD, b"for=\"")],
            "1.1.1.1",
        ),
    ];
    for (peer, headers, want) in cases {
        assert_eq!(
            outcome(&auth, &head(Some(peer), headers)),
            ok(want, "default"),
            "{peer} {headers:?}"
        );
    }
}

#[test]
fn forwarded_headers_from_trusted_proxies() {
    let one_proxy = ClientIp::new().trust_proxies(cidrs(&["10.0.0.1"]));
    let proxies = ClientIp::new().trust_proxies(cidrs(&["10.0.0.0/8", "2001:db8:ffff::/48"]));
    let forwarded = proxies.clone().proxy_headers([ProxyHeader::Forwarded]);
    let real_ip = proxies.clone().proxy_headers([ProxyHeader::XRealIp]);
    let all = proxies.clone().proxy_headers([
        ProxyHeader::Forwarded,
        ProxyHeader::XForwardedFor,
        ProxyHeader::XRealIp,
    ]);
    let none = proxies.clone().proxy_headers([]);
    // (auth, peer, headers, user)
    let cases: &[(&ClientIp, &str, Headers<'_>, &str)] = &[
        // One proxy appending to X-Forwarded-For: the rightmost entry, not the forged left.
        (
            &one_proxy,
            "10.0.0.1:1",
            &[(XFF, b"203.0.113.9")],
            "203.0.113.9",
        ),
        (
            &one_proxy,
            "10.0.0.1:1",
            &[(XFF, b"6.6.6.6, 203.0.113.9")],
            "203.0.113.9",
        ),
        (
            &one_proxy,
            "10.0.0.1:1",
            &[(XFF, b"spoof, 203.0.113.9")],
            "203.0.113.9",
        ),
        // Split over several field lines: the same list.
        (
            &one_proxy,
            "10.0.0.1:1",
            &[(XFF, b"6.6.6.6"), (XFF, b"203.0.113.9")],
            "203.0.113.9",
        ),
        // No header from the proxy: the proxy itself.
        (&one_proxy, "10.0.0.1:1", &[], "10.0.0.1"),
        // A peer just outside the trusted host: ignored.
        (
            &one_proxy,
            "10.0.0.2:1",
            &[(XFF, b"203.0.113.9")],
            "10.0.0.2",
        ),
        // A chain of trusted proxies: skip each, take the first untrusted from the right.
        (
            &proxies,
            "10.0.0.1:1",
            &[(XFF, b"6.6.6.6, 203.0.113.9, 10.2.0.1, 10.1.0.1")],
            "203.0.113.9",
        ),
        // The client forging a trusted address on the left does not help.
        (
            &proxies,
            "10.0.0.1:1",
            &[(XFF, b"10.9.9.9, 203.0.113.9, 10.1.0.1")],
            "203.0.113.9",
        ),
        // Every entry trusted: the leftmost (a host inside the trusted network).
        (
            &proxies,
            "10.0.0.1:1",
            &[(XFF, b"10.3.0.1, 10.1.0.1")],
            "10.3.0.1",
        ),
        // An unusable entry stops the walk at the nearest trusted hop, never going left.
        (
            &proxies,
            "10.0.0.1:1",
            &[(XFF, b"6.6.6.6, garbage")],
            "10.0.0.1",
        ),
        (
            &proxies,
            "10.0.0.1:1",
            &[(XFF, b"6.6.6.6, unknown, 10.1.0.1")],
            "10.1.0.1",
        ),
        (
            &proxies,
            "10.0.0.1:1",
            &[(XFF, b"6.6.6.6, \xff, 10.1.0.1")],
            "10.1.0.1",
        ),
        (&proxies, "10.0.0.1:1", &[(XFF, b"")], "10.0.0.1"),
        // Ports and IPv6.
        (
            &proxies,
            "10.0.0.1:1",
            &[(XFF, b"203.0.113.9:4711")],
            "203.0.113.9",
        ),
        (
            &proxies,
            "10.0.0.1:1",
            &[(XFF, b"[2001:db8::17]:4711")],
            "2001:db8::17",
        ),
        (
            &proxies,
            "10.0.0.1:1",
            &[(XFF, b"2001:db8::17")],
            "2001:db8::17",
        ),
        (
            &proxies,
            "[2001:db8:ffff::1]:1",
            &[(XFF, b"198.51.100.7")],
            "198.51.100.7",
        ),
        // An IPv4-mapped peer is matched against the IPv4 networks; mapped entries too.
        (
            &proxies,
            "[::ffff:10.0.0.1]:1",
            &[(XFF, b"::ffff:198.51.100.7")],
            "198.51.100.7",
        ),
        (
            &proxies,
            "10.0.0.1:1",
            &[(XFF, b"198.51.100.7, ::ffff:10.1.0.1")],
            "198.51.100.7",
        ),
        // X-Forwarded-For is the default: the others are ignored.
        (
            &proxies,
            "10.0.0.1:1",
            &[(FWD, b"for=6.6.6.6"), (XRI, b"6.6.6.6")],
            "10.0.0.1",
        ),
        // Forwarded (RFC 7239).
        (
            &forwarded,
            "10.0.0.1:1",
            &[(FWD, b"for=203.0.113.9")],
            "203.0.113.9",
        ),
        (
            &forwarded,
            "10.0.0.1:1",
            &[(FWD, b"for=\"[2001:db8:cafe::17]:4711\"")],
            "2001:db8:cafe::17",
        ),
        (
            &forwarded,
            "10.0.0.1:1",
            &[(FWD, b"for=\"203.0.113.9:80\";proto=https")],
            "203.0.113.9",
        ),
        (
            &forwarded,
            "10.0.0.1:1",
            &[(FWD, b"FOR=203.0.113.9;by=10.0.0.1")],
            "203.0.113.9",
        ),
        (
            &forwarded,
            "10.0.0.1:1",
            &[(
                FWD,
                b"for=6.6.6.6, for=203.0.113.9;proto=http, for=10.1.0.1",
            )],
            "203.0.113.9",
        ),
        (
            &forwarded,
            "10.0.0.1:1",
            &[(FWD, b"for=6.6.6.6"), (FWD, b"for=203.0.113.9")],
            "203.0.113.9",
        ),
        (
            &forwarded,
            "10.0.0.1:1",
            &[(FWD, b"for=unknown")],
            "10.0.0.1",
        ),
        (
            &forwarded,
            "10.0.0.1:1",
            &[(FWD, b"for=6.6.6.6, for=_hidden")],
            "10.0.0.1",
        ),
        (
            &forwarded,
            "10.0.0.1:1",
            &[(FWD, b"for=6.6.6.6, proto=https")],
            "10.0.0.1",
        ),
        // A quoted comma cannot smuggle an element in.
        (
            &forwarded,
            "10.0.0.1:1",
            &[(FWD, b"for=\"6.6.6.6, for=7.7.7.7\"")],
            "10.0.0.1",
        ),
        (
            &forwarded,
            "10.0.0.1:1",
            &[(FWD, b"for=\"6.6.6.6")],
            "10.0.0.1",
        ),
        (&forwarded, "10.0.0.1:1", &[(XFF, b"6.6.6.6")], "10.0.0.1"),
        // X-Real-IP.
        (
            &real_ip,
            "10.0.0.1:1",
            &[(XRI, b"203.0.113.9")],
            "203.0.113.9",
        ),
        (&real_ip, "10.0.0.1:1", &[(XRI, b"10.5.5.5")], "10.5.5.5"),
        (&real_ip, "10.0.0.1:1", &[(XRI, b"not an ip")], "10.0.0.1"),
        (&real_ip, "10.0.0.1:1", &[(XFF, b"6.6.6.6")], "10.0.0.1"),
        // Precedence: the first listed header present wins, with no fallback to the next.
        (
            &all,
            "10.0.0.1:1",
            &[
                (FWD, b"for=198.51.100.1"),
                (XFF, b"198.51.100.2"),
                (XRI, b"198.51.100.3"),
            ],
            "198.51.100.1",
        ),
        (
            &all,
            "10.0.0.1:1",
            &[(XFF, b"198.51.100.2"), (XRI, b"198.51.100.3")],
            "198.51.100.2",
        ),
        (
            &all,
            "10.0.0.1:1",
            &[(XRI, b"198.51.100.3")],
            "198.51.100.3",
        ),
        (
            &all,
            "10.0.0.1:1",
            &[(FWD, b"for=unknown"), (XFF, b"198.51.100.2")],
            "10.0.0.1",
        ),
        // No header honoured at all.
        (&none, "10.0.0.1:1", &[(XFF, b"198.51.100.2")], "10.0.0.1"),
    ];
    for (auth, peer, headers, want) in cases {
        assert_eq!(
            outcome(*auth, &head(Some(peer), headers)),
            ok(want, "default"),
            "{peer} {headers:?} with {auth:?}"
        );
    }
}

#[test]
fn private_networks_reproduce_the_original() {
    let original = ClientIp::new()
        .trust_private_networks()
        .proxy_headers([ProxyHeader::XRealIp]);
    let cases: &[(&str, Headers<'_>, &str)] = &[
        ("1.1.1.1:8000", &[(XRI, b"70.41.3.18")], "1.1.1.1"),
        (
            "127.0.0.1:8000",
            &[
                (XFF, b"1.1.1.1, 70.41.3.18, 150.172.238.178"),
                (XRI, b"70.41.3.18"),
            ],
            "70.41.3.18",
        ),
        // Where the original raised EmptyInformation, the private peer is the client.
        ("127.0.0.1:8000", &[("host", b"example.com")], "127.0.0.1"),
        ("172.18.81.1:8000", &[], "172.18.81.1"),
        (
            "[::1]:8000",
            &[(XRI, b"2606:4700:4700::1111")],
            "2606:4700:4700::1111",
        ),
    ];
    for (peer, headers, want) in cases {
        assert_eq!(
            outcome(&original, &head(Some(peer), headers)),
            ok(want, "default"),
            "{peer}"
        );
    }
    // With X-Forwarded-For instead, the rightmost global address of that test's list.
    let xff = ClientIp::new().trust_private_networks();
    let head = head(
        Some("127.0.0.1:8000"),
        &[
            (XFF, b"1.1.1.1, 70.41.3.18, 150.172.238.178"),
            (XRI, b"70.41.3.18"),
        ],
    );
    assert_eq!(outcome(&xff, &head), ok("150.172.238.178", "default"));
}

#[test]
fn ipv6_prefix_keys() {
    let per_64 = ClientIp::new().ipv6_prefix(ClientIp::DEFAULT_IPV6_PREFIX);
    let per_48 = ClientIp::new().ipv6_prefix(48);
    let per_128 = ClientIp::new().ipv6_prefix(200);
    let cases: &[(&ClientIp, &str, &str)] = &[
        (&per_64, "[2001:db8:1:2:3:4:5:6]:1", "2001:db8:1:2::/64"),
        (&per_64, "[2001:db8:1:2:ffff::1]:1", "2001:db8:1:2::/64"),
        (&per_48, "[2001:db8:1:2:3:4:5:6]:1", "2001:db8:1::/48"),
        (&per_128, "[2001:db8:1:2:3:4:5:6]:1", "2001:db8:1:2:3:4:5:6"),
        // IPv4 and IPv4-mapped clients are keyed by their address.
        (&per_64, "1.2.3.4:1", "1.2.3.4"),
        (&per_64, "[::ffff:1.2.3.4]:1", "1.2.3.4"),
    ];
    for (auth, peer, want) in cases {
        assert_eq!(
            outcome(*auth, &head(Some(peer), &[])),
            ok(want, "default"),
            "{peer}"
        );
    }
    // Behind a proxy too.
    let proxied = per_64.trust_proxies(cidrs(&["10.0.0.0/8"]));
    let head = head(Some("10.0.0.1:1"), &[(XFF, b"2001:db8:aa:bb:cc::1")]);
    assert_eq!(
        outcome(&proxied, &head),
        ok("2001:db8:aa:bb::/64", "default")
    );
}

#[test]
fn without_connect_info_is_misconfigured_and_says_how_to_fix_it() {
    let auth = ClientIp::new();
    let error = run(&auth, &head(None, &[(XFF, b"1.2.3.4")])).unwrap_err();
    let AuthError::Misconfigured(message) = error else {
        panic!("{error:?}")
    };
    assert!(
        message.contains("into_make_service_with_connect_info::<SocketAddr>()"),
        "{message}"
    );
    assert_eq!(Outcome::Misconfigured, outcome(&auth, &head(None, &[])));
}

#[test]
fn mock_connect_info_is_accepted() {
    let mut head = head(None, &[]);
    let addr: SocketAddr = "198.51.100.1:1".parse().unwrap();
    head.extensions.insert(MockConnectInfo(addr));
    assert_eq!(
        outcome(&ClientIp::new(), &head),
        ok("198.51.100.1", "default")
    );
}

#[test]
fn client_addr_and_key_are_public() {
    let auth = ClientIp::new().ipv6_prefix(64);
    let head = head(Some("[2001:db8::5]:1"), &[]);
    let addr = auth.client_addr(&head).unwrap();
    assert_eq!(addr.to_string(), "2001:db8::5");
    assert_eq!(auth.key(addr), "2001:db8::/64");
}

//! Hostile input to the header parsers, as property tests through the public authenticators:
//! random bytes (and random mixes of the tokens that matter) in `X-Forwarded-For`,
//! `Forwarded`, `X-Real-IP`, identity headers and `Authorization`. Nothing panics, every
//! answer is a typed result, and where an exact answer is known it is checked:
//!
//! - client IP: an untrusted peer is the client whatever its headers say; from a trusted
//!   proxy, the rightmost untrusted address wins over anything written to its left, and junk
//!   never makes the walk reach further left; IPv6 prefix keys ignore the host bits;
//! - `HeaderAuth`: the identity or the error, exactly as its docs' table says;
//! - `JwtAuth`: random `Authorization` values and random signed payloads (not even JSON) are
//!   a missing identity or invalid credentials; correctly signed tokens with claims of any
//!   JSON type give exactly the documented identity or error, and an `exp` or `nbf` of the
//!   wrong type is always rejected (never skipped).
//!
//! The auth crate's own tests cover fixed cases and random strings over small alphabets;
//! these add arbitrary bytes, structure-aware generators and oracles.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::extract::ConnectInfo;
use http::request::Parts;
use http::{HeaderName, HeaderValue};
use jsonwebtoken::{EncodingKey, Header};
use proptest::prelude::*;
use ratelimit::auth::{
    Algorithm, AuthError, Authenticate, ClientIp, HeaderAuth, Identity, JwtAuth, ProxyHeader,
};
use serde_json::{Map, Value, json};

/// Runs an authenticator's future (the built-in ones are ready at once).
fn run(auth: &impl Authenticate, head: &Parts) -> Result<Identity, AuthError> {
    let mut future = pin!(auth.authenticate(head));
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result,
        Poll::Pending => panic!("a built-in authenticator is ready at once"),
    }
}

/// A request head from `peer` with `headers` (each value as raw bytes).
fn head(peer: IpAddr, headers: &[(&str, Vec<u8>)]) -> Parts {
    let mut builder = http::Request::get("/").extension(ConnectInfo(SocketAddr::new(peer, 4242)));
    for (name, value) in headers {
        let value = HeaderValue::from_bytes(value).expect("generated values are valid");
        builder = builder.header(*name, value);
    }
    builder.body(()).expect("a request").into_parts().0
}

/// Any byte a header value may hold (`HeaderValue` refuses control bytes but tab).
fn header_byte() -> impl Strategy<Value = u8> {
    any::<u8>().prop_map(|byte| {
        if (byte < 0x20 && byte != b'\t') || byte == 0x7f {
            b' '
        } else {
            byte
        }
    })
}

/// Fragments that matter to the proxy-header parsers.
const FRAGMENTS: &[&str] = &[
    "for=",
    "FOR=",
    "by=",
    "proto=https",
    "\"",
    "\\",
    "[",
    "]",
    ":",
    ",",
    ";",
    " ",
    "\t",
    "_",
    "_hidden",
    "unknown",
    "=",
    "1.2.3.4",
    "10.0.0.7",
    "203.0.113.9",
    "::1",
    "2001:db8::17",
    "::ffff:198.51.100.4",
    "fe80::1%eth0",
    ":8080",
    ":_port",
    "999",
    "0",
    "01",
    "\u{e9}",
];

/// A header value: random bytes, or a random mix of meaningful fragments and bytes.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        prop::sample::select(FRAGMENTS).prop_map(|fragment| fragment.as_bytes().to_vec()),
        prop::collection::vec(header_byte(), 1..4),
    ];
    prop_oneof![
        prop::collection::vec(header_byte(), 0..96),
        prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat()),
    ]
}

/// Several field lines of proxy headers, any of the three names.
fn proxy_lines() -> impl Strategy<Value = Vec<(&'static str, Vec<u8>)>> {
    let name = prop::sample::select(&["x-forwarded-for", "forwarded", "x-real-ip"][..]);
    prop::collection::vec((name, header_value()), 0..6)
}

/// An address outside the trusted networks (10/8 and 127/8), in any family.
fn untrusted_addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>()
            .prop_filter("not trusted", |o| o[0] != 10 && o[0] != 127)
            .prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        any::<u128>()
            .prop_map(|bits| IpAddr::V6(Ipv6Addr::from(bits)))
            .prop_filter("not trusted once canonical", |addr| {
                match addr.to_canonical() {
                    IpAddr::V4(v4) => v4.octets()[0] != 10 && v4.octets()[0] != 127,
                    IpAddr::V6(v6) => v6 != Ipv6Addr::LOCALHOST,
                }
            }),
    ]
}

fn trusted_addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<[u8; 3]>().prop_map(|[a, b, c]| Ipv4Addr::new(10, a, b, c))
}

fn trusting(headers: impl IntoIterator<Item = ProxyHeader>) -> ClientIp {
    ClientIp::new()
        .trust_proxies([
            "10.0.0.0/8".parse().expect("a network"),
            "127.0.0.0/8".parse().expect("a network"),
        ])
        .proxy_headers(headers)
}

const ALL_HEADERS: [ProxyHeader; 3] = [
    ProxyHeader::Forwarded,
    ProxyHeader::XForwardedFor,
    ProxyHeader::XRealIp,
];

/// How a proxy may write an address in `X-Forwarded-For` (a port or brackets, or not).
fn xff_form(addr: IpAddr, form: u8) -> String {
    match (addr, form % 3) {
        (IpAddr::V4(v4), 0) => v4.to_string(),
        (IpAddr::V4(v4), _) => format!("{v4}:{}", 1024 + u16::from(form)),
        (IpAddr::V6(v6), 0) => v6.to_string(),
        (IpAddr::V6(v6), 1) => format!("[{v6}]"),
        (IpAddr::V6(v6), _) => format!("[{v6}]:{}", 1024 + u16::from(form)),
    }
}

/// How a proxy may write an address in `Forwarded` (RFC 7239: IPv6 quoted and bracketed).
fn forwarded_form(addr: IpAddr, form: u8) -> String {
    match (addr, form % 3) {
        (IpAddr::V4(v4), 0) => format!("for={v4}"),
        (IpAddr::V4(v4), _) => format!("for=\"{v4}:{}\"", 1024 + u16::from(form)),
        (IpAddr::V6(v6), 0 | 1) => format!("for=\"[{v6}]\""),
        (IpAddr::V6(v6), _) => format!("For=\"[{v6}]:{}\";proto=https", 1024 + u16::from(form)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// From an untrusted peer, no header changes the client: it is the peer.
    #[test]
    fn an_untrusted_peer_is_the_client_whatever_its_headers(
        peer in untrusted_addr(),
        lines in proxy_lines(),
    ) {
        let auth = trusting(ALL_HEADERS);
        let client = auth.client_addr(&head(peer, &lines)).expect("a peer address");
        prop_assert_eq!(client, peer.to_canonical());
    }

    /// From a trusted peer, any headers give an address (never a panic or an error), and
    /// its key is text.
    #[test]
    fn a_trusted_peer_with_any_headers_gives_an_address(
        peer in trusted_addr(),
        lines in proxy_lines(),
        order in Just(ALL_HEADERS).prop_shuffle(),
        prefix in 0_u8..=200,
    ) {
        let auth = trusting(order).ipv6_prefix(prefix);
        let client = auth
            .client_addr(&head(IpAddr::V4(peer), &lines))
            .expect("an address");
        let identity = run(&auth, &head(IpAddr::V4(peer), &lines)).expect("an identity");
        prop_assert_eq!(identity.user(), auth.key(client));
        prop_assert_eq!(identity.group(), "default");
    }

    /// `X-Forwarded-For` and `X-Real-IP`: the rightmost untrusted address is the client,
    /// whatever the client wrote to its left (in the same line or in earlier ones).
    #[test]
    fn the_rightmost_untrusted_address_wins_over_anything_left_of_it(
        junk_lines in prop::collection::vec(header_value(), 0..3),
        junk in header_value(),
        client in untrusted_addr(),
        form in any::<u8>(),
        proxies in prop::collection::vec((trusted_addr(), any::<u8>()), 0..4),
        real_ip in any::<bool>(),
    ) {
        let (name, header) = if real_ip {
            ("x-real-ip", ProxyHeader::XRealIp)
        } else {
            ("x-forwarded-for", ProxyHeader::XForwardedFor)
        };
        let mut line = junk;
        line.extend_from_slice(b", ");
        line.extend_from_slice(xff_form(client, form).as_bytes());
        for (proxy, form) in &proxies {
            line.extend_from_slice(b", ");
            line.extend_from_slice(xff_form(IpAddr::V4(*proxy), *form).as_bytes());
        }
        let mut lines: Vec<(&str, Vec<u8>)> =
            junk_lines.into_iter().map(|junk| (name, junk)).collect();
        lines.push((name, line));
        let found = trusting([header])
            .client_addr(&head(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), &lines))
            .expect("an address");
        prop_assert_eq!(found, client.to_canonical());
    }

    /// `Forwarded`: the rightmost untrusted `for=` wins over earlier field lines of junk; junk
    /// in the same line may break it (then the request is keyed as the peer), but never
    /// makes the walk go further left.
    #[test]
    fn forwarded_junk_never_moves_the_client_left(
        junk_lines in prop::collection::vec(header_value(), 0..3),
        junk in header_value(),
        client in untrusted_addr(),
        form in any::<u8>(),
        proxies in prop::collection::vec((trusted_addr(), any::<u8>()), 0..4),
    ) {
        let peer = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let mut clean = forwarded_form(client, form);
        for (proxy, form) in &proxies {
            clean.push_str(", ");
            clean.push_str(&forwarded_form(IpAddr::V4(*proxy), *form));
        }
        let auth = trusting([ProxyHeader::Forwarded]);

        // Junk in earlier field lines: the client is exact.
        let mut lines: Vec<(&str, Vec<u8>)> =
            junk_lines.into_iter().map(|junk| ("forwarded", junk)).collect();
        lines.push(("forwarded", clean.clone().into_bytes()));
        let found = auth.client_addr(&head(peer, &lines)).expect("an address");
        prop_assert_eq!(found, client.to_canonical());

        // Junk in the same line, to the left: the client, or the peer.
        let mut line = junk;
        line.extend_from_slice(b", ");
        line.extend_from_slice(clean.as_bytes());
        let found = auth
            .client_addr(&head(peer, &[("forwarded", line)]))
            .expect("an address");
        prop_assert!(found == client.to_canonical() || found == peer, "{}", found);
    }

    /// IPv6 prefix keys ignore the host bits and keep the network bits.
    #[test]
    fn ipv6_prefix_keys_ignore_exactly_the_host_bits(
        bits in any::<u128>(),
        host in any::<u128>(),
        len in 1_u8..=128,
        flip in any::<u8>(),
    ) {
        let addr = Ipv6Addr::from(bits);
        prop_assume!(addr.to_ipv4_mapped().is_none());
        let host_mask = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
        let same_network = Ipv6Addr::from((bits & !host_mask) | (host & host_mask));
        prop_assume!(same_network.to_ipv4_mapped().is_none());
        let auth = ClientIp::new().ipv6_prefix(len);
        prop_assert_eq!(
            auth.key(IpAddr::V6(addr)),
            auth.key(IpAddr::V6(same_network))
        );
        // Flipping one bit of the network: another key.
        let network_bit = 127 - u32::from(flip % len);
        let other_network = Ipv6Addr::from(bits ^ (1 << network_bit));
        prop_assume!(other_network.to_ipv4_mapped().is_none());
        prop_assert_ne!(auth.key(IpAddr::V6(addr)), auth.key(IpAddr::V6(other_network)));
    }
}

/// `HeaderAuth`'s documented answer for one header's values: `Ok(None)` when absent or
/// empty, the trimmed value, or the error's kind.
fn header_oracle(values: &[Vec<u8>], max_len: usize) -> Result<Option<String>, &'static str> {
    match values {
        [] => Ok(None),
        [value] => {
            if value.len() > max_len {
                return Err("invalid");
            }
            let text = std::str::from_utf8(value).map_err(|_| "invalid")?;
            let text = text.trim_matches([' ', '\t']);
            Ok((!text.is_empty()).then(|| text.to_owned()))
        }
        _ => Err("invalid"),
    }
}

fn kind(error: &AuthError) -> &'static str {
    match error {
        AuthError::MissingIdentity(_) => "missing",
        AuthError::InvalidCredentials(_) => "invalid",
        AuthError::Misconfigured(_) => "misconfigured",
        _ => "other",
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// `HeaderAuth` answers exactly as its docs' table says, for any bytes, any number of
    /// values and any length cap.
    #[test]
    fn header_auth_answers_exactly_as_documented(
        users in prop::collection::vec(header_value(), 0..3),
        groups in prop::collection::vec(header_value(), 0..3),
        max_len in 0_usize..80,
    ) {
        let auth = HeaderAuth::new(HeaderName::from_static("x-api-key"))
            .group_header(HeaderName::from_static("x-tier"))
            .max_len(max_len);
        let mut headers: Vec<(&str, Vec<u8>)> =
            users.iter().map(|user| ("x-api-key", user.clone())).collect();
        headers.extend(groups.iter().map(|group| ("x-tier", group.clone())));
        let got = run(&auth, &head(IpAddr::V4(Ipv4Addr::LOCALHOST), &headers));
        let want = header_oracle(&users, max_len).and_then(|user| {
            let user = user.ok_or("missing")?;
            let group = header_oracle(&groups, max_len)?;
            Ok((user, group.unwrap_or_else(|| "default".to_owned())))
        });
        match (got, want) {
            (Ok(identity), Ok((user, group))) => {
                prop_assert_eq!(identity.user(), user);
                prop_assert_eq!(identity.group(), group);
            }
            (Err(error), Err(want)) => prop_assert_eq!(kind(&error), want, "{}", error),
            (got, want) => prop_assert!(false, "got {:?}, want {:?}", got, want),
        }
    }
}

const SECRET: &[u8] = b"a secret of at least thirty-two bytes!";

fn jwt() -> JwtAuth {
    JwtAuth::from_secret(SECRET, [Algorithm::HS256]).expect("a valid secret")
}

fn bearer(value: &[u8]) -> Parts {
    head(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        &[("authorization", value.to_vec())],
    )
}

fn key() -> EncodingKey {
    EncodingKey::from_secret(SECRET).expect("an HMAC key")
}

/// Base64url without padding, as JWTs use.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            let index = usize::try_from((n >> (18 - 6 * i)) & 63).expect("six bits");
            out.push(char::from(ALPHABET[index]));
        }
    }
    out
}

/// A token with this header and payload (raw bytes), correctly signed with HS256.
fn signed_raw(header: &[u8], payload: &[u8]) -> String {
    let message = format!("{}.{}", base64url(header), base64url(payload));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key(), Algorithm::HS256)
        .expect("HS256 signs");
    format!("{message}.{signature}")
}

/// A JSON scalar, with the edge cases that matter to claims.
fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (i64::MAX.cast_unsigned()..=u64::MAX).prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        Just(json!(0)),
        Just(json!(1.0)),
        Just(json!(-1)),
        Just(json!("")),
        ".{0,12}".prop_map(Value::String),
        Just(json!("99999999999")),
    ]
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(".{0,4}", inner, 0..3)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A claim's value: mostly scalars, sometimes arrays and objects.
fn claim_value() -> impl Strategy<Value = Value> {
    prop_oneof![3 => json_leaf(), 1 => json_value()]
}

/// `JwtAuth`'s documented identity (or the error's kind) for claims that pass validation.
fn claims_oracle(claims: &Map<String, Value>) -> Result<(String, String), &'static str> {
    let user = match claims.get("user") {
        None | Some(Value::Null) => return Err("missing"),
        Some(Value::String(user)) if user.is_empty() => return Err("missing"),
        Some(Value::String(user)) => user.clone(),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        Some(_) => return Err("invalid"),
    };
    let group = match claims.get("group") {
        None | Some(Value::Null) => "default".to_owned(),
        Some(Value::String(group)) if group.is_empty() => "default".to_owned(),
        Some(Value::String(group)) => group.clone(),
        Some(_) => return Err("invalid"),
    };
    Ok((user, group))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any `Authorization` value (random bytes after any scheme) is a missing identity or
    /// invalid credentials.
    #[test]
    fn any_authorization_value_is_missing_or_invalid(
        scheme in prop::sample::select(&["", "Bearer ", "bearer  ", "BEARER\t", "Basic ", "Bearer"][..]),
        rest in header_value(),
    ) {
        let mut value = scheme.as_bytes().to_vec();
        value.extend_from_slice(&rest);
        match run(&jwt(), &bearer(&value)) {
            Err(AuthError::MissingIdentity(_) | AuthError::InvalidCredentials(_)) => {}
            other => prop_assert!(false, "{:?} for {:?}", other, value),
        }
    }

    /// Correctly signed tokens whose payload is anything at all (often not JSON): a typed
    /// answer; a payload that is not a JSON object is invalid credentials.
    #[test]
    fn signed_arbitrary_payloads_are_typed_answers(
        payload in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            json_value().prop_map(|value| value.to_string().into_bytes()),
        ],
        header in prop_oneof![
            Just(br#"{"alg":"HS256","typ":"JWT"}"#.to_vec()),
            Just(br#"{"alg":"HS256","crit":["x"]}"#.to_vec()),
            Just(br#"{"alg":"none"}"#.to_vec()),
            prop::collection::vec(any::<u8>(), 0..32),
        ],
    ) {
        let token = signed_raw(&header, &payload);
        let result = run(&jwt(), &bearer(format!("Bearer {token}").as_bytes()));
        if let Err(AuthError::Misconfigured(message)) = &result {
            prop_assert!(false, "misconfigured: {}", message);
        }
        let is_object = serde_json::from_slice::<Map<String, Value>>(&payload).is_ok();
        if !is_object {
            prop_assert!(
                matches!(result, Err(AuthError::InvalidCredentials(_))),
                "{:?} for {:?}", result, String::from_utf8_lossy(&payload)
            );
        }
    }

    /// Correctly signed tokens with user and group claims of any JSON type: exactly the
    /// documented identity or error.
    #[test]
    fn signed_claims_of_any_type_give_the_documented_identity(
        user in prop::option::of(claim_value()),
        group in prop::option::of(claim_value()),
    ) {
        let mut claims = Map::new();
        if let Some(user) = user {
            claims.insert("user".to_owned(), user);
        }
        if let Some(group) = group {
            claims.insert("group".to_owned(), group);
        }
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &key(),
        )
        .expect("encodes");
        let got = run(&jwt(), &bearer(format!("Bearer {token}").as_bytes()));
        match (got, claims_oracle(&claims)) {
            (Ok(identity), Ok((user, group))) => {
                prop_assert_eq!(identity.user(), user);
                prop_assert_eq!(identity.group(), group);
            }
            (Err(error), Err(want)) => prop_assert_eq!(kind(&error), want, "{}", error),
            (got, want) => prop_assert!(false, "got {:?}, want {:?} for {:?}", got, want, claims),
        }
    }

    /// `exp` and `nbf` of any JSON type: a value that is not a number is always rejected
    /// (never skipped: CVE-2026-25537), and so is an `exp` long past.
    #[test]
    fn time_claims_of_the_wrong_type_are_rejected(
        exp in prop::option::of(claim_value()),
        nbf in prop::option::of(claim_value()),
    ) {
        let mut claims = Map::new();
        claims.insert("user".to_owned(), json!("u"));
        if let Some(exp) = &exp {
            claims.insert("exp".to_owned(), exp.clone());
        }
        if let Some(nbf) = &nbf {
            claims.insert("nbf".to_owned(), nbf.clone());
        }
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &key(),
        )
        .expect("encodes");
        let got = run(&jwt(), &bearer(format!("Bearer {token}").as_bytes()));
        let wrong_type = |claim: &Option<Value>| {
            claim.as_ref().is_some_and(|value| !value.is_number() && !value.is_null())
        };
        let expired = exp
            .as_ref()
            .and_then(Value::as_f64)
            .is_some_and(|exp| exp < 1_000_000_000.0);
        match &got {
            Err(AuthError::InvalidCredentials(_)) => {}
            Ok(identity) => {
                prop_assert!(
                    !wrong_type(&exp) && !wrong_type(&nbf) && !expired,
                    "accepted exp {:?} nbf {:?}", exp, nbf
                );
                prop_assert_eq!(identity.user(), "u");
            }
            Err(other) => prop_assert!(false, "{:?}", other),
        }
    }
}

//! Hostile HTTP end to end, as raw bytes on TCP: identity headers that are not UTF-8, empty,
//! repeated or huge; proxy headers that are malformed or enormous; odd paths (percent-encoded
//! bytes, `..`, `//`, very long ones); malformed requests. Every answer is a 4xx (or the
//! designed answer: a normal 200 where the input is harmless), never a 5xx; no path variant
//! reaches a limited handler without being counted; nothing panics; and the server keeps
//! serving normal requests after each case.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use http::HeaderName;
use ratelimit::auth::{Algorithm, ClientIp, HeaderAuth, JwtAuth, ProxyHeader};
use ratelimit::backend::{
    Backend, Decision, DecisionFuture, DecisionRequest, Denial, DenialCause, ManualClock,
    MemoryBackend, Quota, Scope,
};
use ratelimit::middleware::RateLimitHeaders;
use ratelimit::{RateLimitLayer, Rules, ratelimit};
use ratelimit_tests::net::{Client, Raw, Server, panics};

const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

/// One zone for every `/towns…` path, so a user gets one admission in all, whatever the
/// spelling of the path.
static USER_RULES: Rules = ratelimit! { "^/towns" => [minute = 1 zone = "towns"] };
static IP_RULES: Rules = ratelimit! { "^/ip" => [minute = 1000] };
static JWT_RULES: Rules = ratelimit! { "^/jwt" => [minute = 1000] };

const SECRET: &[u8] = b"a secret of at least thirty-two bytes!";

fn memory() -> MemoryBackend<ManualClock> {
    MemoryBackend::builder().clock(ManualClock::new()).build()
}

/// Three limited parts, each with its own authenticator, and an unlimited `/free`.
fn app() -> Router {
    let user = Router::new()
        .route("/towns", get(|| async { "towns" }))
        .route("/towns/{*rest}", get(|| async { "towns" }))
        .layer(RateLimitLayer::new(
            USER_RULES,
            HeaderAuth::new(HeaderName::from_static("x-user")),
            memory(),
        ));
    let ip = Router::new()
        .route("/ip", get(|| async { "ip" }))
        .layer(RateLimitLayer::new(
            IP_RULES,
            ClientIp::new()
                .trust_proxies(["127.0.0.1".parse().expect("an address")])
                .proxy_headers([
                    ProxyHeader::Forwarded,
                    ProxyHeader::XForwardedFor,
                    ProxyHeader::XRealIp,
                ]),
            memory(),
        ));
    let jwt = Router::new()
        .route("/jwt", get(|| async { "jwt" }))
        .layer(RateLimitLayer::new(
            JWT_RULES,
            JwtAuth::from_secret(SECRET, [Algorithm::HS256]).expect("a valid secret"),
            memory(),
        ));
    Router::new()
        .route("/free", get(|| async { "free" }))
        .merge(user)
        .merge(ip)
        .merge(jwt)
}

/// What a case may get back.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// One of these statuses.
    Status(&'static [u16]),
    /// One of these statuses, or the connection closed without a response.
    StatusOrClosed(&'static [u16]),
    /// The client ends its side after the bytes (an incomplete request): one of these
    /// statuses, or the connection closed without a response.
    CutShort(&'static [u16]),
}

fn request(head: &str, headers: &[(&str, &[u8])]) -> Vec<u8> {
    let mut bytes = format!("{head}\r\nhost: localhost\r\n").into_bytes();
    for (name, value) in headers {
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"\r\n");
    bytes
}

fn get_as(path: &str, user: &str, headers: &[(&str, &[u8])]) -> Vec<u8> {
    let mut all: Vec<(&str, &[u8])> = vec![("x-user", user.as_bytes())];
    all.extend_from_slice(headers);
    request(&format!("GET {path} HTTP/1.1"), &all)
}

/// Sends `bytes`, checks the answer against `expect` (and never a 5xx), then checks that
/// the server still serves a normal request.
async fn check(client: &Client, name: &str, bytes: &[u8], expect: Expect) {
    let raw = client
        .raw(bytes, matches!(expect, Expect::CutShort(_)))
        .await;
    match (&raw, expect) {
        (
            Raw::Reply(reply),
            Expect::Status(statuses)
            | Expect::StatusOrClosed(statuses)
            | Expect::CutShort(statuses),
        ) => {
            assert!(reply.status < 500, "{name}: a server error: {reply:?}");
            assert!(
                statuses.contains(&reply.status),
                "{name}: {} is not one of {statuses:?}: {reply:?}",
                reply.status
            );
            assert!(
                !(reply.status == 200 && reply.text() == "towns" && name.starts_with("path")),
                "{name}: reached the limited handler uncounted"
            );
        }
        (Raw::Closed, Expect::StatusOrClosed(_) | Expect::CutShort(_)) => {}
        (Raw::Closed, Expect::Status(statuses)) => {
            panic!("{name}: the connection closed without a response (wanted {statuses:?})")
        }
    }
    let normal = client.get("/free", &[]).await;
    assert_eq!(normal.status, 200, "after {name}: {normal:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_identity_headers_get_4xx_and_the_server_keeps_serving() {
    let panics_before = panics();
    let server = Server::start(app()).await;
    let client = server.client(CLIENT_TIMEOUT);
    let huge = vec![b'a'; 60_000];
    let enormous = vec![b'a'; 1_000_000];
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "x-user not UTF-8",
            request("GET /towns HTTP/1.1", &[("x-user", b"\xff\xfe\x80")]),
            Expect::Status(&[401]),
        ),
        (
            "x-user UTF-8 beyond ASCII",
            request("GET /towns HTTP/1.1", &[("x-user", "café".as_bytes())]),
            Expect::Status(&[200]),
        ),
        (
            "x-user empty",
            request("GET /towns HTTP/1.1", &[("x-user", b"")]),
            Expect::Status(&[401]),
        ),
        (
            "x-user blank",
            request("GET /towns HTTP/1.1", &[("x-user", b" \t ")]),
            Expect::Status(&[401]),
        ),
        (
            "x-user missing",
            request("GET /towns HTTP/1.1", &[]),
            Expect::Status(&[401]),
        ),
        (
            "x-user twice",
            request("GET /towns HTTP/1.1", &[("x-user", b"a"), ("x-user", b"b")]),
            Expect::Status(&[401]),
        ),
        (
            "x-user of 60 kB",
            request("GET /towns HTTP/1.1", &[("x-user", &huge)]),
            Expect::Status(&[401]),
        ),
        (
            "x-user of 1 MB",
            request("GET /towns HTTP/1.1", &[("x-user", &enormous)]),
            Expect::StatusOrClosed(&[431]),
        ),
        (
            "200 headers",
            {
                let names: Vec<String> = (0..200).map(|i| format!("x-h{i}")).collect();
                let headers: Vec<(&str, &[u8])> = names
                    .iter()
                    .map(|name| (name.as_str(), &b"v"[..]))
                    .collect();
                request("GET /towns HTTP/1.1", &headers)
            },
            Expect::StatusOrClosed(&[431]),
        ),
        (
            "x-user with a NUL byte",
            request("GET /towns HTTP/1.1", &[("x-user", b"a\0b")]),
            Expect::Status(&[400]),
        ),
        (
            "x-user folded over two lines",
            request("GET /towns HTTP/1.1", &[("x-user", b"a\r\n b")]),
            Expect::Status(&[400]),
        ),
        (
            "a space before the colon",
            b"GET /towns HTTP/1.1\r\nhost: x\r\nx-user : a\r\n\r\n".to_vec(),
            Expect::Status(&[400]),
        ),
        // Proxy headers from the trusted proxy (the client connects from 127.0.0.1).
        (
            "x-forwarded-for not UTF-8",
            request(
                "GET /ip HTTP/1.1",
                &[("x-forwarded-for", b"\xff, \x80\x81")],
            ),
            Expect::Status(&[200]),
        ),
        (
            "forwarded with an unterminated quote",
            request("GET /ip HTTP/1.1", &[("forwarded", b"for=\"[2001:db8::1")]),
            Expect::Status(&[200]),
        ),
        (
            "forwarded of garbage",
            request(
                "GET /ip HTTP/1.1",
                &[("forwarded", b";;,=\"\\\xff,for=,for")],
            ),
            Expect::Status(&[200]),
        ),
        (
            "x-real-ip of garbage",
            request("GET /ip HTTP/1.1", &[("x-real-ip", b"999.1.1.1:99999")]),
            Expect::Status(&[200]),
        ),
        (
            "x-forwarded-for of 20 000 entries",
            {
                let list = vec!["10.0.0.1"; 20_000].join(",");
                request("GET /ip HTTP/1.1", &[("x-forwarded-for", list.as_bytes())])
            },
            Expect::Status(&[200]),
        ),
        (
            "x-forwarded-for on 90 lines",
            {
                let line = vec!["203.0.113.9"; 100].join(", ");
                let headers: Vec<(&str, &[u8])> = (0..90)
                    .map(|_| ("x-forwarded-for", line.as_bytes()))
                    .collect();
                request("GET /ip HTTP/1.1", &headers)
            },
            Expect::Status(&[200]),
        ),
        // Authorization for the JWT part.
        (
            "authorization not UTF-8",
            request(
                "GET /jwt HTTP/1.1",
                &[("authorization", b"Bearer \xff\xfe")],
            ),
            Expect::Status(&[401]),
        ),
        (
            "authorization of a huge token",
            {
                let mut value = b"Bearer ".to_vec();
                value.extend_from_slice(&huge);
                request("GET /jwt HTTP/1.1", &[("authorization", &value)])
            },
            Expect::Status(&[401]),
        ),
        (
            "authorization of a forged token",
            request(
                "GET /jwt HTTP/1.1",
                &[(
                    "authorization",
                    b"Bearer eyJhbGciOiJub25lIn0.eyJ1c2VyIjoiYWRtaW4ifQ.",
                )],
            ),
            Expect::Status(&[401]),
        ),
        (
            "authorization empty bearer",
            request("GET /jwt HTTP/1.1", &[("authorization", b"Bearer ")]),
            Expect::Status(&[401]),
        ),
        (
            "authorization twice",
            request(
                "GET /jwt HTTP/1.1",
                &[
                    ("authorization", b"Bearer a"),
                    ("authorization", b"Bearer b"),
                ],
            ),
            Expect::Status(&[401]),
        ),
    ];
    for (name, bytes, expect) in &cases {
        check(&client, name, bytes, *expect).await;
    }
    assert_eq!(panics(), panics_before, "something panicked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_paths_are_counted_or_not_routed_never_a_bypass() {
    let panics_before = panics();
    let server = Server::start(app()).await;
    let client = server.client(CLIENT_TIMEOUT);
    // The user's one admission in the `towns` zone.
    let first = client.get("/towns", &[("x-user", "walker")]).await;
    assert_eq!(first.status, 200, "{first:?}");
    let long_segment = "a".repeat(8_000);
    let very_long = "a".repeat(70_000);
    // Every spelling: counted (429) or not routed to the handler (404, 400, 414, …).
    let not_through: &[u16] = &[400, 404, 405, 414, 429, 431];
    let paths: Vec<String> = vec![
        "/towns".into(),
        "/towns/".into(),
        "/towns?x=1".into(),
        "/towns/../towns".into(),
        "/towns/./x".into(),
        "/towns/%2e%2e/towns".into(),
        "/towns%2f".into(),
        "/towns%00".into(),
        "/towns;param".into(),
        "/%74owns".into(),
        "/%74%6f%77%6e%73".into(),
        "//towns".into(),
        "///towns".into(),
        "/./towns".into(),
        "/x/../towns".into(),
        "/TOWNS".into(),
        "/%ff%fe".into(),
        "/towns/%ff%fe".into(),
        "/towns/\u{e9}".into(),
        format!("/towns/{long_segment}"),
        format!("/{very_long}"),
        format!("/towns/{very_long}"),
        "http://localhost/towns".into(),
        "http://localhost//towns".into(),
        "*".into(),
    ];
    for (i, path) in paths.iter().enumerate() {
        let name = format!("path {i} ({})", &path[..path.len().min(40)]);
        let bytes = get_as(path, "walker", &[]);
        check(&client, &name, &bytes, Expect::Status(not_through)).await;
    }
    // Another method on the same paths counts too (the rule takes any method).
    check(
        &client,
        "path with a lowercase method",
        &request("get /towns HTTP/1.1", &[("x-user", b"walker")]),
        Expect::Status(not_through),
    )
    .await;
    // Fresh users still get their admission: the server limits as before.
    let fresh = client.get("/towns/%ff", &[("x-user", "fresh")]).await;
    assert_eq!(fresh.status, 200, "{fresh:?}");
    assert_eq!(panics(), panics_before, "something panicked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_http_gets_4xx_and_the_server_keeps_serving() {
    let panics_before = panics();
    let server = Server::start(app()).await;
    let client = server.client(CLIENT_TIMEOUT);
    let bad: &[u16] = &[400];
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("garbage", b"GARBAGE\r\n\r\n".to_vec(), Expect::Status(bad)),
        (
            "binary garbage",
            (0..=255).collect::<Vec<u8>>(),
            Expect::StatusOrClosed(bad),
        ),
        (
            "a header without a colon",
            b"GET /towns HTTP/1.1\r\nhost: x\r\nx-user\r\n\r\n".to_vec(),
            Expect::Status(bad),
        ),
        (
            "a method with a bad byte",
            b"G@T /towns HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(),
            Expect::Status(bad),
        ),
        (
            "a request line without a version",
            b"GET /towns\r\nhost: x\r\n\r\n".to_vec(),
            Expect::Status(bad),
        ),
        (
            "a path with a space",
            b"GET /to wns HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(),
            Expect::Status(bad),
        ),
        (
            "a bad content length",
            b"GET /towns HTTP/1.1\r\nhost: x\r\nx-user: m\r\ncontent-length: abc\r\n\r\n".to_vec(),
            Expect::Status(bad),
        ),
        (
            "two content lengths",
            b"GET /towns HTTP/1.1\r\nhost: x\r\nx-user: m\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab"
                .to_vec(),
            Expect::Status(bad),
        ),
        (
            "content length and chunked",
            b"POST /towns HTTP/1.1\r\nhost: x\r\nx-user: m\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"
                .to_vec(),
            Expect::StatusOrClosed(&[400, 405, 429]),
        ),
        (
            "bare line feeds",
            b"GET /free HTTP/1.1\nhost: x\n\n".to_vec(),
            Expect::Status(&[200, 400]),
        ),
        (
            "an HTTP/2 preface",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
            Expect::StatusOrClosed(bad),
        ),
        (
            "an HTTP/1.0 request",
            b"GET /towns HTTP/1.0\r\nx-user: ten\r\n\r\n".to_vec(),
            Expect::Status(&[200]),
        ),
        ("nothing at all", Vec::new(), Expect::CutShort(bad)),
        (
            "a request cut short",
            b"GET /towns HTTP/1.1\r\nhost: x\r\nx-us".to_vec(),
            Expect::CutShort(bad),
        ),
    ];
    for (name, bytes, expect) in &cases {
        check(&client, name, bytes, *expect).await;
    }
    assert_eq!(panics(), panics_before, "something panicked");
}

static HEAD_RULES: Rules = ratelimit! {
    "^/any$" => [minute = 1],
    "^/get$" => [method = GET minute = 1],
};

/// `HEAD` runs axum's `GET` handler: a rule for every method counts it with the `GET`s, and
/// so does a `method = GET` rule, in the same pool (`evasion.rs` has the HEAD-rule cases).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_is_counted_with_the_gets() {
    let hits = Arc::new(AtomicUsize::new(0));
    let handler = |hits: Arc<AtomicUsize>| {
        move || async move {
            hits.fetch_add(1, Ordering::SeqCst);
            "body"
        }
    };
    let app = Router::new()
        .route("/any", get(handler(Arc::clone(&hits))))
        .route("/get", get(handler(Arc::clone(&hits))))
        .layer(RateLimitLayer::new(
            HEAD_RULES,
            HeaderAuth::new(HeaderName::from_static("x-user")),
            memory(),
        ));
    let server = Server::start(app).await;
    let client = server.client(CLIENT_TIMEOUT);
    let head = |path: &str| format!("HEAD {path} HTTP/1.1\r\nhost: x\r\nx-user: u\r\n\r\n");
    let status = |raw: Raw| match raw {
        Raw::Reply(reply) => reply.status,
        Raw::Closed => panic!("no response"),
    };

    assert_eq!(client.get("/any", &[("x-user", "u")]).await.status, 200);
    assert_eq!(
        status(client.raw(head("/any").as_bytes(), false).await),
        429
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    assert_eq!(client.get("/get", &[("x-user", "u")]).await.status, 200);
    assert_eq!(client.get("/get", &[("x-user", "u")]).await.status, 429);
    assert_eq!(
        status(client.raw(head("/get").as_bytes(), false).await),
        429
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "HEAD never ran the GET handler"
    );
}

/// A backend of extreme answers: a denial "for ever" (`Duration::MAX`) on `/forever`, an
/// admission with the largest quota and reset elsewhere.
struct Extreme;

impl Backend for Extreme {
    fn decide<'a>(&'a self, request: &'a DecisionRequest<'a>) -> DecisionFuture<'a> {
        let limit = request.limits[0];
        DecisionFuture::ready(Ok(match request.pool.scope {
            Scope::Path("/forever") => Decision::Deny(Denial {
                retry_after: Duration::MAX,
                cause: DenialCause::Limit(limit),
            }),
            _ => Decision::Allow(Quota {
                limit,
                remaining: u64::MAX,
                reset: Duration::MAX,
                counted_at: 0,
            }),
        }))
    }
}

static EXTREME_RULES: Rules = ratelimit! { "^/" => [minute = 1] };

/// A backend may answer any `Duration` (a custom one may deny "for ever"): the middleware
/// saturates it into `Retry-After` and the rate-limit headers instead of overflowing
/// (a panic in debug builds, `Retry-After: 1` in release ones, before the fix).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_backend_answers_saturate_and_never_panic() {
    let panics_before = panics();
    assert_eq!(
        Denial {
            retry_after: Duration::MAX,
            cause: DenialCause::Blocked,
        }
        .retry_after_secs(),
        u64::MAX
    );
    for headers in [RateLimitHeaders::Ietf, RateLimitHeaders::Legacy] {
        let app = Router::new()
            .route("/forever", get(|| async { "never" }))
            .route("/allowed", get(|| async { "allowed" }))
            .layer(
                RateLimitLayer::new(
                    EXTREME_RULES,
                    HeaderAuth::new(HeaderName::from_static("x-user")),
                    Extreme,
                )
                .headers(headers),
            );
        let server = Server::start(app).await;
        let client = server.client(CLIENT_TIMEOUT);
        let raw = client.raw(&get_as("/forever", "u", &[]), false).await;
        let Raw::Reply(refused) = raw else {
            panic!("{headers:?}: no response to /forever (the server task panicked?)");
        };
        assert_eq!(refused.status, 429, "{refused:?}");
        assert_eq!(refused.header("retry-after"), Some("18446744073709551615"));
        let Raw::Reply(admitted) = client.raw(&get_as("/allowed", "u", &[]), false).await else {
            panic!("{headers:?}: no response to /allowed (the server task panicked?)");
        };
        assert_eq!(admitted.status, 200, "{admitted:?}");
        match headers {
            RateLimitHeaders::Ietf => {
                assert_eq!(
                    refused.header("ratelimit"),
                    Some(r#""minute";r=0;t=999999999999999"#)
                );
                assert_eq!(
                    admitted.header("ratelimit"),
                    Some(r#""minute";r=999999999999999;t=999999999999999"#)
                );
            }
            _ => {
                assert_eq!(
                    refused.header("x-ratelimit-reset"),
                    Some("18446744073709551615")
                );
                assert_eq!(
                    admitted.header("x-ratelimit-reset"),
                    Some("18446744073709551615")
                );
            }
        }
    }
    assert_eq!(panics(), panics_before, "something panicked");
}

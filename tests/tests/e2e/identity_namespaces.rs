//! `FirstOf` keeps its authenticators' identities apart, end to end: under
//! `JwtAuth.or(ClientIp)`, a token whose user is the IP address an anonymous client comes
//! from is a different identity, over real HTTP, in the in-memory backend and in Redis. The
//! token's user gets itself blocked without blocking the anonymous client at that address,
//! and the other way round. A control with `shared_namespace()` shows the old behaviour (one
//! blocks the other), so the test would see the namespaces merge.
//!
//! Clocks are controlled: a `ManualClock`, the Redis backend's frozen test clock.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, Response};
use jsonwebtoken::{EncodingKey, Header, encode};
use ratelimit::auth::{Algorithm, Authenticate, ClientIp, Identity, JwtAuth};
use ratelimit::backend::{Backend, ManualClock, MemoryBackend};
use ratelimit::middleware::{FailurePolicy, Limiter, RejectionCause};
use ratelimit::{RateLimitLayer, Rules, ratelimit};
use ratelimit_tests::net::{Client, Reply, Server, panics};
use ratelimit_tests::redis_server::{fresh_prefix, shared_server};
use serde_json::json;

const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

/// One request a second; a second request within the second blocks the user for a minute.
static RULES: Rules = ratelimit! { "^/api$" => [second = 1 block_time = 60] };

const SECRET: &[u8] = b"a secret of at least thirty-two bytes!";

/// The loopback address the anonymous client comes from, and the token's user.
const ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9));

fn jwt() -> JwtAuth {
    JwtAuth::from_secret(SECRET, [Algorithm::HS256]).expect("a valid secret")
}

/// A token whose user is `user`.
fn token(user: &str) -> String {
    let token = encode(
        &Header::new(Algorithm::HS256),
        &json!({ "user": user }),
        &EncodingKey::from_secret(SECRET).expect("an HMAC key"),
    )
    .expect("a token");
    format!("Bearer {token}")
}

/// `/api`, limited by `RULES` with `auth`: answers with the user id the handler sees
/// (`Limiter::identity`); a refusal is a 429 whose body is the rejection's user id and cause.
fn app(auth: impl Authenticate, backend: impl Backend) -> Router {
    Router::new()
        .route(
            "/api",
            get(|request: Request<Body>| async move {
                request
                    .extensions()
                    .get::<Limiter<Body>>()
                    .and_then(Limiter::identity)
                    .map_or("no identity", Identity::user)
                    .to_owned()
            }),
        )
        .layer(
            RateLimitLayer::new(RULES, auth, backend)
                .failure_policy(FailurePolicy::Closed)
                .limiter_extension(true)
                .on_blocked(|rejection| {
                    let cause = match rejection.cause() {
                        RejectionCause::Blocked => "blocked",
                        RejectionCause::Limit(_) => "limited",
                        _ => "other",
                    };
                    let mut response = Response::builder().status(429);
                    if let Some(secs) = rejection.retry_after_secs() {
                        response = response.header("retry-after", secs);
                    }
                    response
                        .body(Body::from(format!(
                            "{} {cause}",
                            rejection.identity().user()
                        )))
                        .expect("a response")
                }),
        )
}

/// Who sends: the token's user, or the anonymous client (both from `ADDRESS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Token,
    Anonymous,
}

impl Who {
    const fn other(self) -> Self {
        match self {
            Self::Token => Self::Anonymous,
            Self::Anonymous => Self::Token,
        }
    }
}

async fn send(client: &Client, who: Who) -> Reply {
    let authorization = token(&ADDRESS.to_string());
    let headers: &[(&str, &str)] = match who {
        Who::Token => &[("authorization", authorization.as_str())],
        Who::Anonymous => &[],
    };
    client.get("/api", headers).await
}

/// `(status, body)`, with a `Retry-After` checked on every 429.
fn seen(reply: &Reply, what: &str) -> (u16, String) {
    if reply.status == 429 {
        let retry_after: u64 = reply
            .header("retry-after")
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("{what}: a 429 without Retry-After: {reply:?}"));
        assert!(retry_after >= 1, "{what}: {reply:?}");
    }
    (reply.status, reply.text())
}

fn owned(status: u16, body: &str) -> (u16, String) {
    (status, body.to_owned())
}

/// `first` gets itself blocked (two requests in a second), the clock moves past the window
/// (not past the block), then: `first` is still refused as blocked, and the other one, from
/// the same address, is admitted with its own user id, twice over two windows. With a
/// `shared` namespace, the other one is refused instead (the control).
async fn assert_blocking_one_spares_the_other(
    server: &Server,
    advance: &dyn Fn(Duration),
    first: Who,
    shared: bool,
    label: &str,
) {
    let panics_before = panics();
    let client = server.client(CLIENT_TIMEOUT).from(ADDRESS);
    let user = |who: Who| match (who, shared) {
        (_, true) => ADDRESS.to_string(),
        (Who::Token, false) => format!("0-{ADDRESS}"),
        (Who::Anonymous, false) => format!("1-{ADDRESS}"),
    };
    let (me, other) = (user(first), user(first.other()));
    let what = format!("{label}, {first:?} first");

    assert_eq!(
        seen(&send(&client, first).await, &what),
        owned(200, &me),
        "{what}: the first request"
    );
    assert_eq!(
        seen(&send(&client, first).await, &what),
        owned(429, &format!("{me} limited")),
        "{what}: the second request in the second blocks"
    );
    advance(Duration::from_secs(2));
    let blocked = send(&client, first).await;
    assert_eq!(
        seen(&blocked, &what),
        owned(429, &format!("{me} blocked")),
        "{what}: still blocked after the window"
    );
    let retry_after: u64 = blocked
        .header("retry-after")
        .and_then(|value| value.parse().ok())
        .expect("a Retry-After");
    assert!(
        (50..=60).contains(&retry_after),
        "{what}: the block's Retry-After is {retry_after}"
    );

    let answer = seen(&send(&client, first.other()).await, &what);
    if shared {
        assert_eq!(
            answer,
            owned(429, &format!("{other} blocked")),
            "{what}: in one namespace, the other one is the same user, blocked"
        );
    } else {
        assert_eq!(
            answer,
            owned(200, &other),
            "{what}: the other one, from the same address, is admitted"
        );
        advance(Duration::from_secs(2));
        assert_eq!(
            seen(&send(&client, first.other()).await, &what),
            owned(200, &other),
            "{what}: and in the next window again"
        );
        assert_eq!(
            seen(&send(&client, first).await, &what),
            owned(429, &format!("{me} blocked")),
            "{what}: while the first is still blocked"
        );
    }
    assert_eq!(panics(), panics_before, "{what}: something panicked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_a_token_named_like_an_address_is_not_that_address() {
    for shared in [false, true] {
        for first in [Who::Token, Who::Anonymous] {
            let clock = ManualClock::new();
            let backend = MemoryBackend::builder().clock(clock.clone()).build();
            let app = if shared {
                app(jwt().or(ClientIp::new()).shared_namespace(), backend)
            } else {
                app(jwt().or(ClientIp::new()), backend)
            };
            let server = Server::start(app).await;
            let label = if shared { "memory, shared" } else { "memory" };
            assert_blocking_one_spares_the_other(
                &server,
                &|by| clock.advance(by),
                first,
                shared,
                label,
            )
            .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_token_named_like_an_address_is_not_that_address() {
    let Some(redis) = shared_server("redis_a_token_named_like_an_address_is_not_that_address")
    else {
        return;
    };
    for shared in [false, true] {
        for first in [Who::Token, Who::Anonymous] {
            let backend = redis
                .builder()
                .frozen_clock_for_tests()
                .prefix(fresh_prefix("e2e-namespaces"))
                .timeout(Duration::from_secs(10))
                .build()
                .await
                .expect("a backend on the test server");
            let clock = backend.clone();
            let app = if shared {
                app(jwt().or(ClientIp::new()).shared_namespace(), backend)
            } else {
                app(jwt().or(ClientIp::new()), backend)
            };
            let server = Server::start(app).await;
            let label = if shared { "redis, shared" } else { "redis" };
            assert_blocking_one_spares_the_other(
                &server,
                &|by| clock.advance_clock_for_tests(by),
                first,
                shared,
                label,
            )
            .await;
        }
    }
}

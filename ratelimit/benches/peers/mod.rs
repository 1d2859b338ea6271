//! What the benches compare, built one way for all of them: the routers of `--bench
//! middleware` and the keys and backends of `--bench memory`, which `--bench interleaved`
//! runs again, alternating, for ratios a loaded machine does not skew.

#![allow(
    dead_code,
    unreachable_pub,
    unused_imports,
    reason = "each bench uses part of it"
)]

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::{HeaderName, Request, StatusCode};
use ratelimit::auth::HeaderAuth;
use ratelimit::backend::{
    Algorithm, Backend, Decision, DecisionRequest, MemoryBackend, Pool, Scope,
};
use ratelimit::{Limit, RateLimitLayer, Rules, Unit, ratelimit};
use tower::ServiceExt;
use tower_governor::GovernorError;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use redis::RedisPair;

// ---------------------------------------------------------------------------------------------
// `--bench middleware`

static RULES: Rules = ratelimit! { "^/bench" => [second = 1000000000] };

const USER_HEADER: &str = "x-user";

/// `tower_governor`'s key: the `X-User` header's value.
#[derive(Clone, Copy, Debug)]
struct UserHeader;

impl KeyExtractor for UserHeader {
    type Key = String;

    fn extract<T>(&self, request: &Request<T>) -> Result<String, GovernorError> {
        request
            .headers()
            .get(USER_HEADER)
            .and_then(|value| value.to_str().ok())
            .filter(|user| !user.is_empty())
            .map(str::to_owned)
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

fn router() -> Router {
    Router::new().route("/bench", get(|| async { "ok" }))
}

/// The benchmark's request: `GET /bench` as `alice`.
pub fn request() -> Request<Body> {
    Request::get("/bench")
        .header(USER_HEADER, "alice")
        .body(Body::empty())
        .expect("a valid request")
}

/// Sends `request` through `app`, polling with a no-op waker until it answers.
#[inline]
pub fn send(app: &Router, request: Request<Body>) -> StatusCode {
    let mut cx = Context::from_waker(Waker::noop());
    let mut future = pin!(app.clone().oneshot(request));
    loop {
        if let Poll::Ready(response) = future.as_mut().poll(&mut cx) {
            return response.map_or(StatusCode::INTERNAL_SERVER_ERROR, |response| {
                response.status()
            });
        }
    }
}

/// The `ratelimit` router, with the limiter extension as `extension` says (`None`: the
/// default).
fn limited(extension: Option<bool>) -> Router {
    let layer = RateLimitLayer::new(
        RULES,
        HeaderAuth::new(HeaderName::from_static(USER_HEADER)),
        MemoryBackend::new(),
    );
    let layer = match extension {
        Some(extension) => layer.limiter_extension(extension),
        None => layer,
    };
    router().layer(layer)
}

fn governed() -> Router {
    let config = GovernorConfigBuilder::default()
        .per_nanosecond(1)
        .burst_size(1_000_000_000)
        .key_extractor(UserHeader)
        .finish()
        .expect("a valid tower_governor configuration");
    router().layer(tower_governor::GovernorLayer::new(config))
}

/// The routers `--bench middleware` compares, by id, each checked: it answers 200 to the
/// benchmark's request, and (but `bare`) refuses a request without the header, so the limiter
/// does run on that route.
///
/// Each router is finished with `with_state(())`, as `axum::serve` finishes every router it
/// serves (through `into_make_service`): its routes, layers included, are built once. Without
/// it a `Router` builds its route again for every request it is called with, applying each
/// layer anew, which no served application does.
pub fn middleware_apps() -> Vec<(&'static str, Router)> {
    let apps: Vec<(&'static str, Router)> = [
        ("bare", router()),
        ("ratelimit", limited(None)),
        // With the `Limiter` handle that `#[rate_limited]` handlers read from the request's
        // extensions (tower_governor has no such feature).
        ("ratelimit_with_extension", limited(Some(true))),
        ("tower_governor", governed()),
    ]
    .into_iter()
    .map(|(name, app)| (name, app.with_state(())))
    .collect();
    for (name, app) in &apps {
        assert_eq!(send(app, request()), StatusCode::OK, "{name}");
        let anonymous = Request::get("/bench").body(Body::empty()).expect("valid");
        let status = send(app, anonymous);
        assert_eq!(
            status == StatusCode::OK,
            *name == "bare",
            "{name}: {status}"
        );
    }
    apps
}

// ---------------------------------------------------------------------------------------------
// `--bench memory`

/// Keys visited in turn by the `100k_keys` cases.
pub const KEYS: u32 = 100_000;
/// A limit no benchmark reaches.
const COUNT: u32 = 1_000_000_000;

/// The `i`-th IP address: 10.0.0.0 + i.
pub fn address(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
}

/// The keys of the `100k_keys` cases: governor's addresses, and ratelimit's user ids as text,
/// one after the other in one buffer (as the addresses are in theirs), so that reading them
/// costs what reading the addresses does.
pub struct Keys {
    pub addresses: Vec<IpAddr>,
    text: String,
}

impl Keys {
    pub fn new() -> Self {
        let addresses: Vec<IpAddr> = (0..KEYS).map(address).collect();
        let text = addresses.iter().map(ToString::to_string).collect();
        Self { addresses, text }
    }

    /// The user ids, borrowed from the buffer.
    pub fn users(&self) -> Vec<&str> {
        let mut users = Vec::with_capacity(self.addresses.len());
        let mut rest = self.text.as_str();
        for address in &self.addresses {
            let (user, after) = rest.split_at(address.to_string().len());
            users.push(user);
            rest = after;
        }
        users
    }
}

/// The one limit of every decision.
pub const LIMITS: [Limit; 1] = [Limit::new(Unit::Second, COUNT as u64)];

/// The decision request of `user`, as the middleware builds it.
#[inline]
pub fn decision(user: &str) -> DecisionRequest<'_> {
    DecisionRequest {
        pool: Pool {
            scope: Scope::Path("/bench"),
            method: None,
            user,
        },
        limits: &LIMITS,
        block_time: None,
        cost: 1,
    }
}

/// Decides `request` on `backend`: polls the ready future once.
#[inline]
pub fn decide(backend: &impl Backend, request: &DecisionRequest<'_>) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(backend.decide(request)).poll(&mut cx) {
        Poll::Ready(Ok(Decision::Allow(_))) => true,
        Poll::Ready(_) | Poll::Pending => false,
    }
}

/// ratelimit's backend with `algorithm`, with every user's window made (an admission each).
pub fn memory_backend(algorithm: Algorithm, users: &[&str]) -> MemoryBackend {
    let backend = if algorithm == Algorithm::default() {
        MemoryBackend::new()
    } else {
        MemoryBackend::builder().algorithm(algorithm).build()
    };
    for &user in users {
        assert!(
            decide(&backend, &decision(user)),
            "{algorithm:?}: a limit that is never reached"
        );
    }
    backend
}

/// governor's keyed limiter with its defaults, with every address's state made.
pub fn governor_limiter(addresses: &[IpAddr]) -> DefaultKeyedRateLimiter<IpAddr> {
    let quota = Quota::per_second(NonZeroU32::new(COUNT).expect("not zero"));
    let limiter = RateLimiter::keyed(quota);
    for address in addresses {
        assert!(limiter.check_key(address).is_ok());
    }
    limiter
}

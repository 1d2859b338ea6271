//! `--bench middleware`: what a rate limiter adds to one axum request.
//!
//! - `bare`: an axum `Router` with one route (`GET /bench`, answering `"ok"`), driven by
//!   `tower::ServiceExt::oneshot`;
//! - `ratelimit`: the same router with [`RateLimitLayer`] (default options) over
//!   [`MemoryBackend::new()`], one rule (`"^/bench" => [second = 1000000000]`), the user from
//!   the `X-User` header ([`HeaderAuth`]);
//! - `tower_governor`: the same router with `tower_governor`'s `GovernorLayer` (governor's
//!   defaults: `DashMap`, quanta clock; one cell per nanosecond, a burst of 10^9), keyed by a
//!   `KeyExtractor` that reads the same header (the key is the header's value as a `String`,
//!   as `HeaderAuth`'s identity is).
//!
//! Neither limit is ever reached: every request is admitted and counted. The request (with
//! its `X-User: alice` header) is built outside the timed part; its response is dropped
//! inside it. The future is polled with a no-op waker: nothing in it waits.
//!
//! - `ratelimit_with_extension`: `ratelimit` with `.limiter_extension(true)`, as a layer with
//!   routes and `#[rate_limited]` handlers behind it is configured: it also puts a `Limiter`
//!   (a handle on the layer and the request's identity) in each request's extensions, a
//!   feature tower_governor does not have (a box, a map insertion and an `Arc` clone per
//!   request).
//!
//! Asymmetries, in `tower_governor`'s favour: ratelimit also matches the path against its
//! rules, selects the rule for the identity's group and the method, and computes the quota
//! (for rate-limit headers, off by default).

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{HeaderName, Request, StatusCode};
use ratelimit::auth::HeaderAuth;
use ratelimit::backend::MemoryBackend;
use ratelimit::{RateLimitLayer, Rules, ratelimit};
use tower::ServiceExt;
use tower_governor::GovernorError;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;

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

fn request() -> Request<Body> {
    Request::get("/bench")
        .header(USER_HEADER, "alice")
        .body(Body::empty())
        .expect("a valid request")
}

/// Sends `request` through `app`, polling with a no-op waker until it answers.
fn send(app: &Router, request: Request<Body>) -> StatusCode {
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

fn middleware(c: &mut Criterion) {
    let bare = router();
    let limited = router().layer(RateLimitLayer::new(
        RULES,
        HeaderAuth::new(HeaderName::from_static(USER_HEADER)),
        MemoryBackend::new(),
    ));
    let config = GovernorConfigBuilder::default()
        .per_nanosecond(1)
        .burst_size(1_000_000_000)
        .key_extractor(UserHeader)
        .finish()
        .expect("a valid tower_governor configuration");
    let governed = router().layer(tower_governor::GovernorLayer::new(config));

    // With the `Limiter` handle that `#[rate_limited]` handlers read from the request's
    // extensions (tower_governor has no such feature).
    let limited_with_extension = router().layer(
        RateLimitLayer::new(
            RULES,
            HeaderAuth::new(HeaderName::from_static(USER_HEADER)),
            MemoryBackend::new(),
        )
        .limiter_extension(true),
    );

    let apps = [
        ("bare", bare),
        ("ratelimit", limited),
        ("ratelimit_with_extension", limited_with_extension),
        ("tower_governor", governed),
    ];
    // Each answers 200 to the benchmark's request, and the limiters refuse a request
    // without the header (so they do run on that route).
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

    let mut group = c.benchmark_group("middleware");
    for (name, app) in &apps {
        group.bench_function(*name, |b| {
            b.iter_batched(
                request,
                |request| black_box(send(app, request)),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, middleware);
criterion_main!(benches);

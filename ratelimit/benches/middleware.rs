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

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

mod peers;

fn middleware(c: &mut Criterion) {
    let apps = peers::middleware_apps();
    let mut group = c.benchmark_group("middleware");
    for (name, app) in &apps {
        group.bench_function(*name, |b| {
            b.iter_batched(
                peers::request,
                |request| black_box(peers::send(app, request)),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, middleware);
criterion_main!(benches);

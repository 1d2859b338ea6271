//! The Redis backend against real Redis servers and a real Redis Cluster, which the tests
//! start themselves (see `ratelimit_tests::redis_server`). Time is moved with the backend's
//! test-only clock (frozen, for exact times, except where Redis's own clock is the point),
//! never by sleeping; only outages (their deadlines and recovery) and the TTLs Redis itself
//! counts down take real time.
//!
//! `cargo test -p ratelimit-tests --test redis`. Without `redis-server` installed every test
//! says it was skipped and passes, unless `RATELIMIT_REQUIRE_REDIS=1`.

#![allow(missing_docs, unreachable_pub)]

mod clock_steps;
mod cluster;
mod deadlines;
mod outage;
mod refusal_cache;
mod round_trips;
mod semantics;
mod setup;

use std::time::Duration;

use ratelimit::backend::redis::RedisBackend;
use ratelimit::backend::{
    Algorithm, Backend, Decision, DecisionRequest, Denial, DenialCause, Pool, Quota, Scope,
};
use ratelimit::{Limit, Unit};

pub const ALGORITHMS: [Algorithm; 3] = [
    Algorithm::FixedWindow,
    Algorithm::SlidingWindow,
    Algorithm::Gcra,
];

pub const fn limit(unit: Unit, count: u64) -> Limit {
    Limit::new(unit, count)
}

/// A decision request on the pool of `path` (any method) for `user`.
pub fn request<'a>(
    path: &'a str,
    user: &'a str,
    limits: &'a [Limit],
    block_time: Option<Duration>,
) -> DecisionRequest<'a> {
    DecisionRequest {
        pool: Pool {
            scope: Scope::Path(path),
            method: None,
            user,
        },
        limits,
        block_time,
        cost: 1,
    }
}

pub async fn decide(backend: &RedisBackend, request: &DecisionRequest<'_>) -> Decision {
    backend
        .decide(request)
        .await
        .unwrap_or_else(|error| panic!("no decision: {error}"))
}

#[track_caller]
pub fn allowed(decision: Decision) -> Quota {
    match decision {
        Decision::Allow(quota) => quota,
        Decision::Deny(denial) => panic!("expected Allow, got {denial:?}"),
    }
}

#[track_caller]
pub fn denied(decision: Decision) -> Denial {
    match decision {
        Decision::Deny(denial) => denial,
        Decision::Allow(quota) => panic!("expected Deny, got {quota:?}"),
    }
}

/// Asserts `actual` is `expected`, less at most the real time a test takes between two steps
/// (the script's clock is Redis's, which keeps running).
#[track_caller]
pub fn assert_about(actual: Duration, expected: Duration) {
    let slack = Duration::from_millis(900);
    assert!(
        actual <= expected && actual + slack >= expected,
        "{actual:?} is not {expected:?} (less up to {slack:?})"
    );
}

/// Asserts a denial by `limit` with a wait of `retry_after` (on a frozen clock).
#[track_caller]
pub fn assert_denied_by(decision: Decision, limit: Limit, retry_after: Duration) {
    let denial = denied(decision);
    assert_eq!(denial.cause, DenialCause::Limit(limit), "{denial:?}");
    assert_eq!(denial.retry_after, retry_after, "{denial:?}");
}

/// Asserts a denial because the user is blocked, with a wait of `retry_after` (on a frozen
/// clock).
#[track_caller]
pub fn assert_blocked(decision: Decision, retry_after: Duration) {
    let denial = denied(decision);
    assert_eq!(denial.cause, DenialCause::Blocked, "{denial:?}");
    assert_eq!(denial.retry_after, retry_after, "{denial:?}");
}

pub const fn secs(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

pub const fn millis(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// A plain connection for looking at what the backend wrote.
pub async fn inspect(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("a redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("an inspection connection")
}

//! Shadow mode on every backend: a layer in shadow leaves the backend's state exactly as the
//! same layer enforcing its rules would (a would-be refusal counts nothing, a would-be block
//! is recorded), and only the answers differ.

use std::time::Duration;

use axum::body::Body;
use ratelimit::auth::HeaderAuth;
use ratelimit::backend::{Algorithm, Scope};
use ratelimit::middleware::{Outcome, RateLimitLayer};
use ratelimit::{Rules, ratelimit};
use ratelimit_tests::harness::{Harness, MemoryHarness, RedisHarness};

static RULES: Rules = ratelimit! {
    "^/login" => [minute = 2 block_time = 60],
};

/// What a check of `/login` by `frank` says at each of `times` (seconds of the harness's
/// clock): `A` admitted, `L` refused by a limit, `B` refused for a block; lower case for a
/// would-be refusal in shadow.
async fn outcomes(harness: &impl Harness, shadow: bool, times: &[u64]) -> String {
    let limiter = RateLimitLayer::<Body>::new(
        RULES,
        HeaderAuth::new(http::HeaderName::from_static("x-user")),
        harness.backend(),
    )
    .shadow(shadow)
    .limiter();
    let rules = RULES.routes()[0].rules();
    let (head, ()) = http::Request::get("/login")
        .header("x-user", "frank")
        .body(())
        .unwrap()
        .into_parts();
    let mut now = 0;
    let mut outcomes = String::new();
    for &at in times {
        harness.advance(Duration::from_secs(at - now)).await;
        now = at;
        let outcome = limiter.check(&head, rules, Scope::Path("/login")).await;
        outcomes.push(match outcome.unwrap() {
            Outcome::Allowed { .. } => 'A',
            Outcome::Rejected(rejection) if rejection.is_blocked() => 'B',
            Outcome::Rejected(_) => 'L',
            Outcome::ShadowRejected(rejection) if rejection.is_blocked() => 'b',
            Outcome::ShadowRejected(_) => 'l',
            other => panic!("{other:?}"),
        });
    }
    outcomes
}

const TIMES: [u64; 9] = [0, 1, 30, 59, 61, 62, 121, 125, 190];

async fn shadow_is_enforcement_that_admits(enforced: &impl Harness, shadowed: &impl Harness) {
    let enforced = outcomes(enforced, false, &TIMES).await;
    assert!(
        enforced.contains('A') && enforced.contains('L') && enforced.contains('B'),
        "the sequence admits, refuses and blocks: {enforced}"
    );
    let would_be = enforced.replace('L', "l").replace('B', "b");
    assert_eq!(outcomes(shadowed, true, &TIMES).await, would_be);
}

#[tokio::test]
async fn in_memory() {
    for algorithm in [
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
        Algorithm::Gcra,
    ] {
        shadow_is_enforcement_that_admits(
            &MemoryHarness::new(algorithm).await,
            &MemoryHarness::new(algorithm).await,
        )
        .await;
    }
}

#[tokio::test]
async fn in_redis() {
    for algorithm in [
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
        Algorithm::Gcra,
    ] {
        let (Some(enforced), Some(shadowed)) = (
            RedisHarness::standalone(algorithm).await,
            RedisHarness::standalone(algorithm).await,
        ) else {
            return;
        };
        shadow_is_enforcement_that_admits(&enforced, &shadowed).await;
    }
}

//! Redis's clock stepping back (a fail-over to a replica behind, NTP): no window or block
//! lasts longer than it was set to. The script's clock is stepped back with the test clock.

use ratelimit::Unit::{Minute, Second};

use crate::*;
use ratelimit_tests::redis_server::RedisServer;

const HOUR: Duration = secs(3_600);

/// The longest wait a freshly exhausted limit of one request a minute gives: a window (two
/// for the sliding window, whose previous window still weighs).
fn fresh_wait(algorithm: Algorithm) -> Duration {
    match algorithm {
        Algorithm::SlidingWindow => secs(120),
        _ => secs(60),
    }
}

#[tokio::test]
async fn a_clock_stepped_back_does_not_lengthen_a_window() {
    let Some(server) =
        RedisServer::start_or_skip("a_clock_stepped_back_does_not_lengthen_a_window")
    else {
        return;
    };
    for algorithm in ALGORITHMS {
        // Redis decides every request: the refusal cache's clock does not step.
        let backend = server
            .builder()
            .algorithm(algorithm)
            .prefix(format!("step-{algorithm:?}"))
            .frozen_clock_for_tests()
            .refusal_cache(0)
            .build()
            .await
            .unwrap();
        let limits = [limit(Minute, 1)];
        let r = request("/step", "user", &limits, None);
        allowed(decide(&backend, &r).await);
        backend.advance_clock_for_tests(secs(10));
        let before = denied(decide(&backend, &r).await);
        assert_eq!(before.retry_after, fresh_wait(algorithm) - secs(10));

        backend.step_clock_back_for_tests(HOUR);
        let after = denied(decide(&backend, &r).await);
        assert!(
            after.retry_after <= fresh_wait(algorithm),
            "{algorithm:?}: {after:?} is longer than the window was set to"
        );
        backend.advance_clock_for_tests(fresh_wait(algorithm));
        allowed(decide(&backend, &r).await);
    }
}

#[tokio::test]
async fn a_clock_stepped_back_does_not_lengthen_a_block() {
    let Some(server) = RedisServer::start_or_skip("a_clock_stepped_back_does_not_lengthen_a_block")
    else {
        return;
    };
    for algorithm in ALGORITHMS {
        let backend = server
            .builder()
            .algorithm(algorithm)
            .prefix(format!("step-block-{algorithm:?}"))
            .frozen_clock_for_tests()
            .refusal_cache(0)
            .build()
            .await
            .unwrap();
        let limits = [limit(Second, 1)];
        let r = request("/block", "user", &limits, Some(secs(30)));
        allowed(decide(&backend, &r).await);
        assert_denied_by(decide(&backend, &r).await, limits[0], secs(30));
        backend.advance_clock_for_tests(secs(10));
        assert_blocked(decide(&backend, &r).await, secs(20));

        backend.step_clock_back_for_tests(HOUR);
        let blocked = denied(decide(&backend, &r).await);
        assert_eq!(blocked.cause, DenialCause::Blocked, "{algorithm:?}");
        assert!(
            blocked.retry_after <= secs(30),
            "{algorithm:?}: {blocked:?} is longer than the block was set to"
        );
        backend.advance_clock_for_tests(secs(30));
        allowed(decide(&backend, &r).await);
    }
}

/// A block written by the first versions (its end alone) still holds.
#[tokio::test]
async fn a_block_of_the_first_layout_still_holds() {
    let Some(server) = RedisServer::start_or_skip("a_block_of_the_first_layout_still_holds") else {
        return;
    };
    let backend = server
        .builder()
        .prefix("old-block")
        .frozen_clock_for_tests()
        .build()
        .await
        .unwrap();
    // The frozen clock starts at 1 700 000 000 s.
    let end = (1_700_000_000_u64 + 20) * 1_000_000;
    server.command(&[
        "SET",
        "old-block:{user}:block",
        &end.to_string(),
        "EX",
        "60",
    ]);
    let limits = [limit(Second, 1)];
    assert_blocked(
        decide(&backend, &request("/a", "user", &limits, None)).await,
        secs(20),
    );
}

//! What each algorithm decides, on a standalone server, with the clock moved by the
//! test-only offset.

use ratelimit::Unit::{Hour, Minute, Second};
use ratelimit::backend::Algorithm::{Gcra, SlidingWindow};
use ratelimit_tests::redis_server::RedisServer;

use crate::*;

/// On Redis's own clock (`TIME`): a fixed window starts at the first request.
#[tokio::test]
async fn fixed_window_starts_at_the_first_request_on_redis_time() {
    let Some(server) =
        RedisServer::start_or_skip("fixed_window_starts_at_the_first_request_on_redis_time")
    else {
        return;
    };
    let backend = server.builder().build().await.unwrap();
    let limits = [limit(Second, 2)];
    let r = request("/towns", "alice", &limits, None);
    let denied_by_second = |decision, wait| {
        let denial = denied(decision);
        assert_eq!(denial.cause, DenialCause::Limit(limits[0]));
        assert_about(denial.retry_after, wait);
    };

    let quota = allowed(decide(&backend, &r).await);
    assert_eq!((quota.limit, quota.remaining), (limits[0], 1));
    assert_about(quota.reset, secs(1));
    assert_eq!(allowed(decide(&backend, &r).await).remaining, 0);
    denied_by_second(decide(&backend, &r).await, secs(1));

    backend.advance_clock_for_tests(millis(500));
    denied_by_second(decide(&backend, &r).await, millis(500));
    backend.advance_clock_for_tests(millis(500));
    assert_eq!(allowed(decide(&backend, &r).await).remaining, 1);
}

/// The same on the frozen test clock, exactly.
#[tokio::test]
async fn fixed_window_starts_at_the_first_request() {
    let Some(server) = RedisServer::start_or_skip("fixed_window_starts_at_the_first_request")
    else {
        return;
    };
    let backend = server
        .builder()
        .frozen_clock_for_tests()
        .build()
        .await
        .unwrap();
    let limits = [limit(Second, 2)];
    let r = request("/towns", "alice", &limits, None);

    backend.advance_clock_for_tests(millis(300));
    let quota = allowed(decide(&backend, &r).await);
    assert_eq!(
        (quota.limit, quota.remaining, quota.reset),
        (limits[0], 1, secs(1))
    );
    backend.advance_clock_for_tests(millis(100));
    let quota = allowed(decide(&backend, &r).await);
    assert_eq!((quota.remaining, quota.reset), (0, millis(900)));
    assert_denied_by(decide(&backend, &r).await, limits[0], millis(900));
    backend.advance_clock_for_tests(Duration::from_micros(899_999));
    assert_denied_by(
        decide(&backend, &r).await,
        limits[0],
        Duration::from_micros(1),
    );
    backend.advance_clock_for_tests(Duration::from_micros(1));
    assert_eq!(allowed(decide(&backend, &r).await).remaining, 1);
}

/// A request denied by one limit counts in none: the others' counts stay as they were.
#[tokio::test]
async fn a_denied_request_counts_nothing() {
    let Some(server) = RedisServer::start_or_skip("a_denied_request_counts_nothing") else {
        return;
    };
    for algorithm in ALGORITHMS {
        let backend = server
            .builder()
            .frozen_clock_for_tests()
            .algorithm(algorithm)
            .build()
            .await
            .unwrap();
        let limits = [limit(Second, 1), limit(Hour, 3)];
        let r = request("/denied", "bob", &limits, None);
        for admitted in 1..=3 {
            allowed(decide(&backend, &r).await);
            // Denied by the second's limit (and, after the third, by the hour's, which frees
            // up last).
            let binding = if admitted < 3 { limits[0] } else { limits[1] };
            for _ in 0..5 {
                let denial = denied(decide(&backend, &r).await);
                assert_eq!(
                    denial.cause,
                    DenialCause::Limit(binding),
                    "{algorithm:?} {admitted}"
                );
            }
            // Enough for the second's limit to be back to full in every algorithm.
            backend.advance_clock_for_tests(secs(2));
        }
        let denial = denied(decide(&backend, &r).await);
        assert_eq!(denial.cause, DenialCause::Limit(limits[1]), "{algorithm:?}");
    }
}

/// The original's `test_multiple`, all-or-nothing: a denial by the second's limit does not
/// count against the minute's.
#[tokio::test]
async fn limits_are_counted_all_or_nothing() {
    let Some(server) = RedisServer::start_or_skip("limits_are_counted_all_or_nothing") else {
        return;
    };
    let backend = server
        .builder()
        .frozen_clock_for_tests()
        .build()
        .await
        .unwrap();
    let limits = [limit(Second, 1), limit(Minute, 3)];
    let r = request("/multiple", "user", &limits, None);

    allowed(decide(&backend, &r).await);
    assert_denied_by(decide(&backend, &r).await, limits[0], secs(1));
    backend.advance_clock_for_tests(secs(1));
    assert_eq!(allowed(decide(&backend, &r).await).remaining, 0);
    assert_denied_by(decide(&backend, &r).await, limits[0], secs(1));
    backend.advance_clock_for_tests(secs(2));
    // Both limits have none left: the quota is the one with the longer reset.
    let quota = allowed(decide(&backend, &r).await);
    assert_eq!((quota.limit, quota.remaining), (limits[1], 0));
    assert_eq!(quota.reset, secs(57));
    // The minute's window (from t = 0) is full now: at t = 4 it frees up at t = 60.
    backend.advance_clock_for_tests(secs(1));
    assert_denied_by(decide(&backend, &r).await, limits[1], secs(56));
}

/// The tightest limit is the one with the fewest requests left; when several limits are
/// exhausted, the wait is the longest.
#[tokio::test]
async fn quota_and_retry_after_follow_the_binding_limit() {
    let Some(server) = RedisServer::start_or_skip("quota_and_retry_after_follow_the_binding_limit")
    else {
        return;
    };
    let backend = server
        .builder()
        .frozen_clock_for_tests()
        .build()
        .await
        .unwrap();
    let limits = [limit(Second, 5), limit(Minute, 2)];
    let r = request("/binding", "carol", &limits, None);
    let quota = allowed(decide(&backend, &r).await);
    assert_eq!((quota.limit, quota.remaining), (limits[1], 1));
    assert_eq!(quota.reset, secs(60));
    allowed(decide(&backend, &r).await);
    assert_denied_by(decide(&backend, &r).await, limits[1], secs(60));
}

#[tokio::test]
async fn a_block_denies_every_limited_pool_of_the_user_and_is_not_extended() {
    let Some(server) = RedisServer::start_or_skip(
        "a_block_denies_every_limited_pool_of_the_user_and_is_not_extended",
    ) else {
        return;
    };
    for algorithm in ALGORITHMS {
        let backend = server
            .builder()
            .frozen_clock_for_tests()
            .algorithm(algorithm)
            .prefix(format!("{algorithm:?}"))
            .build()
            .await
            .unwrap();
        let login = [limit(Second, 1)];
        let other = [limit(Hour, 100)];
        let r = request("/login", "mallory", &login, Some(secs(5)));

        allowed(decide(&backend, &r).await);
        // The denial that sets the block is the limit's, with the block's wait.
        assert_denied_by(decide(&backend, &r).await, login[0], secs(5));
        // Every limited pool of the user is blocked; other users are not.
        let elsewhere = request("/elsewhere", "mallory", &other, None);
        assert_blocked(decide(&backend, &elsewhere).await, secs(5));
        allowed(decide(&backend, &request("/login", "trent", &login, Some(secs(5)))).await);

        backend.advance_clock_for_tests(secs(2));
        assert_blocked(decide(&backend, &r).await, secs(3));
        backend.advance_clock_for_tests(secs(2));
        assert_blocked(decide(&backend, &r).await, secs(1));
        // Not extended by the requests during it, and they counted nothing.
        backend.advance_clock_for_tests(secs(1));
        allowed(decide(&backend, &r).await);
        let quota = allowed(decide(&backend, &elsewhere).await);
        assert_eq!(quota.remaining, 99, "{algorithm:?}");
    }
}

/// While blocked, Retry-After is the rest of the block, or longer when a window of the rule is
/// still exhausted by then; a denial after the block blocks again.
#[tokio::test]
async fn a_block_waits_for_a_longer_window() {
    let Some(server) = RedisServer::start_or_skip("a_block_waits_for_a_longer_window") else {
        return;
    };
    let backend = server
        .builder()
        .frozen_clock_for_tests()
        .build()
        .await
        .unwrap();
    let limits = [limit(Minute, 1)];
    let r = request("/slow", "dave", &limits, Some(secs(5)));
    allowed(decide(&backend, &r).await);
    assert_denied_by(decide(&backend, &r).await, limits[0], secs(60));
    backend.advance_clock_for_tests(secs(1));
    assert_blocked(decide(&backend, &r).await, secs(59));
    backend.advance_clock_for_tests(secs(5));
    assert_denied_by(decide(&backend, &r).await, limits[0], secs(54));
    let elsewhere = [limit(Second, 10)];
    assert_blocked(
        decide(&backend, &request("/other", "dave", &elsewhere, None)).await,
        secs(5),
    );
}

#[tokio::test]
async fn sliding_window_has_no_boundary_burst() {
    let Some(server) = RedisServer::start_or_skip("sliding_window_has_no_boundary_burst") else {
        return;
    };
    let limits = [limit(Minute, 4)];
    let fixed = server
        .builder()
        .frozen_clock_for_tests()
        .prefix("fixed")
        .build()
        .await
        .unwrap();
    let sliding = server
        .builder()
        .frozen_clock_for_tests()
        .prefix("sliding")
        .algorithm(SlidingWindow)
        .build()
        .await
        .unwrap();
    let r = request("/burst", "erin", &limits, None);
    for expected in [3, 2, 1, 0] {
        assert_eq!(allowed(decide(&fixed, &r).await).remaining, expected);
        assert_eq!(allowed(decide(&sliding, &r).await).remaining, expected);
    }
    // Full: the sliding window waits for the next window, then until the full one weighs 3.
    assert_denied_by(decide(&sliding, &r).await, limits[0], secs(75));

    fixed.advance_clock_for_tests(secs(60));
    sliding.advance_clock_for_tests(secs(60));
    // A fixed window admits another 4 right after the boundary; the sliding one does not.
    assert_eq!(allowed(decide(&fixed, &r).await).remaining, 3);
    assert_denied_by(decide(&sliding, &r).await, limits[0], secs(15));

    // A quarter into the window the previous one weighs 3: one more fits.
    sliding.advance_clock_for_tests(secs(15));
    assert_eq!(allowed(decide(&sliding, &r).await).remaining, 0);
    // Now it must weigh 2: halfway.
    assert_denied_by(decide(&sliding, &r).await, limits[0], secs(15));
    sliding.advance_clock_for_tests(secs(15));
    assert_eq!(allowed(decide(&sliding, &r).await).remaining, 0);

    // Idle for two windows: the pool starts afresh.
    sliding.advance_clock_for_tests(secs(120));
    let quota = allowed(decide(&sliding, &r).await);
    assert_eq!(quota.remaining, 3);
    assert_eq!(quota.reset, secs(120));
}

#[tokio::test]
async fn gcra_spaces_requests_with_a_burst_of_the_count() {
    let Some(server) = RedisServer::start_or_skip("gcra_spaces_requests_with_a_burst_of_the_count")
    else {
        return;
    };
    let backend = server
        .builder()
        .frozen_clock_for_tests()
        .algorithm(Gcra)
        .build()
        .await
        .unwrap();
    let limits = [limit(Second, 2)];
    let r = request("/gcra", "frank", &limits, None);

    let quota = allowed(decide(&backend, &r).await);
    assert_eq!(quota.remaining, 1);
    assert_eq!(quota.reset, millis(500));
    let quota = allowed(decide(&backend, &r).await);
    assert_eq!(quota.remaining, 0);
    assert_eq!(quota.reset, secs(1));
    assert_denied_by(decide(&backend, &r).await, limits[0], millis(500));

    backend.advance_clock_for_tests(millis(500));
    assert_eq!(allowed(decide(&backend, &r).await).remaining, 0);
    assert_denied_by(decide(&backend, &r).await, limits[0], millis(500));

    backend.advance_clock_for_tests(secs(1));
    assert_eq!(allowed(decide(&backend, &r).await).remaining, 1);
}

/// N concurrent decisions against a limit of L admit exactly L, whatever the algorithm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_admit_exactly_the_limit() {
    let Some(server) = RedisServer::start_or_skip("concurrent_requests_admit_exactly_the_limit")
    else {
        return;
    };
    for algorithm in ALGORITHMS {
        let backend = server
            .builder()
            .frozen_clock_for_tests()
            .algorithm(algorithm)
            .timeout(secs(5))
            .build()
            .await
            .unwrap();
        assert_eq!(admitted_of(&backend, 60).await, 10, "{algorithm:?}");
    }
}

/// How many of `n` concurrent decisions against `[minute = 10, hour = 1000]` are admitted.
pub async fn admitted_of(backend: &RedisBackend, n: usize) -> usize {
    const LIMITS: [Limit; 2] = [limit(Minute, 10), limit(Hour, 1000)];
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let backend = backend.clone();
            tokio::spawn(async move {
                let r = request("/concurrent", "crowd", &LIMITS, None);
                matches!(decide(&backend, &r).await, Decision::Allow(_))
            })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        admitted += usize::from(task.await.expect("a decision task"));
    }
    admitted
}

#[tokio::test]
async fn pools_are_separate() {
    let Some(server) = RedisServer::start_or_skip("pools_are_separate") else {
        return;
    };
    let backend = server
        .builder()
        .frozen_clock_for_tests()
        .build()
        .await
        .unwrap();
    let limits = [limit(Minute, 1)];
    let pool = |scope, method, user| DecisionRequest {
        pool: Pool {
            scope,
            method,
            user,
        },
        limits: &limits,
        block_time: None,
        cost: 1,
    };
    use ratelimit::backend::Scope::{Path, Zone};
    // Parts that would collide if joined with `:` (and a user that would break a hash tag).
    let pools = [
        pool(Path("/a"), None, "u"),
        pool(Path("/a"), Some("GET"), "u"),
        pool(Path("/a"), Some("POST"), "u"),
        pool(Zone("/a"), None, "u"),
        pool(Path("/a:u"), None, ""),
        pool(Path("/a"), None, "u:"),
        pool(Path("/a"), None, "}u{"),
        pool(Path("/a"), None, ""),
    ];
    for p in &pools {
        allowed(decide(&backend, p).await);
    }
    for p in &pools {
        denied(decide(&backend, p).await);
    }
    // And a zone is shared by every path: the pool is the zone's.
    let zone = pool(Zone("shared"), None, "u");
    allowed(decide(&backend, &zone).await);
    denied(decide(&backend, &zone).await);
}

//! The refusal cache: a pool Redis refused until a time is answered from memory until then,
//! without a script call (counted with `INFO commandstats`), at once (`decide_now`), and
//! never admitted wrongly (a burst of concurrent requests admits exactly the limit).

use std::sync::Arc;

use ratelimit::Unit::{Minute, Second};

use crate::*;
use ratelimit_tests::redis_server::RedisServer;

/// The script calls the server ran so far (`EVALSHA` and `EVAL`), from `INFO commandstats`.
pub fn script_calls(server: &RedisServer) -> u64 {
    let info = server.command(&["INFO", "commandstats"]);
    info.lines()
        .filter(|line| line.starts_with("cmdstat_evalsha:") || line.starts_with("cmdstat_eval:"))
        .filter_map(|line| {
            let calls = line.split("calls=").nth(1)?.split(',').next()?;
            calls.parse::<u64>().ok()
        })
        .sum()
}

#[tokio::test]
async fn a_refused_user_costs_no_script_call_until_its_window_ends() {
    let Some(server) =
        RedisServer::start_or_skip("a_refused_user_costs_no_script_call_until_its_window_ends")
    else {
        return;
    };
    for algorithm in ALGORITHMS {
        let backend = server
            .builder()
            .algorithm(algorithm)
            .prefix(format!("cache-{algorithm:?}"))
            .frozen_clock_for_tests()
            .build()
            .await
            .unwrap();
        let limits = [limit(Second, 1), limit(Minute, 3)];
        let r = request("/multiple", "abuser", &limits, None);
        allowed(decide(&backend, &r).await);
        let before = script_calls(&server);
        let first = denied(decide(&backend, &r).await);
        assert_eq!(first.cause, DenialCause::Limit(limits[0]), "{algorithm:?}");
        for _ in 0..50 {
            let denial = denied(decide(&backend, &r).await);
            assert_eq!(denial, first, "{algorithm:?}: the same answer, from memory");
            let now = backend.decide_now(&r).expect("answered at once").unwrap();
            assert_eq!(now, Decision::Deny(first), "{algorithm:?}");
        }
        assert_eq!(
            script_calls(&server) - before,
            1,
            "{algorithm:?}: one script call for 101 refusals"
        );
        // Another user, another pool of the same user: Redis decides.
        assert!(
            backend
                .decide_now(&request("/multiple", "other", &limits, None))
                .is_none()
        );
        assert!(
            backend
                .decide_now(&request("/elsewhere", "abuser", &limits, None))
                .is_none()
        );
        allowed(decide(&backend, &request("/elsewhere", "abuser", &limits, None)).await);

        // When the refusal ends, Redis decides again.
        backend.advance_clock_for_tests(first.retry_after);
        assert!(backend.decide_now(&r).is_none(), "{algorithm:?}");
        allowed(decide(&backend, &r).await);
    }
}

#[tokio::test]
async fn a_blocked_user_is_refused_from_memory_on_every_pool_for_the_block() {
    let Some(server) = RedisServer::start_or_skip(
        "a_blocked_user_is_refused_from_memory_on_every_pool_for_the_block",
    ) else {
        return;
    };
    let backend = server
        .builder()
        .frozen_clock_for_tests()
        .build()
        .await
        .unwrap();
    let login = [limit(Second, 5)];
    let r = request("/login", "mallory", &login, Some(secs(60)));
    for _ in 0..5 {
        allowed(decide(&backend, &r).await);
    }
    assert_denied_by(decide(&backend, &r).await, login[0], secs(60));
    let before = script_calls(&server);
    let api = [limit(Minute, 100)];
    let elsewhere = request("/api", "mallory", &api, None);
    backend.advance_clock_for_tests(secs(30));
    for _ in 0..20 {
        assert_blocked(decide(&backend, &elsewhere).await, secs(30));
        assert_blocked(decide(&backend, &r).await, secs(30));
    }
    assert_eq!(
        script_calls(&server),
        before,
        "no script call while blocked"
    );
    backend.advance_clock_for_tests(secs(30));
    allowed(decide(&backend, &elsewhere).await);
    allowed(decide(&backend, &r).await);
}

/// Hundreds of concurrent requests of one user against a small limit: exactly the limit is
/// admitted, none fails, and most of the refusals cost no script call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_concurrent_requests_admits_the_limit_and_none_fails() {
    let Some(server) = RedisServer::start_or_skip(
        "a_burst_of_concurrent_requests_admits_the_limit_and_none_fails",
    ) else {
        return;
    };
    // The default deadline: a tail that misses it would be a failure.
    let backend = Arc::new(server.builder().timeout(millis(50)).build().await.unwrap());
    let before = script_calls(&server);
    let tasks: Vec<_> = (0..400)
        .map(|_| {
            let backend = Arc::clone(&backend);
            tokio::spawn(async move {
                let limits = [limit(Second, 1), limit(Minute, 3)];
                let r = request("/multiple", "burst", &limits, None);
                if let Some(now) = backend.decide_now(&r) {
                    return now;
                }
                backend.decide(&r).await
            })
        })
        .collect();
    let (mut admitted, mut refused, mut failed) = (0, 0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(Decision::Allow(_)) => admitted += 1,
            Ok(Decision::Deny(_)) => refused += 1,
            Err(_) => failed += 1,
        }
    }
    let calls = script_calls(&server) - before;
    println!(
        "burst: {admitted} admitted, {refused} refused, {failed} failed, {calls} script calls"
    );
    assert_eq!(admitted, 1, "one a second");
    assert_eq!(failed, 0);
    assert_eq!(refused, 399);
}

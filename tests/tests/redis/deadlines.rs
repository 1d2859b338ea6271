//! The deadlines the README and the builder's docs promise: a failed decision costs at most
//! one deadline (`timeout`), a call that missed it is never sent again, and the builder's
//! defaults are the documented ones (50 ms, 1 s, 5 failures within 10 s).

use std::time::Instant;

use ratelimit::Unit::Minute;
use ratelimit::backend::BackendError;
use ratelimit::backend::redis::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_FAILURE_THRESHOLD, DEFAULT_FAILURE_WINDOW,
    DEFAULT_RECHECK_INTERVAL, DEFAULT_REFUSAL_CACHE_CAPACITY, DEFAULT_TIMEOUT,
};
use ratelimit_tests::redis_server::{Monitor, RedisServer, command_on};

use crate::*;

const TIMEOUT: Duration = millis(200);
/// A failed decision costs one deadline; twice the deadline is the bound, which leaves a
/// whole deadline (200 ms) for a loaded machine's scheduling (two cores shared with other
/// builds). A retry, or a second round trip after the timeout, would take past it.
const BOUND: Duration = millis(400);

/// The breaker never opens here, so every decision really waits for Redis.
fn patient_builder(server: &RedisServer) -> ratelimit::backend::redis::RedisBackendBuilder {
    server
        .builder()
        .timeout(TIMEOUT)
        .failure_threshold(1_000, secs(10))
        .refusal_cache(0)
}

#[tokio::test]
async fn a_decision_on_a_frozen_server_fails_within_one_deadline() {
    let Some(server) =
        RedisServer::start_or_skip("a_decision_on_a_frozen_server_fails_within_one_deadline")
    else {
        return;
    };
    let backend = patient_builder(&server).build().await.unwrap();
    let limits = [limit(Minute, 100)];
    let r = request("/deadline", "user", &limits, None);
    allowed(decide(&backend, &r).await);

    server.pause();
    let mut took = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let result = backend.decide(&r).await;
        took.push(start.elapsed());
        assert!(
            matches!(result, Err(BackendError::Timeout(timeout)) if timeout == TIMEOUT),
            "{result:?}"
        );
    }
    server.resume();
    for took in &took {
        assert!(
            *took >= TIMEOUT && *took < BOUND,
            "each failed decision costs one deadline ({TIMEOUT:?}, under {BOUND:?}): {took:?}"
        );
    }
    allowed(decide(&backend, &r).await);
}

#[tokio::test]
async fn a_decision_on_a_killed_server_fails_within_one_deadline() {
    let Some(mut server) =
        RedisServer::start_or_skip("a_decision_on_a_killed_server_fails_within_one_deadline")
    else {
        return;
    };
    let backend = patient_builder(&server).build().await.unwrap();
    let limits = [limit(Minute, 100)];
    let r = request("/deadline", "user", &limits, None);
    allowed(decide(&backend, &r).await);

    server.stop();
    for _ in 0..5 {
        let start = Instant::now();
        let result = backend.decide(&r).await;
        let took = start.elapsed();
        assert!(result.is_err(), "{result:?}");
        assert!(
            took < BOUND,
            "a failed decision costs at most one deadline ({TIMEOUT:?}, under {BOUND:?}): {took:?}"
        );
    }
}

/// `MONITOR` sees the timed-out `EVALSHA` once, when Redis wakes up, and nothing after it:
/// the backend does not send a call again once it missed its deadline.
#[tokio::test]
async fn a_call_that_missed_its_deadline_is_not_sent_again() {
    let Some(server) =
        RedisServer::start_or_skip("a_call_that_missed_its_deadline_is_not_sent_again")
    else {
        return;
    };
    let backend = patient_builder(&server).build().await.unwrap();
    let limits = [limit(Minute, 100)];
    let r = request("/once", "user", &limits, None);
    allowed(decide(&backend, &r).await);
    let mut monitor = Monitor::start(server.port);
    monitor.drain();

    let port = server.port;
    let sleep = std::thread::spawn(move || command_on(port, &["DEBUG", "SLEEP", "0.6"]));
    tokio::time::sleep(millis(50)).await;
    let start = Instant::now();
    let result = backend.decide(&r).await;
    let took = start.elapsed();
    assert!(
        matches!(result, Err(BackendError::Timeout(_))),
        "{result:?}"
    );
    assert!(took < BOUND, "took {took:?}");
    sleep.join().expect("DEBUG SLEEP returns");
    // Long enough for a retry (or a reconnection's replay) to reach Redis.
    tokio::time::sleep(millis(500)).await;

    let seen = monitor.drain();
    let calls: Vec<&String> = seen
        .top_level
        .iter()
        .filter(|name| name.starts_with("EVAL"))
        .collect();
    assert_eq!(calls, ["EVALSHA"], "{:?}", seen.top_level);
    // Redis ran that call once, when it woke: 99 left after the first, 98 after it, 97 now.
    assert_eq!(allowed(decide(&backend, &r).await).remaining, 97);
}

/// The defaults the builder's docs and the README state, read through its `Debug` output
/// (the builder has no getters) and its public constants.
#[test]
fn the_builders_defaults_are_the_documented_ones() {
    assert_eq!(DEFAULT_TIMEOUT, millis(50));
    assert_eq!(DEFAULT_CONNECT_TIMEOUT, secs(1));
    assert_eq!(DEFAULT_RECHECK_INTERVAL, secs(1));
    assert_eq!(DEFAULT_FAILURE_THRESHOLD, 5);
    assert_eq!(DEFAULT_FAILURE_WINDOW, secs(10));
    assert_eq!(DEFAULT_REFUSAL_CACHE_CAPACITY, 10_000);
    for builder in [
        RedisBackend::builder("redis://127.0.0.1:1/"),
        RedisBackend::cluster_builder(["redis://127.0.0.1:1/"]),
    ] {
        let debug = format!("{builder:?}");
        for field in [
            ", timeout: 50ms,",
            ", connect_timeout: 1s,",
            ", recheck_interval: 1s,",
            ", failure_threshold: 5,",
            ", failure_window: 10s,",
            ", outage_log_interval: 10s,",
            ", refusal_cache: 10000,",
            ", outage: Report",
        ] {
            assert!(debug.contains(field), "{field:?} not in {debug}");
        }
    }
}

//! Outages: the server killed and restarted, or frozen, mid-test. Every call is bounded by
//! the timeout, a failure is an error (never a denial) or the fallback's decision, and the
//! same backend recovers when the server is back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ratelimit::Unit::Minute;
use ratelimit::backend::redis::BreakerState;
use ratelimit::backend::{BackendError, DecisionFuture};
use ratelimit_tests::logs::Logs;
use ratelimit_tests::redis_server::RedisServer;

use crate::*;
use ratelimit_tests::redis_server::command_on;

const TIMEOUT: Duration = millis(200);
const RECHECK: Duration = millis(300);
/// What a loaded machine may add to a bound: one more deadline, so that a failed call is
/// bounded by twice the deadline (the README: a failure costs at most one deadline).
const SLACK: Duration = TIMEOUT;

/// A backend whose breaker opens on the first failure, so that a test sees it at once.
fn outage_builder(server: &RedisServer) -> ratelimit::backend::redis::RedisBackendBuilder {
    server
        .builder()
        .timeout(TIMEOUT)
        .recheck_interval(RECHECK)
        .failure_threshold(1, secs(10))
}

/// Decides until Redis answers again (each call bounded), for at most 15 s.
async fn until_recovered(backend: &RedisBackend, r: &DecisionRequest<'_>) -> Decision {
    let deadline = Instant::now() + secs(15);
    loop {
        let start = Instant::now();
        let result = backend.decide(r).await;
        assert!(
            start.elapsed() < TIMEOUT + SLACK,
            "a call took {:?}",
            start.elapsed()
        );
        match result {
            Ok(decision) => return decision,
            Err(_) => {
                assert!(Instant::now() < deadline, "never recovered");
                tokio::time::sleep(millis(50)).await;
            }
        }
    }
}

#[tokio::test]
async fn a_killed_server_is_an_error_and_a_restarted_one_is_used_again() {
    let Some(mut server) =
        RedisServer::start_or_skip("a_killed_server_is_an_error_and_a_restarted_one_is_used_again")
    else {
        return;
    };
    let backend = outage_builder(&server).build().await.unwrap();
    let limits = [limit(Minute, 5)];
    let r = request("/outage", "user", &limits, None);
    assert_eq!(allowed(decide(&backend, &r).await).remaining, 4);

    server.stop();
    let start = Instant::now();
    let result = backend.decide(&r).await;
    assert!(
        start.elapsed() < TIMEOUT + SLACK,
        "took {:?}",
        start.elapsed()
    );
    assert!(
        result.is_err(),
        "a failure is an error, not a decision: {result:?}"
    );

    // Until the recheck interval has passed, failures are answered at once.
    assert_eq!(backend.breaker_state(), BreakerState::Open);
    let start = Instant::now();
    assert!(backend.decide(&r).await.is_err());
    assert!(start.elapsed() < millis(100), "took {:?}", start.elapsed());

    // The server comes back empty (no script, no counts): the same backend uses it again.
    server.restart();
    let quota = allowed(until_recovered(&backend, &r).await);
    assert_eq!(quota.remaining, 4);
    assert_eq!(allowed(decide(&backend, &r).await).remaining, 3);
}

#[tokio::test]
async fn a_frozen_server_times_out_and_is_used_again_when_it_thaws() {
    let Some(server) =
        RedisServer::start_or_skip("a_frozen_server_times_out_and_is_used_again_when_it_thaws")
    else {
        return;
    };
    let backend = outage_builder(&server).build().await.unwrap();
    let limits = [limit(Minute, 5)];
    let r = request("/frozen", "user", &limits, None);
    assert_eq!(allowed(decide(&backend, &r).await).remaining, 4);

    server.pause();
    let start = Instant::now();
    let result = backend.decide(&r).await;
    let took = start.elapsed();
    assert!(
        matches!(result, Err(BackendError::Timeout(timeout)) if timeout == TIMEOUT),
        "{result:?}"
    );
    assert!(took >= TIMEOUT && took < TIMEOUT + SLACK, "took {took:?}");

    let start = Instant::now();
    assert!(backend.decide(&r).await.is_err());
    assert!(start.elapsed() < millis(100), "took {:?}", start.elapsed());

    server.resume();
    // The timed-out request may have been counted when Redis got to it.
    let quota = allowed(until_recovered(&backend, &r).await);
    assert!(matches!(quota.remaining, 2 | 3), "{quota:?}");
}

/// A stand-in fallback that admits everything with a recognisable quota.
#[derive(Clone, Default)]
struct Fallback {
    calls: Arc<AtomicUsize>,
}

const FALLBACK_REMAINING: u64 = 4242;

impl Backend for Fallback {
    fn decide<'a>(&'a self, request: &'a DecisionRequest<'a>) -> DecisionFuture<'a> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        DecisionFuture::ready(Ok(Decision::Allow(Quota {
            limit: request.limits[0],
            remaining: FALLBACK_REMAINING,
            reset: Duration::ZERO,
            counted_at: 0,
        })))
    }
}

#[tokio::test]
async fn the_fallback_decides_while_redis_is_away_and_only_then() {
    let Some(mut server) =
        RedisServer::start_or_skip("the_fallback_decides_while_redis_is_away_and_only_then")
    else {
        return;
    };
    let fallback = Fallback::default();
    let backend = outage_builder(&server)
        .fallback(fallback.clone())
        .build()
        .await
        .unwrap();
    let limits = [limit(Minute, 5)];
    let r = request("/fallback", "user", &limits, None);
    assert_eq!(allowed(decide(&backend, &r).await).remaining, 4);
    assert_eq!(fallback.calls.load(Ordering::Relaxed), 0);

    server.stop();
    let start = Instant::now();
    assert_eq!(
        allowed(decide(&backend, &r).await).remaining,
        FALLBACK_REMAINING
    );
    assert!(
        start.elapsed() < TIMEOUT + SLACK,
        "took {:?}",
        start.elapsed()
    );
    let start = Instant::now();
    assert_eq!(
        allowed(decide(&backend, &r).await).remaining,
        FALLBACK_REMAINING
    );
    assert!(start.elapsed() < millis(100), "took {:?}", start.elapsed());
    assert_eq!(fallback.calls.load(Ordering::Relaxed), 2);

    server.restart();
    let deadline = Instant::now() + secs(15);
    loop {
        let quota = allowed(decide(&backend, &r).await);
        if quota.remaining != FALLBACK_REMAINING {
            assert_eq!(quota.remaining, 4, "back on the restarted (empty) server");
            break;
        }
        assert!(Instant::now() < deadline, "never went back to redis");
        tokio::time::sleep(millis(50)).await;
    }
    let calls = fallback.calls.load(Ordering::Relaxed);
    assert_eq!(allowed(decide(&backend, &r).await).remaining, 3);
    assert_eq!(fallback.calls.load(Ordering::Relaxed), calls);
}

/// With no recheck interval, every request tries Redis (and waits for the timeout).
#[tokio::test]
async fn a_zero_recheck_interval_tries_redis_every_time() {
    let Some(server) = RedisServer::start_or_skip("a_zero_recheck_interval_tries_redis_every_time")
    else {
        return;
    };
    let backend = server
        .builder()
        .timeout(TIMEOUT)
        .recheck_interval(Duration::ZERO)
        .failure_threshold(1, secs(10))
        .build()
        .await
        .unwrap();
    let limits = [limit(Minute, 5)];
    let r = request("/zero", "user", &limits, None);
    allowed(decide(&backend, &r).await);
    server.pause();
    for _ in 0..2 {
        let start = Instant::now();
        let result = backend.decide(&r).await;
        assert!(
            matches!(result, Err(BackendError::Timeout(_))),
            "{result:?}"
        );
        assert!(start.elapsed() >= TIMEOUT, "took {:?}", start.elapsed());
    }
    server.resume();
    allowed(until_recovered(&backend, &r).await);
}

/// `DEBUG SLEEP` on a connection of its own: Redis answers nothing for `seconds`.
fn debug_sleep(port: u16, seconds: &'static str) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || command_on(port, &["DEBUG", "SLEEP", seconds]))
}

/// The burst: one call that missed its deadline used to leave Redis alone for a
/// second, admitting everything meanwhile. One failure is below the breaker's threshold.
#[tokio::test]
async fn one_call_that_missed_its_deadline_leaves_redis_deciding() {
    let Some(server) =
        RedisServer::start_or_skip("one_call_that_missed_its_deadline_leaves_redis_deciding")
    else {
        return;
    };
    let backend = server.builder().timeout(TIMEOUT).build().await.unwrap();
    let limits = [limit(Minute, 1)];
    let r = request("/forests", "user", &limits, None);
    allowed(decide(&backend, &r).await);

    let sleep = debug_sleep(server.port, "0.5");
    tokio::time::sleep(millis(50)).await;
    let other = request("/forests", "other", &limits, None);
    let result = backend.decide(&other).await;
    assert!(
        matches!(result, Err(BackendError::Timeout(_))),
        "{result:?}"
    );
    sleep.join().expect("DEBUG SLEEP returns");
    assert_eq!(backend.breaker_state(), BreakerState::Closed);
    // Right after: the user over the limit is still refused, by Redis.
    let denial = denied(decide(&backend, &r).await);
    assert_eq!(denial.cause, DenialCause::Limit(limits[0]));
}

#[tokio::test]
async fn repeated_failures_open_the_breaker_and_one_probe_closes_it() {
    let Some(server) =
        RedisServer::start_or_skip("repeated_failures_open_the_breaker_and_one_probe_closes_it")
    else {
        return;
    };
    let backend = server
        .builder()
        .timeout(TIMEOUT)
        .recheck_interval(RECHECK)
        .failure_threshold(3, secs(10))
        .build()
        .await
        .unwrap();
    let limits = [limit(Minute, 100)];
    let r = request("/breaker", "user", &limits, None);
    allowed(decide(&backend, &r).await);

    server.pause();
    for expected in [
        BreakerState::Closed,
        BreakerState::Closed,
        BreakerState::Open,
    ] {
        let start = Instant::now();
        let result = backend.decide(&r).await;
        assert!(
            matches!(result, Err(BackendError::Timeout(_))),
            "{result:?}"
        );
        assert!(start.elapsed() >= TIMEOUT, "took {:?}", start.elapsed());
        assert_eq!(backend.breaker_state(), expected);
    }
    // Open: answered at once, without calling Redis.
    for _ in 0..50 {
        let start = Instant::now();
        assert!(backend.decide(&r).await.is_err());
        assert!(start.elapsed() < millis(100), "took {:?}", start.elapsed());
    }
    // Half-open: one probe, while the others are answered at once.
    tokio::time::sleep(RECHECK).await;
    let probe = backend.decide(&r);
    let (probe, others) = tokio::join!(probe, async {
        tokio::time::sleep(millis(20)).await;
        let state = backend.breaker_state();
        let start = Instant::now();
        let result = backend.decide(&r).await;
        (state, result.is_err(), start.elapsed())
    });
    assert!(probe.is_err(), "the probe times out: {probe:?}");
    assert_eq!(others.0, BreakerState::HalfOpen);
    assert!(others.1 && others.2 < millis(100), "{others:?}");
    assert_eq!(backend.breaker_state(), BreakerState::Open);

    server.resume();
    allowed(until_recovered(&backend, &r).await);
    assert_eq!(backend.breaker_state(), BreakerState::Closed);
}

/// The crate's lines at `info` and above that this thread logged, as "LEVEL message".
fn crate_lines(logs: &Logs) -> Vec<String> {
    logs.lines()
        .into_iter()
        .filter(|line| line.target.starts_with("ratelimit") && line.at_least(tracing::Level::INFO))
        .map(|line| format!("{} {}", line.level, line.message))
        .collect()
}

/// 300 decisions during an outage: a line when it starts and one when it ends, not 300.
#[tokio::test]
async fn an_outage_logs_when_it_starts_and_ends_not_per_request() {
    let Some(mut server) =
        RedisServer::start_or_skip("an_outage_logs_when_it_starts_and_ends_not_per_request")
    else {
        return;
    };
    let logs = Logs::capture();
    let backend = server
        .builder()
        .timeout(TIMEOUT)
        .recheck_interval(RECHECK)
        .build()
        .await
        .unwrap();
    let limits = [limit(Minute, 1_000)];
    let r = request("/logs", "user", &limits, None);
    allowed(decide(&backend, &r).await);

    server.stop();
    for _ in 0..300 {
        assert!(backend.decide(&r).await.is_err());
    }
    assert_eq!(backend.breaker_state(), BreakerState::Open);
    let lines = crate_lines(&logs);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with("WARN") && lines[0].contains("failed 5 times"),
        "{lines:#?}"
    );

    server.restart();
    allowed(until_recovered(&backend, &r).await);
    let lines = crate_lines(&logs);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[1].starts_with("INFO") && lines[1].contains("is back"),
        "{lines:#?}"
    );
}

//! The refusal cache: a pool Redis refused until a time is answered from memory until then,
//! without a script call (counted with `INFO commandstats`), at once (`decide_now`), and
//! never admitted wrongly (a burst of concurrent requests admits exactly the limit); across
//! instances (two backends on one server and prefix), and on a 3-node cluster.

use std::sync::Arc;

use ratelimit::Unit::{Minute, Second};
use ratelimit::backend::{Algorithm, ManualClock, MemoryBackend};

use crate::*;
use ratelimit_tests::redis_server::{RedisCluster, RedisServer};

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
/// admitted and none fails. (Their script calls are printed, not bounded: the requests are
/// all sent before the first refusal comes back, so each reaches Redis, debug or release.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_concurrent_requests_admits_the_limit_and_none_fails() {
    let Some(server) = RedisServer::start_or_skip(
        "a_burst_of_concurrent_requests_admits_the_limit_and_none_fails",
    ) else {
        return;
    };
    // The default deadline: a tail that misses it would be a failure. A debug build on a busy
    // machine can miss it for no fault of the code under test, so it gets ten times as much;
    // `.ci/run` runs this test again in release, on the default.
    let deadline = if cfg!(debug_assertions) {
        millis(500)
    } else {
        millis(50)
    };
    let backend = Arc::new(server.builder().timeout(deadline).build().await.unwrap());
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

/// An instance of a service: a backend on `server`'s keys under `prefix`, on the frozen test
/// clock (every instance's starts at the same time, and moves only as the test moves it).
async fn instance(server: &RedisServer, algorithm: Algorithm, prefix: &str) -> RedisBackend {
    server
        .builder()
        .algorithm(algorithm)
        .prefix(prefix)
        .frozen_clock_for_tests()
        .build()
        .await
        .unwrap()
}

/// What the middleware does: the cache's answer when it has one, else Redis's; and whether
/// the answer came from the cache.
async fn check(backend: &RedisBackend, r: &DecisionRequest<'_>) -> (Decision, bool) {
    match backend.decide_now(r) {
        Some(now) => (now.expect("a cached answer"), true),
        None => (decide(backend, r).await, false),
    }
}

/// Two instances: a pool one instance exhausted is refused to the other by Redis (once: the
/// other has never seen it refused), then from the other's own cache, without a script call.
/// The first instance, never refused itself, still asks Redis. When the window ends both ask
/// Redis again and are admitted.
#[tokio::test]
async fn a_pool_another_instance_exhausted_is_refused_by_redis_once_then_from_memory() {
    let Some(server) = RedisServer::start_or_skip(
        "a_pool_another_instance_exhausted_is_refused_by_redis_once_then_from_memory",
    ) else {
        return;
    };
    for algorithm in ALGORITHMS {
        let prefix = format!("two-{algorithm:?}");
        let a = instance(&server, algorithm, &prefix).await;
        let b = instance(&server, algorithm, &prefix).await;
        let limits = [limit(Minute, 3)];
        let r = request("/multiple", "shared", &limits, None);
        for _ in 0..3 {
            allowed(decide(&a, &r).await);
        }
        // B has never been refused: it asks Redis, which counted A's three.
        assert!(b.decide_now(&r).is_none(), "{algorithm:?}");
        let before = script_calls(&server);
        let refusal = denied(decide(&b, &r).await);
        assert_eq!(
            refusal.cause,
            DenialCause::Limit(limits[0]),
            "{algorithm:?}"
        );
        assert_eq!(script_calls(&server) - before, 1, "{algorithm:?}");
        for _ in 0..50 {
            assert_eq!(denied(decide(&b, &r).await), refusal, "{algorithm:?}");
            let now = b.decide_now(&r).expect("B answers at once").unwrap();
            assert_eq!(now, Decision::Deny(refusal), "{algorithm:?}");
        }
        assert_eq!(
            script_calls(&server) - before,
            1,
            "{algorithm:?}: B's 100 further refusals cost no script call"
        );
        // B's cache is B's: A, never refused, asks Redis, which refuses it alike.
        assert!(a.decide_now(&r).is_none(), "{algorithm:?}");
        assert_eq!(denied(decide(&a, &r).await), refusal, "{algorithm:?}");
        assert_eq!(script_calls(&server) - before, 2, "{algorithm:?}");

        // The refusal ends where Redis said: neither cache answers, and Redis admits.
        a.advance_clock_for_tests(refusal.retry_after);
        b.advance_clock_for_tests(refusal.retry_after);
        assert!(a.decide_now(&r).is_none(), "{algorithm:?}");
        assert!(b.decide_now(&r).is_none(), "{algorithm:?}");
        allowed(decide(&b, &r).await);
        match decide(&a, &r).await {
            Decision::Allow(_) => assert_eq!(algorithm, Algorithm::FixedWindow),
            // The sliding window and GCRA have room for one then: B took it, and Redis says
            // when A has room.
            Decision::Deny(wait) => {
                assert_ne!(algorithm, Algorithm::FixedWindow);
                a.advance_clock_for_tests(wait.retry_after);
                allowed(decide(&a, &r).await);
            }
        }
    }
}

/// The converse: A's cache never admits what the two instances' counts refuse. A is refused
/// by the second's limit and caches it; meanwhile B counts, so when A's entry ends Redis
/// refuses A again (A does not take the end of its entry for room); both are then refused
/// by the minute's limit, from their caches, with the same wait, to the window's end; then
/// each is admitted again.
#[tokio::test]
async fn another_instances_counts_keep_a_refusal_true_and_the_cache_never_admits() {
    let Some(server) = RedisServer::start_or_skip(
        "another_instances_counts_keep_a_refusal_true_and_the_cache_never_admits",
    ) else {
        return;
    };
    let (a, b) = (
        instance(&server, Algorithm::FixedWindow, "converse").await,
        instance(&server, Algorithm::FixedWindow, "converse").await,
    );
    let advance = |by| {
        a.advance_clock_for_tests(by);
        b.advance_clock_for_tests(by);
    };
    let limits = [limit(Second, 1), limit(Minute, 3)];
    let r = request("/multiple", "shared", &limits, None);

    // 0 s: A counts 1 of the minute's 3; its next request is refused by the second, cached.
    allowed(decide(&a, &r).await);
    assert_denied_by(decide(&a, &r).await, limits[0], secs(1));
    let (refusal, cached) = check(&a, &r).await;
    assert!(cached, "A's refusal is cached");
    assert_denied_by(refusal, limits[0], secs(1));

    // 1 s: A's entry has ended. B counts 2 of 3 (Redis); A is refused by Redis, by B's count.
    advance(secs(1));
    assert!(
        a.decide_now(&r).is_none(),
        "A's entry ended with the second"
    );
    allowed(decide(&b, &r).await);
    let (again, cached) = check(&a, &r).await;
    assert!(!cached, "A asked Redis");
    assert_denied_by(again, limits[0], secs(1));

    // 2 s: A counts 3 of 3. Now the minute refuses both, to its end, 58 s on.
    advance(secs(1));
    allowed(decide(&a, &r).await);
    let (by_b, cached) = check(&b, &r).await;
    assert!(!cached, "B was never refused: B asks Redis");
    assert_denied_by(by_b, limits[1], secs(58));
    let (by_a, cached) = check(&a, &r).await;
    assert!(!cached, "A has no entry of the minute yet");
    assert_denied_by(by_a, limits[1], secs(58));

    // To the minute's end, every request of either is refused from its cache.
    let before = script_calls(&server);
    for (step, wait) in [(0, 58), (18, 40), (39, 1)] {
        advance(secs(step));
        for backend in [&a, &b] {
            for _ in 0..10 {
                let (decision, cached) = check(backend, &r).await;
                assert!(cached, "{wait} s before the minute's end");
                assert_denied_by(decision, limits[1], secs(wait));
            }
        }
    }
    assert_eq!(
        script_calls(&server),
        before,
        "60 refusals from the caches, no script call"
    );

    // 60 s: the minute has ended; each is admitted again (a second apart: the second's limit).
    advance(secs(1));
    assert!(a.decide_now(&r).is_none());
    assert!(b.decide_now(&r).is_none());
    allowed(decide(&a, &r).await);
    advance(secs(1));
    allowed(decide(&b, &r).await);
}

/// A decision as a single backend's would read: the admission's quota (not its time of
/// count, which is each backend's own clock), or the refusal.
fn answer(decision: Decision) -> Result<(Limit, u64, Duration), Denial> {
    match decision {
        Decision::Allow(quota) => Ok((quota.limit, quota.remaining, quota.reset)),
        Decision::Deny(denial) => Err(denial),
    }
}

/// Two instances taking turns on one pool, four requests a second for two and a half
/// minutes, answer every request as one backend alone would (the in-memory backend on a
/// manual clock, sent the same requests): their caches never admit what the shared counts
/// refuse (a cache only refuses), nor refuse longer or otherwise than Redis would. The
/// answers from a cache cost no script call, and most refusals come from one.
#[tokio::test]
async fn two_instances_answer_as_one_backend_would() {
    let Some(server) = RedisServer::start_or_skip("two_instances_answer_as_one_backend_would")
    else {
        return;
    };
    for algorithm in ALGORITHMS {
        let prefix = format!("model-{algorithm:?}");
        let (a, b) = (
            instance(&server, algorithm, &prefix).await,
            instance(&server, algorithm, &prefix).await,
        );
        let clock = ManualClock::new();
        let model = MemoryBackend::builder()
            .algorithm(algorithm)
            .clock(clock.clone())
            .build();
        let limits = [limit(Second, 1), limit(Minute, 3)];
        let r = request("/multiple", "shared", &limits, None);
        let (mut from_cache, mut from_redis, mut admitted) = (0, 0, 0);
        let before = script_calls(&server);
        for second in 0..150_u64 {
            for turn in 0..4 {
                // A first on even seconds, B on odd ones; then turn about.
                let (name, backend) = if (second + turn) % 2 == 0 {
                    ("A", &a)
                } else {
                    ("B", &b)
                };
                let (decision, cached) = check(backend, &r).await;
                let expected = model.decide(&r).await.expect("the model decides");
                assert_eq!(
                    answer(decision),
                    answer(expected),
                    "{algorithm:?}: {name} at {second} s, turn {turn} (from its cache: {cached})"
                );
                if cached {
                    from_cache += 1;
                } else {
                    from_redis += 1;
                }
                admitted += u64::from(matches!(decision, Decision::Allow(_)));
            }
            a.advance_clock_for_tests(secs(1));
            b.advance_clock_for_tests(secs(1));
            clock.advance(secs(1));
        }
        let calls = script_calls(&server) - before;
        println!(
            "{algorithm:?}: {admitted} admitted of 600, {from_redis} answers from Redis, \
             {from_cache} from a cache, {calls} script calls"
        );
        assert_eq!(
            calls, from_redis,
            "{algorithm:?}: a script call per answer from Redis"
        );
        assert!(
            from_cache * 2 > 600 - admitted,
            "{algorithm:?}: most refusals from a cache"
        );
    }
}

/// On a 3-node cluster: users whose keys are on every node, each refused once by Redis, are
/// then refused from the cache; the script calls of every node stay where they were, until
/// the refusal ends and Redis decides again.
#[tokio::test]
async fn on_a_cluster_a_refused_users_requests_cost_no_script_call_on_any_node() {
    let Some(cluster) = RedisCluster::start_or_skip(
        "on_a_cluster_a_refused_users_requests_cost_no_script_call_on_any_node",
    ) else {
        return;
    };
    let calls = || -> Vec<u64> { cluster.nodes.iter().map(script_calls).collect() };
    let users: Vec<String> = (0..12).map(|i| format!("abuser-{i}")).collect();
    for algorithm in ALGORITHMS {
        let backend = cluster
            .builder()
            .algorithm(algorithm)
            .prefix(format!("cluster-cache-{algorithm:?}"))
            .frozen_clock_for_tests()
            .build()
            .await
            .unwrap();
        let limits = [limit(Second, 1), limit(Minute, 3)];
        let requests: Vec<_> = users
            .iter()
            .map(|user| request("/multiple", user, &limits, None))
            .collect();
        let start = calls();
        let mut refusals = Vec::new();
        for r in &requests {
            allowed(decide(&backend, r).await);
            let refusal = denied(decide(&backend, r).await);
            assert_eq!(
                refusal.cause,
                DenialCause::Limit(limits[0]),
                "{algorithm:?}"
            );
            refusals.push(refusal);
        }
        let before = calls();
        assert!(
            start.iter().zip(&before).all(|(start, now)| now > start),
            "{algorithm:?}: the users' keys are on every node: {start:?} -> {before:?}"
        );
        for _ in 0..20 {
            for (r, refusal) in requests.iter().zip(&refusals) {
                assert_eq!(denied(decide(&backend, r).await), *refusal, "{algorithm:?}");
                let now = backend.decide_now(r).expect("answered at once").unwrap();
                assert_eq!(now, Decision::Deny(*refusal), "{algorithm:?}");
            }
        }
        assert_eq!(
            calls(),
            before,
            "{algorithm:?}: 480 refusals, no script call on any node"
        );
        backend.advance_clock_for_tests(refusals[0].retry_after);
        for r in &requests {
            assert!(backend.decide_now(r).is_none(), "{algorithm:?}");
            allowed(decide(&backend, r).await);
        }
        assert!(
            calls()
                .iter()
                .zip(&before)
                .all(|(now, before)| now > before),
            "{algorithm:?}: Redis decides again, on every node"
        );
    }
}

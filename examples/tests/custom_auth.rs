//! The `custom_auth` example serves its contract: real HTTP to the example's own app on a
//! loopback port, on a backend whose clock the test controls.

#[path = "../custom_auth.rs"]
#[allow(dead_code)]
mod example;

use std::time::Duration;

use ratelimit::backend::{Algorithm, ManualClock, MemoryBackend};
use ratelimit_tests::net::Server;

async fn start(algorithm: Algorithm) -> (Server, ManualClock) {
    let clock = ManualClock::new();
    let backend = MemoryBackend::builder()
        .algorithm(algorithm)
        .clock(clock.clone())
        .build();
    (Server::start(example::app(backend)).await, clock)
}

const ALICE: (&str, &str) = ("x-user", "alice");
const ADMIN: (&str, &str) = ("x-group", "admin");

#[tokio::test]
async fn every_unlimited_path_answers_ok_to_any_method_without_identity() {
    let (server, _) = start(Algorithm::FixedWindow).await;
    for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
        let reply = server.send(method, "/anything/else?x=1", &[]).await;
        assert_eq!(
            (reply.status, reply.text().as_str()),
            (200, "ok"),
            "{method}"
        );
    }
}

#[tokio::test]
async fn a_missing_or_empty_user_is_401_on_a_limited_path() {
    let (server, _) = start(Algorithm::FixedWindow).await;
    assert_eq!(server.get("/towns", &[]).await.status, 401);
    assert_eq!(server.get("/towns", &[("x-user", "")]).await.status, 401);
    // A percent-escape does not take a path out of its route: `/user/%31` is `/user/1`.
    assert_eq!(server.get("/user/1", &[]).await.status, 401);
    assert_eq!(server.get("/user/%31", &[]).await.status, 401);
}

#[tokio::test]
async fn towns_admits_one_a_second_and_admins_without_limit() {
    for algorithm in [
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
        Algorithm::Gcra,
    ] {
        let (server, clock) = start(algorithm).await;
        assert_eq!(server.get("/towns", &[ALICE]).await.status, 200);
        let refused = server.get("/towns", &[ALICE]).await;
        assert_eq!(refused.status, 429, "{algorithm:?}");
        // The sliding window weighs the previous window's request until it has slid out.
        let wait = if algorithm == Algorithm::SlidingWindow {
            "2"
        } else {
            "1"
        };
        assert_eq!(refused.header("retry-after"), Some(wait), "{algorithm:?}");
        assert_eq!(refused.text(), "");
        // An empty group is `default`; the admin group is not limited.
        assert_eq!(
            server.get("/towns", &[ALICE, ("x-group", "")]).await.status,
            429
        );
        for _ in 0..5 {
            assert_eq!(server.get("/towns", &[ALICE, ADMIN]).await.status, 200);
        }
        // Another user has a pool of their own.
        assert_eq!(server.get("/towns", &[("x-user", "bob")]).await.status, 200);
        clock.advance(Duration::from_secs(2));
        assert_eq!(
            server.get("/towns", &[ALICE]).await.status,
            200,
            "{algorithm:?}"
        );
    }
}

#[tokio::test]
async fn forests_admits_one_a_minute() {
    let (server, clock) = start(Algorithm::FixedWindow).await;
    assert_eq!(server.get("/forests", &[ALICE]).await.status, 200);
    clock.advance(Duration::from_secs(20));
    let refused = server.get("/forests", &[ALICE]).await;
    assert_eq!(
        (refused.status, refused.header("retry-after")),
        (429, Some("40"))
    );
    assert_eq!(server.get("/forests", &[ALICE, ADMIN]).await.status, 200);
}

#[tokio::test]
async fn api_has_ten_a_second_and_admins_twenty_five() {
    let (server, _) = start(Algorithm::FixedWindow).await;
    for _ in 0..10 {
        assert_eq!(server.get("/api/v1/x", &[ALICE]).await.status, 200);
    }
    assert_eq!(server.get("/api/v1/x", &[ALICE]).await.status, 429);
    let admin = [("x-user", "root"), ADMIN];
    for _ in 0..25 {
        assert_eq!(server.get("/api/v1/x", &admin).await.status, 200);
    }
    assert_eq!(server.get("/api/v1/x", &admin).await.status, 429);
}

#[tokio::test]
async fn user_paths_share_the_user_api_zone() {
    let (server, _) = start(Algorithm::FixedWindow).await;
    let admin = [("x-user", "root"), ADMIN];
    for i in 0..100 {
        let path = format!("/user/{i}");
        assert_eq!(server.get(&path, &admin).await.status, 200, "{path}");
    }
    assert_eq!(server.get("/user/100000", &admin).await.status, 429);
    // `/user/x` is not `\d+`: no route, no limit.
    assert_eq!(server.get("/user/x", &admin).await.status, 200);
}

#[tokio::test]
async fn login_blocks_for_sixty_seconds_on_every_limited_route() {
    let (server, clock) = start(Algorithm::FixedWindow).await;
    for _ in 0..5 {
        assert_eq!(server.get("/login", &[ALICE]).await.status, 200);
    }
    let blocked = server.get("/login", &[ALICE]).await;
    assert_eq!(
        (blocked.status, blocked.header("retry-after")),
        (429, Some("60"))
    );
    // The block holds on other limited routes too, and does not grow with more requests.
    assert_eq!(server.get("/second_limit", &[ALICE]).await.status, 429);
    clock.advance(Duration::from_secs(30));
    let still = server.get("/login", &[ALICE]).await;
    assert_eq!(
        (still.status, still.header("retry-after")),
        (429, Some("30"))
    );
    // Unlimited routes are not blocked.
    assert_eq!(server.get("/elsewhere", &[ALICE]).await.status, 200);
    clock.advance(Duration::from_secs(30));
    assert_eq!(server.get("/login", &[ALICE]).await.status, 200);
}

#[tokio::test]
async fn block_blocks_for_five_seconds() {
    let (server, clock) = start(Algorithm::FixedWindow).await;
    assert_eq!(server.get("/block", &[ALICE]).await.status, 200);
    let blocked = server.get("/block", &[ALICE]).await;
    assert_eq!(
        (blocked.status, blocked.header("retry-after")),
        (429, Some("5"))
    );
    clock.advance(Duration::from_secs(4));
    assert_eq!(server.get("/block", &[ALICE]).await.status, 429);
    clock.advance(Duration::from_secs(1));
    assert_eq!(server.get("/block", &[ALICE]).await.status, 200);
}

#[tokio::test]
async fn multiple_enforces_both_limits() {
    let (server, clock) = start(Algorithm::FixedWindow).await;
    for _ in 0..3 {
        assert_eq!(server.get("/multiple", &[ALICE]).await.status, 200);
        assert_eq!(server.get("/multiple", &[ALICE]).await.status, 429);
        clock.advance(Duration::from_secs(1));
    }
    // The minute's three are spent: the second limit has room, the minute has none.
    let refused = server.get("/multiple", &[ALICE]).await;
    assert_eq!(
        (refused.status, refused.header("retry-after")),
        (429, Some("57"))
    );
}

#[tokio::test]
async fn message_limits_each_method_on_its_own() {
    let (server, _) = start(Algorithm::FixedWindow).await;
    assert_eq!(server.get("/message", &[ALICE]).await.status, 200);
    assert_eq!(server.get("/message", &[ALICE]).await.status, 429);
    assert_eq!(server.send("POST", "/message", &[ALICE]).await.status, 200);
    assert_eq!(server.send("POST", "/message", &[ALICE]).await.status, 200);
    assert_eq!(server.send("POST", "/message", &[ALICE]).await.status, 429);
    // No rule for DELETE: not limited.
    assert_eq!(
        server.send("DELETE", "/message", &[ALICE]).await.status,
        200
    );
}

#[tokio::test]
async fn head_counts_with_get_on_message() {
    let (server, _) = start(Algorithm::FixedWindow).await;
    assert_eq!(server.head("/message", &[ALICE]).await, 200);
    assert_eq!(server.get("/message", &[ALICE]).await.status, 429);
    assert_eq!(server.head("/message", &[ALICE]).await, 429);
}

#[tokio::test]
async fn digits_and_common_share_a_zone() {
    let (server, _) = start(Algorithm::FixedWindow).await;
    assert_eq!(server.get("/123", &[ALICE]).await.status, 200);
    assert_eq!(server.get("/common", &[ALICE]).await.status, 429);
    assert_eq!(server.get("/456", &[ALICE]).await.status, 429);
}

#[tokio::test]
async fn minute_and_multi_minute() {
    let (server, _) = start(Algorithm::FixedWindow).await;
    assert_eq!(server.get("/minute", &[ALICE]).await.status, 200);
    assert_eq!(server.get("/minute", &[ALICE]).await.status, 429);
    assert_eq!(server.get("/multi-minute", &[ALICE]).await.status, 200);
    assert_eq!(server.get("/multi-minute", &[ALICE]).await.status, 200);
    assert_eq!(server.get("/multi-minute", &[ALICE]).await.status, 429);
}

#[tokio::test]
async fn bench_is_effectively_unlimited() {
    let (server, _) = start(Algorithm::FixedWindow).await;
    for _ in 0..50 {
        assert_eq!(server.get("/bench", &[ALICE]).await.status, 200);
    }
}

/// The same contract on `RATELIMIT_BACKEND=redis` and `redis-cluster`: a real Redis (and a
/// real 3-node cluster) on loopback, with the backend's test clock moved by hand.
mod on_redis {
    use std::time::Duration;

    use ratelimit::backend::redis::RedisBackend;

    use super::{ALICE, example};
    use ratelimit_tests::net::Server;

    use ratelimit_tests::logs::Logs;
    use ratelimit_tests::redis_server;

    async fn exercise(backend: RedisBackend) {
        let server = Server::start(example::app(backend.clone())).await;
        assert_eq!(server.get("/towns", &[ALICE]).await.status, 200);
        let refused = server.get("/towns", &[ALICE]).await;
        assert_eq!(
            (refused.status, refused.header("retry-after")),
            (429, Some("1"))
        );
        assert_eq!(
            server.get("/towns", &[ALICE, super::ADMIN]).await.status,
            200
        );
        assert_eq!(server.get("/123", &[ALICE]).await.status, 200);
        assert_eq!(server.get("/common", &[ALICE]).await.status, 429);
        for _ in 0..5 {
            assert_eq!(server.get("/login", &[ALICE]).await.status, 200);
        }
        let blocked = server.get("/login", &[ALICE]).await;
        assert_eq!(
            (blocked.status, blocked.header("retry-after")),
            (429, Some("60"))
        );
        backend.advance_clock_for_tests(Duration::from_secs(60));
        assert_eq!(server.get("/login", &[ALICE]).await.status, 200);
        assert_eq!(server.get("/towns", &[ALICE]).await.status, 200);
    }

    #[tokio::test]
    async fn redis() {
        let Some(redis) = redis_server::RedisServer::start_or_skip("custom_auth::redis") else {
            return;
        };
        let backend = RedisBackend::builder(redis.url())
            .frozen_clock_for_tests()
            .build()
            .await
            .expect("connect");
        exercise(backend).await;
    }

    #[tokio::test]
    async fn redis_cluster() {
        let Some(cluster) = redis_server::RedisCluster::start_or_skip("custom_auth::cluster")
        else {
            return;
        };
        let backend = RedisBackend::cluster_builder(cluster.urls())
            .frozen_clock_for_tests()
            .build()
            .await
            .expect("connect");
        exercise(backend).await;
    }

    // The checks of Redis under load and outage (#19), on the example's own app.

    /// The script calls the server ran so far (`EVALSHA` and `EVAL`), from `INFO
    /// commandstats`.
    fn script_calls(redis: &redis_server::RedisServer) -> u64 {
        let info = redis.command(&["INFO", "commandstats"]);
        info.lines()
            .filter(|line| {
                line.starts_with("cmdstat_evalsha:") || line.starts_with("cmdstat_eval:")
            })
            .filter_map(|line| {
                line.split("calls=")
                    .nth(1)?
                    .split(',')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    }

    async fn frozen(redis: &redis_server::RedisServer) -> RedisBackend {
        RedisBackend::builder(redis.url())
            .frozen_clock_for_tests()
            .build()
            .await
            .expect("built")
    }

    #[tokio::test]
    async fn a_user_over_its_limit_costs_redis_at_most_a_couple_of_script_calls() {
        let Some(redis) = redis_server::RedisServer::start_or_skip("custom_auth::over_limit")
        else {
            return;
        };
        let server = Server::start(example::app(frozen(&redis).await)).await;
        assert_eq!(server.get("/forests", &[ALICE]).await.status, 200);
        let before = script_calls(&redis);
        for _ in 0..50 {
            let refused = server.get("/forests", &[ALICE]).await;
            assert_eq!(
                (refused.status, refused.header("retry-after")),
                (429, Some("60"))
            );
        }
        let calls = script_calls(&redis) - before;
        assert!(calls <= 2, "{calls} script calls for 50 refusals");
    }

    /// A release build's test (`.ci/run` runs it so): on the example's own 50 ms deadline, a
    /// debug build on a busy machine misses it for some of the 400, and the example fails
    /// open, admitting them uncounted (seen: 4 and 112 admitted, Redis counting 2).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(
        debug_assertions,
        ignore = "release only: a debug build misses the 50 ms deadline under load (.ci/run)"
    )]
    async fn four_hundred_concurrent_requests_on_multiple_admit_at_most_three_and_none_fails() {
        let Some(redis) = redis_server::RedisServer::start_or_skip("custom_auth::burst") else {
            return;
        };
        // The example's own backend: the default 50 ms deadline, Redis's clock.
        let backend = RedisBackend::builder(redis.url())
            .build()
            .await
            .expect("built");
        let server = Server::start(example::app(backend)).await;
        let client = server.client(Duration::from_secs(30));
        let tasks: Vec<_> = (0..400)
            .map(|_| {
                tokio::spawn(
                    async move { client.get("/multiple", &[("x-user", "burst")]).await.status },
                )
            })
            .collect();
        let mut statuses = std::collections::BTreeMap::new();
        for task in tasks {
            *statuses.entry(task.await.expect("a reply")).or_insert(0) += 1;
        }
        println!("/multiple burst: {statuses:?}");
        let admitted = statuses.get(&200).copied().unwrap_or(0);
        assert!((1..=3).contains(&admitted), "{statuses:?}");
        assert_eq!(
            statuses.get(&429).copied().unwrap_or(0),
            400 - admitted,
            "{statuses:?}"
        );
    }

    #[tokio::test]
    async fn right_after_a_call_that_missed_its_deadline_forests_is_still_429() {
        let Some(redis) = redis_server::RedisServer::start_or_skip("custom_auth::deadline") else {
            return;
        };
        let backend = RedisBackend::builder(redis.url())
            .build()
            .await
            .expect("built");
        let server = Server::start(example::app(backend)).await;
        assert_eq!(server.get("/forests", &[ALICE]).await.status, 200);
        let port = redis.port;
        let sleep =
            std::thread::spawn(move || redis_server::command_on(port, &["DEBUG", "SLEEP", "0.3"]));
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Redis asleep: this call misses its 50 ms deadline (admitted, failing open).
        assert_eq!(
            server.get("/forests", &[("x-user", "bob")]).await.status,
            200
        );
        sleep.join().expect("DEBUG SLEEP returns");
        let refused = server.get("/forests", &[ALICE]).await;
        assert_eq!(
            refused.status, 429,
            "Redis still decides after one missed deadline"
        );
    }

    /// The lines at INFO or above this thread logged, of any target (the crate's, redis-rs's,
    /// hyper's…: what a server logs by default), as "target LEVEL" (a current-thread runtime
    /// runs the server on the test's thread).
    fn server_lines(logs: &Logs) -> Vec<String> {
        logs.lines()
            .into_iter()
            .filter(|line| line.at_least(tracing::Level::INFO))
            .map(|line| format!("{} {}", line.target, line.level))
            .collect()
    }

    #[tokio::test]
    async fn three_hundred_requests_during_an_outage_log_a_few_lines() {
        let Some(mut redis) = redis_server::RedisServer::start_or_skip("custom_auth::outage")
        else {
            return;
        };
        let logs = Logs::capture();
        let backend = RedisBackend::builder(redis.url())
            .build()
            .await
            .expect("built");
        let server = Server::start(example::app(backend)).await;
        assert_eq!(server.get("/towns", &[ALICE]).await.status, 200);
        let before = server_lines(&logs).len();
        redis.stop();
        for i in 0..300 {
            let user = format!("user{i}");
            // Failing open, the example's policy.
            assert_eq!(
                server
                    .get("/towns", &[("x-user", user.as_str())])
                    .await
                    .status,
                200
            );
        }
        // Every line logged from the outage on, whoever logged it: the backend's (its
        // breaker opening, a count per interval) and the middleware's (its fail-open warning,
        // written at most once per 10 s with a count of those held back), not one a request.
        let lines = server_lines(&logs).split_off(before);
        println!(
            "outage: {} lines: {:?}",
            lines.len(),
            lines.iter().collect::<std::collections::BTreeSet<_>>()
        );
        // Both say so (a capture that saw nothing would pass the bound by itself).
        for source in ["ratelimit::backend::redis", "ratelimit::middleware"] {
            assert!(
                lines.iter().any(|line| line.starts_with(source)),
                "{source}: {lines:#?}"
            );
        }
        assert!(lines.len() <= 5, "{lines:#?}");
    }

    #[tokio::test]
    async fn started_with_redis_down_it_answers_by_its_policy_then_limits_when_redis_comes_up() {
        let Some(mut redis) = redis_server::RedisServer::start_or_skip("custom_auth::late_redis")
        else {
            return;
        };
        redis.stop();
        let backend = RedisBackend::builder(redis.url())
            .build()
            .await
            .expect("built without redis");
        let server = Server::start(example::app(backend)).await;
        for _ in 0..3 {
            // The example's policy: fail open.
            assert_eq!(server.get("/forests", &[ALICE]).await.status, 200);
        }
        redis.restart();
        let up = std::time::Instant::now();
        while server.get("/forests", &[ALICE]).await.status != 429 {
            assert!(up.elapsed() < Duration::from_secs(10), "never limited");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!("limiting {:?} after redis came up", up.elapsed());
        assert!(
            up.elapsed() < Duration::from_secs(5),
            "took {:?}",
            up.elapsed()
        );
    }
}

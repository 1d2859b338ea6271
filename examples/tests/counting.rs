//! The `counting` example serves its contract: real HTTP to the example's own app on a
//! loopback port, on the in-memory backend with a clock the test moves, and on a real Redis
//! with its test clock frozen.

#[path = "../counting.rs"]
#[allow(dead_code)]
mod example;

use std::time::Duration;

use ratelimit::backend::{Algorithm, ManualClock, MemoryBackend};
use ratelimit_tests::net::Server;

const ALGORITHMS: [Algorithm; 3] = [
    Algorithm::FixedWindow,
    Algorithm::SlidingWindow,
    Algorithm::Gcra,
];

async fn start(algorithm: Algorithm) -> (Server, ManualClock) {
    let clock = ManualClock::new();
    let backend = MemoryBackend::builder()
        .algorithm(algorithm)
        .clock(clock.clone())
        .build();
    (Server::start(example::app(backend)).await, clock)
}

const ALICE: (&str, &str) = ("x-user", "alice");
const GOOD: (&str, &str) = ("x-password", "letmein");
const BAD: (&str, &str) = ("x-password", "guess");

#[tokio::test]
async fn other_paths_and_methods_answer_ok_without_limit_or_identity() {
    let (server, _) = start(Algorithm::FixedWindow).await;
    for _ in 0..20 {
        let reply = server.send("PUT", "/anything/else?x=1", &[]).await;
        assert_eq!((reply.status, reply.text().as_str()), (200, "ok"));
    }
    // Another method on /login is the fallback's `200 ok` (limited, but never counted: only
    // 401s count).
    for _ in 0..5 {
        let reply = server.get("/login", &[ALICE]).await;
        assert_eq!((reply.status, reply.text().as_str()), (200, "ok"));
    }
}

#[tokio::test]
async fn a_missing_or_empty_user_is_401_on_a_limited_path() {
    let (server, _) = start(Algorithm::FixedWindow).await;
    for path in ["/login", "/export", "/search", "/burst"] {
        assert_eq!(server.send("POST", path, &[]).await.status, 401, "{path}");
        let empty = server.send("POST", path, &[("x-user", "")]).await;
        assert_eq!(empty.status, 401, "{path}");
    }
}

#[tokio::test]
async fn good_logins_never_count_and_three_failures_block_for_a_minute() {
    for algorithm in ALGORITHMS {
        let (server, clock) = start(algorithm).await;
        for _ in 0..10 {
            let reply = server.send("POST", "/login", &[ALICE, GOOD]).await;
            assert_eq!(
                reply.status, 200,
                "{algorithm:?}: a good login is not counted"
            );
        }
        for _ in 0..3 {
            let reply = server.send("POST", "/login", &[ALICE, BAD]).await;
            assert_eq!(
                reply.status, 401,
                "{algorithm:?}: the handler's answer, counted"
            );
        }
        // Blocked for the block time; the sliding window still weighs the three failures
        // 80 s from now (the next window, until 1 + 3·(1 − e/60) ≤ 3: e = 20), longer.
        let wait = if algorithm == Algorithm::SlidingWindow {
            "80"
        } else {
            "60"
        };
        for headers in [[ALICE, GOOD], [ALICE, BAD]] {
            let refused = server.send("POST", "/login", &headers).await;
            assert_eq!(
                (refused.status, refused.header("retry-after")),
                (429, Some(wait)),
                "{algorithm:?}: blocked"
            );
        }
        // Another user is not blocked.
        let bob = server
            .send("POST", "/login", &[("x-user", "bob"), GOOD])
            .await;
        assert_eq!(bob.status, 200, "{algorithm:?}");
        // After the block (and, for the sliding window, the previous window's weight).
        clock.advance(Duration::from_secs(120));
        let reply = server.send("POST", "/login", &[ALICE, GOOD]).await;
        assert_eq!(reply.status, 200, "{algorithm:?}");
    }
}

#[tokio::test]
async fn an_export_uses_four_of_ten_a_minute() {
    for algorithm in ALGORITHMS {
        let (server, _) = start(algorithm).await;
        assert_eq!(server.get("/export", &[ALICE]).await.status, 200);
        assert_eq!(server.get("/export", &[ALICE]).await.status, 200);
        let refused = server.get("/export", &[ALICE]).await;
        assert_eq!(refused.status, 429, "{algorithm:?}: 12 of 10");
        // Fixed: the window's end. Sliding: 60 s, then until 8·(1 − e/60) + 4 ≤ 10 (e = 15).
        // GCRA: 6 s a unit, TAT 48 − (10 − 4)·6.
        let wait = match algorithm {
            Algorithm::SlidingWindow => "75",
            Algorithm::Gcra => "12",
            _ => "60",
        };
        assert_eq!(refused.header("retry-after"), Some(wait), "{algorithm:?}");
        let bob = server.get("/export", &[("x-user", "bob")]).await;
        assert_eq!(bob.status, 200, "{algorithm:?}: a pool per user");
    }
}

#[tokio::test]
async fn search_admits_three_per_10_seconds_for_all_users_together() {
    for algorithm in ALGORITHMS {
        let (server, clock) = start(algorithm).await;
        for user in ["alice", "bob", "carol"] {
            let reply = server.get("/search", &[("x-user", user)]).await;
            assert_eq!(reply.status, 200, "{algorithm:?}: {user}");
        }
        let refused = server.get("/search", &[("x-user", "dave")]).await;
        assert_eq!(refused.status, 429, "{algorithm:?}: one pool for everyone");
        clock.advance(Duration::from_secs(20));
        let reply = server.get("/search", &[("x-user", "dave")]).await;
        assert_eq!(reply.status, 200, "{algorithm:?}");
    }
}

#[tokio::test]
async fn burst_admits_two_per_10_seconds() {
    for algorithm in ALGORITHMS {
        let (server, clock) = start(algorithm).await;
        assert_eq!(server.get("/burst", &[ALICE]).await.status, 200);
        assert_eq!(server.get("/burst", &[ALICE]).await.status, 200);
        let refused = server.get("/burst", &[ALICE]).await;
        // Fixed: the window's end. Sliding: 10 s, then until 2·(1 − e/10) + 1 ≤ 2 (e = 5).
        // GCRA: 5 s a request.
        let wait = match algorithm {
            Algorithm::SlidingWindow => "15",
            Algorithm::Gcra => "5",
            _ => "10",
        };
        assert_eq!(
            (refused.status, refused.header("retry-after")),
            (429, Some(wait)),
            "{algorithm:?}"
        );
        clock.advance(Duration::from_secs(15));
        assert_eq!(server.get("/burst", &[ALICE]).await.status, 200);
    }
}

/// Concurrent requests hold their place while they are answered: of many concurrent failed
/// logins, at most the limit reach the handler; of many concurrent searches by different
/// users, exactly the global limit.
async fn concurrent_requests_admit_at_most_the_limit(server: &Server) {
    let client = server.client(Duration::from_secs(30));
    let logins: Vec<_> = (0..40)
        .map(|_| {
            tokio::spawn(async move { client.send("POST", "/login", &[ALICE, BAD]).await.status })
        })
        .collect();
    let searches: Vec<_> = (0..40)
        .map(|user| {
            tokio::spawn(async move {
                let user = format!("user-{user}");
                client.get("/search", &[("x-user", &user)]).await.status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in logins {
        statuses.push(task.await.expect("a login"));
    }
    assert_eq!(
        statuses.iter().filter(|&&s| s == 401).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), 37);
    let mut statuses = Vec::new();
    for task in searches {
        statuses.push(task.await.expect("a search"));
    }
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), 37);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_failures_and_searches_admit_at_most_the_limit_in_memory() {
    let (server, _) = start(Algorithm::FixedWindow).await;
    concurrent_requests_admit_at_most_the_limit(&server).await;
}

/// The same contract on `RATELIMIT_BACKEND=redis`: a real Redis on loopback, with the
/// backend's test clock frozen and moved by hand.
mod on_redis {
    use std::time::Duration;

    use ratelimit::backend::redis::RedisBackend;
    use ratelimit_tests::net::Server;
    use ratelimit_tests::redis_server::RedisServer;

    use super::{ALICE, BAD, GOOD, example};

    async fn frozen(redis: &RedisServer) -> RedisBackend {
        RedisBackend::builder(redis.url())
            .frozen_clock_for_tests()
            .build()
            .await
            .expect("built")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_contract_holds_on_redis() {
        let Some(redis) = RedisServer::start_or_skip("counting::redis") else {
            return;
        };
        let backend = frozen(&redis).await;
        let server = Server::start(example::app(backend.clone())).await;
        for _ in 0..10 {
            let reply = server.send("POST", "/login", &[ALICE, GOOD]).await;
            assert_eq!(reply.status, 200, "a good login is given back");
        }
        for _ in 0..3 {
            assert_eq!(
                server.send("POST", "/login", &[ALICE, BAD]).await.status,
                401
            );
        }
        let refused = server.send("POST", "/login", &[ALICE, GOOD]).await;
        assert_eq!(
            (refused.status, refused.header("retry-after")),
            (429, Some("60"))
        );
        // Alice is blocked on every limited path now: Bob exports and bursts.
        assert_eq!(server.get("/export", &[ALICE]).await.status, 429);
        const BOB: (&str, &str) = ("x-user", "bob");
        assert_eq!(server.get("/export", &[BOB]).await.status, 200);
        assert_eq!(server.get("/export", &[BOB]).await.status, 200);
        assert_eq!(server.get("/export", &[BOB]).await.status, 429);
        for user in ["bob", "carol", "dave"] {
            assert_eq!(server.get("/search", &[("x-user", user)]).await.status, 200);
        }
        assert_eq!(
            server.get("/search", &[("x-user", "erin")]).await.status,
            429
        );
        assert_eq!(server.get("/burst", &[BOB]).await.status, 200);
        assert_eq!(server.get("/burst", &[BOB]).await.status, 200);
        let burst = server.get("/burst", &[BOB]).await;
        assert_eq!(
            (burst.status, burst.header("retry-after")),
            (429, Some("10"))
        );
        backend.advance_clock_for_tests(Duration::from_secs(60));
        assert_eq!(
            server.send("POST", "/login", &[ALICE, GOOD]).await.status,
            200
        );
        assert_eq!(server.get("/burst", &[BOB]).await.status, 200);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_failures_and_searches_admit_at_most_the_limit_on_redis() {
        let Some(redis) = RedisServer::start_or_skip("counting::concurrent") else {
            return;
        };
        let server = Server::start(example::app(frozen(&redis).await)).await;
        super::concurrent_requests_admit_at_most_the_limit(&server).await;
    }
}

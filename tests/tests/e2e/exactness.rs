//! Exactness under concurrency, end to end: bursts of concurrent HTTP connections against
//! limits of 1, 2 and 200, a zone shared by several paths (and a `#[rate_limited]` handler),
//! and several users and groups at once, admit exactly the limit: on the in-memory backend
//! (every algorithm), on Redis and on a Redis Cluster.
//!
//! Clocks are frozen (a `ManualClock` never advanced, the Redis backend's frozen test clock),
//! so no window can roll over during a burst and the counts are exact. Every connection is
//! opened first, then all send at once (a barrier). The layer fails closed, so a backend
//! failure would show as a 503 rather than as a silently admitted request.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use http::HeaderName;
use ratelimit::auth::{ClientIp, HeaderAuth};
use ratelimit::backend::{Algorithm, Backend, ManualClock, MemoryBackend};
use ratelimit::middleware::FailurePolicy;
use ratelimit::{RateLimitLayer, Rules, rate_limited, ratelimit};
use ratelimit_tests::net::{Client, Server, panics};
use ratelimit_tests::redis_server::{fresh_prefix, shared_cluster, shared_server};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

/// Generous: a burst queues hundreds of requests on a loaded two-core machine.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

static RULES: Rules = ratelimit! {
    "^/one$"     => [minute = 1, unlimited @admin],
    "^/two$"     => [minute = 2, hour = 5 @gold],
    "^/many$"    => [minute = 200],
    "^/left$"    => [minute = 3 zone = "shared"],
    "^/right$"   => [minute = 3 zone = "shared"],
    r"^/zoned/\w+$" => [minute = 3 zone = "shared"],
};

/// A handler limited by its own attribute: two a minute, in its own pool.
#[rate_limited(minute = 2)]
async fn attributed() -> &'static str {
    "attributed"
}

/// A handler whose attribute counts in the routes' shared zone.
#[rate_limited(minute = 3 zone = "shared")]
async fn attributed_shared() -> &'static str {
    "attributed in the shared zone"
}

/// The app: every route answers 200 with a body; the identity is `X-User` in the group
/// `X-Group`.
fn app(backend: impl Backend) -> Router {
    let auth = HeaderAuth::new(HeaderName::from_static("x-user"))
        .group_header(HeaderName::from_static("x-group"));
    Router::new()
        .route("/one", get(|| async { "one" }))
        .route("/two", get(|| async { "two" }))
        .route("/many", get(|| async { "many" }))
        .route("/left", get(|| async { "left" }))
        .route("/right", get(|| async { "right" }))
        .route("/zoned/{name}", get(|| async { "zoned" }))
        .route("/attributed", get(attributed))
        .route("/attributed-shared", get(attributed_shared))
        .layer(
            RateLimitLayer::new(RULES, auth, backend)
                .failure_policy(FailurePolicy::Closed)
                // The attributed handlers find the limiter there.
                .limiter_extension(true),
        )
}

/// One kind of request in a burst: `count` concurrent `GET path` as `user` in `group`.
struct Shot {
    path: &'static str,
    user: &'static str,
    group: &'static str,
    count: usize,
}

const fn shot(path: &'static str, user: &'static str, group: &'static str, count: usize) -> Shot {
    Shot {
        path,
        user,
        group,
        count,
    }
}

/// The burst, and how many requests of each (user, pool) must be admitted.
fn burst() -> (Vec<Shot>, BTreeMap<&'static str, usize>) {
    let shots = vec![
        // A limit of 1; the admin group is unlimited on the same route.
        shot("/one", "alice", "", 60),
        shot("/one", "root", "admin", 20),
        // A limit of 2 for two users at once; gold's own rule (hour = 5).
        shot("/two", "bob", "", 40),
        shot("/two", "carol", "", 40),
        shot("/two", "goldie", "gold", 30),
        // A limit of 200.
        shot("/many", "dave", "", 500),
        // One zone, shared by two routes, a regex route's paths and a handler attribute.
        shot("/left", "erin", "", 25),
        shot("/right", "erin", "", 25),
        shot("/zoned/a", "erin", "", 25),
        shot("/zoned/b", "erin", "", 25),
        shot("/attributed-shared", "erin", "", 25),
        // A handler attribute's own pool.
        shot("/attributed", "frank", "", 40),
    ];
    let expected = BTreeMap::from([
        ("alice /one", 1),
        ("root /one", 20),
        ("bob /two", 2),
        ("carol /two", 2),
        ("goldie /two", 5),
        ("dave /many", 200),
        ("erin shared", 3),
        ("frank /attributed", 2),
    ]);
    (shots, expected)
}

/// The pool a shot counts in, as `burst` names it.
fn pool_of(shot: &Shot) -> String {
    let pool = match shot.path {
        "/left" | "/right" | "/zoned/a" | "/zoned/b" | "/attributed-shared" => "shared",
        path => path,
    };
    format!("{} {pool}", shot.user)
}

/// Fires the whole burst at once (every connection opened first), and checks that exactly
/// the expected number of each pool's requests were admitted and every other one was a 429
/// with `Retry-After`.
async fn assert_burst_is_exact(server: &Server, label: &str) {
    let panics_before = panics();
    let (shots, expected) = burst();
    let client = server.client(CLIENT_TIMEOUT);
    let mut requests: Vec<(String, &'static str, &'static str, &'static str)> = shots
        .iter()
        .flat_map(|shot| {
            let pool = pool_of(shot);
            (0..shot.count).map(move |_| (pool.clone(), shot.path, shot.user, shot.group))
        })
        .collect();
    shuffle(&mut requests);
    let barrier = Arc::new(Barrier::new(requests.len()));
    let mut tasks = JoinSet::new();
    for (pool, path, user, group) in requests {
        let barrier = Arc::clone(&barrier);
        tasks.spawn(async move {
            let mut connection = client.connect().await;
            barrier.wait().await;
            let mut headers = vec![("x-user", user)];
            if !group.is_empty() {
                headers.push(("x-group", group));
            }
            let reply = connection.send("GET", path, &headers).await;
            (pool, reply)
        });
    }
    let mut admitted: BTreeMap<String, usize> = BTreeMap::new();
    for (pool, reply) in tasks.join_all().await {
        match reply.status {
            200 => *admitted.entry(pool).or_default() += 1,
            429 => {
                let retry_after: u64 = reply
                    .header("retry-after")
                    .and_then(|value| value.parse().ok())
                    .unwrap_or_else(|| panic!("{label}: a 429 without Retry-After: {reply:?}"));
                assert!(retry_after >= 1, "{label}: {reply:?}");
                admitted.entry(pool).or_default();
            }
            status => panic!("{label}: {pool} got {status}, not 200 or 429: {reply:?}"),
        }
    }
    let expected: BTreeMap<String, usize> = expected
        .into_iter()
        .map(|(pool, count)| (pool.to_owned(), count))
        .collect();
    assert_eq!(admitted, expected, "{label}: admitted per pool");
    assert_eq!(panics(), panics_before, "{label}: something panicked");
}

/// A deterministic shuffle (xorshift), so that the pools' requests interleave.
fn shuffle<T>(items: &mut [T]) {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = usize::try_from(state % (i as u64 + 1)).expect("an index");
        items.swap(i, j);
    }
}

fn memory(algorithm: Algorithm) -> MemoryBackend<ManualClock> {
    MemoryBackend::builder()
        .algorithm(algorithm)
        .clock(ManualClock::new())
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_bursts_admit_exactly_the_limit() {
    for algorithm in [
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
        Algorithm::Gcra,
    ] {
        let server = Server::start(app(memory(algorithm))).await;
        assert_burst_is_exact(&server, &format!("memory {algorithm:?}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_bursts_admit_exactly_the_limit() {
    let Some(redis) = shared_server("redis_bursts_admit_exactly_the_limit") else {
        return;
    };
    for algorithm in [
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
        Algorithm::Gcra,
    ] {
        let backend = redis
            .builder()
            .frozen_clock_for_tests()
            .algorithm(algorithm)
            .prefix(fresh_prefix("e2e-exact"))
            .timeout(Duration::from_secs(10))
            .build()
            .await
            .expect("a backend on the test server");
        let server = Server::start(app(backend)).await;
        assert_burst_is_exact(&server, &format!("redis {algorithm:?}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_cluster_bursts_admit_exactly_the_limit() {
    let Some(cluster) = shared_cluster("redis_cluster_bursts_admit_exactly_the_limit") else {
        return;
    };
    let backend = cluster
        .builder()
        .frozen_clock_for_tests()
        .prefix(fresh_prefix("e2e-exact-cluster"))
        .timeout(Duration::from_secs(10))
        .build()
        .await
        .expect("a backend on the test cluster");
    let server = Server::start(app(backend)).await;
    assert_burst_is_exact(&server, "redis cluster").await;
}

static IP_RULES: Rules = ratelimit! { "^/ip$" => [minute = 1] };

fn ip_app(auth: ClientIp) -> Router {
    Router::new().route("/ip", get(|| async { "ip" })).layer(
        RateLimitLayer::new(IP_RULES, auth, memory(Algorithm::FixedWindow))
            .failure_policy(FailurePolicy::Closed),
    )
}

/// Sends `per_client` concurrent requests from each client (with its `X-Forwarded-For`, if
/// any), all at once; the number admitted per client.
async fn ip_burst(clients: &[(Client, Option<String>)], per_client: usize) -> Vec<usize> {
    let total = clients.len() * per_client;
    let barrier = Arc::new(Barrier::new(total));
    let mut tasks = JoinSet::new();
    for (index, (client, forwarded)) in clients.iter().enumerate() {
        for _ in 0..per_client {
            let (client, forwarded) = (*client, forwarded.clone());
            let barrier = Arc::clone(&barrier);
            tasks.spawn(async move {
                let mut connection = client.connect().await;
                barrier.wait().await;
                let headers: Vec<(&str, &str)> = forwarded
                    .as_deref()
                    .map(|xff| ("x-forwarded-for", xff))
                    .into_iter()
                    .collect();
                (index, connection.send("GET", "/ip", &headers).await.status)
            });
        }
    }
    let mut admitted = vec![0; clients.len()];
    for (index, status) in tasks.join_all().await {
        match status {
            200 => admitted[index] += 1,
            429 => {}
            other => panic!("client {index} got {other}"),
        }
    }
    admitted
}

/// Client IPs end to end: real source addresses (`127.0.0.2`…`127.0.0.9`) each get exactly
/// their limit; `X-Forwarded-For` from an untrusted peer mints no keys (every spoofed
/// address counts as the peer); from the trusted proxy (`127.0.0.1`), the rightmost
/// untrusted address is the key, whatever the client wrote to its left.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn client_ips_admit_exactly_the_limit_and_spoofing_mints_no_keys() {
    let server = Server::start(ip_app(
        ClientIp::new().trust_proxies(["127.0.0.1".parse().expect("an address")]),
    ))
    .await;
    let client = server.client(CLIENT_TIMEOUT);
    let source = |last: u8| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last));

    // Eight real peers, 20 requests each at once: one admitted each.
    let peers: Vec<(Client, Option<String>)> = (2..10)
        .map(|last| (client.from(source(last)), None))
        .collect();
    assert_eq!(ip_burst(&peers, 20).await, vec![1; 8]);

    // An untrusted peer (127.0.0.10) sending a different spoofed address each time: one
    // pool, its own, and one admission in all.
    let spoofer = client.from(source(10));
    let spoofed: Vec<(Client, Option<String>)> = (0..40)
        .map(|i| (spoofer, Some(format!("198.51.100.{i}"))))
        .collect();
    assert_eq!(ip_burst(&spoofed, 1).await.iter().sum::<usize>(), 1);

    // The trusted proxy forwarding eight clients, each with junk written to its left.
    let proxied: Vec<(Client, Option<String>)> = (0..8)
        .map(|i| {
            let xff = format!("6.6.6.{i}, not-an-ip, 203.0.113.{i}");
            (client.from(source(1)), Some(xff))
        })
        .collect();
    assert_eq!(ip_burst(&proxied, 20).await, vec![1; 8]);
}

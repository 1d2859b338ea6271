//! Soak tests: a real server and many concurrent keep-alive clients over mixed routes (path
//! pools, a shared zone, a method rule, unlimited and unlimited-by-group routes), users and
//! groups, checking every request against an exact model of the limits, and reporting
//! latency percentiles on stderr. Two short runs (10 s each, in-memory and Redis) run with the
//! suite, in CI; the long one is opt-in:
//!
//! ```sh
//! cargo test -p ratelimit-tests --test soak -- --ignored soak
//! RATELIMIT_SOAK_SECS=300 RATELIMIT_SOAK_CLIENTS=32 RATELIMIT_SOAK_BACKEND=redis \
//!     cargo test -p ratelimit-tests --test soak -- --ignored --nocapture soak
//! ```
//!
//! # How the check is exact
//!
//! Time is the backend's, controlled by the test (a `ManualClock`, or the Redis backend's
//! frozen test clock): the run is cut into phases of a quarter of a second of real time,
//! during which the clock stands still; between two phases every client finishes its
//! request in flight and the test moves the clock one second on (and, once in a while, an
//! hour on). Within a phase every request of a pool happens at the same instant, so the
//! fixed-window algorithm's answer does not depend on their order: of `a` requests to a pool
//! whose limits have `room` left, exactly `min(a, room)` are admitted. The test replays the
//! phases against that model (windows starting at a pool's first admitted request, as the
//! backend's docs say) and asserts, for every pool and phase, that exactly the model's number
//! was admitted and every other request refused with 429 and `Retry-After`: never a user
//! admitted beyond a limit, never one refused with room left.
//!
//! Which rule, pool and limits a request falls under is written out by hand from `RULES` and
//! the README's request semantics (`expected_rule`), not asked of the library.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use http::HeaderName;
use ratelimit::auth::HeaderAuth;
use ratelimit::backend::redis::RedisBackend;
use ratelimit::backend::{Algorithm, ManualClock, MemoryBackend};
use ratelimit::middleware::FailurePolicy;
use ratelimit::{RateLimitLayer, Rules, Unit, ratelimit};
use ratelimit_tests::net::{Connection, Latencies, Server, panics};

static RULES: Rules = ratelimit! {
    "^/api/"    => [second = 5 minute = 40, second = 20 minute = 300 @gold, unlimited @admin],
    "^/search$" => [second = 2 minute = 20 hour = 60],
    "^/upload$" => [method = POST minute = 3, second = 10 @admin],
    "^/left$"   => [minute = 10 zone = "pair"],
    "^/right$"  => [minute = 10 zone = "pair"],
};

/// What the clients ask: (method, path).
const REQUESTS: [(&str, &str); 9] = [
    ("GET", "/api/a"),
    ("GET", "/api/b"),
    ("GET", "/api/a?page=2"),
    ("GET", "/search"),
    ("POST", "/upload"),
    ("GET", "/upload"),
    ("GET", "/left"),
    ("GET", "/right"),
    ("GET", "/free"),
];

/// The users: (name, group).
fn users() -> Vec<(String, &'static str)> {
    (0..24)
        .map(|i| {
            let group = match i {
                0..16 => "default",
                16..20 => "gold",
                _ => "admin",
            };
            (format!("user-{i}"), group)
        })
        .collect()
}

/// What a request falls under: its pool (scope and the rule's method) and its rule's limits.
struct Expected {
    scope: &'static str,
    method: Option<&'static str>,
    limits: &'static [(Unit, u64)],
}

/// The rule of `RULES` a request falls under, written out by hand from the README's request
/// semantics (first matching route with a rule for the group and the method; a rule without
/// `@` is the `default` group's; a route without one falls through; no rule passes), or
/// `None` when it passes uncounted. `path` is without its query string.
fn expected_rule(method: &str, path: &'static str, group: &str) -> Option<Expected> {
    let counted = |scope, method, limits| {
        Some(Expected {
            scope,
            method,
            limits,
        })
    };
    match (path, group, method) {
        // `^/api/`: 5/s and 40/min by default, 20/s and 300/min for gold, admin unlimited.
        (_, "default", _) if path.starts_with("/api/") => {
            counted(path, None, &[(Unit::Second, 5), (Unit::Minute, 40)])
        }
        (_, "gold", _) if path.starts_with("/api/") => {
            counted(path, None, &[(Unit::Second, 20), (Unit::Minute, 300)])
        }
        // `^/search$`: the default group only; gold and admin have no rule anywhere.
        ("/search", "default", _) => counted(
            path,
            None,
            &[(Unit::Second, 2), (Unit::Minute, 20), (Unit::Hour, 60)],
        ),
        // `^/upload$`: POST by the default group, in a POST pool; any method by admin.
        ("/upload", "default", "POST") => counted(path, Some("POST"), &[(Unit::Minute, 3)]),
        ("/upload", "admin", _) => counted(path, None, &[(Unit::Second, 10)]),
        // `^/left$` and `^/right$`: one zone for the default group.
        ("/left" | "/right", "default", _) => counted("zone pair", None, &[(Unit::Minute, 10)]),
        // `/api/` by admin (unlimited), GET /upload by default, gold's /upload, the zone by
        // gold and admin, `/free`: no limited rule.
        _ => None,
    }
}

/// A unit's window in seconds, written out.
fn unit_seconds(unit: Unit) -> u64 {
    match unit {
        Unit::Second => 1,
        Unit::Minute => 60,
        Unit::Hour => 3_600,
        other => panic!("RULES use no {other:?}"),
    }
}

/// Real time per phase (the clock stands still during it).
const PHASE: Duration = Duration::from_millis(250);
/// Each client call's timeout: a request taking longer hung.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The backend's clock, moved by the test.
enum Clock {
    Manual(ManualClock),
    Redis(RedisBackend),
}

impl Clock {
    fn advance(&self, by: Duration) {
        match self {
            Self::Manual(clock) => clock.advance(by),
            Self::Redis(backend) => backend.advance_clock_for_tests(by),
        }
    }
}

fn app(layer: RateLimitLayer<axum::body::Body>) -> Router {
    Router::new()
        .route("/api/{item}", get(|| async { "api" }))
        .route("/search", get(|| async { "search" }))
        .route(
            "/upload",
            get(|| async { "upload form" }).post(|| async { "uploaded" }),
        )
        .route("/left", get(|| async { "left" }))
        .route("/right", get(|| async { "right" }))
        .route("/free", get(|| async { "free" }))
        .layer(layer.failure_policy(FailurePolicy::Closed))
}

/// One request a client made: which user and request, what came back.
struct Record {
    user: usize,
    request: usize,
    status: u16,
    retry_after: Option<u64>,
}

/// A client's phase: requests as fast as it can until `until`, users and requests picked by
/// a xorshift generator.
async fn run_phase(
    mut connection: Connection,
    users: Arc<Vec<(String, &'static str)>>,
    mut state: u64,
    until: Instant,
    latencies: Arc<Latencies>,
) -> (Connection, u64, Vec<Record>) {
    let mut records = Vec::new();
    while Instant::now() < until {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let user = usize::try_from(state % users.len() as u64).expect("an index");
        let request = usize::try_from((state >> 32) % REQUESTS.len() as u64).expect("an index");
        let (name, group) = &users[user];
        let (method, path) = REQUESTS[request];
        let reply = connection
            .send(method, path, &[("x-user", name), ("x-group", group)])
            .await;
        latencies.record(reply.took);
        records.push(Record {
            user,
            request,
            status: reply.status,
            retry_after: reply.header("retry-after").and_then(|v| v.parse().ok()),
        });
    }
    (connection, state, records)
}

/// A pool's phase: its rule's limits (unit, count), its requests, its admissions.
type PhaseOfPool = (&'static [(Unit, u64)], u64, u64);

/// The exact model of the fixed-window limits: per pool and unit, the window's start (in
/// the backend clock's seconds) and its count.
#[derive(Default)]
struct Model {
    windows: HashMap<(String, Unit), (u64, u64)>,
}

impl Model {
    /// Checks one phase at `now` (seconds): `pools` maps each pool to its rule's limits, its
    /// requests and its admissions. Panics on any difference.
    fn check_phase(&mut self, phase: usize, now: u64, pools: &HashMap<String, PhaseOfPool>) {
        for (pool, (limits, attempts, admitted)) in pools {
            let room = limits
                .iter()
                .map(
                    |&(unit, count)| match self.windows.get(&(pool.clone(), unit)) {
                        Some((start, used)) if now < start + unit_seconds(unit) => count - used,
                        _ => count,
                    },
                )
                .min()
                .expect("a limited rule has limits");
            let expected = (*attempts).min(room);
            assert_eq!(
                *admitted, expected,
                "phase {phase} (t = {now} s), pool {pool}: {admitted} of {attempts} admitted, \
                 the limits {limits:?} left room for {room}"
            );
            if *admitted > 0 {
                for &(unit, count) in *limits {
                    let window = self.windows.entry((pool.clone(), unit)).or_insert((now, 0));
                    if now >= window.0 + unit_seconds(unit) {
                        *window = (now, 0);
                    }
                    window.1 += admitted;
                    assert!(
                        window.1 <= count,
                        "phase {phase}: pool {pool} admitted beyond {count} a {unit:?}"
                    );
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a soak test of a minute: run with `-- --ignored soak`"]
async fn soak_mixed_traffic_never_admits_beyond_the_limits() {
    soak(
        env_or("RATELIMIT_SOAK_SECS", 60),
        env_or("RATELIMIT_SOAK_CLIENTS", 16),
        std::env::var("RATELIMIT_SOAK_BACKEND").as_deref() == Ok("redis"),
    )
    .await;
}

/// The short soak the suite (and so CI) runs, on the in-memory backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_soak_in_memory_admits_exactly_what_the_hand_written_model_does() {
    soak(10, 8, false).await;
}

/// The short soak the suite (and so CI) runs, on Redis (skipped without `redis-server`,
/// unless `RATELIMIT_REQUIRE_REDIS=1`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_soak_on_redis_admits_exactly_what_the_hand_written_model_does() {
    soak(10, 8, true).await;
}

/// `seconds` of real time, `clients` connections, on Redis or in memory: every request
/// checked against the model, phase by phase. The clock moves an hour on every 120 phases,
/// or halfway through a shorter run, so that every window rolls over.
async fn soak(seconds: u64, clients: usize, on_redis: bool) {
    let auth = HeaderAuth::new(HeaderName::from_static("x-user"))
        .group_header(HeaderName::from_static("x-group"));

    let mut _redis = None;
    let (layer, clock, memory) = if on_redis {
        let Some(server) =
            ratelimit_tests::redis_server::RedisServer::start_or_skip("soak on redis")
        else {
            return;
        };
        let backend = server
            .builder()
            .frozen_clock_for_tests()
            .algorithm(Algorithm::FixedWindow)
            .timeout(Duration::from_secs(10))
            .build()
            .await
            .expect("a backend");
        _redis = Some(server);
        let layer = RateLimitLayer::new(RULES, auth, backend.clone());
        (layer, Clock::Redis(backend), None)
    } else {
        let manual = ManualClock::new();
        let backend = MemoryBackend::builder()
            .algorithm(Algorithm::FixedWindow)
            .clock(manual.clone())
            .build();
        let layer = RateLimitLayer::new(RULES, auth, backend.clone());
        (layer, Clock::Manual(manual), Some(backend))
    };
    let server = Server::start(app(layer)).await;
    let client = server.client(CLIENT_TIMEOUT);
    let users = Arc::new(users());
    let latencies = Arc::new(Latencies::default());
    let panics_before = panics();

    let mut connections = Vec::new();
    for i in 0..clients {
        connections.push((
            client.connect().await,
            0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1),
        ));
    }
    let mut model = Model::default();
    let (mut now, mut total, mut admitted_total, mut refused_total) = (0_u64, 0, 0, 0);
    let start = Instant::now();
    let phases = usize::try_from(seconds * 1_000 / 250).expect("a phase count");
    let hour_every = 120.min(phases / 2).max(1);
    for phase in 0..phases {
        let until = Instant::now() + PHASE;
        let tasks: Vec<_> = connections
            .drain(..)
            .map(|(connection, state)| {
                tokio::spawn(run_phase(
                    connection,
                    Arc::clone(&users),
                    state,
                    until,
                    Arc::clone(&latencies),
                ))
            })
            .collect();
        let mut pools: HashMap<String, PhaseOfPool> = HashMap::new();
        for task in tasks {
            let (connection, state, records) = task.await.expect("a client task");
            connections.push((connection, state));
            for record in records {
                total += 1;
                let (name, group) = &users[record.user];
                let (method, path) = REQUESTS[record.request];
                let path = path.split('?').next().unwrap_or(path);
                let Some(rule) = expected_rule(method, path, group) else {
                    assert_eq!(record.status, 200, "{method} {path} by {name}: not limited");
                    admitted_total += 1;
                    continue;
                };
                let pool = format!("{} | {:?} | {name}", rule.scope, rule.method);
                let entry = pools.entry(pool).or_insert((rule.limits, 0, 0));
                entry.1 += 1;
                match record.status {
                    200 => {
                        entry.2 += 1;
                        admitted_total += 1;
                    }
                    429 => {
                        assert!(
                            record.retry_after.is_some_and(|secs| secs >= 1),
                            "a 429 without a valid Retry-After"
                        );
                        refused_total += 1;
                    }
                    other => panic!("{method} {path} by {name}: {other}"),
                }
            }
        }
        model.check_phase(phase, now, &pools);
        // One second on; once in a while an hour on, to roll the longest windows over.
        let step = if phase % hour_every == hour_every - 1 {
            3_600
        } else {
            1
        };
        clock.advance(Duration::from_secs(step));
        now += step;
    }
    let elapsed = start.elapsed();
    let (count, p50, p99, max) = latencies.summary();
    assert_eq!(count, total);
    #[allow(clippy::cast_precision_loss, reason = "a rate for humans")]
    let rate = total as f64 / elapsed.as_secs_f64();
    eprintln!(
        "soak ({}): {:.0?} real, {phases} phases ({now} s of backend time), {clients} clients: \
         {total} requests ({rate:.0}/s), {admitted_total} admitted, {refused_total} refused; \
         latency p50 {p50:?}, p99 {p99:?}, max {max:?}{}",
        if on_redis { "redis" } else { "memory" },
        elapsed,
        memory.map_or_else(String::new, |backend| format!(
            "; {} pools held at the end",
            backend.pool_count()
        )),
    );
    assert!(
        refused_total > 0,
        "the limits never bound: the soak proves nothing"
    );
    assert_eq!(panics(), panics_before, "something panicked");
}

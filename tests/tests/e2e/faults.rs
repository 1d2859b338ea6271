//! Store faults end to end: a real server limiting with Redis, under a steady load of real
//! HTTP requests, while Redis is killed and restarted, slowed (`DEBUG SLEEP`), or flushed
//! (`SCRIPT FLUSH` + `FLUSHALL`), under each failure policy:
//!
//! | policy | while Redis is away |
//! |---|---|
//! | fail open (the middleware's default) | every request admitted, uncounted: beyond the limit too |
//! | fail closed | every limited request refused with 503 |
//! | fallback to an in-memory backend | the limit still holds, counted in memory |
//!
//! For each: the promised answer within the store's timeout (no request waits longer: every
//! client call has its own timeout, and the probe's latencies are asserted), no other status
//! than the policy allows, no panic, and limiting resumes by itself once Redis is back
//! (asserted by exact counts, and by the user's keys appearing in Redis). A flush is not an
//! outage: decisions go on (the lost script is run again), with the counts gone.
//!
//! Overload is a failure too: a burst whose tail misses the deadline is refused (503) when
//! failing closed, without admitting beyond the limit, and counted in memory with the
//! fallback (at most twice the limit in all).
//!
//! `tests/tests/redis/outage.rs` proves the backend's side (errors, the fallback, the
//! recheck interval, recovery) decision by decision; these prove what a client sees.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use http::HeaderName;
use ratelimit::auth::HeaderAuth;
use ratelimit::backend::redis::RedisBackend;
use ratelimit::backend::{ManualClock, MemoryBackend};
use ratelimit::middleware::FailurePolicy;
use ratelimit::{RateLimitLayer, Rules, ratelimit};
use ratelimit_tests::net::{Client, Server, panics};
use ratelimit_tests::redis_server::{RedisServer, command_on, fresh_prefix};
use tokio::task::JoinSet;

/// The store's deadline for one decision.
const STORE_TIMEOUT: Duration = Duration::from_millis(200);
/// How long the backend leaves Redis alone after a failure.
const RECHECK: Duration = Duration::from_millis(300);
/// What a loaded two-core machine may add to a request's one deadline: one more deadline,
/// so that a request bounded by `STORE_TIMEOUT + SLACK` costs under twice the deadline (the
/// README: a failure costs at most one deadline). The requests measured well under it:
/// 25 ms at most for the load, whose failures the breaker answers at once.
const SLACK: Duration = STORE_TIMEOUT;
/// Each client call's own timeout: a request taking longer hung.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `DEBUG SLEEP` freezes the server.
const SLEEP_SECS: u64 = 3;

static RULES: Rules = ratelimit! { "^/limited$" => [minute = 3] };

/// The responses to six requests of a fresh user when Redis (or the fallback) decides: the
/// limit is 3.
const LIMITED: [u16; 6] = [200, 200, 200, 429, 429, 429];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Policy {
    /// `OutagePolicy::Report` and the middleware failing open.
    Open,
    /// `OutagePolicy::Report` and the middleware failing closed.
    Closed,
    /// `OutagePolicy::Fallback` to an in-memory backend (and the middleware failing closed,
    /// so that an error would show).
    Fallback,
}

impl Policy {
    /// The six responses of a fresh user while Redis is away.
    const fn during_outage(self) -> [u16; 6] {
        match self {
            Self::Open => [200; 6],
            Self::Closed => [503; 6],
            Self::Fallback => LIMITED,
        }
    }

    /// The statuses a limited request may get at any time of the test.
    fn allowed(self, status: u16, outage: bool) -> bool {
        match status {
            200 | 429 => true,
            503 => outage && self == Self::Closed,
            _ => false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// SIGKILL, then a restart (empty: no script, no counts) on the same port.
    Kill,
    /// `DEBUG SLEEP`: the server is up, connected, and answers nothing for a while.
    Sleep,
    /// `SCRIPT FLUSH` and `FLUSHALL`: the script and every count are gone.
    Flush,
}

/// The server under test, its Redis, and the fallback's counts.
struct Rig {
    redis: RedisServer,
    server: Server,
    prefix: String,
    fallback: MemoryBackend<ManualClock>,
    policy: Policy,
}

impl Rig {
    async fn start(test: &str, policy: Policy) -> Option<Self> {
        let redis = RedisServer::start_or_skip(test)?;
        let prefix = fresh_prefix("e2e-faults");
        let fallback = MemoryBackend::builder().clock(ManualClock::new()).build();
        let mut builder = redis
            .builder()
            .frozen_clock_for_tests()
            .prefix(prefix.clone())
            .timeout(STORE_TIMEOUT)
            .recheck_interval(RECHECK);
        if policy == Policy::Fallback {
            builder = builder.fallback(fallback.clone());
        }
        let backend: RedisBackend = builder.build().await.expect("a backend");
        let failure = match policy {
            Policy::Open => FailurePolicy::Open,
            Policy::Closed | Policy::Fallback => FailurePolicy::Closed,
        };
        let auth = HeaderAuth::new(HeaderName::from_static("x-user"));
        let app = Router::new()
            .route("/limited", get(|| async { "limited" }))
            .layer(RateLimitLayer::new(RULES, auth, backend).failure_policy(failure));
        let server = Server::start(app).await;
        Some(Self {
            redis,
            server,
            prefix,
            fallback,
            policy,
        })
    }

    fn client(&self) -> Client {
        self.server.client(CLIENT_TIMEOUT)
    }

    /// Six sequential requests of `user`: their statuses, each bounded by `bound`.
    async fn six(&self, user: &str, bound: Duration) -> [u16; 6] {
        let client = self.client();
        let mut statuses = [0; 6];
        for status in &mut statuses {
            let reply = client.get("/limited", &[("x-user", user)]).await;
            assert!(
                reply.took < bound,
                "{:?}: a request of {user} took {:?}, more than {bound:?}",
                self.policy,
                reply.took
            );
            *status = reply.status;
        }
        statuses
    }

    /// Whether Redis holds a count of `user` (the backend decided with Redis).
    fn redis_counted(&self, user: &str) -> bool {
        let reply = self
            .redis
            .command(&["KEYS", &format!("{}:{{{user}}}:*", self.prefix)]);
        !reply.starts_with("*0")
    }

    /// Waits (at most 20 s) until a request of a fresh user is decided by Redis again.
    async fn until_redis_decides(&self, label: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        for attempt in 0.. {
            let user = format!("{label}-recovery-{attempt}");
            let reply = self.client().get("/limited", &[("x-user", &user)]).await;
            assert!(
                self.policy.allowed(reply.status, true),
                "{label}: {reply:?}"
            );
            if reply.status == 200 && self.redis_counted(&user) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{label}: Redis never decided again"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A steady load of limited requests (users cycling through a few pools) from a few
/// clients, each request on its own connection and bounded by the client timeout.
struct Load {
    stop: Arc<AtomicBool>,
    tasks: JoinSet<Vec<(u16, Duration)>>,
}

impl Load {
    fn start(client: Client, label: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = JoinSet::new();
        for worker in 0..3 {
            let stop = Arc::clone(&stop);
            let label = label.to_owned();
            tasks.spawn(async move {
                let mut statuses = Vec::new();
                let mut i = 0_usize;
                while !stop.load(Ordering::Relaxed) {
                    let user = format!("{label}-load-{worker}-{}", i % 5);
                    let reply = client.get("/limited", &[("x-user", &user)]).await;
                    statuses.push((reply.status, reply.took));
                    i += 1;
                }
                statuses
            });
        }
        Self { stop, tasks }
    }

    /// Stops the load; every status it got, and how long each request took.
    async fn finish(self) -> Vec<(u16, Duration)> {
        self.stop.store(true, Ordering::Relaxed);
        self.tasks.join_all().await.concat()
    }
}

/// Runs one fault under one policy; see the module docs.
async fn scenario(test: &str, fault: Fault, policy: Policy) {
    let Some(mut rig) = Rig::start(test, policy).await else {
        return;
    };
    let panics_before = panics();
    let label = format!("{fault:?}-{policy:?}");
    // Before: Redis decides, exactly.
    assert_eq!(rig.six("before", CLIENT_TIMEOUT).await, LIMITED, "{label}");
    assert!(rig.redis_counted("before"), "{label}");

    let load = Load::start(rig.client(), &label);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let probe_bound = STORE_TIMEOUT + SLACK;
    match fault {
        Fault::Kill => {
            rig.redis.stop();
            let during = rig.six("during", probe_bound).await;
            assert_eq!(
                during,
                policy.during_outage(),
                "{label}: while Redis is down"
            );
            rig.redis.restart();
        }
        Fault::Sleep => {
            let port = rig.redis.port;
            // The reply comes when the server wakes up.
            let sleeper = std::thread::spawn(move || {
                let reply = command_on(port, &["DEBUG", "SLEEP", &SLEEP_SECS.to_string()]);
                assert!(reply.starts_with("+OK"), "DEBUG SLEEP: {reply}");
                Instant::now()
            });
            // Let the server start sleeping (it takes microseconds; this is generous).
            tokio::time::sleep(Duration::from_millis(200)).await;
            let during = rig.six("during", probe_bound).await;
            let probed = Instant::now();
            let woke = tokio::task::spawn_blocking(move || sleeper.join())
                .await
                .expect("joined")
                .expect("DEBUG SLEEP answered");
            assert!(
                probed < woke,
                "{label}: the machine is too slow: the probe outlasted DEBUG SLEEP"
            );
            assert_eq!(
                during,
                policy.during_outage(),
                "{label}: while Redis sleeps"
            );
        }
        Fault::Flush => {
            assert!(rig.redis.command(&["SCRIPT", "FLUSH"]).starts_with("+OK"));
            assert!(rig.redis.command(&["FLUSHALL"]).starts_with("+OK"));
            // Not an outage: Redis decides at once, the counts gone (`before` starts
            // afresh), the script run again. The first decision that reaches Redis (this
            // fresh user's, or the load's) finds the script gone, which empties the refusal
            // cache: `before`'s refusals are Redis's to answer again.
            assert_eq!(
                rig.client()
                    .get("/limited", &[("x-user", "flushed")])
                    .await
                    .status,
                200,
                "{label}"
            );
            assert_eq!(rig.six("before", probe_bound).await, LIMITED, "{label}");
            assert!(rig.redis_counted("before"), "{label}");
            assert_eq!(
                rig.fallback.pool_count(),
                0,
                "{label}: the fallback decided"
            );
        }
    }

    if policy == Policy::Fallback && fault != Fault::Flush {
        // The fallback's counts, not Redis's, made the limit hold while Redis was away.
        assert!(
            rig.fallback.pool_count() > 0,
            "{label}: the fallback never decided"
        );
    }

    // Limiting resumes by itself: Redis decides again, exactly.
    rig.until_redis_decides(&label).await;
    let replies = load.finish().await;
    let fallback_pools = rig.fallback.pool_count();
    assert_eq!(rig.six("after", CLIENT_TIMEOUT).await, LIMITED, "{label}");
    assert!(rig.redis_counted("after"), "{label}: Redis decided");
    assert_eq!(
        rig.fallback.pool_count(),
        fallback_pools,
        "{label}: the fallback decided after recovery"
    );
    if policy != Policy::Fallback {
        assert_eq!(fallback_pools, 0, "{label}");
    }

    let outage = fault != Fault::Flush;
    assert!(!replies.is_empty(), "{label}: the load sent nothing");
    // No request waited much longer than the store's deadline, whatever Redis did.
    let longest = replies
        .iter()
        .map(|(_, took)| *took)
        .max()
        .unwrap_or_default();
    assert!(
        longest < STORE_TIMEOUT + SLACK,
        "{label}: a request of the load took {longest:?}"
    );
    let statuses: Vec<u16> = replies.iter().map(|(status, _)| *status).collect();
    for status in &statuses {
        assert!(
            policy.allowed(*status, outage),
            "{label}: the load got {status}"
        );
    }
    let admitted = statuses.iter().filter(|status| **status == 200).count();
    let refused = statuses.iter().filter(|status| **status == 429).count();
    assert!(
        admitted > 0 && refused > 0,
        "{label}: the load was not limited ({admitted} admitted, {refused} refused)"
    );
    assert_eq!(panics(), panics_before, "{label}: something panicked");
    let unavailable = statuses.iter().filter(|status| **status == 503).count();
    eprintln!(
        "{label}: the load got {admitted} × 200, {refused} × 429, {unavailable} × 503 ({} \
         requests, the longest {longest:?})",
        statuses.len()
    );
}

macro_rules! scenarios {
    ($($name:ident: $fault:ident, $policy:ident;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            scenario(stringify!($name), Fault::$fault, Policy::$policy).await;
        }
    )*};
}

scenarios! {
    killed_and_restarted_fail_open: Kill, Open;
    killed_and_restarted_fail_closed: Kill, Closed;
    killed_and_restarted_fallback: Kill, Fallback;
    debug_sleep_fail_open: Sleep, Open;
    debug_sleep_fail_closed: Sleep, Closed;
    debug_sleep_fallback: Sleep, Fallback;
    flushed_fail_open: Flush, Open;
    flushed_fail_closed: Flush, Closed;
    flushed_fallback: Flush, Fallback;
}

static BURST_RULES: Rules = ratelimit! { "^/burst$" => [minute = 200] };

/// A burst of 900 concurrent requests against a limit of 200, with a deadline (10 ms) that
/// the tail of the burst cannot meet on one connection: the admitted count and the
/// statuses.
async fn overloaded_burst(test: &str, policy: Policy) -> Option<(usize, Vec<u16>)> {
    let redis = ratelimit_tests::redis_server::shared_server(test)?;
    let fallback = MemoryBackend::builder().clock(ManualClock::new()).build();
    let mut builder = redis
        .builder()
        .frozen_clock_for_tests()
        .prefix(fresh_prefix("e2e-overload"))
        .timeout(Duration::from_millis(10));
    if policy == Policy::Fallback {
        builder = builder.fallback(fallback.clone());
    }
    let backend = builder.build().await.expect("a backend");
    let failure = match policy {
        Policy::Open => FailurePolicy::Open,
        Policy::Closed | Policy::Fallback => FailurePolicy::Closed,
    };
    let auth = HeaderAuth::new(HeaderName::from_static("x-user"));
    let app = Router::new()
        .route("/burst", get(|| async { "burst" }))
        .layer(RateLimitLayer::new(BURST_RULES, auth, backend).failure_policy(failure));
    let server = Server::start(app).await;
    let client = server.client(Duration::from_secs(60));
    let barrier = Arc::new(tokio::sync::Barrier::new(900));
    let mut tasks = JoinSet::new();
    for _ in 0..900 {
        let barrier = Arc::clone(&barrier);
        tasks.spawn(async move {
            let mut connection = client.connect().await;
            barrier.wait().await;
            let reply = connection
                .send("GET", "/burst", &[("x-user", "flood")])
                .await;
            reply.status
        });
    }
    let statuses = tasks.join_all().await;
    let admitted = statuses.iter().filter(|status| **status == 200).count();
    if policy == Policy::Fallback {
        assert!(fallback.pool_count() > 0, "the deadline never fired");
    }
    Some((admitted, statuses))
}

/// Overload is a failure too: when the tail of a burst misses the store's deadline, failing
/// closed refuses it (503) and never admits beyond the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overload_past_the_deadline_fails_closed_without_over_admitting() {
    let test = "overload_past_the_deadline_fails_closed_without_over_admitting";
    let Some((admitted, statuses)) = overloaded_burst(test, Policy::Closed).await else {
        return;
    };
    let unavailable = statuses.iter().filter(|status| **status == 503).count();
    assert!(unavailable > 0, "the deadline never fired: {statuses:?}");
    assert!(
        admitted <= 200,
        "{admitted} admitted against a limit of 200"
    );
    assert!(
        statuses
            .iter()
            .all(|status| matches!(status, 200 | 429 | 503))
    );
}

/// With the fallback, the requests past the deadline are counted in memory: at most the
/// limit in each, twice the limit in all (the README's SECURITY section says so).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overload_past_the_deadline_falls_back_within_twice_the_limit() {
    let test = "overload_past_the_deadline_falls_back_within_twice_the_limit";
    let Some((admitted, statuses)) = overloaded_burst(test, Policy::Fallback).await else {
        return;
    };
    assert!(
        admitted <= 400,
        "{admitted} admitted against a limit of 200"
    );
    assert!(statuses.iter().all(|status| matches!(status, 200 | 429)));
}

//! What a backend provides to run the backend suites (`conformance`, `asgi_compat`), the
//! helpers their cases are written with, and the harnesses of the two backends: the memory
//! backend on a manual clock, and the Redis backend on its frozen test clock.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ratelimit::Limit;
use ratelimit::backend::redis::{RedisBackend, RedisBackendBuilder};
use ratelimit::backend::{
    Algorithm, Backend, Decision, DecisionRequest, Denial, ManualClock, MemoryBackend, Pool, Quota,
    Scope,
};

use crate::redis_server::{RedisCluster, RedisServer, fresh_prefix, shared_cluster, shared_server};

/// A backend under test, with control over its time.
///
/// Each test gets a fresh harness: a backend with no counts (a Redis harness uses a fresh key
/// prefix).
pub trait Harness: Send + Sync + 'static {
    /// The algorithm the backend was built with.
    fn algorithm(&self) -> Algorithm;

    /// The backend (shared: the concurrency cases spawn tasks with it).
    fn backend(&self) -> Arc<dyn Backend>;

    /// Moves the backend's time forward by `by`: a manual clock is advanced; a store whose
    /// time cannot be paused may sleep (or shift the time it is given).
    fn advance(&self, by: Duration) -> impl Future<Output = ()> + Send;

    /// How far the backend's time may move by itself between two calls, or how coarse it is:
    /// zero for a manual clock, 1 µs for Redis's frozen test clock (whole microseconds).
    /// Exact-time assertions allow this much either way; from 1 ms of slack up (a clock that
    /// cannot be moved exactly), the checks that a request is still denied 1 ms before its
    /// `Retry-After` are skipped (see [`assert_admitted_after`]).
    fn slack(&self) -> Duration {
        Duration::ZERO
    }
}

/// The expected value for the harness's algorithm.
pub fn per_algorithm<T>(harness: &impl Harness, fixed: T, sliding: T, gcra: T) -> T {
    match harness.algorithm() {
        Algorithm::FixedWindow => fixed,
        Algorithm::SlidingWindow => sliding,
        Algorithm::Gcra => gcra,
        other => panic!("no expectations for {other:?}: add them to the suite"),
    }
}

/// `millis` milliseconds.
pub const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// `secs` seconds.
pub const fn secs(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// A decision to ask for: a pool, limits and an optional block time.
#[derive(Clone, Copy, Debug)]
pub struct Ask<'a> {
    /// The pool to count in.
    pub pool: Pool<'a>,
    /// The rule's limits.
    pub limits: &'a [Limit],
    /// The rule's block time, if any.
    pub block_time: Option<Duration>,
    /// How much of every limit the request uses (1 unless [`cost`](Self::cost) says).
    pub cost: u64,
}

impl<'a> Ask<'a> {
    /// The pool of `path` (any method) for `user`, under `limits`.
    pub const fn path(path: &'a str, user: &'a str, limits: &'a [Limit]) -> Self {
        Self {
            pool: Pool {
                scope: Scope::Path(path),
                method: None,
                user,
            },
            limits,
            block_time: None,
            cost: 1,
        }
    }

    /// The pool of `zone` (any method) for `user`, under `limits`.
    pub const fn zone(zone: &'a str, user: &'a str, limits: &'a [Limit]) -> Self {
        Self {
            pool: Pool {
                scope: Scope::Zone(zone),
                method: None,
                user,
            },
            limits,
            block_time: None,
            cost: 1,
        }
    }

    /// The same, counted for `method` only.
    pub const fn method(mut self, method: &'a str) -> Self {
        self.pool.method = Some(method);
        self
    }

    /// The same, blocking the user for `block_time` when denied.
    pub const fn block(mut self, block_time: Duration) -> Self {
        self.block_time = Some(block_time);
        self
    }

    /// The same, using `cost` of every limit.
    pub const fn cost(mut self, cost: u64) -> Self {
        self.cost = cost;
        self
    }

    /// What the backend is asked.
    const fn request(&self) -> DecisionRequest<'a> {
        DecisionRequest {
            pool: self.pool,
            limits: self.limits,
            block_time: self.block_time,
            cost: self.cost,
        }
    }

    /// The backend's decision.
    pub async fn decide(&self, harness: &impl Harness) -> Decision {
        let request = self.request();
        let backend = harness.backend();
        match backend.decide(&request).await {
            Ok(decision) => decision,
            Err(error) => panic!("{self:?}: the backend failed: {error}"),
        }
    }

    /// Gives back the request `quota` admitted (a rule's `count_if`), and waits until it is
    /// given back.
    pub async fn give_back(&self, harness: &impl Harness, quota: &Quota) {
        let request = self.request();
        let backend = harness.backend();
        if let Some(future) = backend.give_back(&request, quota.counted_at).into_future()
            && let Err(error) = future.await
        {
            panic!("{self:?}: the backend failed to give back: {error}");
        }
    }

    /// Asserts the request is admitted; its quota.
    pub async fn allow(&self, harness: &impl Harness) -> Quota {
        match self.decide(harness).await {
            Decision::Allow(quota) => quota,
            Decision::Deny(denial) => panic!("{self:?}: denied ({denial:?}), expected admitted"),
        }
    }

    /// Asserts the request is denied; the denial.
    pub async fn deny(&self, harness: &impl Harness) -> Denial {
        match self.decide(harness).await {
            Decision::Deny(denial) => {
                assert!(
                    !denial.retry_after.is_zero(),
                    "{self:?}: a zero Retry-After"
                );
                denial
            }
            Decision::Allow(quota) => panic!("{self:?}: admitted ({quota:?}), expected denied"),
        }
    }

    /// Asks `times` times; how many were admitted.
    pub async fn admitted(&self, harness: &impl Harness, times: usize) -> usize {
        let mut admitted = 0;
        for _ in 0..times {
            if matches!(self.decide(harness).await, Decision::Allow(_)) {
                admitted += 1;
            }
        }
        admitted
    }
}

/// Asserts `actual` is `expected`, give or take the harness's slack.
#[track_caller]
pub fn assert_time(harness: &impl Harness, actual: Duration, expected: Duration) {
    let slack = harness.slack();
    assert!(
        actual.abs_diff(expected) <= slack,
        "{:?}: {actual:?}, expected {expected:?} (± {slack:?})",
        harness.algorithm(),
    );
}

/// Asserts the request is admitted when its `Retry-After` (`wait`) says, and not before: still
/// denied 1 ms before, with 1 ms (± slack) left to wait, and admitted at.
///
/// The refusing side is checked on every harness whose clock moves exactly to within less
/// than 1 ms: the memory backend's manual clock (no slack) and Redis's frozen test clock
/// (1 µs), so on every harness of the suite today. It is skipped only for a harness with
/// 1 ms of slack or more (a clock that runs by itself: "1 ms before" could already be the
/// moment of admission), and for a wait of 1 ms or less, which has no "1 ms before".
pub async fn assert_admitted_after(harness: &impl Harness, ask: &Ask<'_>, wait: Duration) {
    let before = wait.saturating_sub(ms(1));
    if harness.slack() < ms(1) && !before.is_zero() {
        harness.advance(before).await;
        let denial = ask.deny(harness).await;
        assert_time(harness, denial.retry_after, wait - before);
        harness.advance(wait - before).await;
    } else {
        harness.advance(wait).await;
    }
    ask.allow(harness).await;
}

/// The in-memory backend, on a manual clock: a fresh one per harness.
#[derive(Debug)]
pub struct MemoryHarness {
    backend: Arc<MemoryBackend<ManualClock>>,
    clock: ManualClock,
}

impl MemoryHarness {
    /// A backend with the algorithm and the default options.
    pub async fn new(algorithm: Algorithm) -> Self {
        let clock = ManualClock::new();
        let backend = MemoryBackend::builder()
            .algorithm(algorithm)
            .clock(clock.clone())
            .build();
        Self {
            backend: Arc::new(backend),
            clock,
        }
    }

    /// A backend with the algorithm, holding at most `max_pools` windows.
    pub async fn capped(algorithm: Algorithm, max_pools: usize) -> Self {
        let clock = ManualClock::new();
        let backend = MemoryBackend::builder()
            .algorithm(algorithm)
            .max_pools(max_pools)
            .clock(clock.clone())
            .build();
        Self {
            backend: Arc::new(backend),
            clock,
        }
    }
}

impl Harness for MemoryHarness {
    fn algorithm(&self) -> Algorithm {
        self.backend.algorithm()
    }

    fn backend(&self) -> Arc<dyn Backend> {
        self.backend.clone()
    }

    async fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

/// What a Redis harness's store is; kept alive while the harness is.
#[derive(Debug)]
enum Store {
    Server(#[allow(dead_code)] Arc<RedisServer>),
    Cluster(#[allow(dead_code)] Arc<RedisCluster>),
}

/// The Redis backend on a server (or a 3-node cluster) started by the tests and shared by the
/// cases that run at the same time, each harness with a fresh key prefix.
///
/// Redis's clock cannot be paused, so the backend runs on its test-only frozen clock: the
/// script ignores `TIME` and time moves only by `advance`, exactly. The clock counts whole
/// microseconds, where the suites' expectations are in nanoseconds: the slack is 1 µs.
///
/// Without `redis-server` installed the constructors say so and return `None` (the case
/// passes, skipped), unless `RATELIMIT_REQUIRE_REDIS=1`, where they fail.
#[derive(Debug)]
pub struct RedisHarness {
    backend: Arc<RedisBackend>,
    _store: Store,
}

impl RedisHarness {
    /// A harness on a standalone server; `None` when Redis is not installed.
    pub async fn standalone(algorithm: Algorithm) -> Option<Self> {
        let server = shared_server("a backend suite on redis")?;
        let builder = RedisBackend::builder(server.url());
        Some(Self::build(builder, algorithm, Store::Server(server)).await)
    }

    /// A harness on a Redis Cluster; `None` when Redis is not installed.
    pub async fn cluster(algorithm: Algorithm) -> Option<Self> {
        let cluster = shared_cluster("a backend suite on redis cluster")?;
        let builder = RedisBackend::cluster_builder(cluster.urls());
        Some(Self::build(builder, algorithm, Store::Cluster(cluster)).await)
    }

    async fn build(builder: RedisBackendBuilder, algorithm: Algorithm, store: Store) -> Self {
        let backend = builder
            .algorithm(algorithm)
            .prefix(fresh_prefix("harness"))
            // Generous: the concurrency cases queue 200 decisions on a loaded machine.
            .timeout(Duration::from_secs(10))
            .frozen_clock_for_tests()
            .build()
            .await
            .expect("a backend on the test server");
        Self {
            backend: Arc::new(backend),
            _store: store,
        }
    }
}

impl Harness for RedisHarness {
    fn algorithm(&self) -> Algorithm {
        self.backend.algorithm()
    }

    fn backend(&self) -> Arc<dyn Backend> {
        self.backend.clone()
    }

    async fn advance(&self, by: Duration) {
        self.backend.advance_clock_for_tests(by);
    }

    fn slack(&self) -> Duration {
        Duration::from_micros(1)
    }
}

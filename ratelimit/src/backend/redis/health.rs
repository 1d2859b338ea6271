//! Redis's health: what a decision does while Redis fails ([`OutagePolicy`]), the circuit
//! breaker that decides when to ask Redis ([`Breaker`]), and the outage's log lines
//! ([`OutageLog`]): one when it starts, a count per interval while it lasts, one when it ends.

use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::nodes::WHOLE_CLUSTER;
use super::{Inner, micros, store_error};
use crate::backend::{Backend, BackendError, Decision, DecisionRequest, Denial};

/// What to do when Redis cannot decide (down, slow, or answering with an error).
///
/// A failure is never taken for "over the limit".
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum OutagePolicy {
    /// Return a [`BackendError`]: the middleware's own failure policy decides, failing open
    /// (admitted, uncounted, logged) by default or closed (503). The default.
    #[default]
    Report,
    /// Decide with this backend (typically an in-memory one, built with the same algorithm)
    /// while Redis is away. Its counts are separate: when Redis is back, decisions go back to
    /// the counts in Redis and the fallback's are left behind.
    Fallback(Arc<dyn Backend>),
}

impl OutagePolicy {
    /// [`OutagePolicy::Fallback`] to `backend`.
    pub fn fallback(backend: impl Backend) -> Self {
        Self::Fallback(Arc::new(backend))
    }

    /// What decisions do while Redis is away, for the logs.
    fn while_away(&self) -> &'static str {
        match self {
            Self::Report => {
                "decisions report the failure (the middleware's failure policy applies)"
            }
            Self::Fallback(_) => "the fallback backend decides",
        }
    }
}

impl fmt::Debug for OutagePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Report => f.write_str("Report"),
            Self::Fallback(_) => f.write_str("Fallback(..)"),
        }
    }
}

/// The state of a [`RedisBackend`](super::RedisBackend)'s circuit breaker, from
/// [`RedisBackend::breaker_state`](super::RedisBackend::breaker_state).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BreakerState {
    /// Redis decides: every decision calls it (the normal state).
    Closed,
    /// Redis failed [`failure_threshold`](super::RedisBackendBuilder::failure_threshold) times
    /// within its window: decisions follow the [`OutagePolicy`] at once, without calling
    /// Redis, until the [`recheck_interval`](super::RedisBackendBuilder::recheck_interval) has
    /// passed. It stays `Open` after that until a decision comes to probe.
    Open,
    /// One decision (the probe) is asking Redis; the others follow the policy until it
    /// answers. Its success closes the breaker, its failure opens it again.
    HalfOpen,
}

impl Inner {
    /// One decision: from the refusal cache when it knows the pool is refused, else in Redis
    /// while the breaker of the user's node lets it, else by the outage policy.
    pub(super) async fn decide(
        &self,
        request: &DecisionRequest<'_>,
    ) -> Result<Decision, BackendError> {
        if request.limits.is_empty() {
            return Err(store_error("a decision needs at least one limit"));
        }
        if request.cost == 0
            || request
                .limits
                .iter()
                .any(|limit| request.cost > limit.count())
        {
            return Err(BackendError::InvalidRequest(
                "a decision request of cost 0 or above a limit's count",
            ));
        }
        let sent = self.cache_now();
        if let Some(denial) = self.cache.refused(request, sent) {
            return Ok(Decision::Deny(denial));
        }
        let (node, call) = self.breakers.call(request.pool.user, self.breakers.now());
        if call == Call::Skip {
            return self.outage(request, node, None).await;
        }
        let error = match tokio::time::timeout(self.timeout, self.run(request)).await {
            Ok(Ok((decision, blocked))) => {
                if call == Call::Probe {
                    let now = self.breakers.now();
                    self.breakers.with(node, |breaker| {
                        if let Some(outage) = breaker.succeeded(call, now) {
                            tracing::info!(
                                "{} is back after {:?}: deciding with it again ({} decisions \
                                 followed the outage policy meanwhile)",
                                breaker.store(),
                                outage.lasted,
                                outage.answered,
                            );
                        }
                    });
                }
                if let Decision::Deny(denial) = &decision {
                    self.cache.note(request, denial, blocked, sent);
                }
                return Ok(decision);
            }
            Ok(Err(error)) => error,
            Err(_) => BackendError::Timeout(self.timeout),
        };
        if let Some(denial) = self.failed(request, node, call, &error) {
            return Ok(Decision::Deny(denial));
        }
        self.outage(request, node, Some(error)).await
    }

    /// A call for `request` to `node` failed with `error`: the refusal the cache now knows
    /// for it, if any, else the failure is counted by the node's breaker. Meanwhile another
    /// decision may have learnt that this pool is refused (a burst's tail that missed the
    /// deadline): that is an answer, not a failure, so one abusive user cannot open the
    /// breaker for everyone. A probe's failure always counts (it opens the breaker again,
    /// which would otherwise stay half-open).
    fn failed(
        &self,
        request: &DecisionRequest<'_>,
        node: u16,
        call: Call,
        error: &BackendError,
    ) -> Option<Denial> {
        let cached = self.cache.refused(request, self.cache_now());
        if cached.is_some() && call != Call::Probe {
            tracing::debug!(
                error = %error,
                "a call to the redis rate-limit store failed; the refusal cache answers"
            );
            return cached;
        }
        let now = self.breakers.now();
        let opened = self.breakers.with(node, |breaker| {
            let failures = breaker.failed(call, now)?;
            tracing::warn!(
                error = %error,
                "{} failed {failures} times within {:?}: {}, without calling it for {:?}, \
                 then trying it with one request",
                breaker.store(),
                self.breakers.config.window,
                self.outage.while_away(),
                self.breakers.config.open_for,
            );
            Some(())
        });
        if opened.is_some() {
            // The node's slots may have moved (a fail-over).
            self.breakers.refresh_soon(now);
        } else {
            tracing::debug!(error = %error, "a call to the redis rate-limit store failed");
        }
        cached
    }

    /// The decision while Redis (`node`) cannot give one; counted for the outage's log lines.
    async fn outage(
        &self,
        request: &DecisionRequest<'_>,
        node: u16,
        error: Option<BackendError>,
    ) -> Result<Decision, BackendError> {
        let now = self.breakers.now();
        self.breakers.with(node, |breaker| {
            if let Some(report) = breaker.log.answered(now) {
                tracing::warn!(
                    "{} is still failing: {} decisions in the last {:?} followed the outage \
                     policy ({}); breaker {:?}",
                    breaker.store(),
                    report.answered,
                    report.over,
                    self.outage.while_away(),
                    breaker.state(),
                );
            }
        });
        match &self.outage {
            OutagePolicy::Report => Err(error.unwrap_or_else(|| {
                store_error(
                    "the redis rate-limit store is failing (circuit breaker open) and is not \
                     called until the recheck interval has passed",
                )
            })),
            OutagePolicy::Fallback(fallback) => fallback.decide(request).await,
        }
    }
}

/// The breaker's settings.
#[derive(Clone, Copy, Debug)]
pub(super) struct BreakerConfig {
    /// Failures within `window` that open the breaker (at least 1).
    pub(super) threshold: u32,
    pub(super) window: Duration,
    /// How long the breaker stays open before one request probes Redis.
    pub(super) open_for: Duration,
    /// The interval of the outage's count lines.
    pub(super) log_interval: Duration,
}

/// What the breaker lets a decision do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Call {
    /// Call Redis.
    Redis,
    /// Call Redis as the half-open breaker's one probe.
    Probe,
    /// Do not call Redis: follow the outage policy.
    Skip,
}

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

/// The circuit breaker: closed while Redis works; open, for `open_for`, once it failed
/// `threshold` times within `window` (a window starting at the first failure after the last
/// one ended); then half-open: one request probes, and its answer closes or opens it again.
/// Every time is microseconds on a monotonic clock, passed in (tests pass their own).
pub(super) struct Breaker {
    pub(super) config: BreakerConfig,
    /// The cluster node it guards (`host:port`, or [`WHOLE_CLUSTER`]); `None` for a single
    /// server. Its metric label and its name in the logs.
    pub(super) node: Option<Arc<str>>,
    /// `CLOSED`, `OPEN` or `HALF_OPEN`: read without the lock on every decision.
    state: AtomicU8,
    /// When the open breaker lets a probe through: read without the lock while open.
    open_until: AtomicU64,
    track: Mutex<Track>,
    pub(super) log: OutageLog,
}

/// The breaker's counts, changed under its lock (only on failures and transitions).
#[derive(Default)]
struct Track {
    /// Failures in the current window, while closed.
    failures: u32,
    window_start: u64,
    /// When the outage began (the breaker opened).
    outage_start: u64,
}

/// An outage that ended: how long it lasted, and the decisions the policy answered in it.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Ended {
    pub(super) lasted: Duration,
    pub(super) answered: u64,
}

impl Breaker {
    #[cfg(test)]
    pub(super) fn new(config: BreakerConfig) -> Self {
        Self::for_node(config, None)
    }

    /// The breaker of a cluster's `node`, or, for `None`, of a single server.
    pub(super) fn for_node(config: BreakerConfig, node: Option<Arc<str>>) -> Self {
        Self {
            node,
            config: BreakerConfig {
                threshold: config.threshold.max(1),
                ..config
            },
            state: AtomicU8::new(CLOSED),
            open_until: AtomicU64::new(0),
            track: Mutex::new(Track::default()),
            log: OutageLog::new(config.log_interval),
        }
    }

    pub(super) fn state(&self) -> BreakerState {
        match self.state.load(Ordering::Acquire) {
            CLOSED => BreakerState::Closed,
            OPEN => BreakerState::Open,
            _ => BreakerState::HalfOpen,
        }
    }

    /// What it guards, for the logs: `the redis rate-limit store`, `… cluster`, or `… store's
    /// node HOST:PORT`.
    pub(super) fn store(&self) -> Store<'_> {
        Store(self.node.as_deref())
    }

    /// Closes it at `now` whatever its state (its store answers, learnt otherwise than by a
    /// probe); the outage that ended, when it was not closed.
    pub(super) fn reset(&self, now: u64) -> Option<Ended> {
        let mut track = crate::lock(&self.track);
        track.failures = 0;
        if self.state.swap(CLOSED, Ordering::AcqRel) == CLOSED {
            return None;
        }
        self.publish(CLOSED);
        Some(Ended {
            lasted: Duration::from_micros(now.saturating_sub(track.outage_start)),
            answered: self.log.ended(),
        })
    }

    /// Whether a decision at `now` calls Redis, without a lock. Closed: yes. Open: no, until
    /// `open_for` has passed; then this one is the probe and the breaker is half-open.
    /// Half-open: no (the probe is out).
    pub(super) fn call(&self, now: u64) -> Call {
        match self.state.load(Ordering::Acquire) {
            CLOSED => Call::Redis,
            OPEN => {
                if now >= self.open_until.load(Ordering::Acquire)
                    && self
                        .state
                        .compare_exchange(OPEN, HALF_OPEN, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                {
                    self.publish(HALF_OPEN);
                    Call::Probe
                } else {
                    Call::Skip
                }
            }
            _ => Call::Skip,
        }
    }

    /// Records a call that succeeded at `now`; the outage that ended when it was the probe.
    pub(super) fn succeeded(&self, call: Call, now: u64) -> Option<Ended> {
        if call != Call::Probe {
            return None;
        }
        let mut track = crate::lock(&self.track);
        track.failures = 0;
        self.state.store(CLOSED, Ordering::Release);
        self.publish(CLOSED);
        Some(Ended {
            lasted: Duration::from_micros(now.saturating_sub(track.outage_start)),
            answered: self.log.ended(),
        })
    }

    /// Records a call that failed at `now`; the failures that opened the breaker when this one
    /// did (the outage begins).
    pub(super) fn failed(&self, call: Call, now: u64) -> Option<u32> {
        let mut track = crate::lock(&self.track);
        match call {
            Call::Probe => {
                self.open_until.store(
                    now.saturating_add(micros(self.config.open_for)),
                    Ordering::Release,
                );
                self.state.store(OPEN, Ordering::Release);
                self.publish(OPEN);
                None
            }
            Call::Redis if self.state.load(Ordering::Acquire) == CLOSED => {
                if track.failures == 0
                    || now
                        >= track
                            .window_start
                            .saturating_add(micros(self.config.window))
                {
                    track.window_start = now;
                    track.failures = 0;
                }
                track.failures += 1;
                if track.failures < self.config.threshold {
                    return None;
                }
                let failures = track.failures;
                track.failures = 0;
                track.outage_start = now;
                self.open_until.store(
                    now.saturating_add(micros(self.config.open_for)),
                    Ordering::Release,
                );
                self.state.store(OPEN, Ordering::Release);
                self.publish(OPEN);
                self.log.began(now);
                Some(failures)
            }
            // A call sent before the breaker opened.
            Call::Redis | Call::Skip => None,
        }
    }

    /// Sets the breaker's gauge, `ratelimit_breaker_state{backend="redis"}` (with
    /// `node="HOST:PORT"`, or `node="cluster"` while the topology is unknown, for a cluster):
    /// 0 closed, 1 half-open, 2 open (with the `metrics` feature; nothing without). Called on a
    /// change only.
    fn publish(&self, state: u8) {
        #[cfg(feature = "metrics")]
        {
            let value = match state {
                CLOSED => 0.0,
                OPEN => 2.0,
                _ => 1.0,
            };
            match &self.node {
                None => metrics::gauge!("ratelimit_breaker_state", "backend" => "redis").set(value),
                Some(node) => metrics::gauge!(
                    "ratelimit_breaker_state",
                    "backend" => "redis",
                    "node" => node.to_string()
                )
                .set(value),
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (self, state);
    }
}

/// What a breaker guards, in a log line.
pub(super) struct Store<'a>(Option<&'a str>);

impl fmt::Display for Store<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("the redis rate-limit store"),
            Some(WHOLE_CLUSTER) => f.write_str("the redis rate-limit cluster"),
            Some(node) => write!(f, "the redis rate-limit store's node {node}"),
        }
    }
}

/// The outage's count lines: while decisions follow the outage policy, at most one line per
/// interval, with the number of them since the last line.
pub(super) struct OutageLog {
    interval: u64,
    /// Decisions the policy answered since the last line.
    answered: AtomicU64,
    /// Decisions the policy answered since the outage began.
    total: AtomicU64,
    /// When the next line is due; 0 until a decision after the last line or the outage's end.
    next_line: AtomicU64,
    /// When the last line was written (or the count started).
    last_line: AtomicU64,
}

/// A count line: `answered` decisions followed the policy `over` the last interval.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Report {
    pub(super) answered: u64,
    pub(super) over: Duration,
}

impl OutageLog {
    fn new(interval: Duration) -> Self {
        Self {
            interval: micros(interval).max(1),
            answered: AtomicU64::new(0),
            total: AtomicU64::new(0),
            next_line: AtomicU64::new(0),
            last_line: AtomicU64::new(0),
        }
    }

    /// The outage began at `now` (its own line is written): the count starts afresh.
    fn began(&self, now: u64) {
        self.answered.store(0, Ordering::Relaxed);
        self.total.store(0, Ordering::Relaxed);
        self.last_line.store(now, Ordering::Relaxed);
        self.next_line
            .store(now.saturating_add(self.interval).max(1), Ordering::Release);
    }

    /// The outage ended: the decisions the policy answered since it began.
    fn ended(&self) -> u64 {
        self.next_line.store(0, Ordering::Release);
        self.answered.store(0, Ordering::Relaxed);
        self.total.swap(0, Ordering::Relaxed)
    }

    /// Counts a decision the policy answered at `now`; the line to write, when one is due (the
    /// first decision after an interval has passed writes it).
    pub(super) fn answered(&self, now: u64) -> Option<Report> {
        self.answered.fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        let next = self.next_line.load(Ordering::Acquire);
        let due = now.saturating_add(self.interval).max(1);
        if next == 0 {
            // The first since the last line: the interval starts now.
            if self
                .next_line
                .compare_exchange(0, due, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                self.last_line.store(now, Ordering::Relaxed);
            }
            return None;
        }
        if now < next
            || self
                .next_line
                .compare_exchange(next, due, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return None;
        }
        let since = self.last_line.swap(now, Ordering::Relaxed);
        Some(Report {
            answered: self.answered.swap(0, Ordering::Relaxed),
            over: Duration::from_micros(now.saturating_sub(since)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000;
    const S: u64 = 1_000_000;

    fn breaker(threshold: u32) -> Breaker {
        Breaker::new(BreakerConfig {
            threshold,
            window: Duration::from_secs(1),
            open_for: Duration::from_secs(2),
            log_interval: Duration::from_secs(10),
        })
    }

    #[cfg(feature = "metrics")]
    #[test]
    fn the_gauge_follows_the_breaker() {
        use metrics_util::debugging::{DebugValue, DebuggingRecorder};
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let gauge = || {
            snapshotter
                .snapshot()
                .into_vec()
                .into_iter()
                .find_map(|(key, _, _, value)| match (key.key().name(), value) {
                    ("ratelimit_breaker_state", DebugValue::Gauge(value)) => Some(value.0),
                    _ => None,
                })
        };
        metrics::with_local_recorder(&recorder, || {
            let breaker = breaker(1);
            assert_eq!(breaker.failed(Call::Redis, 0), Some(1));
            assert_eq!(gauge(), Some(2.0), "open");
            assert_eq!(breaker.call(3 * S), Call::Probe);
            assert_eq!(gauge(), Some(1.0), "half-open");
            assert!(breaker.succeeded(Call::Probe, 3 * S).is_some());
            assert_eq!(gauge(), Some(0.0), "closed");
        });
    }

    #[test]
    fn one_failure_does_not_open_the_breaker() {
        let breaker = breaker(3);
        assert_eq!(breaker.call(0), Call::Redis);
        assert_eq!(breaker.failed(Call::Redis, 0), None);
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.call(1), Call::Redis);
    }

    #[test]
    fn the_threshold_within_the_window_opens_it() {
        let breaker = breaker(3);
        assert_eq!(breaker.failed(Call::Redis, 0), None);
        assert_eq!(breaker.failed(Call::Redis, 500 * MS), None);
        assert_eq!(breaker.failed(Call::Redis, 999 * MS), Some(3));
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(breaker.call(S), Call::Skip);
    }

    #[test]
    fn failures_spread_over_more_than_the_window_do_not() {
        let breaker = breaker(3);
        assert_eq!(breaker.failed(Call::Redis, 0), None);
        assert_eq!(breaker.failed(Call::Redis, 900 * MS), None);
        // A new window starts with this one.
        assert_eq!(breaker.failed(Call::Redis, S), None);
        assert_eq!(breaker.failed(Call::Redis, 1_500 * MS), None);
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.failed(Call::Redis, 1_900 * MS), Some(3));
    }

    #[test]
    fn the_open_breaker_lets_one_probe_through_after_its_time() {
        let breaker = breaker(1);
        assert_eq!(breaker.failed(Call::Redis, 0), Some(1));
        assert_eq!(breaker.call(2 * S - 1), Call::Skip);
        assert_eq!(breaker.call(2 * S), Call::Probe);
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        // Only one: the others follow the policy while it is out.
        assert_eq!(breaker.call(2 * S), Call::Skip);
        assert_eq!(breaker.call(3 * S), Call::Skip);
    }

    #[test]
    fn a_failed_probe_opens_it_again_and_a_good_one_closes_it() {
        let breaker = breaker(1);
        breaker.failed(Call::Redis, 0);
        assert_eq!(breaker.call(2 * S), Call::Probe);
        assert_eq!(breaker.failed(Call::Probe, 2 * S), None);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(breaker.call(4 * S - 1), Call::Skip);
        assert_eq!(breaker.call(4 * S), Call::Probe);
        let ended = breaker.succeeded(Call::Probe, 4 * S + 10 * MS);
        assert_eq!(
            ended.map(|ended| ended.lasted),
            Some(Duration::from_micros(4 * S + 10 * MS))
        );
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.call(4 * S + 11 * MS), Call::Redis);
    }

    #[test]
    fn a_success_that_is_not_the_probe_changes_nothing() {
        let breaker = breaker(2);
        breaker.failed(Call::Redis, 0);
        assert_eq!(breaker.succeeded(Call::Redis, 1), None);
        assert_eq!(breaker.failed(Call::Redis, 2), Some(2));
        // A call sent before it opened, answering late.
        assert_eq!(breaker.succeeded(Call::Redis, 3), None);
        assert_eq!(breaker.failed(Call::Redis, 4), None);
        assert_eq!(breaker.state(), BreakerState::Open);
    }

    #[test]
    fn an_outage_writes_a_count_line_per_interval_and_not_one_per_decision() {
        let breaker = breaker(1);
        assert_eq!(breaker.failed(Call::Redis, 0), Some(1));
        let mut lines = Vec::new();
        // 1 000 decisions a second for 35 s.
        for ms in 0..35_000 {
            if let Some(report) = breaker.log.answered(ms * MS) {
                lines.push(report);
            }
        }
        assert_eq!(
            lines,
            [10, 20, 30].map(|s| Report {
                answered: if s == 10 { 10_001 } else { 10_000 },
                over: Duration::from_secs(10),
            })
        );
        breaker.call(35 * S);
        let ended = breaker.succeeded(Call::Probe, 35 * S).unwrap();
        assert_eq!(ended.answered, 35_000);
        assert_eq!(ended.lasted, Duration::from_secs(35));
    }

    /// A backend whose Redis is nowhere (port 1): built at once, every call fails.
    async fn unreachable(threshold: u32) -> super::super::RedisBackend {
        super::super::RedisBackend::builder("redis://127.0.0.1:1/")
            .connect_timeout(Duration::from_millis(50))
            .failure_threshold(threshold, Duration::from_secs(10))
            .recheck_interval(Duration::ZERO)
            .build()
            .await
            .unwrap()
    }

    fn request<'a>(user: &'a str, limits: &'a [ratelimit_core::Limit]) -> DecisionRequest<'a> {
        DecisionRequest {
            pool: crate::backend::Pool {
                scope: crate::backend::Scope::Path("/a"),
                method: None,
                user,
            },
            limits,
            block_time: None,
            cost: 1,
        }
    }

    /// Issue #19: a burst's tail that missed the deadline, for a pool the refusal cache has
    /// meanwhile learnt is refused, is answered by the cache and opens no breaker.
    #[tokio::test]
    async fn a_failed_call_the_refusal_cache_answers_is_not_a_failure() {
        use crate::backend::DenialCause;
        let backend = unreachable(1).await;
        let inner = &*backend.inner;
        let limits = [ratelimit_core::Limit::new(ratelimit_core::Unit::Minute, 3)];
        let abuser = request("abuser", &limits);
        let (node, call) = inner.breakers.call("abuser", inner.breakers.now());
        assert_eq!(call, Call::Redis);
        // Another decision of the burst learnt the refusal while this call was out.
        let refusal = Denial {
            retry_after: Duration::from_secs(30),
            cause: DenialCause::Limit(limits[0]),
        };
        inner.cache.note(&abuser, &refusal, None, inner.cache_now());
        let timeout = BackendError::Timeout(Duration::from_millis(50));
        let answer = inner.failed(&abuser, node, call, &timeout);
        assert_eq!(answer.map(|denial| denial.cause), Some(refusal.cause));
        assert_eq!(backend.breaker_state(), BreakerState::Closed, "not counted");
        // A failure the cache cannot answer counts (a threshold of 1 opens the breaker).
        let other = request("someone", &limits);
        assert_eq!(inner.failed(&other, node, call, &timeout), None);
        assert_eq!(backend.breaker_state(), BreakerState::Open);
    }

    /// ... but a probe's failure always counts: it opens the breaker again, which would
    /// otherwise stay half-open with no probe out.
    #[tokio::test]
    async fn a_failed_probe_reopens_the_breaker_even_when_the_cache_answers() {
        use crate::backend::DenialCause;
        let backend = unreachable(1).await;
        let inner = &*backend.inner;
        let limits = [ratelimit_core::Limit::new(ratelimit_core::Unit::Minute, 3)];
        let abuser = request("abuser", &limits);
        let timeout = BackendError::Timeout(Duration::from_millis(50));
        let (node, call) = inner.breakers.call("abuser", inner.breakers.now());
        assert_eq!(inner.failed(&abuser, node, call, &timeout), None);
        let (node, call) = inner.breakers.call("abuser", inner.breakers.now());
        assert_eq!(call, Call::Probe);
        let refusal = Denial {
            retry_after: Duration::from_secs(30),
            cause: DenialCause::Limit(limits[0]),
        };
        inner.cache.note(&abuser, &refusal, None, inner.cache_now());
        assert!(inner.failed(&abuser, node, call, &timeout).is_some());
        assert_eq!(backend.breaker_state(), BreakerState::Open);
    }

    #[test]
    fn stray_failures_are_counted_in_a_line_an_interval_later() {
        let breaker = breaker(5);
        let log = &breaker.log;
        assert_eq!(log.answered(0), None);
        assert_eq!(log.answered(3 * S), None);
        assert_eq!(
            log.answered(10 * S),
            Some(Report {
                answered: 3,
                over: Duration::from_secs(10)
            })
        );
        assert_eq!(log.answered(11 * S), None);
    }
}

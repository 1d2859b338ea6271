//! What a backend provides to run the suite, and the helpers cases are written with.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ratelimit::Limit;
use ratelimit::backend::{
    Algorithm, Backend, Decision, DecisionRequest, Denial, Pool, Quota, Scope,
};

/// A backend under test, with control over its time.
///
/// Each test gets a fresh harness: a backend with no counts (a Redis harness uses a fresh key
/// prefix).
pub(crate) trait Harness: Send + Sync + 'static {
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
pub(crate) fn per_algorithm<T>(harness: &impl Harness, fixed: T, sliding: T, gcra: T) -> T {
    match harness.algorithm() {
        Algorithm::FixedWindow => fixed,
        Algorithm::SlidingWindow => sliding,
        Algorithm::Gcra => gcra,
        other => panic!("no expectations for {other:?}: add them to the suite"),
    }
}

pub(crate) const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

pub(crate) const fn secs(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// A decision to ask for: a pool, limits and an optional block time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ask<'a> {
    pub(crate) pool: Pool<'a>,
    pub(crate) limits: &'a [Limit],
    pub(crate) block_time: Option<Duration>,
}

impl<'a> Ask<'a> {
    /// The pool of `path` (any method) for `user`, under `limits`.
    pub(crate) const fn path(path: &'a str, user: &'a str, limits: &'a [Limit]) -> Self {
        Self {
            pool: Pool {
                scope: Scope::Path(path),
                method: None,
                user,
            },
            limits,
            block_time: None,
        }
    }

    /// The pool of `zone` (any method) for `user`, under `limits`.
    pub(crate) const fn zone(zone: &'a str, user: &'a str, limits: &'a [Limit]) -> Self {
        Self {
            pool: Pool {
                scope: Scope::Zone(zone),
                method: None,
                user,
            },
            limits,
            block_time: None,
        }
    }

    /// The same, counted for `method` only.
    pub(crate) const fn method(mut self, method: &'a str) -> Self {
        self.pool.method = Some(method);
        self
    }

    /// The same, blocking the user for `block_time` when denied.
    pub(crate) const fn block(mut self, block_time: Duration) -> Self {
        self.block_time = Some(block_time);
        self
    }

    /// The backend's decision.
    pub(crate) async fn decide(&self, harness: &impl Harness) -> Decision {
        let request = DecisionRequest {
            pool: self.pool,
            limits: self.limits,
            block_time: self.block_time,
        };
        let backend = harness.backend();
        match backend.decide(&request).await {
            Ok(decision) => decision,
            Err(error) => panic!("{self:?}: the backend failed: {error}"),
        }
    }

    /// Asserts the request is admitted; its quota.
    pub(crate) async fn allow(&self, harness: &impl Harness) -> Quota {
        match self.decide(harness).await {
            Decision::Allow(quota) => quota,
            Decision::Deny(denial) => panic!("{self:?}: denied ({denial:?}), expected admitted"),
        }
    }

    /// Asserts the request is denied; the denial.
    pub(crate) async fn deny(&self, harness: &impl Harness) -> Denial {
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
    pub(crate) async fn admitted(&self, harness: &impl Harness, times: usize) -> usize {
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
pub(crate) fn assert_time(harness: &impl Harness, actual: Duration, expected: Duration) {
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
pub(crate) async fn assert_admitted_after(harness: &impl Harness, ask: &Ask<'_>, wait: Duration) {
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

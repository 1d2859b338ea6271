//! Redis's health: what a decision does while Redis fails ([`OutagePolicy`]), and when to
//! try Redis again after a failure.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Inner, micros, store_error};
use crate::backend::{Backend, BackendError, Decision, DecisionRequest};

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
}

impl fmt::Debug for OutagePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Report => f.write_str("Report"),
            Self::Fallback(_) => f.write_str("Fallback(..)"),
        }
    }
}

impl Inner {
    /// One decision: in Redis while it works, else by the outage policy.
    pub(super) async fn decide(
        &self,
        request: &DecisionRequest<'_>,
    ) -> Result<Decision, BackendError> {
        if request.limits.is_empty() {
            return Err(store_error("a decision needs at least one limit"));
        }
        if !self.health.try_store() {
            return self.outage(request, None).await;
        }
        let error = match tokio::time::timeout(self.timeout, self.run(request)).await {
            Ok(Ok(decision)) => {
                if self.health.succeeded() {
                    tracing::info!("the redis rate-limit store is back; deciding with it again");
                }
                return Ok(decision);
            }
            Ok(Err(error)) => error,
            Err(_) => BackendError::Timeout(self.timeout),
        };
        let first = self.health.failed();
        let next = match self.outage {
            OutagePolicy::Report => "reporting failures",
            OutagePolicy::Fallback(_) => "deciding with the fallback backend",
        };
        if first {
            tracing::warn!(
                error = %error,
                "the redis rate-limit store failed; {next}, retrying in {:?}",
                self.health.recheck_interval,
            );
        } else {
            tracing::warn!(
                error = %error,
                "the redis rate-limit store is still failing; {next}, retrying in {:?}",
                self.health.recheck_interval,
            );
        }
        self.outage(request, Some(error)).await
    }

    /// The decision while Redis cannot give one.
    async fn outage(
        &self,
        request: &DecisionRequest<'_>,
        error: Option<BackendError>,
    ) -> Result<Decision, BackendError> {
        match &self.outage {
            OutagePolicy::Report => Err(error.unwrap_or_else(|| {
                store_error(
                    "the redis rate-limit store failed recently and is not retried until the \
                     recheck interval has passed",
                )
            })),
            OutagePolicy::Fallback(fallback) => fallback.decide(request).await,
        }
    }
}

/// When to call Redis: always while it works; after a failure, once per recheck interval.
pub(super) struct Health {
    epoch: Instant,
    pub(super) recheck_interval: Duration,
    /// Microseconds since `epoch` until which Redis is left alone; 0 while it works.
    down_until: AtomicU64,
}

impl Health {
    pub(super) fn new(recheck_interval: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            recheck_interval,
            down_until: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        micros(self.epoch.elapsed())
    }

    /// Whether this request should call Redis. After a failure, the first request once the
    /// interval has passed does (and pushes the next try one interval further); the others
    /// do not.
    fn try_store(&self) -> bool {
        if self.recheck_interval.is_zero() {
            return true;
        }
        let down_until = self.down_until.load(Ordering::Acquire);
        if down_until == 0 {
            return true;
        }
        let now = self.now();
        now >= down_until
            && self
                .down_until
                .compare_exchange(
                    down_until,
                    self.next_try(now),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    /// Records a failure; true when Redis was taken to work until now.
    fn failed(&self) -> bool {
        let next = self.next_try(self.now());
        self.down_until.swap(next, Ordering::AcqRel) == 0
    }

    /// Records a success; true when Redis was taken to be down until now.
    fn succeeded(&self) -> bool {
        self.down_until.load(Ordering::Acquire) != 0
            && self.down_until.swap(0, Ordering::AcqRel) != 0
    }

    fn next_try(&self, now: u64) -> u64 {
        now.saturating_add(micros(self.recheck_interval)).max(1)
    }
}

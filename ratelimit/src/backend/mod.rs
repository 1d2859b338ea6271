//! Backends: where the counts live, and the decision for one request.
//!
//! A [`Backend`] answers one question: may this request of this user, counted in this pool
//! under these limits, go through now? It returns a [`Decision`], [`Allow`](Decision::Allow)
//! or [`Deny`](Decision::Deny) with the time to wait (never a `0` sentinel), and counts the
//! request only when it is allowed: a rule's limits are checked and counted all-or-nothing.
//!
//! A request that a rule with `block_time` denies blocks its user for that long: while
//! blocked, every request of that user to a limited rule (any route, as in the original
//! `asgi-ratelimit`) is denied and counts nothing. The block is not extended by requests made
//! during it.
//!
//! Failing to decide (a store that is down or slow) is a [`BackendError`], never a denial.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use ratelimit_core::Limit;

mod clock;
mod memory;

pub use clock::{Clock, ManualClock, MonotonicClock};
pub use memory::{MemoryBackend, MemoryBackendBuilder};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;

/// Where a request is counted: one pool per (zone or path, method, user).
///
/// Two pools are the same exactly when all their parts are equal; backends build keys that
/// cannot collide whatever the parts contain (`:` included).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool<'a> {
    /// The rule's zone, or the request path when the rule has none.
    pub scope: Scope<'a>,
    /// The method the rule names, upper-cased, or `None` when it applies to every method.
    pub method: Option<&'a str>,
    /// The user id from authentication.
    pub user: &'a str,
}

/// What a pool counts: a named zone shared by several routes, or one request path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope<'a> {
    /// A `zone = "…"` shared by every rule that names it.
    Zone(&'a str),
    /// The request path (without the query string). The middleware passes it in the form a
    /// key holds: percent-decoded (so every spelling of a path is one pool), and, past 120
    /// bytes, its first 64 bytes, `#` and a BLAKE3 digest of the whole (129 bytes at most), so
    /// that a client cannot grow a key, in memory or in Redis, by sending a long path.
    Path(&'a str),
}

/// One decision to make: a pool, the limits of the rule, and its block time.
#[derive(Clone, Copy, Debug)]
pub struct DecisionRequest<'a> {
    /// Where the request is counted.
    pub pool: Pool<'a>,
    /// The rule's limits, shortest window first; never empty (backends answer
    /// [`BackendError::InvalidRequest`] otherwise).
    pub limits: &'a [Limit],
    /// How long to block the user when this request is denied, if at all.
    pub block_time: Option<Duration>,
    /// How much of every limit the request uses: the rule's `cost` (1 by default); from 1
    /// to the smallest count of `limits` (backends answer
    /// [`BackendError::InvalidRequest`] otherwise).
    pub cost: u64,
}

/// A backend's answer for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Admit the request; it has been counted.
    Allow(Quota),
    /// Refuse the request; it counted nothing.
    Deny(Denial),
}

/// The state of the tightest limit after an admitted request, for rate-limit headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// The limit with the fewest requests left.
    pub limit: Limit,
    /// Requests left in its current window.
    pub remaining: u64,
    /// Time until its window resets (or, for the sliding and GCRA algorithms, until it is
    /// back to its full count).
    pub reset: Duration,
    /// When the backend counted the request, on its own clock and in a unit of its choosing
    /// (the in-memory backend: nanoseconds; Redis: microseconds of its `TIME`): what
    /// [`Backend::give_back`] takes to give the request back to the windows that counted it
    /// and to no later one. 0 from a backend that does not give back.
    pub counted_at: u64,
}

/// Why and for how long a request is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Denial {
    /// The time until the same request would be admitted; never zero.
    pub retry_after: Duration,
    /// What refused it.
    pub cause: DenialCause,
}

impl Denial {
    /// The `Retry-After` value: whole seconds, rounded up, at least 1 (and at most
    /// `u64::MAX`, for a backend that denies "for ever" with [`Duration::MAX`]).
    #[must_use]
    pub fn retry_after_secs(&self) -> u64 {
        retry_after_secs(self.retry_after)
    }
}

/// A wait as a `Retry-After` value: whole seconds, rounded up, at least 1.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    ceil_secs(wait).max(1)
}

/// A duration in whole seconds, rounded up (saturating: a backend may answer any duration).
pub(crate) fn ceil_secs(duration: Duration) -> u64 {
    duration
        .as_secs()
        .saturating_add(u64::from(duration.subsec_nanos() > 0))
}

/// What refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenialCause {
    /// This limit of the rule has no room left (the one that frees up last, when several
    /// are exhausted).
    Limit(Limit),
    /// The user is blocked by an earlier denial of a rule with `block_time`.
    Blocked,
}

/// A backend failed to decide. This is never "over the limit": the middleware applies the
/// failure policy the user chose.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The store did not answer in time.
    #[error("the rate-limit store did not answer within {0:?}")]
    Timeout(Duration),
    /// The store could not be reached or refused the command.
    #[error("the rate-limit store failed: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The request breaks an invariant of [`DecisionRequest`] (no limits): a bug in the
    /// caller, which no backend can decide.
    #[error("invalid decision request: {0}")]
    InvalidRequest(&'static str),
}

/// Where counts live and how a request is decided; see the [module docs](self).
///
/// Implementations must be correct under concurrency: N concurrent decisions against a limit
/// of L admit exactly L.
pub trait Backend: Send + Sync + 'static {
    /// Decides `request`, counting it if it is admitted.
    fn decide<'a>(&'a self, request: &'a DecisionRequest<'a>) -> DecisionFuture<'a>;

    /// Decides `request` at once, as [`decide`](Self::decide) would, when the backend
    /// decides in process (the in-memory backend does); `None` (the default) when it must
    /// wait (for a store), in which case nothing was decided or counted.
    ///
    /// The middleware asks this first, so that an in-process decision needs no boxed future.
    fn decide_now(&self, request: &DecisionRequest<'_>) -> Option<Result<Decision, BackendError>> {
        let _ = request;
        None
    }

    /// Gives back a request that [`decide`](Self::decide) admitted and counted at
    /// `counted_at` (its [`Quota::counted_at`]), for a rule whose `count_if` does not list
    /// the response's status: `request.cost` is taken off every window of `request.limits`
    /// that is still the one that counted it (never below zero, never off a window that has
    /// rolled over since).
    ///
    /// Returns [`GiveBack::done`] when it is done (the in-memory backend gives back at once),
    /// or the future that does it (Redis: one script call), which the middleware spawns so
    /// that the response is not delayed. The default gives nothing back: a backend without
    /// it counts every response, as if the rule had no `count_if`.
    fn give_back(&self, request: &DecisionRequest<'_>, counted_at: u64) -> GiveBack {
        let _ = (request, counted_at);
        GiveBack::done()
    }

    /// The backend's name, the `backend` label of the `ratelimit_backend_seconds` histogram
    /// (with the `metrics` feature): `"memory"` and `"redis"` for the built-in backends,
    /// `"custom"` by default.
    fn name(&self) -> &'static str {
        "custom"
    }
}

/// A shared backend is a backend: layers (or tests) holding one `Arc` count in the same
/// store.
impl<B: Backend + ?Sized> Backend for std::sync::Arc<B> {
    fn decide<'a>(&'a self, request: &'a DecisionRequest<'a>) -> DecisionFuture<'a> {
        (**self).decide(request)
    }

    #[inline]
    fn decide_now(&self, request: &DecisionRequest<'_>) -> Option<Result<Decision, BackendError>> {
        (**self).decide_now(request)
    }

    fn give_back(&self, request: &DecisionRequest<'_>, counted_at: u64) -> GiveBack {
        (**self).give_back(request, counted_at)
    }

    fn name(&self) -> &'static str {
        (**self).name()
    }
}

/// The future a [`Backend`] returns: already resolved for an in-process backend (no
/// allocation), or a boxed future for one that does I/O.
#[must_use = "futures do nothing unless polled"]
pub struct DecisionFuture<'a> {
    state: FutureState<'a>,
}

type BoxedDecision<'a> = Pin<Box<dyn Future<Output = Result<Decision, BackendError>> + Send + 'a>>;

enum FutureState<'a> {
    Ready(Option<Result<Decision, BackendError>>),
    Pending(BoxedDecision<'a>),
}

impl<'a> DecisionFuture<'a> {
    /// A future that resolves at once to `result`.
    #[inline]
    pub const fn ready(result: Result<Decision, BackendError>) -> Self {
        Self {
            state: FutureState::Ready(Some(result)),
        }
    }

    /// A future that runs `future`.
    pub fn boxed(future: impl Future<Output = Result<Decision, BackendError>> + Send + 'a) -> Self {
        Self {
            state: FutureState::Pending(Box::pin(future)),
        }
    }
}

impl Future for DecisionFuture<'_> {
    type Output = Result<Decision, BackendError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            FutureState::Ready(result) => match result.take() {
                Some(result) => Poll::Ready(result),
                None => Poll::Pending,
            },
            FutureState::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

impl fmt::Debug for DecisionFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            FutureState::Ready(_) => "ready",
            FutureState::Pending(_) => "pending",
        };
        f.debug_struct("DecisionFuture")
            .field("state", &state)
            .finish()
    }
}

/// What [`Backend::give_back`] leaves to do: nothing, or a future that owns what it needs
/// (`'static`, so that it can be spawned).
#[must_use = "a give-back that is not done does nothing"]
pub struct GiveBack {
    future: Option<BoxedGiveBack>,
}

type BoxedGiveBack = Pin<Box<dyn Future<Output = Result<(), BackendError>> + Send + 'static>>;

impl GiveBack {
    /// Nothing left to do: the request was given back (or the backend gives nothing back).
    pub const fn done() -> Self {
        Self { future: None }
    }

    /// `future` gives the request back.
    pub fn later(future: impl Future<Output = Result<(), BackendError>> + Send + 'static) -> Self {
        Self {
            future: Some(Box::pin(future)),
        }
    }

    /// The future that gives the request back, if something is left to do.
    #[must_use]
    pub fn into_future(self) -> Option<BoxedGiveBack> {
        self.future
    }
}

impl fmt::Debug for GiveBack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.future.is_some() {
            "later"
        } else {
            "done"
        };
        f.debug_struct("GiveBack").field("state", &state).finish()
    }
}

/// The algorithm a backend counts with, chosen when it is built.
///
/// All three have the same semantics for the rest: all-or-nothing limits, blocks,
/// `Retry-After` as the time until admission.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// A window of the limit's length starts at a pool's first request; when it ends, the
    /// next request starts a new one. The original `asgi-ratelimit`'s behaviour. Allows a
    /// burst of up to twice the count across a window boundary.
    #[default]
    FixedWindow,
    /// Counts the current window plus the previous one weighted by how much of it still
    /// overlaps the last window-length of time: no boundary burst.
    ///
    /// Precisely, Cloudflare's sliding window counter with windows aligned to a pool's first
    /// request: a request at offset `e` into the current window fits when
    /// `current + 1 + previous · (window − e) / window ≤ count`. In any interval of length
    /// `d ≤ window`, at most `count + ⌈count · d / window⌉` requests pass (a fixed window lets
    /// `2 · count` through however short the interval). The estimate is cautious when the
    /// previous window's requests came early in it: with a count of 1, the next request is
    /// admitted two windows after the first.
    SlidingWindow,
    /// The generic cell rate algorithm: requests are spaced by window / count, with a burst
    /// of up to the count.
    Gcra,
}

//! The Redis backend: counts shared by every instance of a service, in Redis or Redis Cluster.
//!
//! ```no_run
//! # async fn run() -> Result<(), ratelimit::backend::redis::RedisSetupError> {
//! use std::time::Duration;
//!
//! use ratelimit::backend::Algorithm;
//! use ratelimit::backend::redis::RedisBackend;
//!
//! let backend = RedisBackend::builder("redis://127.0.0.1:6379/")
//!     .algorithm(Algorithm::SlidingWindow)
//!     .prefix("myapp:ratelimit")
//!     .timeout(Duration::from_millis(50))
//!     .build()
//!     .await?;
//! # let _ = backend;
//! # Ok(())
//! # }
//! ```
//!
//! # One round trip per decision
//!
//! A decision that calls Redis (one the [refusal cache](#the-refusal-cache) cannot answer) is
//! one `EVALSHA` of the Lua script of the backend's algorithm, which checks the
//! user's block, checks every limit of the rule, counts the request in all of them or none,
//! and sets a block when the rule has `block_time`: whatever the number of limits, one
//! command and one reply. The script is loaded (`SCRIPT LOAD`, on every node of a cluster)
//! when the backend is built, or, when Redis was not up then, by the first decision that
//! reaches it (that one takes two round trips). When Redis has lost it (a restart, a fail-over, `SCRIPT FLUSH`), the `NOSCRIPT` reply is
//! answered by running the script with `EVAL`, which also caches it again: that request
//! takes two round trips and still gets its decision.
//!
//! Inside Redis the script makes at most three calls: `TIME`, one `MGET` of the block and
//! every limit's state, and, when it admits, one `SET … PX` per limit (each state is one
//! string); a refusal writes nothing but the block, when the rule sets one (and, after
//! Redis's clock stepped back, the states and block it brought back to now, once).
//!
//! Time is Redis's own (`TIME` inside the script, in integer microseconds), so the clocks of
//! the service's instances do not matter. Every key the script writes gets its expiry in the
//! same command (`SET … PX`), so none is ever left without one; state is always judged
//! against the script's clock, so expiry only collects garbage.
//!
//! # When Redis's clock steps
//!
//! - **Back** (a fail-over to a replica whose clock is behind, NTP): no window or block lasts
//!   longer than it was set to. A state whose time is ahead of Redis's is brought back to now
//!   (a window ends at most its length from now, a GCRA arrival time is at most a window
//!   ahead, a block ends at most its length from now: a block holds its end and its length,
//!   `end.length`), and kept so, by a `SET` of that state even when the request is refused.
//!   The time before the step counts for nothing: a window 10 s into a minute when the clock
//!   steps back ends a minute after the step.
//! - **Forward**: every live window and block ends that much sooner (a step of a minute frees
//!   every per-minute window at once), and states written before it are judged on the new
//!   time; nothing else happens, and nothing is lengthened.
//!
//! The refusal cache runs on the instance's monotonic clock, not Redis's, and holds a refusal
//! no longer than Redis said it lasts.
//!
//! # Keys
//!
//! ```text
//! <prefix>:{<user>}:block                                      the user's block
//! <prefix>:{<user>}:v2:<algorithm>:<scope>:<method>:<unit>     one limit of one pool
//! ```
//!
//! for example `ratelimit:{alice}:v2:fw:P6:/towns:M3:GET:second`. The user is the cluster hash
//! tag, so every key of a decision lives in one slot; `%`, `{` and `}` in user ids are
//! escaped (`%25`, `%7B`, `%7D`) so that no id can move or break the tag, and the zone or
//! path and the method are length-prefixed, so no two pools share a key whatever they
//! contain. The prefix ([`RedisBackendBuilder::prefix`], `ratelimit` by default) may not
//! contain `{` or `}`. `v2` is the layout of the limits' state, a string since this version;
//! the first layout (no `v2`, a hash per limit) is neither read nor overwritten, so during a
//! rolling upgrade each version counts in its own keys, and the old ones expire by
//! themselves. Blocks keep their name and form, and hold for both.
//!
//! # Semantics
//!
//! Those of every backend, and those of the in-memory one to the microsecond (one conformance
//! suite runs against both): a rule's limits are checked, then counted, all at once (the script runs
//! atomically), so a denied request counts in no window and N concurrent decisions against a
//! limit of L admit exactly L. [`Denial::retry_after`] is the time until the same request
//! would be admitted (the longest wait over the exhausted limits, the longer window on a
//! tie), never zero; [`Quota`] reports the limit with the fewest requests left (the longer
//! reset on a tie). A denial by a rule with `block_time` blocks the user on every pool for
//! that long, without extension by later requests; while blocked, every decision for the user
//! is a [`DenialCause::Blocked`] denial that counts nothing, waiting for the rest of the block
//! or longer when a limit of the rule is still exhausted then.
//!
//! The [`Algorithm`]s, all in integer microseconds:
//!
//! - fixed window: a window of the limit's length starts at a pool's first request, and the
//!   next request after it ends starts a new one;
//! - sliding window: Cloudflare's counter, over consecutive windows from a pool's first
//!   request (a pool idle for two windows starts afresh); a request at offset `e` into the
//!   current window fits when `current + 1 + previous · (window − e) / window ≤ count`;
//! - GCRA: requests spaced by window / count, with a burst of count; the spacing is kept
//!   exactly (in units of 1/count µs), so a third of a second does not drift.
//!
//! Lua numbers are doubles: every time and product is exact while count × window (in
//! microseconds) stays below 2^53, i.e. for counts up to about 9·10^9 a second or 3·10^3 a
//! month; beyond, comparisons at the very instant of a boundary may round.
//!
//! # The refusal cache
//!
//! Once Redis refused a request until a time T (a limit of its rule exhausted, or the user
//! blocked), the backend answers that pool's requests from memory until T, without calling
//! Redis, as Envoy's local over-limit cache does: an abusive client that keeps asking costs
//! Redis one script call per refusal period, not one per request. [`Backend::decide_now`]
//! answers these refusals at once, so the middleware needs no boxed future for them either.
//!
//! - It only refuses, never admits: T is counted from when the refused request was sent,
//!   before Redis ran it, so an entry ends no later than Redis's refusal; then Redis decides
//!   again. Other instances' requests can only push a refusal further, so the answer holds
//!   across instances. A block refuses every limited pool of the user until it ends; a rule
//!   with `block_time` is otherwise answered by Redis (its refusal by a limit blocks again).
//! - Its `Retry-After` is the longest wait it knows for the request (exactly Redis's for the
//!   pool Redis refused).
//! - Bounded: [`refusal_cache`](RedisBackendBuilder::refusal_cache) entries at most (10 000 by
//!   default; 0 turns the cache off); a full shard drops expired entries, then the one that
//!   expires soonest. Each entry holds its pool's key parts and a time.
//! - A Redis that lost the script (a restart, a fail-over, `SCRIPT FLUSH`) has likely lost
//!   its counts: the first decision that meets it empties the cache. Counts deleted by hand,
//!   the script kept, it does not see: such a pool stays refused until T.
//!
//! Cost: an atomic load per decision while it is empty; otherwise a hash and a lookup under a
//! shard's lock per limit of the rule, and one for the user's block.
//!
//! # Outages
//!
//! Every call to Redis has a deadline ([`RedisBackendBuilder::timeout`], 50 ms by default),
//! so no request waits longer for Redis. A failure (timeout, connection lost, any error
//! reply) is never a denial; what happens is the [`OutagePolicy`]:
//!
//! - [`OutagePolicy::Report`] (the default): the decision is a [`BackendError`], and the
//!   middleware's failure policy answers: it fails open by default (the request is admitted
//!   uncounted) or closed (503);
//! - [`OutagePolicy::Fallback`]: another backend (an in-memory one) decides while Redis is
//!   away.
//!
//! A circuit breaker ([`RedisBackend::breaker_state`]) keeps a failing Redis from costing
//! every request its deadline, without letting one slow call switch Redis off:
//!
//! - **closed** (the normal state): every decision calls Redis. A failure (timeout, lost
//!   connection, error reply) is answered by the policy, and counted;
//! - **open**, once [`failure_threshold`](RedisBackendBuilder::failure_threshold) failures
//!   (5 within 10 s by default) came within its window: decisions follow the policy at once,
//!   without calling Redis, for [`recheck_interval`](RedisBackendBuilder::recheck_interval)
//!   (1 s by default);
//! - **half-open**, then: one decision (the probe) calls Redis while the others keep following
//!   the policy; its success closes the breaker, its failure opens it again.
//!
//! The breakers are shared by the backend's clones: one for a single server, one **per node**
//! of a cluster. Every key of a decision carries the user's hash tag, so its slot is known
//! (CRC16 of the tag, mod 16 384, as Redis computes it); the cluster's topology (`CLUSTER
//! SLOTS`) maps the slot to its node, whose breaker decides. While one node is down or
//! frozen, only the users of its slots follow the policy; the other nodes' users are still
//! limited by Redis. The topology is read when the backend connects, when a decision finds it
//! unknown (at most once a second), when a node's breaker opens (its slots may have moved: a
//! fail-over), and every 30 s (redis-rs follows a `MOVED` redirection itself without telling,
//! so a migration is seen then); in the background, from a node whose breaker is closed.
//! Until it is known (a cluster down at start-up), one breaker guards the whole cluster, as
//! for a single server; a slot no known node serves takes that one too.
//! [`breaker_state`](RedisBackend::breaker_state) is the worst of the nodes' states,
//! [`breaker_states`](RedisBackend::breaker_states) each node's.
//!
//! A failed call for a pool the refusal cache has meanwhile learnt is refused (another
//! decision of the same burst came back while this one missed its deadline) is answered by the
//! cache and not counted as a failure: one client's burst does not open the breaker for
//! everyone. The connection reconnects by itself: the service never needs a restart. Costs: a
//! closed breaker is one atomic load per decision, after, on a cluster, a lock-free load of
//! the topology, a CRC16 of the user id and a look-up in the slot table; a failure takes a
//! lock.
//!
//! An outage is logged, never request by request (on a cluster, per node, each line naming the
//! node's `host:port`): one `warn` line when the breaker opens (with the error), at most one `warn` line per
//! [`outage_log_interval`](RedisBackendBuilder::outage_log_interval) (10 s by default) while
//! decisions follow the policy (how many did), and one `info` line when Redis is back (how
//! long the outage lasted, how many decisions it answered). A failure that does not open the
//! breaker is logged at `debug`, and counted in the next interval's line.
//!
//! A decision that timed out was not necessarily lost: Redis may still run it when it gets to
//! it, counting a request the service treated as undecided.
//!
//! # Starting without Redis
//!
//! [`build`](RedisBackendBuilder::build) does not need Redis: it waits for it at most the
//! [connect timeout](RedisBackendBuilder::connect_timeout) (to connect and load the script),
//! and when Redis does not answer, returns the backend all the same, with a warning. Its
//! decisions then fail (the [`OutagePolicy`] answers them, and the breaker opens as for any
//! outage) until Redis comes up; the connection is made then, by the decisions themselves
//! (one server: redis-rs's connection manager, retrying at least once a second; a cluster: an
//! attempt in the background, one at a time, started by a decision that finds no connection),
//! and the script loaded by the first decision that reaches Redis.
//!
//! [`Denial::retry_after`]: crate::backend::Denial::retry_after
//! [`Quota`]: crate::backend::Quota
//! [`DenialCause::Blocked`]: crate::backend::DenialCause::Blocked
//!
//! # Runtime
//!
//! The backend runs on tokio, with its time driver enabled (`#[tokio::main]` enables it).
//!
//! # Tests
//!
//! Redis's clock cannot be paused. The `test-util` feature (for dev-dependencies only) adds a
//! test clock: `RedisBackend::advance_clock_for_tests` moves the backend's clock forward, and
//! `RedisBackendBuilder::frozen_clock_for_tests` stops it between a test's steps, and
//! `RedisBackend::step_clock_back_for_tests` steps it back, as a fail-over could. A backend
//! whose clock was neither moved nor frozen runs the production script, unchanged.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{
    Algorithm, Backend, BackendError, Decision, DecisionFuture, DecisionRequest, GiveBack,
};

mod builder;
mod cache;
mod give_back;
mod health;
mod keys;
mod nodes;
mod script;
#[cfg(feature = "test-util")]
mod test_clock;

pub use builder::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_FAILURE_THRESHOLD, DEFAULT_FAILURE_WINDOW,
    DEFAULT_OUTAGE_LOG_INTERVAL, DEFAULT_PREFIX, DEFAULT_RECHECK_INTERVAL,
    DEFAULT_REFUSAL_CACHE_CAPACITY, DEFAULT_TIMEOUT, RedisBackendBuilder, RedisSetupError,
};
pub use health::{BreakerState, OutagePolicy};

/// A [`Backend`] that keeps its counts in Redis or Redis Cluster; see the
/// [module docs](self).
///
/// Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct RedisBackend {
    inner: Arc<Inner>,
}

/// What every clone of a backend shares.
struct Inner {
    connection: builder::Connection,
    /// The script of `algorithm`, loaded.
    script: script::Script,
    /// Its give-back script (a rule's `count_if`), loaded with it.
    give_back_script: script::Script,
    algorithm: Algorithm,
    prefix: String,
    timeout: Duration,
    outage: OutagePolicy,
    /// The circuit breakers: one for a single server, one per node of a cluster. Their clock
    /// is the refusal cache's too.
    breakers: Arc<nodes::Breakers>,
    /// Pools Redis refused until a time, answered from memory until then.
    cache: cache::RefusalCache,
    #[cfg(feature = "test-util")]
    test_clock: test_clock::TestClock,
}

impl RedisBackend {
    /// The algorithm it counts with.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.inner.algorithm
    }

    /// The prefix of its keys.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The state of its circuit breaker: [`BreakerState::Closed`] while Redis decides,
    /// [`Open`](BreakerState::Open) while decisions follow the [`OutagePolicy`] without calling
    /// Redis, [`HalfOpen`](BreakerState::HalfOpen) while one decision probes Redis. See
    /// [Outages](self#outages).
    ///
    /// On a cluster, whose nodes have a breaker each, the worst of them: `Open` when any node's
    /// breaker is open (its users follow the policy; the others' are still limited by Redis),
    /// else `HalfOpen` when any is, else `Closed`; see [`breaker_states`](Self::breaker_states)
    /// for each node's. Until the cluster's topology is known, its one breaker's.
    #[must_use]
    pub fn breaker_state(&self) -> BreakerState {
        self.inner.breakers.state()
    }

    /// The state of each circuit breaker, with what it guards: one for a single server (its
    /// `host:port`); for a cluster, one per node that serves slots (its `host:port`, in the
    /// order of its first slot), or `("cluster", state)` while the cluster's topology is not
    /// known yet. A small allocation; for monitoring, not for every request.
    #[must_use]
    pub fn breaker_states(&self) -> Vec<(String, BreakerState)> {
        self.inner.breakers.states()
    }
}

impl Backend for RedisBackend {
    fn decide<'a>(&'a self, request: &'a DecisionRequest<'a>) -> DecisionFuture<'a> {
        DecisionFuture::boxed(self.inner.decide(request))
    }

    /// A refusal from the [refusal cache](self#the-refusal-cache), when it knows `request` is
    /// refused: no call to Redis, no boxed future. `None` otherwise ([`decide`](Self::decide)
    /// then asks Redis). An atomic load when the cache is empty; else a few hashes and
    /// lookups under a shard's lock.
    fn decide_now(&self, request: &DecisionRequest<'_>) -> Option<Result<Decision, BackendError>> {
        let inner = &*self.inner;
        if inner.cache.is_empty() || request.limits.is_empty() {
            return None;
        }
        let denial = inner.cache.refused(request, inner.cache_now())?;
        Some(Ok(Decision::Deny(denial)))
    }

    /// One script call in a future of its own (see [`GiveBack`]); nothing while the breaker
    /// is not closed.
    fn give_back(&self, request: &DecisionRequest<'_>, counted_at: u64) -> GiveBack {
        give_back::give_back(&self.inner, request, counted_at)
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}

impl Inner {
    /// Microseconds on the refusal cache's clock: monotonic, since the backend was built (with
    /// the `test-util` feature, the test clock's time when it was frozen or moved, so that
    /// a test moving Redis's clock moves the cache's too).
    pub(super) fn cache_now(&self) -> u64 {
        #[cfg(feature = "test-util")]
        if let Some(now) = self.test_clock.local_now(self.breakers.epoch) {
            return now;
        }
        self.breakers.now()
    }
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("RedisBackend")
            .field("store", &inner.connection.store())
            .field("algorithm", &inner.algorithm)
            .field("prefix", &inner.prefix)
            .field("timeout", &inner.timeout)
            .field("breaker", &inner.breakers.config)
            .field("breaker_state", &inner.breakers.state())
            .field("outage", &inner.outage)
            .finish_non_exhaustive()
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn store_error(message: &'static str) -> BackendError {
    BackendError::Store(message.into())
}

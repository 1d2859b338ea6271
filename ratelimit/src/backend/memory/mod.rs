//! The in-memory backend: counts in this process, sharded, bounded, with a monotonic clock.
//!
//! See [`MemoryBackend`].

mod algorithm;
mod key;
mod table;

use std::fmt;
use std::num::NonZero;
use std::sync::Arc;
use std::time::Duration;

use self::algorithm::{Fixed, Gcra, Sliding, Window};
use self::key::Seed;
use self::table::{Caps, Context, MAX_WINDOWS_PER_USER, Shard};
use super::clock::{Clock, MonotonicClock, nanos};
use super::{
    Algorithm, Backend, BackendError, Decision, DecisionFuture, DecisionRequest, GiveBack, Quota,
};

/// The most shards a backend uses.
const MAX_SHARDS: usize = 256;

/// The default backend: every count in this process's memory.
///
/// It decides at once (its [`DecisionFuture`] is ready, no allocation) and never fails, except
/// on a hand-made [`DecisionRequest`] without limits ([`BackendError::InvalidRequest`]).
/// Clones share their counts: keep one to call [`pool_count`](Self::pool_count) while the
/// middleware uses another. Counts are per process: several instances of a service each
/// count on their own (use the Redis backend to share them).
///
/// ```
/// use std::time::Duration;
/// use ratelimit::{Limit, Unit};
/// use ratelimit::backend::{
///     Algorithm, Backend, Decision, DecisionRequest, DenialCause, ManualClock, MemoryBackend,
///     Pool, Scope,
/// };
/// # fn block_on<F: std::future::Future>(future: F) -> F::Output {
/// #     let mut future = std::pin::pin!(future);
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     loop {
/// #         if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
/// #             return output;
/// #         }
/// #     }
/// # }
///
/// let clock = ManualClock::new();
/// let backend = MemoryBackend::builder()
///     .algorithm(Algorithm::FixedWindow)
///     .max_pools(100_000)
///     .clock(clock.clone())
///     .build();
///
/// let limits = [Limit::new(Unit::Second, 2)];
/// let request = DecisionRequest {
///     pool: Pool { scope: Scope::Path("/towns"), method: None, user: "203.0.113.7" },
///     limits: &limits,
///     block_time: None,
///     cost: 1,
/// };
/// # block_on(async {
/// assert!(matches!(backend.decide(&request).await?, Decision::Allow(_)));
/// assert!(matches!(backend.decide(&request).await?, Decision::Allow(_)));
/// let Decision::Deny(denial) = backend.decide(&request).await? else { unreachable!() };
/// assert_eq!(denial.retry_after, Duration::from_secs(1));
/// assert_eq!(denial.cause, DenialCause::Limit(limits[0]));
///
/// clock.advance(Duration::from_secs(1));
/// assert!(matches!(backend.decide(&request).await?, Decision::Allow(_)));
/// # Ok::<(), ratelimit::backend::BackendError>(())
/// # }).unwrap();
/// ```
///
/// # Semantics
///
/// Those of every backend (see [the module](super)): a rule's limits are checked, then counted,
/// all at once under one lock, so a denied request counts in no window, and N concurrent
/// decisions against a limit of L admit exactly L. [`Denial::retry_after`](super::Denial) is
/// the exact time until the same request would be admitted (the longest wait over the
/// exhausted limits), never zero. [`Quota`](super::Quota) reports the limit with the fewest
/// requests left after the admitted one (the longer reset on a tie).
///
/// A request denied by a rule with a `block_time` blocks its user for that long, on every
/// pool: while blocked, every decision for that user is a denial with
/// [`DenialCause::Blocked`](super::DenialCause::Blocked) that counts nothing, and requests do
/// not extend the block. Its `retry_after` is the rest of the block, or longer when a limit of
/// the rule deciding it would still be exhausted when the block ends; the request that sets a
/// block gets the block time, or longer on the same terms, with the cause of its denial
/// ([`DenialCause::Limit`](super::DenialCause::Limit)).
///
/// The [`Algorithm`] is chosen when the backend is built:
/// - [`FixedWindow`](Algorithm::FixedWindow): a window starts with a pool's first request and
///   lasts the limit's length; a full window waits until its end. Up to twice the count can
///   pass around the end of a window.
/// - [`SlidingWindow`](Algorithm::SlidingWindow): Cloudflare's sliding window counter, with
///   windows aligned to a pool's first request. A request at offset `e` into the current
///   window fits when `current + 1 + previous·(window − e)/window ≤ count`, computed exactly
///   in integers. In any interval of length `d ≤ window` at most `count + ⌈count·d/window⌉`
///   requests pass (no boundary burst); the estimate is cautious when the previous window's
///   requests came early in it (with `count = 1`, the next request is admitted two windows
///   after the first, not one).
/// - [`Gcra`](Algorithm::Gcra): requests spaced by `window / count` with a burst of `count`,
///   exactly (times are scaled by the count, so a third of a second does not drift).
///
/// # Memory
///
/// Counts live in `4 × available parallelism` shards (a power of two, at most 256), each a
/// [`hashbrown`] table behind a [`Mutex`](std::sync::Mutex). An entry is one window of a pool
/// (one per unit its limits use: a rule with `second` and `minute` limits counts in two
/// entries of its pool) or one user's block. A user's windows and block are all in the shard
/// their user id hashes to, so one lock covers a whole decision. Deciding on existing windows
/// allocates nothing: the table is searched with the request's borrowed parts.
///
/// An entry takes 32 bytes (fixed window: two to a cache line, and none across two) or 40
/// (sliding window, GCRA), its key included: the kind of key and the unit in one byte, the
/// pool's scope (zone or path, and method) as the id of one copy per shard shared by every
/// user counted in it (dropped with the last entry that names it; a new scope takes the lowest
/// free id, and the free ids past the last one in use are given back when the table
/// shrinks after a flood of paths), and the user id itself
/// when it has up to 12 bytes, or up to 16 letters, digits, dots and dashes packed six bits
/// a character (every IPv4 address, most user names; a lookup packs the request's id to
/// compare it). Any other user id (a UUID, an e-mail address, an IPv6
/// address of more than 12 characters) has its whole key allocated once, when the window is
/// created, and read on each lookup (one more memory access). Keys keep their parts apart, so
/// no choice of path, zone, method or user can make two pools collide. The entry keeps no
/// expiry time: it is worked out from the window and its unit when the table is swept.
///
/// Keys are chosen by clients, so they are hashed with [`foldhash`] seeded from the operating
/// system's randomness (a fresh seed per backend). Foldhash is fast and resists flooding by
/// keys precomputed offline, not an attacker who can time the server finely enough to learn
/// its seed; [`max_pools`](MemoryBackendBuilder::max_pools) and sharding bound what such an
/// attack could cost.
///
/// A window that is fresh again (or a block that is over) is expired: dropping it changes
/// nothing. Expired entries are dropped as the backend goes, with no thread of its own: each
/// new entry first moves a clock hand over a few buckets of its shard and drops the expired
/// entries there, so a flood of distinct users or paths makes the tables no larger than a few
/// times the number of windows live at once, and tables shrink again once mostly empty.
/// [`evict_expired`](MemoryBackend::evict_expired) drops every expired entry at once, for
/// callers who want the memory back as soon as a flood ends.
///
/// With [`max_pools`](MemoryBackendBuilder::max_pools), the number of pools' windows never
/// exceeds the cap, nor, apart, does the number of blocked users (so at most twice the cap
/// of entries in all). A new window in a shard holding its cap of windows takes the place
/// of an expired entry if the hand finds one nearby; else, when the requesting user holds 16
/// windows or more there, of some of its own, the soonest-expiring (half of them at once, so
/// that a client churning paths through a full shard pays one pass over it for as many
/// insertions); only a user holding fewer takes another user's, the one that expires soonest
/// among the next 8.
/// A window taken early has its count forgotten (its user gets a fresh window), as when
/// nginx's `limit_req` zone is full. A live block is never taken for a window. A shard
/// holding its cap of blocks drops its expired blocks (looked for once one may have ended);
/// if none has, the new block is not kept: its user is denied as any user over the limit
/// (`retry_after` the limit's wait, not the block time). Keeping the oldest blocks is the
/// choice that cannot be turned against them: dropping the soonest-ending block instead
/// would let a client lift its own block by getting other identities blocked. Requests are
/// never refused or let through unchecked for lack of room.
///
/// One user may hold at most
/// [`max_pools_per_user`](MemoryBackendBuilder::max_pools_per_user) windows
/// ([`DEFAULT_MAX_POOLS_PER_USER`](Self::DEFAULT_MAX_POOLS_PER_USER), 1 000, unless set),
/// whether or not there is a cap: a user holding that many that opens one more pool (a
/// client churning distinct paths under a rule without a zone) has a quarter of its budget
/// of windows forgotten, its own that expire soonest, never another user's. Each shard keeps
/// an 8-byte record per user with windows in it, updated only when a window is made or
/// dropped; its own windows are found by one pass over the shard, paid for once per quarter
/// budget of that user's new pools. Forgetting a user's windows early only makes the backend
/// more lenient with that user, never with another.
///
/// The cost of that rule: in a shard holding its cap of windows and no expired one, a user
/// holding 16 windows or more there pays a pass over the shard (`max_pools / shards` entries,
/// under the shard's lock) once per half of its windows. Below 16, a user takes a sampled
/// window, as before: many identities holding a few windows each (a distributed attack) can
/// still push other users' windows out of a full table, never their blocks.
///
/// # Measured
///
/// Heap per pool, tables included, for pools counted under a minute and an hour limit (two
/// entries each; `ratelimit/tests/memory_bounds.rs`, 64-bit Linux, counted with
/// `allocation-counter`; the figure moves with how full the tables are between two
/// doublings):
///
/// | algorithm | 10 000 pools | 100 000 pools | user id of 33 bytes, path of 25 |
/// |---|---|---|---|
/// | fixed window | 123 B | 98 B | 295–318 B (the keys allocated) |
/// | sliding window, GCRA | 149 B | 119 B | 316–344 B |
///
/// (Each figure includes the user's record, 8 bytes and its share of an index: here one
/// user per pool, the worst case.)
///
/// A flood of 300 000 distinct users, 10 000 a second, each making one request under a
/// one-second limit, held at most about 12 100 pools (12 088–12 130 over five runs; about
/// 24 200 with the sliding window, whose pools last two windows) for 10 000 live at once, with a heap peak of 1.4 MB (fixed window),
/// 1.7 MB (GCRA) and 3.4 MB (sliding window); all of it was given back once the windows
/// were over. With `max_pools(10_000)`, 300 000 new users never made the count exceed 10 000,
/// and the pools of users limited for an hour outlived the flood's one-minute pools.
///
/// One client requesting 100 000 distinct paths under a one-minute rule without a zone held
/// at most 1 000 pools (the default budget) at any time, with a heap peak of 247 KB (fixed
/// window) or 293 KB (sliding window, GCRA): under 300 bytes per pool of the budget, path
/// copies included; the windows and blocks of 2 048 other users, in its shard among others,
/// were untouched. Under `max_pools(65_536)` with no per-user budget, a client churning
/// 20 000 paths took only its own windows: all 2 048 other users' stayed counted. Under
/// `max_pools(1)`, a user blocked for an hour stayed blocked through 10 000 other users'
/// requests.
///
/// There is no key prefix: a backend's counts are its own, and two backends never share them.
#[derive(Clone)]
pub struct MemoryBackend<C = MonotonicClock> {
    inner: Arc<Inner<C>>,
}

struct Inner<C> {
    clock: C,
    algorithm: Algorithm,
    max_pools: Option<usize>,
    /// What one shard may hold.
    caps: Caps,
    seed: Seed,
    store: Store,
}

/// The shards, typed by the window state of the algorithm.
enum Store {
    Fixed(Shards<Fixed>),
    Sliding(Shards<Sliding>),
    Gcra(Shards<Gcra>),
}

struct Shards<W: Window> {
    /// A power of two of shards.
    shards: Box<[Shard<W>]>,
}

impl<W: Window> Shards<W> {
    fn new(count: usize) -> Self {
        Self {
            shards: (0..count).map(|_| Shard::new()).collect(),
        }
    }

    fn shard(&self, user_hash: u64) -> &Shard<W> {
        // The top bits: `shards` is a power of two of at most 256, so this is in range.
        let index = usize::try_from(user_hash >> 56).unwrap_or(0) & (self.shards.len() - 1);
        &self.shards[index]
    }

    /// Decides `request`, reading the time from `clock` once the shard is locked (so that,
    /// in the common case, the read overlaps with the table's lookup).
    #[inline]
    fn decide(
        &self,
        clock: impl Fn() -> u64,
        seed: &Seed,
        caps: &Caps,
        request: &DecisionRequest<'_>,
    ) -> Result<Decision, BackendError> {
        let cost = request.cost;
        if request.limits.is_empty() {
            return Err(BackendError::InvalidRequest(
                "a decision request without limits",
            ));
        }
        let hashes = seed.hashes(&request.pool);
        let mut table = self.shard(hashes.user).lock();
        let mut now = None;
        if let [limit] = request.limits
            && cost <= limit.count()
        {
            match table.count_in_place(&clock, &hashes, &request.pool, *limit, cost) {
                Ok((remaining, reset, counted_at)) => {
                    return Ok(Decision::Allow(Quota {
                        limit: *limit,
                        remaining,
                        reset: Duration::from_nanos(reset),
                        counted_at,
                    }));
                }
                Err(read) => now = read,
            }
        }
        if cost == 0 || request.limits.iter().any(|limit| cost > limit.count()) {
            return Err(BackendError::InvalidRequest(
                "a decision request of cost 0 or above a limit's count",
            ));
        }
        let cx = Context {
            now: now.unwrap_or_else(clock),
            cost,
            seed,
            caps,
            hashes: &hashes,
            pool: &request.pool,
            block_time: request.block_time.map_or(0, nanos),
        };
        table
            .decide(&cx, request.limits)
            .map_err(BackendError::InvalidRequest)
    }

    /// Gives back `request`, counted at `counted_at` (see [`Backend::give_back`]).
    fn give_back(&self, now: u64, seed: &Seed, request: &DecisionRequest<'_>, counted_at: u64) {
        let hashes = seed.hashes(&request.pool);
        let mut table = self.shard(hashes.user).lock();
        table.give_back(now, &hashes, &request.pool, request, counted_at);
    }

    fn pool_count(&self, seed: &Seed) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().pools(seed))
            .sum()
    }

    fn evict_expired(&self, now: u64, seed: &Seed) {
        for shard in &self.shards {
            shard.lock().evict_expired(now, seed);
        }
    }
}

impl MemoryBackend {
    /// The default of [`MemoryBackendBuilder::max_pools_per_user`]: far more pools than a
    /// client uses at once through an API's distinct paths (a pool lasts one window), and
    /// at 32–40 bytes a window plus its path's copy, a few hundred kilobytes at most per user.
    pub const DEFAULT_MAX_POOLS_PER_USER: usize = 1_000;

    /// A backend with the defaults: [`Algorithm::FixedWindow`], no cap, the
    /// [`MonotonicClock`].
    #[must_use]
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder, to choose the algorithm, a cap or the clock.
    pub fn builder() -> MemoryBackendBuilder {
        MemoryBackendBuilder {
            algorithm: Algorithm::default(),
            max_pools: None,
            max_pools_per_user: MemoryBackend::DEFAULT_MAX_POOLS_PER_USER,
            clock: MonotonicClock::new(),
        }
    }
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Clock> MemoryBackend<C> {
    /// The algorithm it counts with.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.inner.algorithm
    }

    /// The cap on pools' windows (and, apart, on blocked users), if any.
    #[must_use]
    pub fn max_pools(&self) -> Option<usize> {
        self.inner.max_pools
    }

    /// The most pools' windows one user may hold ([`MemoryBackend::DEFAULT_MAX_POOLS_PER_USER`] unless set).
    #[must_use]
    pub fn max_pools_per_user(&self) -> usize {
        self.inner.caps.per_user
    }

    /// Its clock.
    #[must_use]
    pub fn clock(&self) -> &C {
        &self.inner.clock
    }

    /// The number of pools held, including expired ones not dropped yet (blocked users are
    /// not counted). A pool holds one entry per unit it counts in (two for
    /// `second = 1 minute = 10`): it counts once. Locks each shard in turn and looks every
    /// entry up again: meant for tests and metrics, not every request.
    #[must_use]
    pub fn pool_count(&self) -> usize {
        match &self.inner.store {
            Store::Fixed(shards) => shards.pool_count(&self.inner.seed),
            Store::Sliding(shards) => shards.pool_count(&self.inner.seed),
            Store::Gcra(shards) => shards.pool_count(&self.inner.seed),
        }
    }

    /// Drops every expired window and block now, and shrinks tables left mostly empty.
    ///
    /// Never needed for correctness or to bound memory (the backend evicts as it goes); it
    /// gives memory back at once after a flood, for instance from a periodic task. It walks
    /// every shard, locking one at a time.
    pub fn evict_expired(&self) {
        let now = self.now();
        match &self.inner.store {
            Store::Fixed(shards) => shards.evict_expired(now, &self.inner.seed),
            Store::Sliding(shards) => shards.evict_expired(now, &self.inner.seed),
            Store::Gcra(shards) => shards.evict_expired(now, &self.inner.seed),
        }
    }

    #[inline]
    fn now(&self) -> u64 {
        self.inner.clock.now_nanos()
    }

    #[inline]
    fn decide_in_memory(&self, request: &DecisionRequest<'_>) -> Result<Decision, BackendError> {
        let Inner {
            seed, caps, store, ..
        } = &*self.inner;
        let clock = || self.now();
        match store {
            Store::Fixed(shards) => shards.decide(clock, seed, caps, request),
            Store::Sliding(shards) => shards.decide(clock, seed, caps, request),
            Store::Gcra(shards) => shards.decide(clock, seed, caps, request),
        }
    }
}

impl<C: Clock> Backend for MemoryBackend<C> {
    #[inline]
    fn decide<'a>(&'a self, request: &'a DecisionRequest<'a>) -> DecisionFuture<'a> {
        DecisionFuture::ready(self.decide_in_memory(request))
    }

    #[inline]
    fn decide_now(&self, request: &DecisionRequest<'_>) -> Option<Result<Decision, BackendError>> {
        Some(self.decide_in_memory(request))
    }

    /// Gives the request back at once, under its shard's lock: the cost of a decision.
    fn give_back(&self, request: &DecisionRequest<'_>, counted_at: u64) -> GiveBack {
        let now = self.now();
        let Inner { seed, store, .. } = &*self.inner;
        match store {
            Store::Fixed(shards) => shards.give_back(now, seed, request, counted_at),
            Store::Sliding(shards) => shards.give_back(now, seed, request, counted_at),
            Store::Gcra(shards) => shards.give_back(now, seed, request, counted_at),
        }
        GiveBack::done()
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

impl<C> fmt::Debug for MemoryBackend<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shards = match &self.inner.store {
            Store::Fixed(shards) => shards.shards.len(),
            Store::Sliding(shards) => shards.shards.len(),
            Store::Gcra(shards) => shards.shards.len(),
        };
        f.debug_struct("MemoryBackend")
            .field("algorithm", &self.inner.algorithm)
            .field("max_pools", &self.inner.max_pools)
            .field("max_pools_per_user", &self.inner.caps.per_user)
            .field("shards", &shards)
            .finish_non_exhaustive()
    }
}

/// Builds a [`MemoryBackend`]; from [`MemoryBackend::builder`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct MemoryBackendBuilder<C = MonotonicClock> {
    algorithm: Algorithm,
    max_pools: Option<usize>,
    max_pools_per_user: usize,
    clock: C,
}

impl<C: Clock> MemoryBackendBuilder<C> {
    /// The algorithm to count with ([`Algorithm::FixedWindow`] by default).
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Caps the number of pools' windows held at once (one per pool and unit; at least 1; no
    /// cap by default), and apart from them the number of blocked users, at the same
    /// figure: at most `2 × max_pools` entries in all. A full backend makes room by
    /// forgetting windows, the requesting user's own first, never a live block: see
    /// [Memory](MemoryBackend#memory).
    ///
    /// The cap is split evenly over the shards (and a cap below the default shard count
    /// lowers the shard count), so the total never exceeds it; a single shard can fill
    /// before the others.
    pub fn max_pools(mut self, max_pools: usize) -> Self {
        self.max_pools = Some(max_pools.max(1));
        self
    }

    /// The most pools' windows one user may hold at once ([`MemoryBackend::DEFAULT_MAX_POOLS_PER_USER`]
    /// by default; at least 1, at most 16 777 215, the figure `usize::MAX` sets). Like
    /// [`max_pools`](Self::max_pools), it counts windows: a pool counted under a `second`
    /// and a `minute` limit holds two. A user holding this many that opens another pool has
    /// its own soonest-expiring windows forgotten (a quarter of the budget at once), never
    /// another user's: see [Memory](MemoryBackend#memory).
    ///
    /// It bounds what one client can make the backend hold by requesting distinct paths
    /// under a rule without a zone (each path is a pool). There is no way to turn it off:
    /// counting a user's windows costs only the insertion of a new one.
    pub fn max_pools_per_user(mut self, max_pools_per_user: usize) -> Self {
        self.max_pools_per_user = max_pools_per_user.clamp(1, MAX_WINDOWS_PER_USER);
        self
    }

    /// The clock to read time from ([`MonotonicClock`] by default; [`ManualClock`] in tests).
    ///
    /// [`ManualClock`]: super::ManualClock
    pub fn clock<D: Clock>(self, clock: D) -> MemoryBackendBuilder<D> {
        MemoryBackendBuilder {
            algorithm: self.algorithm,
            max_pools: self.max_pools,
            max_pools_per_user: self.max_pools_per_user,
            clock,
        }
    }

    /// The backend.
    #[must_use]
    pub fn build(self) -> MemoryBackend<C> {
        let parallelism = std::thread::available_parallelism().map_or(1, NonZero::get);
        let mut shards = parallelism
            .saturating_mul(4)
            .checked_next_power_of_two()
            .unwrap_or(MAX_SHARDS)
            .min(MAX_SHARDS);
        let shard_cap = match self.max_pools {
            Some(max_pools) => {
                while shards > max_pools {
                    shards /= 2;
                }
                max_pools / shards
            }
            None => usize::MAX,
        };
        let store = match self.algorithm {
            Algorithm::FixedWindow => Store::Fixed(Shards::new(shards)),
            Algorithm::SlidingWindow => Store::Sliding(Shards::new(shards)),
            Algorithm::Gcra => Store::Gcra(Shards::new(shards)),
        };
        MemoryBackend {
            inner: Arc::new(Inner {
                clock: self.clock,
                algorithm: self.algorithm,
                max_pools: self.max_pools,
                caps: Caps {
                    windows: shard_cap,
                    blocks: shard_cap,
                    per_user: self.max_pools_per_user,
                },
                seed: Seed::random(),
                store,
            }),
        }
    }
}

#[cfg(test)]
mod tests;

//! The refusal cache: once Redis said a pool is refused until a time (a limit exhausted, or
//! the user blocked), this instance answers that pool's requests from memory until then,
//! without calling Redis.
//!
//! It only ever refuses, and only until the time Redis gave, counted from when the refused
//! request was *sent* (before Redis ran it), so an entry never outlives what Redis would
//! have answered; then Redis decides again. Other instances' requests can only push a pool's
//! refusal further, never end it sooner, so the answer holds across instances. A Redis that
//! lost the script (a restart, a fail-over, `SCRIPT FLUSH`) has likely lost its counts: the
//! first decision that meets it empties the cache. What it does not see: counts deleted in
//! Redis by hand, the scripts kept (the cache refuses until its time all the same).
//!
//! Two kinds of entries: a limit of a pool for requests of a cost (the Redis key of that
//! limit's state and its count: a rule with the same window and another count is not refused
//! by it, nor a request of a smaller cost, which may fit where the refused one did not), and
//! a user's
//! block (every limited pool of the user). A rule with a block time is answered from a block
//! only: its refusal by a limit blocks the user again, which only Redis can do. Bounded: at most `capacity` entries, in shards;
//! a full shard drops its expired entries, then the one that expires soonest.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use hashbrown::HashTable;
use ratelimit_core::Limit;

use super::micros;
use crate::backend::{DecisionRequest, Denial, DenialCause, Pool, Scope};

/// The most shards; a small capacity has fewer (at least one entry each).
const SHARDS: usize = 16;

/// Pools and users refused until a time, on the backend's monotonic clock (microseconds).
pub(super) struct RefusalCache {
    shards: Box<[Mutex<HashTable<Entry>>]>,
    per_shard: usize,
    /// Entries in all shards: an empty cache is one atomic load per lookup.
    len: AtomicUsize,
    hasher: foldhash::fast::RandomState,
}

/// What a refusal of a blocked user says beyond the [`Denial`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Blocked {
    /// The rest of the block.
    pub(super) rest: Duration,
    /// The limit of the rule that is exhausted for longest, when it is.
    pub(super) outlasting: Option<Limit>,
}

struct Entry {
    hash: u64,
    key: Key,
    /// Refused while the clock is before this.
    until: u64,
}

/// What is refused: one limit of one pool, or every pool of a user.
#[derive(PartialEq)]
enum Key {
    Block {
        user: Box<str>,
    },
    Limit {
        user: Box<str>,
        zone: bool,
        scope: Box<str>,
        method: Option<Box<str>>,
        limit: Limit,
        /// The cost of the refused request.
        cost: u64,
    },
}

impl Key {
    fn limit(pool: &Pool<'_>, limit: Limit, cost: u64) -> Self {
        let (zone, scope) = match pool.scope {
            Scope::Zone(zone) => (true, zone),
            Scope::Path(path) => (false, path),
        };
        Self::Limit {
            user: pool.user.into(),
            zone,
            scope: scope.into(),
            method: pool.method.map(Into::into),
            limit,
            cost,
        }
    }

    fn is_block(&self, of: &str) -> bool {
        matches!(self, Self::Block { user } if **user == *of)
    }

    /// Whether this entry refuses a request of `cost` on `pool`'s `of` (one of at least the
    /// entry's cost).
    fn is_limit(&self, pool: &Pool<'_>, of: Limit, of_cost: u64) -> bool {
        let Self::Limit {
            user,
            zone,
            scope,
            method,
            limit,
            cost,
        } = self
        else {
            return false;
        };
        let (is_zone, pool_scope) = match pool.scope {
            Scope::Zone(zone) => (true, zone),
            Scope::Path(path) => (false, path),
        };
        *limit == of
            && of_cost >= *cost
            && **user == *pool.user
            && *zone == is_zone
            && **scope == *pool_scope
            && method.as_deref() == pool.method
    }
}

impl RefusalCache {
    /// A cache of at most `capacity` entries; 0 keeps none (every decision asks Redis).
    pub(super) fn new(capacity: usize) -> Self {
        let shards = capacity.clamp(1, SHARDS);
        Self {
            shards: (0..shards).map(|_| Mutex::new(HashTable::new())).collect(),
            per_shard: capacity.div_ceil(shards),
            len: AtomicUsize::new(0),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// Whether it holds nothing (then no lookup is needed).
    pub(super) fn is_empty(&self) -> bool {
        self.len.load(Ordering::Relaxed) == 0
    }

    fn block_hash(&self, user: &str) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write_u8(0);
        user.hash(&mut hasher);
        hasher.finish()
    }

    fn limit_hash(&self, pool: &Pool<'_>, limit: Limit) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write_u8(1);
        pool.hash(&mut hasher);
        limit.hash(&mut hasher);
        hasher.finish()
    }

    fn shard(&self, hash: u64) -> MutexGuard<'_, HashTable<Entry>> {
        // The table uses the low bits; the shard, the high ones.
        let index = usize::try_from(hash >> 48).unwrap_or(0) % self.shards.len();
        crate::lock(&self.shards[index])
    }

    /// Forgets everything.
    pub(super) fn clear(&self) {
        for shard in &*self.shards {
            let mut shard = crate::lock(shard);
            self.len.fetch_sub(shard.len(), Ordering::Relaxed);
            shard.clear();
        }
    }

    /// Until when the entry of `hash` matching `is` refuses, if it does at `now` (an expired
    /// entry found is dropped).
    fn find(&self, hash: u64, is: impl Fn(&Key) -> bool, now: u64) -> Option<u64> {
        let mut shard = self.shard(hash);
        let entry = shard
            .find_entry(hash, |entry| entry.hash == hash && is(&entry.key))
            .ok()?;
        let until = entry.get().until;
        if until > now {
            return Some(until);
        }
        entry.remove();
        self.len.fetch_sub(1, Ordering::Relaxed);
        None
    }

    /// The refusal of `request` at `now`, when the cache knows it is refused: the user
    /// blocked ([`DenialCause::Blocked`]), or a limit of its rule exhausted (the one that
    /// frees up last). The wait is the longest the cache knows of.
    pub(super) fn refused(&self, request: &DecisionRequest<'_>, now: u64) -> Option<Denial> {
        if self.is_empty() {
            return None;
        }
        let pool = &request.pool;
        let blocked = self.find(
            self.block_hash(pool.user),
            |key| key.is_block(pool.user),
            now,
        );
        // A rule with a block time blocks the user again with every refusal by a limit: only
        // Redis can do that, so only a block is answered here.
        if blocked.is_none() && request.block_time.is_some_and(|time| !time.is_zero()) {
            return None;
        }
        let mut exhausted: Option<(u64, Limit)> = None;
        for &limit in request.limits {
            let hash = self.limit_hash(pool, limit);
            if let Some(until) = self.find(hash, |key| key.is_limit(pool, limit, request.cost), now)
                && exhausted.is_none_or(|(longest, _)| until >= longest)
            {
                exhausted = Some((until, limit));
            }
        }
        let (until, cause) = match (blocked, exhausted) {
            (Some(block), limit) => (
                block.max(limit.map_or(0, |(until, _)| until)),
                DenialCause::Blocked,
            ),
            (None, Some((until, limit))) => (until, DenialCause::Limit(limit)),
            (None, None) => return None,
        };
        Some(Denial {
            retry_after: Duration::from_micros(until - now),
            cause,
        })
    }

    /// Forgets what the cache knows of `request`'s pool's limits (a request given back may
    /// leave room before the time Redis gave). The user's block stays: a give-back does not
    /// end it.
    pub(super) fn forget(&self, request: &DecisionRequest<'_>) {
        if self.is_empty() {
            return;
        }
        let pool = &request.pool;
        for &limit in request.limits {
            let hash = self.limit_hash(pool, limit);
            let mut shard = self.shard(hash);
            // Every cost's entry of the limit (any cost is at most `u64::MAX`).
            let of_limit =
                |entry: &Entry| entry.hash == hash && entry.key.is_limit(pool, limit, u64::MAX);
            while let Ok(entry) = shard.find_entry(hash, of_limit) {
                entry.remove();
                self.len.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Notes Redis's refusal of `request`, sent at `sent`: `denial`, and, when the user is
    /// blocked, what Redis said of the block.
    pub(super) fn note(
        &self,
        request: &DecisionRequest<'_>,
        denial: &Denial,
        blocked: Option<Blocked>,
        sent: u64,
    ) {
        if self.per_shard == 0 {
            return;
        }
        let pool = &request.pool;
        let until = |wait: Duration| sent.saturating_add(micros(wait));
        // The block to note, and the limit refused until the denial's time.
        let (block, limit) = match (denial.cause, request.block_time) {
            // The refusal set a block of `block_time` (the script sets it with every refusal
            // by a limit of a rule that has one). While the block lasts, the limit lengthens
            // the wait when it outlasts it (after the block, a refusal by the limit blocks
            // again: Redis answers).
            (DenialCause::Limit(limit), Some(block_time)) if !block_time.is_zero() => (
                Some(block_time),
                (denial.retry_after > block_time).then_some(limit),
            ),
            (DenialCause::Limit(limit), _) => (None, Some(limit)),
            (DenialCause::Blocked, _) => {
                let Some(block) = blocked else {
                    return;
                };
                (
                    Some(block.rest),
                    block.outlasting.filter(|_| denial.retry_after > block.rest),
                )
            }
        };
        if let Some(length) = block {
            self.insert(
                self.block_hash(pool.user),
                || Key::Block {
                    user: pool.user.into(),
                },
                until(length),
                sent,
            );
        }
        if let Some(limit) = limit {
            self.insert(
                self.limit_hash(pool, limit),
                || Key::limit(pool, limit, request.cost),
                until(denial.retry_after),
                sent,
            );
        }
    }

    fn insert(&self, hash: u64, key: impl FnOnce() -> Key, until: u64, now: u64) {
        if until <= now {
            return;
        }
        let mut shard = self.shard(hash);
        let key = key();
        let same = |entry: &Entry| entry.hash == hash && entry.key == key;
        if let Ok(mut entry) = shard.find_entry(hash, same) {
            entry.get_mut().until = until;
            return;
        }
        if shard.len() >= self.per_shard {
            let before = shard.len();
            shard.retain(|entry| entry.until > now);
            self.len.fetch_sub(before - shard.len(), Ordering::Relaxed);
        }
        if shard.len() >= self.per_shard {
            let soonest = shard
                .iter()
                .min_by_key(|entry| entry.until)
                .map(|entry| (entry.hash, entry.until));
            if let Some((soonest_hash, soonest_until)) = soonest
                && let Ok(entry) = shard.find_entry(soonest_hash, |entry| {
                    entry.hash == soonest_hash && entry.until == soonest_until
                })
            {
                entry.remove();
                self.len.fetch_sub(1, Ordering::Relaxed);
            }
        }
        shard.insert_unique(hash, Entry { hash, key, until }, |entry| entry.hash);
        self.len.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use ratelimit_core::Unit;

    use super::*;

    const SECOND: Limit = Limit::new(Unit::Second, 1);
    const MINUTE: Limit = Limit::new(Unit::Minute, 3);
    const S: u64 = 1_000_000;

    fn request<'a>(
        user: &'a str,
        limits: &'a [Limit],
        block_time: Option<Duration>,
    ) -> DecisionRequest<'a> {
        DecisionRequest {
            pool: Pool {
                scope: Scope::Path("/a"),
                method: None,
                user,
            },
            limits,
            block_time,
            cost: 1,
        }
    }

    fn denial(retry_secs: u64, cause: DenialCause) -> Denial {
        Denial {
            retry_after: Duration::from_secs(retry_secs),
            cause,
        }
    }

    #[test]
    fn a_refused_pool_is_refused_until_its_time_and_no_longer() {
        let cache = RefusalCache::new(100);
        let limits = [SECOND, MINUTE];
        let r = request("u", &limits, None);
        assert!(cache.is_empty());
        assert_eq!(cache.refused(&r, 0), None);
        cache.note(&r, &denial(57, DenialCause::Limit(MINUTE)), None, 10 * S);
        let refused = cache.refused(&r, 20 * S).unwrap();
        assert_eq!(refused.cause, DenialCause::Limit(MINUTE));
        assert_eq!(refused.retry_after, Duration::from_secs(47));
        assert_eq!(
            cache.refused(&r, 67 * S - 1).unwrap().retry_after,
            Duration::from_micros(1)
        );
        assert_eq!(cache.refused(&r, 67 * S), None);
        assert!(cache.is_empty(), "the expired entry is dropped");
    }

    #[test]
    fn only_the_same_pool_and_limit_are_refused() {
        let cache = RefusalCache::new(100);
        let limits = [MINUTE];
        let r = request("u", &limits, None);
        cache.note(&r, &denial(60, DenialCause::Limit(MINUTE)), None, 0);
        assert!(cache.refused(&request("v", &limits, None), 1).is_none());
        let mut other = r;
        other.pool.scope = Scope::Zone("/a");
        assert!(cache.refused(&other, 1).is_none(), "a zone is not a path");
        other = r;
        other.pool.method = Some("GET");
        assert!(cache.refused(&other, 1).is_none());
        let more = [Limit::new(Unit::Minute, 4)];
        assert!(
            cache.refused(&request("u", &more, None), 1).is_none(),
            "another count of the same window may have room"
        );
        let with = [SECOND, MINUTE];
        assert!(cache.refused(&request("u", &with, None), 1).is_some());
    }

    #[test]
    fn a_refusal_that_blocks_refuses_every_pool_of_the_user_for_the_block() {
        let cache = RefusalCache::new(100);
        let limits = [SECOND];
        let r = request("u", &limits, Some(Duration::from_secs(60)));
        cache.note(&r, &denial(60, DenialCause::Limit(SECOND)), None, 0);
        let elsewhere = [MINUTE];
        let mut other = request("u", &elsewhere, None);
        other.pool.scope = Scope::Zone("z");
        let refused = cache.refused(&other, 30 * S).unwrap();
        assert_eq!(refused, denial(30, DenialCause::Blocked));
        assert_eq!(cache.refused(&other, 60 * S), None);
        // Its own limit, exhausted for longer than the block, is Redis's to answer then
        // (refusing blocks again).
        cache.note(&r, &denial(90, DenialCause::Limit(SECOND)), None, 60 * S);
        assert!(cache.refused(&r, 70 * S).is_some());
        assert_eq!(cache.refused(&r, 120 * S), None);
        // A blocked reply carries the block's rest.
        cache.note(
            &other,
            &denial(90, DenialCause::Blocked),
            Some(Blocked {
                rest: Duration::from_secs(20),
                outlasting: Some(MINUTE),
            }),
            100 * S,
        );
        assert_eq!(
            cache.refused(&r, 110 * S),
            Some(denial(40, DenialCause::Blocked)),
            "its own limit, refused until 150 s, outlasts the block"
        );
        assert_eq!(
            cache.refused(&other, 110 * S),
            Some(denial(80, DenialCause::Blocked)),
            "the wait of the exhausted limit, while the block lasts"
        );
        assert_eq!(cache.refused(&r, 120 * S), None);
    }

    #[test]
    fn it_holds_at_most_its_capacity_dropping_what_expires_soonest() {
        let cache = RefusalCache::new(16);
        let limits = [MINUTE];
        let users: Vec<String> = (0..1_000).map(|i| format!("user{i}")).collect();
        for (i, user) in users.iter().enumerate() {
            let r = request(user, &limits, None);
            cache.note(
                &r,
                &denial(60 + i as u64, DenialCause::Limit(MINUTE)),
                None,
                0,
            );
            assert!(cache.len.load(Ordering::Relaxed) <= 16);
        }
        let held = users
            .iter()
            .filter(|user| cache.refused(&request(user, &limits, None), 1).is_some())
            .count();
        assert_eq!(held, cache.len.load(Ordering::Relaxed));
        assert!((1..=16).contains(&held), "{held}");
        // The last one, which expires last, is kept.
        assert!(
            cache
                .refused(&request("user999", &limits, None), 1)
                .is_some()
        );
    }

    #[test]
    fn clearing_forgets_every_refusal() {
        let cache = RefusalCache::new(100);
        let limits = [MINUTE];
        let r = request("u", &limits, None);
        cache.note(&r, &denial(60, DenialCause::Limit(MINUTE)), None, 0);
        cache.clear();
        assert!(cache.is_empty());
        assert_eq!(cache.refused(&r, 1), None);
    }

    /// The heap a full cache holds, with the longest paths a pool key has (129 bytes) and
    /// 16-byte user ids: twice its capacity in refusals noted, measured.
    #[test]
    fn a_full_cache_holds_a_bounded_heap() {
        let capacity = 10_000;
        let cache = RefusalCache::new(capacity);
        let path = "/".repeat(129);
        let limits = [MINUTE];
        let users: Vec<String> = (0..2 * capacity).map(|i| format!("user-{i:011}")).collect();
        let info = allocation_counter::measure(|| {
            for (i, user) in users.iter().enumerate() {
                let mut r = request(user, &limits, None);
                r.pool.scope = Scope::Path(&path);
                r.pool.method = Some("GET");
                cache.note(&r, &denial(60, DenialCause::Limit(MINUTE)), None, i as u64);
            }
        });
        assert!(cache.len.load(Ordering::Relaxed) <= capacity);
        let held = usize::try_from(info.bytes_current).unwrap();
        let per_entry = held / capacity;
        println!(
            "{} entries: {} bytes held ({per_entry} an entry), {} at the peak",
            cache.len.load(Ordering::Relaxed),
            info.bytes_current,
            info.bytes_max
        );
        assert!(per_entry <= 400, "{per_entry} bytes an entry");
        assert!(
            usize::try_from(info.bytes_max).unwrap() <= 500 * capacity,
            "{info:?}"
        );
    }

    #[test]
    fn a_capacity_of_zero_keeps_nothing() {
        let cache = RefusalCache::new(0);
        let limits = [MINUTE];
        let r = request("u", &limits, None);
        cache.note(&r, &denial(60, DenialCause::Limit(MINUTE)), None, 0);
        assert!(cache.is_empty());
        assert_eq!(cache.refused(&r, 1), None);
    }
}

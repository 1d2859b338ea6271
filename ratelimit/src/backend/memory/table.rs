//! One shard's table: pools' windows and users' blocks, the decision on them, and amortised
//! eviction.
//!
//! An entry is one window of one pool (a limit's unit: a rule with `second` and `minute`
//! limits counts in two entries of its pool) or one user's block. Entries live in a
//! [`HashTable`] looked up by hash and by comparing borrowed parts with the stored key, so
//! deciding on existing windows allocates nothing. Each entry knows when it becomes as good as
//! fresh (`expires`); from then on it may be dropped, as nothing would change if it were
//! missing.
//!
//! Eviction is amortised, nginx-style, with no sweeper thread: every insertion first moves a
//! clock hand over [`SWEEP_STEP`] buckets of the table, dropping the expired entries it finds.
//! When the hand wraps around and the table is mostly empty, the table shrinks. With a cap,
//! an insertion into a full shard also drops one entry: the first expired one after the hand,
//! or else the one that expires soonest among the next [`EVICTION_SAMPLE`] entries.

use std::hint::cold_path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hashbrown::HashTable;
use ratelimit_core::{Limit, Unit};

use super::algorithm::{Rate, UNITS, Window, unit_index};
use super::key::{Hashes, Key, KeyStore, Seed};
use crate::backend::{Decision, Denial, DenialCause, Pool, Quota};

/// Buckets the clock hand checks per insertion. With `k` per insertion the hand goes round a
/// table of `b` buckets every `b / k` insertions, so expired entries stay below about `b / k`
/// and a table of live size `n` settles at a few times `n`, never growing with dead entries.
const SWEEP_STEP: usize = 8;

/// Entries compared when a full shard must drop a live one.
const EVICTION_SAMPLE: usize = 8;

/// Below this capacity a table is not worth shrinking.
const MIN_SHRINK_CAPACITY: usize = 64;

/// One shard, alone on its cache lines so that locking one does not slow its neighbours.
#[repr(align(128))]
#[derive(Debug)]
pub(super) struct Shard<W: Window> {
    table: Mutex<Table<W>>,
}

impl<W: Window> Shard<W> {
    pub(super) fn new() -> Self {
        Self {
            table: Mutex::new(Table {
                entries: HashTable::new(),
                keys: KeyStore::default(),
                hand: 0,
                blocks: 0,
            }),
        }
    }

    /// The shard's table. Nothing panics while holding the lock, but a poisoned lock would
    /// still hold a consistent table (every update is a plain store), so it is used as is.
    pub(super) fn lock(&self) -> MutexGuard<'_, Table<W>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The pools and blocks of one shard.
#[derive(Debug)]
pub(super) struct Table<W: Window> {
    entries: HashTable<Entry<W>>,
    /// The scopes the entries' keys name, each kept once.
    keys: KeyStore,
    /// The next bucket the sweep looks at.
    hand: usize,
    /// How many entries are blocks (the rest are pools).
    blocks: usize,
}

/// One window of a pool, or a user's block: 32 bytes for the fixed window (half a cache
/// line), 40 for the others.
#[derive(Debug)]
struct Entry<W: Window> {
    _align: W::Align,
    key: Key,
    /// The pool's window, or the block's end ([`Window::block`]).
    window: W,
}

impl<W: Window> Entry<W> {
    fn new(key: Key, window: W) -> Self {
        Self {
            _align: W::Align::default(),
            key,
            window,
        }
    }

    /// From when the entry is as good as missing: its window fresh, or the block over.
    /// Worked out rather than stored, which keeps an entry small: a window's length is its
    /// unit's.
    #[inline]
    fn expires(&self) -> u64 {
        if self.key.is_block() {
            self.window.block_end()
        } else {
            let window = UNIT_WINDOWS.get(self.key.unit()).copied().unwrap_or(0);
            self.window.fresh_at(window)
        }
    }

    /// Counts a request at `now` in `window` (this entry's window brought to `now`, with
    /// room) and keeps it: the window's (remaining, reset).
    #[inline(always)]
    fn count(&mut self, mut window: W, now: u64, rate: Rate) -> (u64, u64) {
        window.count(now, rate);
        self.window = window;
        window.quota(now, rate)
    }
}

/// A new window with a request at `now` counted in it (a fresh window has room: counts are
/// at least 1).
fn first_window<W: Window>(now: u64, rate: Rate) -> W {
    let mut window = W::default().at(now, rate);
    window.count(now, rate);
    window
}

/// The window length of each unit's slot, in nanoseconds.
const UNIT_WINDOWS: [u64; UNITS] = {
    let mut windows = [0; UNITS];
    let mut index = 0;
    while index < UNITS {
        windows[index] = Unit::ALL[index].seconds() * 1_000_000_000;
        index += 1;
    }
    windows
};

/// The smallest count among the limits of `limit`'s unit in `limits` (a unit given twice
/// only comes from a hand-made request: its window is counted once, under the tightest).
#[inline]
fn tightest_of_unit(limit: Limit, limits: &[Limit]) -> Limit {
    limits
        .iter()
        .filter(|other| other.unit() == limit.unit())
        .fold(limit, |tightest, &other| {
            if other.count() < tightest.count() {
                other
            } else {
                tightest
            }
        })
}

impl<W: Window> Table<W> {
    /// The common case, decided without a [`Decision`] in memory: a rule of one limit, whose
    /// window exists and has room, for a user not blocked (and no user of the shard is). The
    /// time is read from `clock` once the window is found (the read then overlaps with
    /// fetching the entry), the request counted, and its (remaining, reset) returned. In every
    /// other case, `Err` with the time if it was read, for [`decide`](Self::decide).
    ///
    /// Inlined, so that the two numbers stay in registers up to where the decision is built
    /// (building it in one place and copying it, field by field, costs a store-forwarding
    /// stall per copy).
    #[inline(always)]
    pub(super) fn count_in_place(
        &mut self,
        clock: impl FnOnce() -> u64,
        hashes: &Hashes<'_>,
        pool: &Pool<'_>,
        limit: Limit,
    ) -> Result<(u64, u64), Option<u64>> {
        // Every other case (a blocked user in the shard, a new window, a refusal) goes to
        // `decide`, out of line, and is laid out off this path. A new window is common when
        // many users come and go, but inserting it costs far more than the jump.
        if self.blocks != 0 {
            cold_path();
            return Err(None);
        }
        let unit = unit_index(limit.unit());
        let keys = &self.keys;
        let Some(entry) = self.entries.find_mut(hashes.window(unit), |entry| {
            entry.key.is_window(pool, unit, keys)
        }) else {
            cold_path();
            return Err(None);
        };
        let now = clock();
        let rate = Rate::of(limit);
        let window = entry.window.at(now, rate);
        if window.wait(now, rate) != 0 {
            cold_path();
            return Err(Some(now));
        }
        Ok(entry.count(window, now, rate))
    }

    /// Decides one request at `now`: see the backend's docs for the semantics. `block_time`
    /// is 0 for none; `cap` is the most entries this shard may hold. `None` only when
    /// `limits` is empty.
    ///
    /// The backend tries [`count_in_place`](Self::count_in_place) first; this is every other
    /// case.
    #[allow(
        clippy::too_many_arguments,
        reason = "one call per request, from one place"
    )]
    #[inline(never)]
    pub(super) fn decide(
        &mut self,
        now: u64,
        seed: &Seed,
        hashes: &Hashes<'_>,
        pool: &Pool<'_>,
        limits: &[Limit],
        block_time: u64,
        cap: usize,
    ) -> Option<Decision> {
        let blocked_until = if self.blocks == 0 {
            None
        } else {
            self.block_until(hashes.block(), pool.user, now)
        };
        match limits {
            [limit] => Some(self.decide_one(
                now,
                seed,
                hashes,
                pool,
                *limit,
                blocked_until,
                block_time,
                cap,
            )),
            limits => self.decide_many(
                now,
                seed,
                hashes,
                pool,
                limits,
                blocked_until,
                block_time,
                cap,
            ),
        }
    }

    /// [`decide`](Self::decide) for a rule of several limits (or none). Each window is looked
    /// up once: where it is, then whether the request fits it, then
    /// (every limit having room) the request is counted in place, and the windows the pool did
    /// not have yet are inserted last (an insertion may move the others).
    #[allow(
        clippy::too_many_arguments,
        reason = "one call per request, from one place"
    )]
    fn decide_many(
        &mut self,
        now: u64,
        seed: &Seed,
        hashes: &Hashes<'_>,
        pool: &Pool<'_>,
        limits: &[Limit],
        blocked_until: Option<u64>,
        block_time: u64,
        cap: usize,
    ) -> Option<Decision> {
        if limits.is_empty() {
            return None;
        }

        // Where each unit's window is, and the longest wait over the exhausted limits (the
        // longer window on ties).
        let mut found: [Option<usize>; UNITS] = [None; UNITS];
        let mut looked_up = 0_u8;
        let mut longest: Option<(u64, Limit)> = None;
        for &limit in limits {
            let unit = unit_index(limit.unit());
            let bit = 1_u8 << unit;
            if looked_up & bit == 0 {
                looked_up |= bit;
                let keys = &self.keys;
                let index = self
                    .entries
                    .find_bucket_index(hashes.window(unit), |entry| {
                        entry.key.is_window(pool, unit, keys)
                    });
                if let Some(slot) = found.get_mut(unit) {
                    *slot = index;
                }
            }
            let rate = Rate::of(limit);
            let window = self
                .stored(&found, unit)
                .map_or_else(W::default, |entry| entry.window)
                .at(now, rate);
            let wait = window.wait(now, rate);
            if wait > 0 && longest.is_none_or(|(longest, _)| wait >= longest) {
                longest = Some((wait, limit));
            }
        }

        if let Some(until) = blocked_until {
            let wait = longest.map_or(0, |(wait, _)| wait);
            let retry_after = until.saturating_sub(now).max(wait);
            return Some(deny(retry_after, DenialCause::Blocked));
        }
        if let Some((wait, limit)) = longest {
            let mut retry_after = wait;
            if block_time > 0 {
                let until = now.saturating_add(block_time);
                self.insert(now, cap, seed, hashes.block(), W::block(until), |_| {
                    Key::block(pool.user)
                });
                retry_after = retry_after.max(block_time);
            }
            return Some(deny(retry_after, DenialCause::Limit(limit)));
        }

        // Every limit has room: count the request in each unit's window, under the unit's
        // tightest limit. The tightest limit overall is the one with the fewest requests
        // left (the longer reset on ties).
        let mut tightest: Option<(u64, u64, Limit)> = None;
        let mut new_windows: [Option<W>; UNITS] = [None; UNITS];
        let mut counted = 0_u8;
        for (index, &limit) in limits.iter().enumerate() {
            let unit = unit_index(limit.unit());
            let bit = 1_u8 << unit;
            if counted & bit != 0 {
                continue;
            }
            counted |= bit;
            let limit = tightest_of_unit(limit, limits.get(index + 1..).unwrap_or_default());
            let rate = Rate::of(limit);
            let (remaining, reset) = match self.stored_mut(&found, unit) {
                Some(entry) => entry.count(entry.window.at(now, rate), now, rate),
                None => {
                    let window = first_window::<W>(now, rate);
                    if let Some(slot) = new_windows.get_mut(unit) {
                        *slot = Some(window);
                    }
                    window.quota(now, rate)
                }
            };
            if tightest.is_none_or(|(least, longest, _)| {
                remaining < least || (remaining == least && reset > longest)
            }) {
                tightest = Some((remaining, reset, limit));
            }
        }
        for (unit, window) in new_windows.into_iter().enumerate() {
            if let Some(window) = window {
                self.insert(now, cap, seed, hashes.window(unit), window, |keys| {
                    keys.window(seed, pool, unit)
                });
            }
        }
        tightest.map(|(remaining, reset, limit)| allow(limit, (remaining, reset)))
    }

    /// [`decide`](Self::decide) for a rule of one limit (most rules): one lookup, and the
    /// request counted in place.
    #[allow(
        clippy::too_many_arguments,
        reason = "one call per request, from one place"
    )]
    fn decide_one(
        &mut self,
        now: u64,
        seed: &Seed,
        hashes: &Hashes<'_>,
        pool: &Pool<'_>,
        limit: Limit,
        blocked_until: Option<u64>,
        block_time: u64,
        cap: usize,
    ) -> Decision {
        let unit = unit_index(limit.unit());
        let rate = Rate::of(limit);
        let hash = hashes.window(unit);
        let keys = &self.keys;
        let wait = match self
            .entries
            .find_mut(hash, |entry| entry.key.is_window(pool, unit, keys))
        {
            Some(entry) => {
                let window = entry.window.at(now, rate);
                let wait = window.wait(now, rate);
                if wait == 0 && blocked_until.is_none() {
                    return allow(limit, entry.count(window, now, rate));
                }
                wait
            }
            None => 0,
        };
        if let Some(until) = blocked_until {
            return deny(until.saturating_sub(now).max(wait), DenialCause::Blocked);
        }
        if wait > 0 {
            let mut retry_after = wait;
            if block_time > 0 {
                let until = now.saturating_add(block_time);
                self.insert(now, cap, seed, hashes.block(), W::block(until), |_| {
                    Key::block(pool.user)
                });
                retry_after = retry_after.max(block_time);
            }
            return deny(retry_after, DenialCause::Limit(limit));
        }
        let window = first_window::<W>(now, rate);
        let quota = window.quota(now, rate);
        self.insert(now, cap, seed, hash, window, |keys| {
            keys.window(seed, pool, unit)
        });
        allow(limit, quota)
    }

    /// The entry of the window found for the unit in slot `unit`, if any.
    #[inline]
    fn stored(&self, found: &[Option<usize>; UNITS], unit: usize) -> Option<&Entry<W>> {
        let index = found.get(unit).copied().flatten()?;
        self.entries.get_bucket(index)
    }

    /// The same, to update.
    #[inline]
    fn stored_mut(&mut self, found: &[Option<usize>; UNITS], unit: usize) -> Option<&mut Entry<W>> {
        let index = found.get(unit).copied().flatten()?;
        self.entries.get_bucket_mut(index)
    }

    /// The number of pools (with a window in this shard), expired ones included.
    ///
    /// A pool counted in several units has one window (entry) per unit: it is counted once,
    /// by its window of the shortest unit. Looks every window up again: for tests and
    /// metrics, not requests.
    pub(super) fn pools(&self, seed: &Seed) -> usize {
        let keys = &self.keys;
        self.entries
            .iter()
            .filter(|entry| !entry.key.is_block())
            .filter(|entry| {
                let hashes = seed.key_hashes(&entry.key, keys);
                !(0..entry.key.unit()).any(|shorter| {
                    self.entries
                        .find(hashes.window(shorter), |other| {
                            entry.key.is_window_of_same_pool(&other.key, shorter, keys)
                        })
                        .is_some()
                })
            })
            .count()
    }

    /// The number of scopes the keys' store holds.
    #[cfg(test)]
    pub(super) fn scopes(&self) -> usize {
        self.keys.scopes()
    }

    /// The number of entries, pools and blocks.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The number of entries the table has room for.
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    /// Drops every expired entry and shrinks the table if it is mostly empty.
    pub(super) fn evict_expired(&mut self, now: u64, seed: &Seed) {
        let Self {
            entries,
            keys,
            blocks,
            ..
        } = self;
        entries.retain(|entry| {
            let keep = entry.expires() > now;
            if !keep {
                if entry.key.is_block() {
                    *blocks = blocks.saturating_sub(1);
                }
                keys.release(&entry.key);
            }
            keep
        });
        self.shrink_if_sparse(seed);
    }

    /// When `user`'s block ends, if they are blocked at `now`; drops an expired block.
    #[inline(never)]
    fn block_until(&mut self, hash: u64, user: &str, now: u64) -> Option<u64> {
        let index = self
            .entries
            .find_bucket_index(hash, |entry| entry.key.is_block_of(user))?;
        let until = self.entries.get_bucket(index)?.expires();
        if until > now {
            Some(until)
        } else {
            self.remove_at(index);
            None
        }
    }

    /// Inserts a new entry (whose key is not in the table) under `hash`, after a sweep step
    /// and, in a full shard, an eviction.
    ///
    /// The entry's key is made by `key` once room is made: a sweep may renumber the store's
    /// scopes (when the table shrinks), and a key made before would keep an old number.
    fn insert(
        &mut self,
        now: u64,
        cap: usize,
        seed: &Seed,
        hash: u64,
        window: W,
        key: impl FnOnce(&mut KeyStore) -> Key,
    ) {
        self.sweep(now, seed);
        while self.entries.len() >= cap {
            if !self.evict_one(now) {
                break;
            }
        }
        let entry = Entry::new(key(&mut self.keys), window);
        if entry.key.is_block() {
            self.blocks = self.blocks.saturating_add(1);
        }
        let keys = &self.keys;
        self.entries
            .insert_unique(hash, entry, |entry| seed.of_key(&entry.key, keys));
    }

    /// Moves the clock hand over [`SWEEP_STEP`] buckets, dropping the expired entries there.
    fn sweep(&mut self, now: u64, seed: &Seed) {
        for _ in 0..SWEEP_STEP {
            if self.hand >= self.entries.num_buckets() {
                self.hand = 0;
                self.shrink_if_sparse(seed);
            }
            if self.entries.num_buckets() == 0 {
                return;
            }
            if self
                .entries
                .get_bucket(self.hand)
                .is_some_and(|entry| entry.expires() <= now)
            {
                self.remove_at(self.hand);
            }
            self.hand = self.hand.saturating_add(1);
        }
    }

    /// Drops one entry to make room: the first expired one from the hand on, or else the one
    /// that expires soonest among the next [`EVICTION_SAMPLE`]. `false` if the table is empty.
    fn evict_one(&mut self, now: u64) -> bool {
        let buckets = self.entries.num_buckets();
        let mut victim: Option<(u64, usize)> = None;
        let mut sampled = 0;
        let mut index = self.hand;
        for _ in 0..buckets {
            if index >= buckets {
                index = 0;
            }
            if let Some(entry) = self.entries.get_bucket(index) {
                let expires = entry.expires();
                if expires <= now {
                    victim = Some((expires, index));
                    break;
                }
                if victim.is_none_or(|(soonest, _)| expires < soonest) {
                    victim = Some((expires, index));
                }
                sampled += 1;
                if sampled == EVICTION_SAMPLE {
                    break;
                }
            }
            index += 1;
        }
        self.hand = index;
        match victim {
            Some((_, index)) => {
                self.remove_at(index);
                true
            }
            None => false,
        }
    }

    fn remove_at(&mut self, index: usize) {
        if let Ok(entry) = self.entries.get_bucket_entry(index) {
            let (entry, _) = entry.remove();
            if entry.key.is_block() {
                self.blocks = self.blocks.saturating_sub(1);
            }
            self.keys.release(&entry.key);
        }
    }

    /// Gives memory back after a flood: shrinks a table less than 1/4 full to twice its size.
    fn shrink_if_sparse(&mut self, seed: &Seed) {
        let capacity = self.entries.capacity();
        let len = self.entries.len();
        if capacity > MIN_SHRINK_CAPACITY && len.saturating_mul(4) < capacity {
            let keys = &self.keys;
            self.entries
                .shrink_to(len.saturating_mul(2), |entry| seed.of_key(&entry.key, keys));
            self.keys
                .compact(self.entries.iter_mut().map(|entry| &mut entry.key));
        }
    }
}

/// An admission under `limit`, with its (remaining, reset) quota.
#[inline]
fn allow(limit: Limit, (remaining, reset): (u64, u64)) -> Decision {
    Decision::Allow(Quota {
        limit,
        remaining,
        reset: Duration::from_nanos(reset),
    })
}

fn deny(retry_after: u64, cause: DenialCause) -> Decision {
    Decision::Deny(Denial {
        retry_after: Duration::from_nanos(retry_after.max(1)),
        cause,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::memory::algorithm::{Fixed, Gcra, Sliding};

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn entries_are_as_small_as_documented() {
        // Keep the figures in the backend's docs in sync.
        assert_eq!(size_of::<Entry<Fixed>>(), 32);
        assert_eq!(align_of::<Entry<Fixed>>(), 32);
        assert_eq!(size_of::<Entry<Sliding>>(), 40);
        assert_eq!(size_of::<Entry<Gcra>>(), 40);
    }
}

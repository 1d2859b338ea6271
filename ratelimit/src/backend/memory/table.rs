//! One shard's table: pools and blocks, the decision on them, and amortised eviction.
//!
//! Entries live in a [`HashTable`] looked up by hash and by comparing borrowed parts with the
//! stored key, so deciding on an existing pool allocates nothing. Each entry knows when it
//! becomes as good as fresh (`expires`); from then on it may be dropped, as nothing would
//! change if it were missing.
//!
//! Eviction is amortised, nginx-style, with no sweeper thread: every insertion first moves a
//! clock hand over [`SWEEP_STEP`] buckets of the table, dropping the expired entries it finds.
//! When the hand wraps around and the table is mostly empty, the table shrinks. With a cap,
//! an insertion into a full shard also drops one entry: the first expired one after the hand,
//! or else the one that expires soonest among the next [`EVICTION_SAMPLE`] entries.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hashbrown::HashTable;
use ratelimit_core::{Limit, Unit};

use super::algorithm::{Rate, UNITS, Window, unit_index};
use super::key::{Hashes, Key};
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
pub(super) struct Shard<W> {
    table: Mutex<Table<W>>,
}

impl<W: Window> Shard<W> {
    pub(super) fn new() -> Self {
        Self {
            table: Mutex::new(Table {
                entries: HashTable::new(),
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
pub(super) struct Table<W> {
    entries: HashTable<Entry<W>>,
    /// The next bucket the sweep looks at.
    hand: usize,
    /// How many entries are blocks (the rest are pools).
    blocks: usize,
}

#[derive(Debug)]
struct Entry<W> {
    /// The hash the entry is stored under (kept to grow the table without rehashing keys).
    hash: u64,
    /// From when the entry is as good as missing: every window fresh, or the block over.
    expires: u64,
    key: Key,
    /// A pool's window states, one per unit (fresh ones for a block).
    windows: [W; UNITS],
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

/// Counts a request in every window of `limits`; the quota of the tightest.
///
/// A unit given twice (only a hand-made request can) has one window state: each of its limits
/// is checked against it, and the request counted once, under the smallest count.
fn count<W: Window>(windows: &mut [W; UNITS], limits: &[Limit], now: u64) -> Option<Quota> {
    let mut quota: Option<Quota> = None;
    let mut counted = 0_u8;
    for &limit in limits {
        let unit = unit_index(limit.unit());
        let Some(window) = windows.get_mut(unit) else {
            continue;
        };
        if counted & (1 << unit) != 0 {
            continue;
        }
        counted |= 1 << unit;
        let limit = limits
            .iter()
            .filter(|other| other.unit() == limit.unit())
            .fold(limit, |tightest, &other| {
                if other.count() < tightest.count() {
                    other
                } else {
                    tightest
                }
            });
        let rate = Rate::of(limit);
        *window = window.at(now, rate);
        window.count(now, rate);
        let (remaining, reset) = window.quota(now, rate);
        let reset = Duration::from_nanos(reset);
        let tighter = quota.is_none_or(|quota| {
            remaining < quota.remaining || (remaining == quota.remaining && reset > quota.reset)
        });
        if tighter {
            quota = Some(Quota {
                limit,
                remaining,
                reset,
            });
        }
    }
    quota
}

/// When every window is fresh again.
fn expires<W: Window>(windows: &[W; UNITS]) -> u64 {
    windows
        .iter()
        .zip(UNIT_WINDOWS)
        .map(|(window, length)| window.fresh_at(length))
        .max()
        .unwrap_or(0)
}

impl<W: Window> Table<W> {
    /// Decides one request at `now`: see the backend's docs for the semantics. `block_time`
    /// is 0 for none; `cap` is the most entries this shard may hold. `None` only when
    /// `limits` is empty.
    pub(super) fn decide(
        &mut self,
        now: u64,
        hashes: &Hashes,
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

        let found = self.entries.find_bucket_index(hashes.pool, |entry| {
            entry.hash == hashes.pool && entry.key.is_pool(pool)
        });
        let stored = found
            .and_then(|index| self.entries.get_bucket(index))
            .map(|entry| &entry.windows);

        // The longest wait over the limits that are exhausted now; the longer window on ties.
        let mut longest: Option<(u64, Limit)> = None;
        for &limit in limits {
            let rate = Rate::of(limit);
            let window = stored
                .and_then(|windows| windows.get(unit_index(limit.unit())).copied())
                .unwrap_or_default()
                .at(now, rate);
            let wait = window.wait(now, rate);
            if wait > 0 && longest.is_none_or(|(longest, _)| wait >= longest) {
                longest = Some((wait, limit));
            }
        }
        let wait = longest.map_or(0, |(wait, _)| wait);

        if let Some(until) = blocked_until {
            let retry_after = until.saturating_sub(now).max(wait);
            return Some(deny(retry_after, DenialCause::Blocked));
        }
        if let Some((wait, limit)) = longest {
            let mut retry_after = wait;
            if block_time > 0 {
                let until = now.saturating_add(block_time);
                self.insert(
                    now,
                    cap,
                    Entry {
                        hash: hashes.block(),
                        expires: until,
                        key: Key::block(pool.user),
                        windows: [W::default(); UNITS],
                    },
                );
                retry_after = retry_after.max(block_time);
            }
            return Some(deny(retry_after, DenialCause::Limit(limit)));
        }

        // Every limit has room: count the request in all of them, in place.
        match found.and_then(|index| self.entries.get_bucket_mut(index)) {
            Some(entry) => {
                let quota = count(&mut entry.windows, limits, now);
                entry.expires = expires(&entry.windows);
                quota
            }
            None => {
                let mut windows = [W::default(); UNITS];
                let quota = count(&mut windows, limits, now);
                let entry = Entry {
                    hash: hashes.pool,
                    expires: expires(&windows),
                    key: Key::pool(pool),
                    windows,
                };
                self.insert(now, cap, entry);
                quota
            }
        }
        .map(Decision::Allow)
    }

    /// The number of pools (entries that are not blocks), expired ones included.
    pub(super) fn pools(&self) -> usize {
        self.entries.len().saturating_sub(self.blocks)
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
    pub(super) fn evict_expired(&mut self, now: u64) {
        let blocks = &mut self.blocks;
        self.entries.retain(|entry| {
            let keep = entry.expires > now;
            if !keep && entry.key.is_block() {
                *blocks = blocks.saturating_sub(1);
            }
            keep
        });
        self.shrink_if_sparse();
    }

    /// When `user`'s block ends, if they are blocked at `now`; drops an expired block.
    fn block_until(&mut self, hash: u64, user: &str, now: u64) -> Option<u64> {
        let index = self.entries.find_bucket_index(hash, |entry| {
            entry.hash == hash && entry.key.is_block_of(user)
        })?;
        let until = self.entries.get_bucket(index)?.expires;
        if until > now {
            Some(until)
        } else {
            self.remove_at(index);
            None
        }
    }

    /// Inserts a new entry (whose key is not in the table), after a sweep step and, in a full
    /// shard, an eviction.
    fn insert(&mut self, now: u64, cap: usize, entry: Entry<W>) {
        self.sweep(now);
        while self.entries.len() >= cap {
            if !self.evict_one(now) {
                break;
            }
        }
        if entry.key.is_block() {
            self.blocks = self.blocks.saturating_add(1);
        }
        self.entries
            .insert_unique(entry.hash, entry, |entry| entry.hash);
    }

    /// Moves the clock hand over [`SWEEP_STEP`] buckets, dropping the expired entries there.
    fn sweep(&mut self, now: u64) {
        for _ in 0..SWEEP_STEP {
            if self.hand >= self.entries.num_buckets() {
                self.hand = 0;
                self.shrink_if_sparse();
            }
            if self.entries.num_buckets() == 0 {
                return;
            }
            if self
                .entries
                .get_bucket(self.hand)
                .is_some_and(|entry| entry.expires <= now)
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
                if entry.expires <= now {
                    victim = Some((entry.expires, index));
                    break;
                }
                if victim.is_none_or(|(expires, _)| entry.expires < expires) {
                    victim = Some((entry.expires, index));
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
        }
    }

    /// Gives memory back after a flood: shrinks a table less than 1/4 full to twice its size.
    fn shrink_if_sparse(&mut self) {
        let capacity = self.entries.capacity();
        let len = self.entries.len();
        if capacity > MIN_SHRINK_CAPACITY && len.saturating_mul(4) < capacity {
            self.entries
                .shrink_to(len.saturating_mul(2), |entry| entry.hash);
        }
    }
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
        assert_eq!(size_of::<Entry<Fixed>>(), 144);
        assert_eq!(size_of::<Entry<Sliding>>(), 184);
        assert_eq!(size_of::<Entry<Gcra>>(), 184);
    }
}

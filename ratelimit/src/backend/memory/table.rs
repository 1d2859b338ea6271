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
//! When the hand wraps around and the table is mostly empty, the table shrinks.
//!
//! Windows and blocks have budgets of their own ([`Caps`]), so that windows never make room
//! by dropping a live block. A window's insertion into a shard holding its cap of windows
//! drops an expired entry if the hand finds one among the next [`EVICTION_SAMPLE`] windows;
//! else, for a user holding at least [`OWN_FIRST`] windows there, half of its own, the
//! soonest-expiring (found by [`trim_user`](Table::trim_user)); only a user holding fewer takes
//! another's, the one that expires soonest among the sample. A block's insertion into a shard holding
//! its cap of blocks drops the expired blocks, and is given up if none is: a live block is
//! never dropped for another.
//!
//! Each shard keeps a record per user with windows in it: how many (an 8-byte record). A
//! user holding [`Caps::per_user`] windows that makes another has its own soonest-expiring
//! windows dropped, a quarter of its budget at once, found by one pass over the shard: an
//! insertion pays for that pass at most once per quarter budget of its user's insertions.

use std::hint::cold_path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hashbrown::HashTable;
use ratelimit_core::{Limit, Unit};

use super::algorithm::{Rate, SLOTS, Window, named_slot};
use super::key::{Hashes, Key, KeyStore, Seed};
use crate::backend::{Decision, DecisionRequest, Denial, DenialCause, Pool, Quota};

/// Buckets the clock hand checks per insertion. With `k` per insertion the hand goes round a
/// table of `b` buckets every `b / k` insertions, so expired entries stay below about `b / k`
/// and a table of live size `n` settles at a few times `n`, never growing with dead entries.
const SWEEP_STEP: usize = 8;

/// Entries compared when a full shard must drop a live one.
const EVICTION_SAMPLE: usize = 8;

/// The fewest windows a user must hold in a full shard for its own to be dropped first (by a
/// pass over the shard) rather than a sampled one: a client churning pools reaches it at
/// once, and a user holding a few does not pay a pass over the shard for each new one.
const OWN_FIRST: usize = 16;

/// Below this capacity a table is not worth shrinking.
const MIN_SHRINK_CAPACITY: usize = 64;

/// The bits of a user's record that count its windows; the others hold its hash.
const COUNT_BITS: u32 = 24;

/// The count bits of a user's record.
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// The most windows a user's record counts, so the largest per-user budget.
#[allow(
    clippy::cast_possible_truncation,
    reason = "2^24 - 1 fits every usize of 32 bits or more"
)]
pub(super) const MAX_WINDOWS_PER_USER: usize = COUNT_MASK as usize;

/// The record of `user_hash`'s user with no window counted: the hash's low 40 bits (the top
/// ones pick the shard, and are alike in one).
const fn record_tag(user_hash: u64) -> u64 {
    user_hash << COUNT_BITS
}

/// Where a record (or a tag) is in its shard's index of users.
const fn record_hash(record: u64) -> u64 {
    (record >> COUNT_BITS).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// What one shard may hold.
#[derive(Clone, Copy, Debug)]
pub(super) struct Caps {
    /// The most windows (`usize::MAX` for no cap).
    pub(super) windows: usize,
    /// The most blocks (`usize::MAX` for no cap).
    pub(super) blocks: usize,
    /// The most windows of one user (1 to [`MAX_WINDOWS_PER_USER`]).
    pub(super) per_user: usize,
}

/// What one decision works with: the time, the request's pool and its hashes, the block time
/// of its rule (0 for none), the cost of the request, and what the shard may hold.
pub(super) struct Context<'a> {
    pub(super) now: u64,
    pub(super) cost: u64,
    pub(super) seed: &'a Seed,
    pub(super) caps: &'a Caps,
    pub(super) hashes: &'a Hashes<'a>,
    pub(super) pool: &'a Pool<'a>,
    pub(super) block_time: u64,
}

/// An entry the sample found to make room for a window.
enum Sampled {
    /// An expired entry (a window or a block): dropping it loses nothing.
    Expired(usize),
    /// The live window that expires soonest among the sample.
    Live(usize),
}

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
                users: HashTable::new(),
                blocks_live_until: 0,
                lengths: NAMED_LENGTHS,
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
    /// Per user with windows in the shard, how many: its hash's low bits above
    /// [`COUNT_BITS`], the count below (see [`record_tag`]). Two users whose hashes share
    /// those 40 bits share a record, and so a budget (the seed is random: an attacker cannot
    /// choose them).
    users: HashTable<u64>,
    /// No block in the table ends before this (0 if unknown): a shard holding its cap of
    /// blocks looks for expired ones again only from then.
    blocks_live_until: u64,
    /// The window length of each slot of the keys, in nanoseconds (0: a free slot): the
    /// named units, then the other lengths in the order the shard met them.
    lengths: [u64; SLOTS],
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
    /// slot's, in `lengths`.
    #[inline]
    fn expires(&self, lengths: &[u64; SLOTS]) -> u64 {
        if self.key.is_block() {
            self.window.block_end()
        } else {
            let window = lengths.get(self.key.unit()).copied().unwrap_or(0);
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

/// The lengths of a new table's slots, in nanoseconds: the named units', the rest free.
const NAMED_LENGTHS: [u64; SLOTS] = {
    let mut lengths = [0; SLOTS];
    let mut index = 0;
    while index < Unit::ALL.len() {
        lengths[index] = Unit::ALL[index].seconds() * 1_000_000_000;
        index += 1;
    }
    lengths
};

use ratelimit_core::MAX_LIMITS;

/// The smallest count among the limits of `limit`'s window in `limits` (a window given twice
/// only comes from a hand-made request: it is counted once, under the tightest).
#[inline]
fn tightest_of_window(limit: Limit, limits: &[Limit]) -> Limit {
    limits
        .iter()
        .filter(|other| other.window_seconds() == limit.window_seconds())
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
        cost: u64,
    ) -> Result<(u64, u64, u64), Option<u64>> {
        // Every other case (a blocked user in the shard, a new window, a refusal, a window
        // of no named unit) goes to `decide`, out of line, and is laid out off this path. A
        // new window is common when many users come and go, but inserting it costs far more
        // than the jump.
        if self.blocks != 0 {
            cold_path();
            return Err(None);
        }
        let Some(slot) = named_slot(limit.window_seconds()) else {
            cold_path();
            return Err(None);
        };
        let keys = &self.keys;
        let Some(entry) = self.entries.find_mut(hashes.window(slot), |entry| {
            entry.key.is_window(pool, slot, keys)
        }) else {
            cold_path();
            return Err(None);
        };
        let now = clock();
        let rate = Rate::of(limit, cost);
        let window = entry.window.at(now, rate);
        if window.wait(now, rate) != 0 {
            cold_path();
            return Err(Some(now));
        }
        let (remaining, reset) = entry.count(window, now, rate);
        Ok((remaining, reset, now))
    }

    /// Gives back a request of `request.cost` counted at `counted_at` to each window of
    /// `request.limits` the pool still has (see [`Window::give_back`]); a window it no longer
    /// has (evicted, or never made) has nothing to give back. Inserts nothing.
    pub(super) fn give_back(
        &mut self,
        now: u64,
        hashes: &Hashes<'_>,
        pool: &Pool<'_>,
        request: &DecisionRequest<'_>,
        counted_at: u64,
    ) {
        let mut given = 0_u32;
        for &limit in request.limits {
            let Some(slot) = self.slot_if_known(limit) else {
                continue;
            };
            let bit = 1_u32 << slot;
            if given & bit != 0 {
                continue;
            }
            given |= bit;
            let keys = &self.keys;
            if let Some(entry) = self.entries.find_mut(hashes.window(slot), |entry| {
                entry.key.is_window(pool, slot, keys)
            }) {
                let rate = Rate::of(limit, request.cost);
                let mut window = entry.window.at(now, rate);
                window.give_back(now, rate, counted_at);
                entry.window = window;
            }
        }
    }

    /// The slot of the window of `limit` in this shard's keys, if it has one.
    fn slot_if_known(&self, limit: Limit) -> Option<usize> {
        named_slot(limit.window_seconds()).or_else(|| {
            let length = limit.window_seconds() * 1_000_000_000;
            self.lengths.iter().position(|&other| other == length)
        })
    }

    /// The slot of the window of `limit` in this shard's keys: a named unit's, or the one
    /// this shard gave its length (given now if the length is new); `None` when every slot
    /// holds another length.
    fn slot(&mut self, limit: Limit) -> Option<usize> {
        if let Some(slot) = self.slot_if_known(limit) {
            return Some(slot);
        }
        let index = self.lengths.iter().position(|&other| other == 0)?;
        if let Some(slot) = self.lengths.get_mut(index) {
            *slot = limit.window_seconds() * 1_000_000_000;
        }
        Some(index)
    }

    /// Decides one request: see the backend's docs for the semantics. `None` only when
    /// `limits` is empty.
    ///
    /// The backend tries [`count_in_place`](Self::count_in_place) first; this is every other
    /// case. Each unit's window is looked up once: where it is, then whether the request fits
    /// it, then (every limit having room) the request is counted in place, and the windows
    /// the pool did not have yet are inserted last (an insertion may move the others).
    #[inline(never)]
    pub(super) fn decide(
        &mut self,
        cx: &Context<'_>,
        limits: &[Limit],
    ) -> Result<Decision, &'static str> {
        if limits.is_empty() || limits.len() > MAX_LIMITS {
            return Err("a decision request takes from 1 to MAX_LIMITS limits");
        }
        let now = cx.now;
        let blocked_until = if self.blocks == 0 {
            None
        } else {
            self.block_until(cx)
        };

        // Each limit's slot, where its window is (looked up once per slot), and the longest
        // wait over the exhausted limits (the longer window on ties).
        let mut slots = [0_usize; MAX_LIMITS];
        let mut found: [Option<usize>; MAX_LIMITS] = [None; MAX_LIMITS];
        let mut longest: Option<(u64, Limit)> = None;
        for (index, &limit) in limits.iter().enumerate() {
            let slot = self
                .slot(limit)
                .ok_or("more window lengths than a shard of the in-memory backend tells apart")?;
            let earlier = slots[..index].iter().position(|&other| other == slot);
            let at = match earlier {
                Some(earlier) => found[earlier],
                None => {
                    let keys = &self.keys;
                    self.entries
                        .find_bucket_index(cx.hashes.window(slot), |entry| {
                            entry.key.is_window(cx.pool, slot, keys)
                        })
                }
            };
            slots[index] = slot;
            found[index] = at;
            let rate = Rate::of(limit, cx.cost);
            let window = at
                .and_then(|at| self.entries.get_bucket(at))
                .map_or_else(W::default, |entry| entry.window)
                .at(now, rate);
            let wait = window.wait(now, rate);
            if wait > 0 && longest.is_none_or(|(longest, _)| wait >= longest) {
                longest = Some((wait, limit));
            }
        }

        if let Some(until) = blocked_until {
            let wait = longest.map_or(0, |(wait, _)| wait);
            return Ok(deny(
                until.saturating_sub(now).max(wait),
                DenialCause::Blocked,
            ));
        }
        if let Some((wait, limit)) = longest {
            // Refused by a limit: a rule with a block time blocks the user, if there is room
            // for the block.
            let blocked = cx.block_time > 0 && self.insert_block(cx);
            let retry_after = if blocked {
                wait.max(cx.block_time)
            } else {
                wait
            };
            return Ok(deny(retry_after, DenialCause::Limit(limit)));
        }

        // Every limit has room: count the request in each window once, under the tightest
        // limit of that window. The tightest limit overall is the one with the fewest units
        // left (the longer reset on ties).
        let mut tightest: Option<(u64, u64, Limit)> = None;
        let mut new_windows: [Option<(usize, W)>; MAX_LIMITS] = [None; MAX_LIMITS];
        for (index, &limit) in limits.iter().enumerate() {
            let slot = slots[index];
            if slots[..index].contains(&slot) {
                continue;
            }
            let limit = tightest_of_window(limit, limits.get(index + 1..).unwrap_or_default());
            let rate = Rate::of(limit, cx.cost);
            let stored = found[index].and_then(|at| self.entries.get_bucket_mut(at));
            let (remaining, reset) = match stored {
                Some(entry) => entry.count(entry.window.at(now, rate), now, rate),
                None => {
                    let window = first_window::<W>(now, rate);
                    new_windows[index] = Some((slot, window));
                    window.quota(now, rate)
                }
            };
            if tightest.is_none_or(|(least, longest, _)| {
                remaining < least || (remaining == least && reset > longest)
            }) {
                tightest = Some((remaining, reset, limit));
            }
        }
        for (slot, window) in new_windows.into_iter().flatten() {
            self.insert_window(cx, slot, window);
        }
        tightest
            .map(|(remaining, reset, limit)| allow(limit, (remaining, reset), now))
            .ok_or("a decision request takes from 1 to MAX_LIMITS limits")
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
            users,
            lengths,
            ..
        } = self;
        entries.retain(|entry| {
            let keep = entry.expires(lengths) > now;
            if !keep {
                if entry.key.is_block() {
                    *blocks = blocks.saturating_sub(1);
                } else {
                    remove_user_window(users, seed.user_hash_of_key(&entry.key, keys));
                }
                keys.release(&entry.key);
            }
            keep
        });
        self.shrink_if_sparse(seed);
    }

    /// When the user's block ends, if they are blocked now; drops an expired block.
    #[inline(never)]
    fn block_until(&mut self, cx: &Context<'_>) -> Option<u64> {
        let index = self.entries.find_bucket_index(cx.hashes.block(), |entry| {
            entry.key.is_block_of(cx.pool.user)
        })?;
        let until = self.entries.get_bucket(index)?.expires(&self.lengths);
        if until > cx.now {
            Some(until)
        } else {
            self.remove_at(index, cx.seed);
            None
        }
    }

    /// The number of windows (entries that are not blocks).
    #[inline]
    fn windows(&self) -> usize {
        self.entries.len().saturating_sub(self.blocks)
    }

    /// How many windows the user of `user_hash` holds in this shard (with any other user
    /// whose hash shares its record).
    fn user_windows(&self, user_hash: u64) -> usize {
        let tag = record_tag(user_hash);
        self.users
            .find(record_hash(tag), |&record| record & !COUNT_MASK == tag)
            .map_or(0, |&record| {
                usize::try_from(record & COUNT_MASK).unwrap_or(0)
            })
    }

    /// Counts one more window of the user of `user_hash` (saturating at
    /// [`MAX_WINDOWS_PER_USER`], which the per-user budget keeps it under).
    fn add_user_window(&mut self, user_hash: u64) {
        let tag = record_tag(user_hash);
        match self
            .users
            .find_mut(record_hash(tag), |&record| record & !COUNT_MASK == tag)
        {
            Some(record) => {
                if *record & COUNT_MASK != COUNT_MASK {
                    *record += 1;
                }
            }
            None => {
                self.users
                    .insert_unique(record_hash(tag), tag | 1, |&record| record_hash(record));
            }
        }
    }

    /// Inserts a new window of the pool (not in the table) for the unit in slot `unit`, after
    /// a sweep step and whatever its user's budget and the shard's cap require.
    fn insert_window(&mut self, cx: &Context<'_>, unit: usize, window: W) {
        self.sweep(cx.now, cx.seed);
        self.make_room_for_window(cx);
        let entry = Entry::new(self.keys.window(cx.seed, cx.pool, unit), window);
        self.add_user_window(cx.hashes.user);
        let keys = &self.keys;
        self.entries
            .insert_unique(cx.hashes.window(unit), entry, |entry| {
                cx.seed.of_key(&entry.key, keys)
            });
    }

    /// Makes room for one more window of the user: under its budget, and under the shard's
    /// cap of windows. Blocks are never dropped here, unless expired.
    fn make_room_for_window(&mut self, cx: &Context<'_>) {
        let per_user = cx.caps.per_user.max(1);
        if self.user_windows(cx.hashes.user) >= per_user {
            // A quarter of the budget at once (at least one), so that the pass over the
            // shard is paid for by as many insertions of this user.
            self.trim_user(cx, per_user - (per_user / 4).max(1));
        }
        while self.windows() >= cx.caps.windows {
            let sampled = self.sample(cx.now);
            if let Some(Sampled::Expired(index)) = sampled {
                self.remove_at(index, cx.seed);
                continue;
            }
            // The requesting user's own windows first: half of them, the soonest-expiring,
            // so that a user filling the shard pays one pass for as many insertions.
            let own = self.user_windows(cx.hashes.user);
            if own >= OWN_FIRST && self.trim_user(cx, own / 2) > 0 {
                continue;
            }
            match sampled {
                Some(Sampled::Live(index)) => self.remove_at(index, cx.seed),
                _ => break,
            }
        }
    }

    /// One pass over the shard: drops the expired entries met and, of the user's live
    /// windows, all but the `keep` that expire last. Returns how many entries it dropped.
    /// Stops once every window the user's record counts was seen.
    fn trim_user(&mut self, cx: &Context<'_>, keep: usize) -> usize {
        let (now, seed, user) = (cx.now, cx.seed, cx.pool.user);
        let mut unseen = self.user_windows(cx.hashes.user);
        let mut own: Vec<(u64, usize)> = Vec::with_capacity(unseen.min(self.entries.len()));
        let mut dropped = 0_usize;
        for index in 0..self.entries.num_buckets() {
            if unseen == 0 {
                break;
            }
            let Some(entry) = self.entries.get_bucket(index) else {
                continue;
            };
            let expires = entry.expires(&self.lengths);
            let is_own = entry.key.is_window_of_user(user);
            if is_own {
                unseen -= 1;
            }
            if expires <= now {
                // Removing leaves the other buckets where they are.
                self.remove_at(index, seed);
                dropped += 1;
            } else if is_own {
                own.push((expires, index));
            }
        }
        let excess = own.len().saturating_sub(keep);
        if excess > 0 {
            own.sort_unstable();
            for &(_, index) in own.iter().take(excess) {
                self.remove_at(index, seed);
            }
        }
        dropped + excess
    }

    /// Blocks the user (not blocked yet) for the request's block time, after a sweep step. A
    /// shard holding its cap of blocks drops the expired ones (looking for them only once
    /// one may have ended); if none is, the block is not kept and `false` is returned: a
    /// live block is never dropped for another.
    fn insert_block(&mut self, cx: &Context<'_>) -> bool {
        let (now, seed) = (cx.now, cx.seed);
        self.sweep(now, seed);
        if self.blocks >= cx.caps.blocks {
            if now >= self.blocks_live_until {
                self.drop_expired_blocks(now, seed);
            }
            if self.blocks >= cx.caps.blocks {
                return false;
            }
        }
        let until = now.saturating_add(cx.block_time);
        self.blocks_live_until = self.blocks_live_until.min(until);
        self.blocks = self.blocks.saturating_add(1);
        let entry = Entry::new(Key::block(cx.pool.user), W::block(until));
        let keys = &self.keys;
        self.entries
            .insert_unique(cx.hashes.block(), entry, |entry| {
                seed.of_key(&entry.key, keys)
            });
        true
    }

    /// One pass over the shard: drops the expired blocks, and notes when the first live one
    /// ends.
    fn drop_expired_blocks(&mut self, now: u64, seed: &Seed) {
        let mut first_end = u64::MAX;
        for index in 0..self.entries.num_buckets() {
            let Some(entry) = self.entries.get_bucket(index) else {
                continue;
            };
            if !entry.key.is_block() {
                continue;
            }
            let end = entry.expires(&self.lengths);
            if end <= now {
                self.remove_at(index, seed);
            } else {
                first_end = first_end.min(end);
            }
        }
        self.blocks_live_until = first_end;
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
                .is_some_and(|entry| entry.expires(&self.lengths) <= now)
            {
                self.remove_at(self.hand, seed);
            }
            self.hand = self.hand.saturating_add(1);
        }
    }

    /// Looks from the hand for an entry to drop for a window: the first expired one, or else
    /// the window that expires soonest among the next [`EVICTION_SAMPLE`] (live blocks are
    /// passed over). `None` if the table has no window.
    fn sample(&mut self, now: u64) -> Option<Sampled> {
        let buckets = self.entries.num_buckets();
        let mut soonest: Option<(u64, usize)> = None;
        let mut sampled = 0;
        let mut index = self.hand;
        for _ in 0..buckets {
            if index >= buckets {
                index = 0;
            }
            if let Some(entry) = self.entries.get_bucket(index) {
                let expires = entry.expires(&self.lengths);
                if expires <= now {
                    self.hand = index;
                    return Some(Sampled::Expired(index));
                }
                if !entry.key.is_block() {
                    if soonest.is_none_or(|(first, _)| expires < first) {
                        soonest = Some((expires, index));
                    }
                    sampled += 1;
                    if sampled == EVICTION_SAMPLE {
                        break;
                    }
                }
            }
            index += 1;
        }
        self.hand = index;
        soonest.map(|(_, index)| Sampled::Live(index))
    }

    /// Drops the entry in bucket `index`, keeping the counts of blocks and of its user's
    /// windows, and the keys' store, in step.
    fn remove_at(&mut self, index: usize, seed: &Seed) {
        if let Ok(entry) = self.entries.get_bucket_entry(index) {
            let (entry, _) = entry.remove();
            if entry.key.is_block() {
                self.blocks = self.blocks.saturating_sub(1);
            } else {
                let user_hash = seed.user_hash_of_key(&entry.key, &self.keys);
                remove_user_window(&mut self.users, user_hash);
            }
            self.keys.release(&entry.key);
        }
    }

    /// Gives memory back after a flood: shrinks a table less than 1/4 full to twice its size.
    fn shrink_if_sparse(&mut self, seed: &Seed) {
        let users = self.users.len();
        if self.users.capacity() > MIN_SHRINK_CAPACITY
            && users.saturating_mul(4) < self.users.capacity()
        {
            self.users
                .shrink_to(users.saturating_mul(2), |&record| record_hash(record));
        }
        let capacity = self.entries.capacity();
        let len = self.entries.len();
        if capacity > MIN_SHRINK_CAPACITY && len.saturating_mul(4) < capacity {
            let keys = &self.keys;
            self.entries
                .shrink_to(len.saturating_mul(2), |entry| seed.of_key(&entry.key, keys));
            self.keys.shrink();
        }
    }
}

/// Counts one window fewer for the user of `user_hash`, dropping its record at none.
fn remove_user_window(users: &mut HashTable<u64>, user_hash: u64) {
    let tag = record_tag(user_hash);
    if let Ok(entry) = users.find_entry(record_hash(tag), |&record| record & !COUNT_MASK == tag) {
        if *entry.get() & COUNT_MASK > 1 {
            *entry.into_mut() -= 1;
        } else {
            entry.remove();
        }
    }
}

/// An admission under `limit`, with its (remaining, reset) quota.
#[inline]
fn allow(limit: Limit, (remaining, reset): (u64, u64), counted_at: u64) -> Decision {
    Decision::Allow(Quota {
        limit,
        remaining,
        reset: Duration::from_nanos(reset),
        counted_at,
    })
}

fn deny(retry_after: u64, cause: DenialCause) -> Decision {
    Decision::Deny(Denial {
        retry_after: Duration::from_nanos(retry_after.max(1)),
        cause,
    })
}

/// What tests look at and check.
#[cfg(test)]
impl<W: Window> Table<W> {
    /// Checks the counts kept in step with the entries: the blocks, and each user's windows.
    pub(super) fn assert_consistent(&self, seed: &Seed) {
        let blocks = self
            .entries
            .iter()
            .filter(|entry| entry.key.is_block())
            .count();
        assert_eq!(blocks, self.blocks, "the count of blocks");
        let mut counted = std::collections::BTreeMap::<u64, u64>::new();
        for entry in self.entries.iter().filter(|entry| !entry.key.is_block()) {
            let tag = record_tag(seed.user_hash_of_key(&entry.key, &self.keys));
            *counted.entry(tag).or_default() += 1;
        }
        let recorded: std::collections::BTreeMap<u64, u64> = self
            .users
            .iter()
            .map(|&record| (record & !COUNT_MASK, record & COUNT_MASK))
            .collect();
        assert_eq!(counted, recorded, "the users' records");
    }

    /// The number of `user`'s windows in the table.
    pub(super) fn windows_of(&self, user: &str) -> usize {
        self.entries
            .iter()
            .filter(|entry| entry.key.is_window_of_user(user))
            .count()
    }

    /// The number of blocks in the table.
    pub(super) fn block_count(&self) -> usize {
        self.blocks
    }
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

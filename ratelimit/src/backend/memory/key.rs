//! Owned keys of the table, 16 bytes each, compared with a request's pool without building
//! a key, and the seeded hashes that find them.
//!
//! An entry is one window of one pool (the pool and a unit), or one user's block. A key holds
//! what it names (zone or path, with a method or not, which unit, or a block) in one byte,
//! compared first; the user id, as it is when it has up to [`RAW`] bytes, or packed six bits
//! a character when it has up to [`PACKED`] letters, digits, dots and dashes (every IPv4
//! address, most user names); and the
//! pool's scope (zone or path, and method) as the id of one copy in the shard's [`KeyStore`],
//! shared by every user counted in it. So two different pools never share a key
//! (`("/a:GET", None, "u")` is not `("/a", "GET", "u")`: a scope's parts are kept apart, and
//! user ids are compared whole), and a lookup compares the request's parts with the key's
//! without allocating, formatting or calling `memcmp` ([`same_bytes`]).
//!
//! Any other key (a user id that fits neither form, or a scope when the shard's store already
//! holds 65 535) is kept whole on the heap: allocated when its window is made, and one more
//! memory access on each lookup.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::Hasher;
use std::num::NonZeroU16;

use foldhash::SharedSeed;
use foldhash::fast::FoldHasher;
use hashbrown::HashTable;
use ratelimit_core::__private::same_bytes;

use crate::backend::{Pool, Scope};

/// What a key names, in one byte: the kind (bits 0–1), whether the pool names a method (bit
/// 2; `None` and `Some("")` are different pools) and the window's slot (bits 3–7, below
/// [`SLOTS`](super::algorithm::SLOTS)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Meta(u8);

/// Kinds of key.
const ZONE: u8 = 0;
const PATH: u8 = 1;
const BLOCK: u8 = 2;
const HAS_METHOD: u8 = 1 << 2;

impl Meta {
    /// The meta byte of a window of `pool` (without its unit) and its scope.
    #[inline]
    fn of<'a>(pool: &Pool<'a>) -> (Self, &'a str) {
        let (kind, scope) = match pool.scope {
            Scope::Zone(zone) => (ZONE, zone),
            Scope::Path(path) => (PATH, path),
        };
        let method = if pool.method.is_some() { HAS_METHOD } else { 0 };
        (Self(kind | method), scope)
    }

    /// With the window in slot `unit` (below `SLOTS`, so five bits hold it).
    #[inline]
    fn with_unit(self, unit: usize) -> Self {
        Self(self.0 | ((u8::try_from(unit).unwrap_or(0b1_1111) & 0b1_1111) << 3))
    }

    const fn is_block(self) -> bool {
        self.0 & 0b11 == BLOCK
    }

    const fn unit(self) -> u8 {
        self.0 >> 3
    }

    /// The byte the hashes take: the kind and the method flag, not the unit (hashed apart).
    const fn hashed(self) -> u8 {
        self.0 & 0b111
    }
}

/// The longest user id a key holds as it is.
const RAW: usize = 12;

/// The longest user id a key holds packed, six bits a character: letters, digits, `.` and
/// `-` (an IPv4 address, a user name, a slug).
const PACKED: usize = RAW * 8 / 6;

/// The six bits of each byte a packed user id may hold; [`NOT_PACKED`] for the others.
#[allow(
    clippy::cast_possible_truncation,
    reason = "indexes below 64, in a `const` where `try_from` is not available"
)]
const SIXBIT: [u8; 256] = {
    let mut table = [NOT_PACKED; 256];
    let mut index = 0;
    while index < ALPHABET.len() {
        table[ALPHABET[index] as usize] = index as u8;
        index += 1;
    }
    table
};

/// The characters of a packed user id, by their six bits.
const ALPHABET: &[u8; 64] = b"0123456789.-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// [`SIXBIT`] of a byte outside [`ALPHABET`].
const NOT_PACKED: u8 = 0xff;

/// A user id as a key holds it in its entry: its length, and its bytes (zero-padded) when it
/// has up to [`RAW`], else packed; `None` for one that fits neither (its key is kept whole).
fn inline(user: &[u8]) -> Option<(u8, [u8; RAW])> {
    let len = u8::try_from(user.len()).ok()?;
    let mut held = [0; RAW];
    match held.get_mut(..user.len()) {
        Some(slot) => slot.copy_from_slice(user),
        None => held = pack(user)?,
    }
    Some((len, held))
}

/// `bytes` packed six bits a character, if they are more than [`RAW`] and at most [`PACKED`]
/// characters of [`ALPHABET`]. The length is kept apart (in the key's form), so every
/// sequence of characters packs differently.
#[inline]
fn pack(bytes: &[u8]) -> Option<[u8; RAW]> {
    if bytes.len() <= RAW || bytes.len() > PACKED {
        return None;
    }
    let mut bits = 0_u128;
    for &byte in bytes {
        let six = SIXBIT[usize::from(byte)];
        if six == NOT_PACKED {
            return None;
        }
        bits = bits << 6 | u128::from(six);
    }
    let mut packed = [0; RAW];
    packed.copy_from_slice(bits.to_le_bytes().get(..RAW)?);
    Some(packed)
}

/// The `len` characters of a packed user id, into `out`.
fn unpack<'a>(packed: &[u8; RAW], len: usize, out: &'a mut [u8; PACKED]) -> &'a [u8] {
    let mut bytes = [0; 16];
    if let Some(low) = bytes.get_mut(..RAW) {
        low.copy_from_slice(packed);
    }
    let bits = u128::from_le_bytes(bytes);
    let len = len.min(PACKED);
    for (index, slot) in out.iter_mut().take(len).enumerate() {
        let six = (bits >> (6 * (len - 1 - index))) & 0x3f;
        *slot = ALPHABET[usize::try_from(six).unwrap_or(0)];
    }
    out.get(..len).unwrap_or_default()
}

/// The owned key of one table entry: a pool's window, or a user's block. 16 bytes.
#[derive(Debug)]
pub(super) struct Key(Repr);

#[derive(Debug)]
enum Repr {
    /// A key kept in its entry.
    Inline {
        meta: Meta,
        /// The user id's length: up to [`RAW`] held as it is, above it packed.
        form: u8,
        /// The id of the pool's scope in the shard's store (any id for a block).
        scope: NonZeroU16,
        /// The user id as it is (zero-padded) or packed.
        user: [u8; RAW],
    },
    /// A key kept whole on the heap: a user id that fits neither form, or a scope when the
    /// shard's store holds as many as an id tells apart.
    Stored(Box<StoredKey>),
}

/// A key kept whole: the scope's, the method's and the user's bytes one after the other.
#[derive(Debug)]
struct StoredKey {
    meta: Meta,
    bytes: Box<[u8]>,
    scope_end: usize,
    method_end: usize,
}

impl StoredKey {
    /// Whether this key's parts are `scope`, `method` and `user`: the user first (it tells
    /// keys apart most often), a word at a time.
    #[inline]
    fn is(&self, scope: &[u8], method: &[u8], user: &[u8]) -> bool {
        let (own_scope, own_method, own_user) = self.parts();
        same_bytes(own_user, user) && same_bytes(own_scope, scope) && same_bytes(own_method, method)
    }

    fn parts(&self) -> (&[u8], &[u8], &[u8]) {
        let (scope, rest) = self.bytes.split_at(self.scope_end.min(self.bytes.len()));
        let method_len = self.method_end.saturating_sub(self.scope_end);
        let (method, user) = rest.split_at(method_len.min(rest.len()));
        (scope, method, user)
    }
}

impl Key {
    /// The key of `user`'s block (no store is involved: a block names no scope).
    pub(super) fn block(user: &str) -> Self {
        let Some((form, held)) = inline(user.as_bytes()) else {
            return stored(Meta(BLOCK), &[], &[], user.as_bytes());
        };
        Self(Repr::Inline {
            meta: Meta(BLOCK),
            form,
            scope: NonZeroU16::MIN,
            user: held,
        })
    }

    #[inline]
    fn meta(&self) -> Meta {
        match &self.0 {
            Repr::Inline { meta, .. } => *meta,
            Repr::Stored(stored) => stored.meta,
        }
    }

    pub(super) fn is_block(&self) -> bool {
        self.meta().is_block()
    }

    /// The unit's slot of a window's key.
    pub(super) fn unit(&self) -> usize {
        usize::from(self.meta().unit())
    }

    /// Whether this is the key of `pool`'s window for the unit in slot `unit`: the meta byte
    /// first, then the user id, then the scope (in the store, hot in the cache).
    #[inline(always)]
    pub(super) fn is_window(&self, pool: &Pool<'_>, unit: usize, store: &KeyStore) -> bool {
        let (meta, scope) = Meta::of(pool);
        let meta = meta.with_unit(unit);
        // A missing method's parts are not read (its length word is not written when the
        // caller builds a `None`: reading it would wait on the caller's stores).
        let method = match pool.method {
            Some(method) => method.as_bytes(),
            None => &[],
        };
        match &self.0 {
            Repr::Inline {
                meta: own,
                form,
                scope: id,
                user,
            } => {
                *own == meta
                    && holds(*form, user, pool.user.as_bytes())
                    && store.scope_is(*id, meta, scope.as_bytes(), method)
            }
            Repr::Stored(stored) => {
                stored.meta == meta && stored.is(scope.as_bytes(), method, pool.user.as_bytes())
            }
        }
    }

    /// Whether this is the key of `user`'s block.
    #[inline]
    pub(super) fn is_block_of(&self, user: &str) -> bool {
        match &self.0 {
            Repr::Inline {
                meta,
                form,
                user: own,
                ..
            } => meta.is_block() && holds(*form, own, user.as_bytes()),
            Repr::Stored(stored) => stored.meta.is_block() && stored.is(&[], &[], user.as_bytes()),
        }
    }

    /// Whether this is the key of one of `user`'s windows (any pool, any unit).
    pub(super) fn is_window_of_user(&self, user: &str) -> bool {
        match &self.0 {
            Repr::Inline {
                meta,
                form,
                user: own,
                ..
            } => !meta.is_block() && holds(*form, own, user.as_bytes()),
            Repr::Stored(stored) => {
                !stored.meta.is_block() && same_bytes(stored.parts().2, user.as_bytes())
            }
        }
    }

    /// Whether `other` is the key of this window's pool for the unit in slot `unit`.
    pub(super) fn is_window_of_same_pool(
        &self,
        other: &Self,
        unit: usize,
        store: &KeyStore,
    ) -> bool {
        if other.meta() != Meta(self.meta().hashed()).with_unit(unit) {
            return false;
        }
        if let (
            Repr::Inline {
                form, scope, user, ..
            },
            Repr::Inline {
                form: other_form,
                scope: other_scope,
                user: other_user,
                ..
            },
        ) = (&self.0, &other.0)
        {
            return form == other_form && user == other_user && scope == other_scope;
        }
        let mut buffer = [0; PACKED];
        let mut other_buffer = [0; PACKED];
        store.parts(self, &mut buffer) == store.parts(other, &mut other_buffer)
    }
}

/// Whether a key's user id, held as `form` in `own`, is `user`: compared as it is, or packed
/// (`user` is packed only then, and only when its length allows).
#[inline(always)]
fn holds(form: u8, own: &[u8; RAW], user: &[u8]) -> bool {
    if usize::from(form) != user.len() {
        return false;
    }
    if user.len() > RAW {
        return pack(user).as_ref() == Some(own);
    }
    same_bytes(own.get(..user.len()).unwrap_or_default(), user)
}

/// A pool's scope (zone or path, and method), kept once per shard for all its keys.
#[derive(Debug, Default)]
struct ScopeSlot {
    /// The kind and the method flag.
    meta: u8,
    /// The scope's bytes, then the method's.
    bytes: Box<[u8]>,
    scope_len: usize,
    /// The keys naming it; 0 for a free slot.
    keys: u32,
    /// Its hash in the store's index.
    hash: u64,
}

impl ScopeSlot {
    #[inline(always)]
    fn is(&self, meta: u8, scope: &[u8], method: &[u8]) -> bool {
        let (own_scope, own_method) = self.bytes.split_at(self.scope_len.min(self.bytes.len()));
        self.meta == meta && same_bytes(own_scope, scope) && same_bytes(own_method, method)
    }
}

/// The scopes a shard's keys count in, each kept once. Every key made by
/// [`window`](Self::window) must be given back with [`release`](Self::release) when its entry
/// is dropped.
#[derive(Debug, Default)]
pub(super) struct KeyStore {
    /// Scope `id` at `id - 1`.
    scopes: Vec<ScopeSlot>,
    /// The ids of the free slots, the lowest taken first.
    free: BinaryHeap<Reverse<NonZeroU16>>,
    /// The ids of the scopes in use, by their hash.
    ids: HashTable<NonZeroU16>,
}

/// The slot of scope `id` in [`KeyStore::scopes`].
fn slot_of(id: NonZeroU16) -> usize {
    usize::from(id.get() - 1)
}

impl KeyStore {
    /// The key of `pool`'s window for the unit in slot `unit`, its scope taken (or added).
    pub(super) fn window(&mut self, seed: &Seed, pool: &Pool<'_>, unit: usize) -> Key {
        let (meta, scope) = Meta::of(pool);
        let (scope, method) = (scope.as_bytes(), pool.method.unwrap_or("").as_bytes());
        let user = pool.user.as_bytes();
        if let Some((form, held)) = inline(user)
            && let Some(id) = self.take_scope(seed, meta.hashed(), scope, method)
        {
            return Key(Repr::Inline {
                meta: meta.with_unit(unit),
                form,
                scope: id,
                user: held,
            });
        }
        stored(meta.with_unit(unit), scope, method, user)
    }

    /// Gives back the scope `key` named (a window kept in its entry).
    pub(super) fn release(&mut self, key: &Key) {
        let Repr::Inline {
            meta, scope: id, ..
        } = &key.0
        else {
            return;
        };
        if meta.is_block() {
            return;
        }
        let Some(slot) = self.scopes.get_mut(slot_of(*id)) else {
            return;
        };
        slot.keys = slot.keys.saturating_sub(1);
        if slot.keys == 0 {
            let hash = slot.hash;
            *slot = ScopeSlot::default();
            if let Ok(entry) = self.ids.find_entry(hash, |other| other == id) {
                entry.remove();
            }
            self.free.push(Reverse(*id));
        }
    }

    /// The id of a scope, with one more key naming it; `None` when the shard holds as many
    /// scopes as an id tells apart.
    fn take_scope(
        &mut self,
        seed: &Seed,
        meta: u8,
        scope: &[u8],
        method: &[u8],
    ) -> Option<NonZeroU16> {
        let hash = seed.scope_hash(meta, scope, method);
        let scopes = &self.scopes;
        if let Some(&id) = self.ids.find(hash, |&id| {
            scopes
                .get(slot_of(id))
                .is_some_and(|slot| slot.is(meta, scope, method))
        }) && let Some(slot) = self.scopes.get_mut(slot_of(id))
        {
            slot.keys = slot.keys.saturating_add(1);
            return Some(id);
        }
        let id = match self.free.pop() {
            Some(Reverse(id)) => id,
            None => {
                let id = NonZeroU16::new(u16::try_from(self.scopes.len() + 1).ok()?)?;
                self.scopes.push(ScopeSlot::default());
                id
            }
        };
        let mut bytes = Vec::with_capacity(scope.len() + method.len());
        bytes.extend_from_slice(scope);
        bytes.extend_from_slice(method);
        let slot = self.scopes.get_mut(slot_of(id))?;
        *slot = ScopeSlot {
            meta,
            bytes: bytes.into_boxed_slice(),
            scope_len: scope.len(),
            keys: 1,
            hash,
        };
        let scopes = &self.scopes;
        self.ids.insert_unique(hash, id, |&id| {
            scopes.get(slot_of(id)).map_or(0, |slot| slot.hash)
        });
        Some(id)
    }

    /// Whether the scope `id` is `meta`'s (kind and method flag) over `scope` and `method`.
    #[inline(always)]
    fn scope_is(&self, id: NonZeroU16, meta: Meta, scope: &[u8], method: &[u8]) -> bool {
        self.scopes
            .get(slot_of(id))
            .is_some_and(|slot| slot.is(meta.hashed(), scope, method))
    }

    /// `key`'s scope, method and user, a packed user id unpacked into `buffer`.
    fn parts<'a>(
        &'a self,
        key: &'a Key,
        buffer: &'a mut [u8; PACKED],
    ) -> (&'a [u8], &'a [u8], &'a [u8]) {
        let (meta, form, id, own) = match &key.0 {
            Repr::Stored(stored) => return stored.parts(),
            Repr::Inline {
                meta,
                form,
                scope,
                user,
            } => (meta, *form, *scope, user),
        };
        let len = usize::from(form);
        let user: &[u8] = if len > RAW {
            unpack(own, len, buffer)
        } else {
            own.get(..len).unwrap_or_default()
        };
        if meta.is_block() {
            return (&[], &[], user);
        }
        let (scope, method) = self
            .scopes
            .get(slot_of(id))
            .map_or((&[][..], &[][..]), |slot| {
                slot.bytes.split_at(slot.scope_len.min(slot.bytes.len()))
            });
        (scope, method, user)
    }

    /// Gives back the memory of the free slots after the last scope in use (ids are never
    /// renumbered: a key keeps its scope's id for as long as it lives). New scopes take the
    /// lowest free id, so after a flood of distinct paths the ids in use gather at the
    /// front, and the store shrinks with the table as the flood's scopes are released.
    pub(super) fn shrink(&mut self) {
        let used = self
            .scopes
            .iter()
            .rposition(|slot| slot.keys > 0)
            .map_or(0, |last| last + 1);
        if used == self.scopes.len() {
            return;
        }
        self.scopes.truncate(used);
        self.scopes.shrink_to_fit();
        self.free.retain(|&Reverse(id)| slot_of(id) < used);
        self.free.shrink_to_fit();
        let scopes = &self.scopes;
        self.ids
            .shrink_to(0, |&id| scopes.get(slot_of(id)).map_or(0, |slot| slot.hash));
    }

    /// The number of scopes in use (for tests).
    #[cfg(test)]
    pub(super) fn scopes(&self) -> usize {
        self.scopes.iter().filter(|slot| slot.keys > 0).count()
    }
}

/// A key kept whole on the heap (allocates it).
fn stored(meta: Meta, scope: &[u8], method: &[u8], user: &[u8]) -> Key {
    let mut bytes = Vec::with_capacity(scope.len() + method.len() + user.len());
    for part in [scope, method, user] {
        bytes.extend_from_slice(part);
    }
    Key(Repr::Stored(Box::new(StoredKey {
        meta,
        bytes: bytes.into_boxed_slice(),
        scope_end: scope.len(),
        method_end: scope.len() + method.len(),
    })))
}

#[derive(Clone)]
pub(super) struct Hashes<'s> {
    /// The user's hash: picks the shard (by its top bits), so a user's windows and block
    /// share one lock.
    pub(super) user: u64,
    /// The pool's kind and method flag.
    meta: u8,
    /// The hasher after the user and the pool's parts: each window's hash adds the kind, the
    /// method flag and its unit.
    pool: FoldHasher<'s>,
}

impl Hashes<'_> {
    /// The hash of the user's block key: the user's hash with its bits moved, so that neither
    /// the bits that pick the shard nor the windows' hashes' bits line up with it.
    pub(super) const fn block(&self) -> u64 {
        self.user.rotate_left(32)
    }

    /// The hash of the pool's window for the unit in slot `unit`.
    #[inline]
    pub(super) fn window(&self, unit: usize) -> u64 {
        let mut hasher = self.pool.clone();
        hasher.write_u8(Meta(self.meta).with_unit(unit).0);
        hasher.finish()
    }
}

/// A randomly seeded hasher for keys chosen by clients (see [`Seed::random`]).
pub(super) struct Seed {
    shared: SharedSeed,
    per_hasher: u64,
}

impl Seed {
    /// A seed from the operating system's randomness, drawn through std's `RandomState` (which
    /// asks the OS for its keys), so the seed cannot be guessed from addresses or time.
    pub(super) fn random() -> Self {
        use std::hash::BuildHasher;
        let random = || std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64);
        Self {
            shared: SharedSeed::from_u64(random()),
            per_hasher: random(),
        }
    }

    /// The hashes of the user, then of the pool's parts, in one pass. The kind and the method
    /// flag are hashed with the unit, by [`Hashes::window`]; a pool without a method hashes
    /// no method at all.
    #[inline(always)]
    fn hash_parts(&self, meta: Meta, scope: &[u8], method: &[u8], user: &[u8]) -> Hashes<'_> {
        let mut hasher = FoldHasher::with_seed(self.per_hasher, &self.shared);
        hasher.write(user);
        let user = hasher.finish();
        hasher.write(scope);
        if meta.0 & HAS_METHOD != 0 {
            hasher.write(method);
        }
        Hashes {
            user,
            meta: meta.hashed(),
            pool: hasher,
        }
    }

    /// The hashes of a decision on `pool`. Inlined: the caller has usually just written
    /// `pool`, and reading it back through a call can stall on store forwarding.
    #[inline(always)]
    pub(super) fn hashes(&self, pool: &Pool<'_>) -> Hashes<'_> {
        let (meta, scope) = Meta::of(pool);
        let method = match pool.method {
            Some(method) => method.as_bytes(),
            None => &[],
        };
        self.hash_parts(meta, scope.as_bytes(), method, pool.user.as_bytes())
    }

    /// The hashes of the decisions on `key`'s pool (or user, for a block).
    pub(super) fn key_hashes(&self, key: &Key, store: &KeyStore) -> Hashes<'_> {
        let mut buffer = [0; PACKED];
        let (scope, method, user) = store.parts(key, &mut buffer);
        self.hash_parts(key.meta(), scope, method, user)
    }

    /// The hash of `key`'s user, as [`Hashes::user`] gave it (the user's record in its
    /// shard is found by it).
    pub(super) fn user_hash_of_key(&self, key: &Key, store: &KeyStore) -> u64 {
        let mut buffer = [0; PACKED];
        let (_, _, user) = store.parts(key, &mut buffer);
        let mut hasher = FoldHasher::with_seed(self.per_hasher, &self.shared);
        hasher.write(user);
        hasher.finish()
    }

    /// The hash an entry with `key` is stored under (to move entries when a table grows or
    /// shrinks: the same as [`Hashes::window`] or [`Hashes::block`] gave when it was made).
    pub(super) fn of_key(&self, key: &Key, store: &KeyStore) -> u64 {
        let meta = key.meta();
        let hashes = self.key_hashes(key, store);
        if meta.is_block() {
            hashes.block()
        } else {
            hashes.window(usize::from(meta.unit()))
        }
    }

    /// The hash of a scope in a [`KeyStore`]'s index: its kind and method flag, its bytes and
    /// its method's.
    fn scope_hash(&self, meta: u8, scope: &[u8], method: &[u8]) -> u64 {
        let mut hasher = FoldHasher::with_seed(self.per_hasher, &self.shared);
        hasher.write_u8(meta);
        hasher.write(scope);
        hasher.write(method);
        hasher.finish()
    }
}

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seed(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool<'a>(scope: Scope<'a>, method: Option<&'a str>, user: &'a str) -> Pool<'a> {
        Pool {
            scope,
            method,
            user,
        }
    }

    /// The length of the user id `key` holds in its entry; `None` for a key kept whole.
    fn form(key: &Key) -> Option<u8> {
        match &key.0 {
            Repr::Inline { form, .. } => Some(*form),
            Repr::Stored(_) => None,
        }
    }

    fn scope(key: &Key) -> Option<NonZeroU16> {
        match &key.0 {
            Repr::Inline { scope, .. } => Some(*scope),
            Repr::Stored(_) => None,
        }
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_key_is_as_small_as_documented() {
        assert_eq!(size_of::<Key>(), 16);
    }

    #[test]
    fn a_key_matches_its_pool_and_unit_only() {
        let seed = Seed::random();
        let ipv4 = "203.113.145.127";
        let long = "u_".repeat(PACKED);
        let cases = [
            pool(Scope::Path("/a:GET"), None, "u"),
            pool(Scope::Path("/a"), Some("GET"), "u"),
            pool(Scope::Path("/a"), Some("GET:u"), ""),
            pool(Scope::Path("/a"), Some(""), "GET:u"),
            pool(Scope::Path("/a"), None, "GET:u"),
            pool(Scope::Path("/aGETu"), None, ""),
            pool(Scope::Path(""), None, "/aGETu"),
            pool(Scope::Zone("/a"), Some("GET"), "u"),
            pool(Scope::Zone("/a:GET"), None, "u"),
            pool(Scope::Path("/a"), None, ipv4),
            pool(Scope::Path("/a"), None, &ipv4[1..]),
            pool(Scope::Zone("/a"), None, ipv4),
            pool(Scope::Path("/a"), None, &long),
            pool(Scope::Path("/a"), None, &long[1..]),
            pool(Scope::Path("/a"), Some("GET"), &long),
        ];
        let mut store = KeyStore::default();
        for (i, a) in cases.iter().enumerate() {
            for unit in [0, 4] {
                let key = store.window(&seed, a, unit);
                assert!(!key.is_block());
                assert_eq!(key.unit(), unit);
                for (j, b) in cases.iter().enumerate() {
                    assert_eq!(
                        key.is_window(b, unit, &store),
                        i == j,
                        "{a:?} against {b:?}"
                    );
                    assert!(!key.is_window(b, 4 - unit, &store), "{a:?} against {b:?}");
                }
                assert!(!key.is_block_of(a.user));
                store.release(&key);
            }
        }
        assert_eq!(store.scopes(), 0, "every scope given back");
    }

    #[test]
    fn user_ids_take_the_smallest_form_that_holds_them() {
        let seed = Seed::random();
        let mut store = KeyStore::default();
        let raw = "a".repeat(RAW);
        let packed = "Z".repeat(PACKED);
        let cases = [
            ("", Some(0)),
            ("alice", Some(5)),
            (raw.as_str(), Some(12)),
            ("10.1.134.160", Some(12)),
            ("203.113.145.127", Some(15)),
            ("user-0000000001", Some(15)),
            (packed.as_str(), Some(16)),
            (&packed[..RAW + 1], Some(13)),
            ("user_0000000001", None),
            ("alice@example.io", None),
            (&"1".repeat(PACKED + 1), None),
            ("2001:db8::1", Some(11)),
            ("2001:db8:85a3::8a2e:370:7334", None),
            ("0f6e4c1a-2b3d-4e5f-8a9b-0c1d2e3f4a5b", None),
            ("éèàùçâêîôûëïü", None),
        ];
        for (user, form) in cases {
            let key = store.window(&seed, &pool(Scope::Path("/a"), None, user), 0);
            assert_eq!(self::form(&key), form, "{user:?}");
            let mut buffer = [0; PACKED];
            let (scope, method, parts_user) = store.parts(&key, &mut buffer);
            assert_eq!(
                (scope, method, parts_user),
                (&b"/a"[..], &b""[..], user.as_bytes())
            );
            store.release(&key);
        }
        assert_eq!(store.scopes(), 0);
    }

    #[test]
    fn packing_is_exact_for_every_length_and_character() {
        let mut out = [0; PACKED];
        for len in RAW + 1..=PACKED {
            // Every character of the alphabet, at every position of every packed length.
            for offset in 0..ALPHABET.len() {
                let user: Vec<u8> = (0..len)
                    .map(|i| ALPHABET[(offset + i * 7) % ALPHABET.len()])
                    .collect();
                let packed = pack(&user).expect("characters of the alphabet");
                assert_eq!(unpack(&packed, len, &mut out), &user[..]);
                let mut other = user.clone();
                other[offset % len] = ALPHABET[(offset + 1) % ALPHABET.len()];
                if other != user {
                    assert_ne!(pack(&other), Some(packed), "{len} {offset}");
                }
            }
        }
        assert_eq!(
            pack(b"123456789012"),
            None,
            "up to RAW bytes are kept as they are"
        );
        assert_eq!(pack(&[b'a'; PACKED + 1]), None);
        for byte in (0..=u8::MAX).filter(|byte| !ALPHABET.contains(byte)) {
            let mut user = [b'a'; RAW + 1];
            user[RAW] = byte;
            assert_eq!(pack(&user), None, "{byte}");
        }
    }

    #[test]
    fn windows_of_a_scope_share_its_copy_until_the_last_is_released() {
        let seed = Seed::random();
        let mut store = KeyStore::default();
        let users: Vec<String> = (0..5).map(|i| format!("user{i}")).collect();
        let keys: Vec<Key> = users
            .iter()
            .map(|user| store.window(&seed, &pool(Scope::Path("/a"), None, user), 0))
            .collect();
        let other = store.window(&seed, &pool(Scope::Path("/b"), None, "u"), 0);
        assert_eq!(store.scopes(), 2);
        assert!(keys.iter().all(|key| scope(key) == scope(&keys[0])));
        assert_ne!(scope(&other), scope(&keys[0]));
        for key in &keys {
            store.release(key);
        }
        assert_eq!(store.scopes(), 1);
        // The freed id serves the next scope, which never matches the old one's keys.
        let next = store.window(&seed, &pool(Scope::Path("/c"), None, "user0"), 0);
        assert_eq!(scope(&next), scope(&keys[0]));
        assert!(next.is_window(&pool(Scope::Path("/c"), None, "user0"), 0, &store));
        assert!(!next.is_window(&pool(Scope::Path("/a"), None, "user0"), 0, &store));
        store.release(&next);
        store.release(&other);
        assert_eq!(store.scopes(), 0);
    }

    #[test]
    fn a_full_scope_table_keeps_keys_whole() {
        let seed = Seed::random();
        let mut store = KeyStore::default();
        let paths: Vec<String> = (0..=usize::from(u16::MAX))
            .map(|i| format!("/{i}"))
            .collect();
        let keys: Vec<Key> = paths
            .iter()
            .map(|path| store.window(&seed, &pool(Scope::Path(path), None, "u"), 0))
            .collect();
        let last = keys.last().expect("keys");
        assert_eq!(form(last), None, "the 65 536th scope");
        assert_eq!(form(&keys[keys.len() - 2]), Some(1));
        for (path, key) in paths.iter().zip(&keys).rev().take(3) {
            assert!(key.is_window(&pool(Scope::Path(path), None, "u"), 0, &store));
            assert!(!key.is_window(&pool(Scope::Path(path), None, "v"), 0, &store));
        }
        assert_eq!(store.scopes(), usize::from(u16::MAX));
        for key in &keys {
            store.release(key);
        }
        assert_eq!(store.scopes(), 0);
    }

    #[test]
    fn a_block_key_matches_its_user_only() {
        let seed = Seed::random();
        let mut store = KeyStore::default();
        let long = "x".repeat(100);
        for user in ["alice", "203.113.145.127", long.as_str()] {
            let key = Key::block(user);
            assert!(key.is_block());
            assert!(key.is_block_of(user));
            assert!(!key.is_block_of(&user[1..]));
            for unit in 0..5 {
                assert!(!key.is_window(&pool(Scope::Path(""), None, user), unit, &store));
                assert!(!key.is_window(&pool(Scope::Zone(""), None, user), unit, &store));
            }
            let window = store.window(&seed, &pool(Scope::Path(""), None, user), 0);
            assert!(!window.is_block_of(user));
            store.release(&window);
            store.release(&key);
        }
        assert_eq!(store.scopes(), 0);
    }

    #[test]
    fn shrinking_gives_back_trailing_free_slots_and_never_renumbers() {
        let seed = Seed::random();
        let mut store = KeyStore::default();
        let paths: Vec<String> = (0..1_000).map(|i| format!("/{i}")).collect();
        let mut keys: Vec<(usize, Key)> = paths
            .iter()
            .enumerate()
            .map(|(i, path)| {
                (
                    i,
                    store.window(&seed, &pool(Scope::Path(path), None, "u"), 0),
                )
            })
            .collect();
        // Most go; one in ten of the first half stays, with a block and a stored key.
        keys.retain(|(i, key)| {
            let keep = i % 10 == 3 && *i < 500;
            if !keep {
                store.release(key);
            }
            keep
        });
        keys.push((usize::MAX, Key::block("u")));
        let long = "x".repeat(40);
        keys.push((
            usize::MAX,
            store.window(&seed, &pool(Scope::Path("/1"), None, &long), 0),
        ));
        let ids: Vec<Option<NonZeroU16>> = keys.iter().map(|(_, key)| scope(key)).collect();
        assert_eq!(store.scopes(), 50);
        store.shrink();
        assert_eq!(
            store.scopes.len(),
            494,
            "the slots after the last in use are gone"
        );
        for ((i, key), id) in keys.iter().zip(&ids) {
            assert_eq!(scope(key), *id, "never renumbered");
            if let Some(path) = paths.get(*i) {
                assert!(
                    key.is_window(&pool(Scope::Path(path), None, "u"), 0, &store),
                    "{path}"
                );
            }
        }
        assert!(keys[keys.len() - 2].1.is_block_of("u"));
        let last = &keys[keys.len() - 1].1;
        assert!(last.is_window(&pool(Scope::Path("/1"), None, &long), 0, &store));
        // A scope in use is shared; a new one takes the lowest free id.
        let again = store.window(&seed, &pool(Scope::Path("/3"), None, "v"), 0);
        assert_eq!(scope(&again), scope(&keys[0].1));
        let new = store.window(&seed, &pool(Scope::Path("/new"), None, "v"), 0);
        assert_eq!(scope(&new).map(NonZeroU16::get), Some(1));
        assert_eq!(store.scopes(), 51);
        for key in keys.iter().map(|(_, key)| key).chain([&again, &new]) {
            store.release(key);
        }
        assert_eq!(store.scopes(), 0);
        store.shrink();
        assert!(store.scopes.is_empty() && store.free.is_empty());
    }

    #[test]
    fn hashes_depend_on_every_part_and_on_the_seed() {
        let seed = Seed::random();
        let hash = |seed: &Seed, pool: Pool<'_>, unit| {
            let hashes = seed.hashes(&pool);
            (hashes.user, hashes.window(unit), hashes.block())
        };
        let a = hash(&seed, pool(Scope::Path("/a"), Some("GET"), "u"), 0);
        assert_eq!(a, hash(&seed, pool(Scope::Path("/a"), Some("GET"), "u"), 0));
        let zone = hash(&seed, pool(Scope::Zone("/a"), Some("GET"), "u"), 0);
        assert_eq!((a.0, a.2), (zone.0, zone.2));
        assert_ne!(a.1, zone.1);
        assert_ne!(a.1, hash(&seed, pool(Scope::Path("/a"), None, "u"), 0).1);
        assert_ne!(
            a.1,
            hash(&seed, pool(Scope::Path("/a"), Some("GET"), "u"), 1).1
        );
        assert_ne!(
            a.0,
            hash(&seed, pool(Scope::Path("/a"), Some("GET"), "v"), 0).0
        );
        assert_ne!(
            a.1,
            hash(
                &Seed::random(),
                pool(Scope::Path("/a"), Some("GET"), "u"),
                0
            )
            .1
        );
    }

    #[test]
    fn a_window_key_names_its_user_and_hashes_as_it() {
        let seed = Seed::random();
        let mut store = KeyStore::default();
        let long = "x".repeat(100);
        for user in ["u", "203.113.145.127", long.as_str()] {
            let key = store.window(&seed, &pool(Scope::Path("/a"), None, user), 1);
            assert!(key.is_window_of_user(user));
            assert!(!key.is_window_of_user(&user[1..]));
            assert!(!key.is_window_of_user("v"));
            assert!(!Key::block(user).is_window_of_user(user));
            let hashes = seed.hashes(&pool(Scope::Zone("z"), Some("GET"), user));
            assert_eq!(seed.user_hash_of_key(&key, &store), hashes.user);
            store.release(&key);
        }
    }

    #[test]
    fn a_key_hashes_as_its_pool_or_block_did() {
        let seed = Seed::random();
        let mut store = KeyStore::default();
        let long = "x".repeat(100);
        for pool in [
            pool(Scope::Path("/a"), Some("GET"), "u"),
            pool(Scope::Zone("z"), None, "u"),
            pool(Scope::Path("/a"), Some(""), ""),
            pool(Scope::Path("/a"), None, "203.113.145.127"),
            pool(Scope::Path(&long), None, &long),
        ] {
            let hashes = seed.hashes(&pool);
            for unit in 0..5 {
                let key = store.window(&seed, &pool, unit);
                assert_eq!(seed.of_key(&key, &store), hashes.window(unit));
                store.release(&key);
            }
            let block = Key::block(pool.user);
            assert_eq!(seed.of_key(&block, &store), hashes.block());
            store.release(&block);
        }
    }
}

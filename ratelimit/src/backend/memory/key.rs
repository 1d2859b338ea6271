//! Owned keys of the table, compared with borrowed [`Pool`]s without building a key, and the
//! seeded hashes that find them.
//!
//! An entry is one window of one pool (the pool and a unit), or one user's block. A key keeps
//! its parts one after the other with their lengths beside it, so two different parts can
//! never read as the same key (`("/a:GET", None, "u")` is not `("/a", "GET", "u")`), and a
//! lookup compares the request's parts with the key's slices: no allocation, no formatting,
//! no escaping, and no `memcmp` ([`same_bytes`]). What the key names (zone or path, with a method or not, which unit, or a
//! block) is one byte, compared first.

use std::hash::Hasher;

use foldhash::SharedSeed;
use foldhash::fast::FoldHasher;
use ratelimit_core::pattern::same_bytes;

use crate::backend::{Pool, Scope};

/// What a key names, in one byte: the kind (bits 0–1), whether the pool names a method (bit
/// 2; `None` and `Some("")` are different pools) and the unit's slot (bits 3–5).
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

    /// With the unit in slot `unit` (below `UNITS`, so three bits hold it).
    #[inline]
    fn with_unit(self, unit: usize) -> Self {
        Self(self.0 | ((u8::try_from(unit).unwrap_or(0b111) & 0b111) << 3))
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

/// The longest key kept inside its table entry rather than in an allocation of its own.
const INLINE: usize = 35;

/// The owned key of one table entry: a pool's window, or a user's block. 40 bytes.
///
/// Short keys (a path and an IP address, usually) live inside the entry, which saves a lookup
/// a cache miss and a new window an allocation; longer ones on the heap.
#[derive(Debug)]
pub(super) struct Key(Repr);

#[derive(Debug)]
enum Repr {
    Inline {
        meta: Meta,
        /// Where the scope ends, where the method ends, and the length.
        scope_end: u8,
        method_end: u8,
        len: u8,
        bytes: [u8; INLINE],
    },
    Heap {
        meta: Meta,
        scope_end: u32,
        method_end: u32,
        bytes: Box<[u8]>,
    },
}

impl Key {
    /// A key of `meta` for the concatenation of `scope`, `method` and `user`.
    fn new(meta: Meta, scope: &[u8], method: &[u8], user: &[u8]) -> Self {
        let scope_end = scope.len();
        let method_end = scope_end.saturating_add(method.len());
        let len = method_end.saturating_add(user.len());
        if len <= INLINE
            && let (Ok(len), Ok(scope_end), Ok(method_end)) = (
                u8::try_from(len),
                u8::try_from(scope_end),
                u8::try_from(method_end),
            )
        {
            let mut bytes = [0; INLINE];
            for (at, part) in [(0, scope), (scope_end, method), (method_end, user)] {
                let at = usize::from(at);
                if let Some(slot) = bytes.get_mut(at..at + part.len()) {
                    slot.copy_from_slice(part);
                }
            }
            return Self(Repr::Inline {
                meta,
                scope_end,
                method_end,
                len,
                bytes,
            });
        }
        let mut bytes = Vec::with_capacity(len);
        for part in [scope, method, user] {
            bytes.extend_from_slice(part);
        }
        // A request part longer than 4 GiB cannot come from HTTP; saturating keeps the key
        // distinct from every real one all the same (its lengths cannot all match).
        let end = |end: usize| u32::try_from(end).unwrap_or(u32::MAX);
        Self(Repr::Heap {
            meta,
            scope_end: end(scope_end),
            method_end: end(method_end),
            bytes: bytes.into_boxed_slice(),
        })
    }

    /// The key of `pool`'s window for the unit in slot `unit`: built when a new window is
    /// inserted (allocating only for a long key).
    pub(super) fn window(pool: &Pool<'_>, unit: usize) -> Self {
        let (meta, scope) = Meta::of(pool);
        let method = pool.method.unwrap_or("");
        Self::new(
            meta.with_unit(unit),
            scope.as_bytes(),
            method.as_bytes(),
            pool.user.as_bytes(),
        )
    }

    /// The key of `user`'s block.
    pub(super) fn block(user: &str) -> Self {
        Self::new(Meta(BLOCK), &[], &[], user.as_bytes())
    }

    #[inline]
    fn meta(&self) -> Meta {
        match &self.0 {
            Repr::Inline { meta, .. } | Repr::Heap { meta, .. } => *meta,
        }
    }

    /// All the bytes, and where the scope and the method end.
    #[inline]
    fn raw(&self) -> (&[u8], usize, usize) {
        match &self.0 {
            Repr::Inline {
                len,
                scope_end,
                method_end,
                bytes,
                ..
            } => (
                bytes.get(..usize::from(*len)).unwrap_or_default(),
                usize::from(*scope_end),
                usize::from(*method_end),
            ),
            Repr::Heap {
                bytes,
                scope_end,
                method_end,
                ..
            } => {
                let end = |end: u32| usize::try_from(end).unwrap_or(usize::MAX);
                (bytes, end(*scope_end), end(*method_end))
            }
        }
    }

    /// The scope, the method and the user.
    #[inline]
    fn parts(&self) -> (&[u8], &[u8], &[u8]) {
        let (bytes, scope_end, method_end) = self.raw();
        let (scope, rest) = bytes.split_at(scope_end.min(bytes.len()));
        let method_len = method_end.saturating_sub(scope_end);
        let (method, user) = rest.split_at(method_len.min(rest.len()));
        (scope, method, user)
    }

    /// Whether the key is `meta` over `scope`, `method` and `user`: the meta byte and the
    /// lengths first (no byte of a part is read unless all agree), then the bytes.
    #[inline(always)]
    fn is(&self, meta: Meta, scope: &[u8], method: &[u8], user: &[u8]) -> bool {
        if self.meta() != meta {
            return false;
        }
        let (bytes, scope_end, method_end) = self.raw();
        if scope.len() != scope_end
            || method.len() != method_end.wrapping_sub(scope_end)
            || user.len() != bytes.len().wrapping_sub(method_end)
        {
            return false;
        }
        let (key_scope, rest) = bytes.split_at(scope_end.min(bytes.len()));
        let (key_method, key_user) = rest.split_at(method.len().min(rest.len()));
        same_bytes(key_scope, scope) && same_bytes(key_method, method) && same_bytes(key_user, user)
    }

    /// Whether this is the key of `pool`'s window for the unit in slot `unit`.
    #[inline(always)]
    pub(super) fn is_window(&self, pool: &Pool<'_>, unit: usize) -> bool {
        let (meta, scope) = Meta::of(pool);
        // A missing method's parts are not read (its length word is not written when the
        // caller builds a `None`: reading it would wait on the caller's stores).
        let method = match pool.method {
            Some(method) => method.as_bytes(),
            None => &[],
        };
        self.is(
            meta.with_unit(unit),
            scope.as_bytes(),
            method,
            pool.user.as_bytes(),
        )
    }

    /// Whether this is the key of `user`'s block.
    #[inline]
    pub(super) fn is_block_of(&self, user: &str) -> bool {
        self.is(Meta(BLOCK), &[], &[], user.as_bytes())
    }

    /// Whether this is the key of a block (rather than a pool's window).
    pub(super) fn is_block(&self) -> bool {
        self.meta().is_block()
    }

    /// The slot of the unit of a pool's window (0 for a block).
    pub(super) fn unit(&self) -> usize {
        usize::from(self.meta().unit())
    }

    /// Whether `other` is the key of this key's pool's window for the unit in slot `unit`.
    pub(super) fn is_window_of_same_pool(&self, other: &Self, unit: usize) -> bool {
        let (scope, method, user) = self.parts();
        other.is(
            Meta(self.meta().hashed()).with_unit(unit),
            scope,
            method,
            user,
        )
    }
}

/// The hashes of one decision: which shard, and where its windows and its user's block are.
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
    pub(super) fn key_hashes(&self, key: &Key) -> Hashes<'_> {
        let (scope, method, user) = key.parts();
        self.hash_parts(key.meta(), scope, method, user)
    }

    /// The hash an entry with `key` is stored under (to move entries when a table grows or
    /// shrinks: the same as [`Hashes::window`] or [`Hashes::block`] gave when it was made).
    pub(super) fn of_key(&self, key: &Key) -> u64 {
        let meta = key.meta();
        let hashes = self.key_hashes(key);
        if meta.is_block() {
            hashes.block()
        } else {
            hashes.window(usize::from(meta.unit()))
        }
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

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_key_is_as_small_as_documented() {
        assert_eq!(size_of::<Key>(), 40);
    }

    #[test]
    fn a_key_matches_its_pool_and_unit_only() {
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
        ];
        for (i, a) in cases.iter().enumerate() {
            for unit in [0, 4] {
                let key = Key::window(a, unit);
                assert!(!key.is_block());
                assert_eq!(key.unit(), unit);
                for (j, b) in cases.iter().enumerate() {
                    assert_eq!(key.is_window(b, unit), i == j, "{a:?} against {b:?}");
                    assert!(!key.is_window(b, 4 - unit), "{a:?} against {b:?}");
                }
                assert!(!key.is_block_of(a.user));
            }
        }
    }

    #[test]
    fn long_keys_live_on_the_heap_and_match_the_same() {
        let long = "u".repeat(INLINE);
        let cases = [
            pool(Scope::Path("/a"), None, &long[..INLINE - 2]),
            pool(Scope::Path("/a"), None, &long[..INLINE - 1]),
            pool(Scope::Path("/a"), Some("GET"), &long),
            pool(Scope::Path(&long), Some("GET"), &long),
        ];
        for (i, a) in cases.iter().enumerate() {
            let key = Key::window(a, 1);
            let inline = matches!(key.0, Repr::Inline { .. });
            assert_eq!(inline, i == 0, "{a:?}");
            for (j, b) in cases.iter().enumerate() {
                assert_eq!(key.is_window(b, 1), i == j, "{a:?} against {b:?}");
            }
        }
        assert!(Key::block(&long).is_block_of(&long));
        assert!(!Key::block(&long).is_block_of(&long[1..]));
    }

    #[test]
    fn a_block_key_matches_its_user_only() {
        let key = Key::block("alice");
        assert!(key.is_block());
        assert!(key.is_block_of("alice"));
        assert!(!key.is_block_of("alic"));
        for unit in 0..5 {
            assert!(!key.is_window(&pool(Scope::Path(""), None, "alice"), unit));
            assert!(!key.is_window(&pool(Scope::Zone(""), None, "alice"), unit));
        }
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
    fn a_key_hashes_as_its_pool_or_block_did() {
        let seed = Seed::random();
        let long = "x".repeat(100);
        for pool in [
            pool(Scope::Path("/a"), Some("GET"), "u"),
            pool(Scope::Zone("z"), None, "u"),
            pool(Scope::Path("/a"), Some(""), ""),
            pool(Scope::Path(&long), None, &long),
        ] {
            let hashes = seed.hashes(&pool);
            for unit in 0..5 {
                assert_eq!(seed.of_key(&Key::window(&pool, unit)), hashes.window(unit));
            }
            assert_eq!(seed.of_key(&Key::block(pool.user)), hashes.block());
        }
    }
}

//! Owned keys of the table, compared with borrowed [`Pool`]s without building a key.
//!
//! A key keeps its parts one after the other with their lengths beside it, so two different
//! parts can never read as the same key (`("/a:GET", None, "u")` is not `("/a", "GET", "u")`),
//! and a lookup compares the request's parts with the key's slices: no allocation, no
//! formatting, no escaping.

use std::hash::{Hash, Hasher};

use foldhash::SharedSeed;
use foldhash::fast::FoldHasher;

use crate::backend::{Pool, Scope};

/// What a key names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A pool counted under a zone.
    Zone,
    /// A pool counted under a request path.
    Path,
    /// A user's block, across every pool.
    Block,
}

impl Kind {
    const fn of<'a>(scope: Scope<'a>) -> (Self, &'a str) {
        match scope {
            Scope::Zone(zone) => (Self::Zone, zone),
            Scope::Path(path) => (Self::Path, path),
        }
    }

    const fn tag(self) -> u8 {
        match self {
            Self::Zone => 0,
            Self::Path => 1,
            Self::Block => 2,
        }
    }
}

/// The owned key of one table entry: a pool, or a user's block.
#[derive(Debug)]
pub(super) struct Key {
    /// The scope, the method and the user, one after the other (only the user for a block).
    bytes: Bytes,
    /// Whether the pool names a method (`None` and `Some("")` are different pools).
    has_method: bool,
    kind: Kind,
}

/// The longest key kept inside its table entry rather than in an allocation of its own.
const INLINE: usize = 36;

/// A key's bytes and where its parts end: short ones (a path and an IP address, usually)
/// inside the entry, which saves a lookup a cache miss and a new pool an allocation; longer
/// ones on the heap.
#[derive(Debug)]
enum Bytes {
    Inline {
        len: u8,
        scope_end: u8,
        method_end: u8,
        bytes: [u8; INLINE],
    },
    Heap {
        bytes: Box<[u8]>,
        scope_end: usize,
        method_end: usize,
    },
}

impl Bytes {
    /// The concatenation of `scope`, `method` and `user`.
    fn new(scope: &[u8], method: &[u8], user: &[u8]) -> Self {
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
            return Self::Inline {
                len,
                scope_end,
                method_end,
                bytes,
            };
        }
        let mut bytes = Vec::with_capacity(len);
        for part in [scope, method, user] {
            bytes.extend_from_slice(part);
        }
        Self::Heap {
            bytes: bytes.into_boxed_slice(),
            scope_end,
            method_end,
        }
    }

    /// The scope, the method and the user.
    fn parts(&self) -> [&[u8]; 3] {
        let (bytes, scope_end, method_end): (&[u8], usize, usize) = match self {
            Self::Inline {
                len,
                scope_end,
                method_end,
                bytes,
            } => (
                bytes.get(..usize::from(*len)).unwrap_or_default(),
                usize::from(*scope_end),
                usize::from(*method_end),
            ),
            Self::Heap {
                bytes,
                scope_end,
                method_end,
            } => (bytes, *scope_end, *method_end),
        };
        let part = |range: std::ops::Range<usize>| bytes.get(range).unwrap_or_default();
        [
            part(0..scope_end),
            part(scope_end..method_end),
            part(method_end..bytes.len()),
        ]
    }
}

impl Key {
    /// The key of `pool`: built when a new pool is inserted (allocating only for a long key).
    pub(super) fn pool(pool: &Pool<'_>) -> Self {
        let (kind, scope) = Kind::of(pool.scope);
        let method = pool.method.unwrap_or("");
        Self {
            bytes: Bytes::new(scope.as_bytes(), method.as_bytes(), pool.user.as_bytes()),
            has_method: pool.method.is_some(),
            kind,
        }
    }

    /// The key of `user`'s block.
    pub(super) fn block(user: &str) -> Self {
        Self {
            bytes: Bytes::new(&[], &[], user.as_bytes()),
            has_method: false,
            kind: Kind::Block,
        }
    }

    /// Whether this is the key of `pool`.
    pub(super) fn is_pool(&self, pool: &Pool<'_>) -> bool {
        let (kind, scope) = Kind::of(pool.scope);
        let [key_scope, key_method, key_user] = self.bytes.parts();
        self.kind == kind
            && self.has_method == pool.method.is_some()
            && short_eq(key_scope, scope.as_bytes())
            && short_eq(key_method, pool.method.unwrap_or("").as_bytes())
            && short_eq(key_user, pool.user.as_bytes())
    }

    /// Whether this is the key of `user`'s block.
    pub(super) fn is_block_of(&self, user: &str) -> bool {
        let [_, _, key_user] = self.bytes.parts();
        self.kind == Kind::Block && short_eq(key_user, user.as_bytes())
    }

    /// Whether this is the key of a block (rather than a pool).
    pub(super) fn is_block(&self) -> bool {
        self.kind == Kind::Block
    }
}

/// Whether `a` and `b` are equal, eight bytes at a time. Key parts are short, and for them a
/// call to `memcmp` (what `==` on slices becomes) costs more than the comparison.
fn short_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tails_equal = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .fold(true, |equal, (x, y)| equal & (x == y));
    tails_equal
        && a_chunks.zip(b_chunks).all(|(x, y)| {
            let word = |chunk: &[u8]| chunk.try_into().map_or(0, u64::from_ne_bytes);
            word(x) == word(y)
        })
}

/// The hashes of one decision: which shard, and where its pool and its user's block are.
#[derive(Clone, Copy, Debug)]
pub(super) struct Hashes {
    /// The user's hash: picks the shard (by its top bits), so a user's pools and block share
    /// one lock.
    pub(super) user: u64,
    /// The pool's key.
    pub(super) pool: u64,
}

impl Hashes {
    /// The hash of the user's block key: the user's hash with its bits moved, so that neither
    /// the bits that pick the shard nor the pool hashes' bits line up with it.
    pub(super) const fn block(&self) -> u64 {
        self.user.rotate_left(32)
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

    fn hasher(&self) -> FoldHasher<'_> {
        FoldHasher::with_seed(self.per_hasher, &self.shared)
    }

    /// The hashes of a decision on `pool`, in one pass: the user's, then the pool's (the
    /// same hasher, fed the scope and the method too).
    pub(super) fn hashes(&self, pool: &Pool<'_>) -> Hashes {
        let mut hasher = self.hasher();
        pool.user.hash(&mut hasher);
        let user = hasher.finish();
        let (kind, scope) = Kind::of(pool.scope);
        hasher.write_u8(kind.tag());
        scope.hash(&mut hasher);
        pool.method.hash(&mut hasher);
        Hashes {
            user,
            pool: hasher.finish(),
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
    fn a_key_matches_its_pool_only() {
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
            let key = Key::pool(a);
            assert!(!key.is_block());
            for (j, b) in cases.iter().enumerate() {
                assert_eq!(key.is_pool(b), i == j, "{a:?} against {b:?}");
            }
            assert!(!key.is_block_of(a.user));
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
            let key = Key::pool(a);
            let inline = matches!(key.bytes, Bytes::Inline { .. });
            assert!(size_of::<Key>() <= 48);
            assert_eq!(inline, i == 0, "{a:?}");
            for (j, b) in cases.iter().enumerate() {
                assert_eq!(key.is_pool(b), i == j, "{a:?} against {b:?}");
            }
        }
        assert!(Key::block(&long).is_block_of(&long));
        assert!(!Key::block(&long).is_block_of(&long[1..]));
    }

    #[test]
    fn short_eq_is_slice_equality() {
        let text = b"0123456789abcdefghijklmnopqrstuvwxyz";
        for a in 0..text.len() {
            for b in 0..text.len() {
                assert_eq!(short_eq(&text[..a], &text[..b]), a == b);
                assert_eq!(short_eq(&text[1..a.max(1)], &text[..a.max(1) - 1]), a <= 1);
            }
        }
        let mut other = *text;
        for index in 0..other.len() {
            other[index] ^= 1;
            assert!(!short_eq(text, &other));
            other[index] ^= 1;
        }
        assert!(short_eq(text, &other));
    }

    #[test]
    fn a_block_key_matches_its_user_only() {
        let key = Key::block("alice");
        assert!(key.is_block());
        assert!(key.is_block_of("alice"));
        assert!(!key.is_block_of("alic"));
        assert!(!key.is_pool(&pool(Scope::Path(""), None, "alice")));
        assert!(!key.is_pool(&pool(Scope::Zone(""), None, "alice")));
    }

    #[test]
    fn hashes_depend_on_every_part_and_on_the_seed() {
        let seed = Seed::random();
        let a = seed.hashes(&pool(Scope::Path("/a"), Some("GET"), "u"));
        let same = seed.hashes(&pool(Scope::Path("/a"), Some("GET"), "u"));
        assert_eq!(
            (a.user, a.pool, a.block()),
            (same.user, same.pool, same.block())
        );
        let zone = seed.hashes(&pool(Scope::Zone("/a"), Some("GET"), "u"));
        assert_eq!((a.user, a.block()), (zone.user, zone.block()));
        assert_ne!(a.pool, zone.pool);
        assert_ne!(
            a.pool,
            seed.hashes(&pool(Scope::Path("/a"), None, "u")).pool
        );
        assert_ne!(
            a.user,
            seed.hashes(&pool(Scope::Path("/a"), Some("GET"), "v")).user
        );
        assert_ne!(
            a.pool,
            Seed::random()
                .hashes(&pool(Scope::Path("/a"), Some("GET"), "u"))
                .pool
        );
    }
}

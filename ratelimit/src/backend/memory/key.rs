//! Owned keys of the table, compared with borrowed [`Pool`]s without building a key.
//!
//! A key keeps its parts in one allocation with their lengths beside it, so two different
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
    bytes: Box<[u8]>,
    /// Where the scope ends in `bytes`.
    scope_end: usize,
    /// Where the method ends (equal to `scope_end` when there is none).
    method_end: usize,
    /// Whether the pool names a method (`None` and `Some("")` are different pools).
    has_method: bool,
    kind: Kind,
}

impl Key {
    /// The key of `pool`: one allocation, when a new pool is inserted.
    pub(super) fn pool(pool: &Pool<'_>) -> Self {
        let (kind, scope) = Kind::of(pool.scope);
        let method = pool.method.unwrap_or("");
        let mut bytes = Vec::with_capacity(
            scope
                .len()
                .saturating_add(method.len())
                .saturating_add(pool.user.len()),
        );
        bytes.extend_from_slice(scope.as_bytes());
        bytes.extend_from_slice(method.as_bytes());
        bytes.extend_from_slice(pool.user.as_bytes());
        Self {
            bytes: bytes.into_boxed_slice(),
            scope_end: scope.len(),
            method_end: scope.len().saturating_add(method.len()),
            has_method: pool.method.is_some(),
            kind,
        }
    }

    /// The key of `user`'s block.
    pub(super) fn block(user: &str) -> Self {
        Self {
            bytes: user.as_bytes().into(),
            scope_end: 0,
            method_end: 0,
            has_method: false,
            kind: Kind::Block,
        }
    }

    /// Whether this is the key of `pool`.
    pub(super) fn is_pool(&self, pool: &Pool<'_>) -> bool {
        let (kind, scope) = Kind::of(pool.scope);
        self.kind == kind
            && self.has_method == pool.method.is_some()
            && self.bytes.get(..self.scope_end) == Some(scope.as_bytes())
            && self.bytes.get(self.scope_end..self.method_end)
                == Some(pool.method.unwrap_or("").as_bytes())
            && self.bytes.get(self.method_end..) == Some(pool.user.as_bytes())
    }

    /// Whether this is the key of `user`'s block.
    pub(super) fn is_block_of(&self, user: &str) -> bool {
        self.kind == Kind::Block && *self.bytes == *user.as_bytes()
    }

    /// Whether this is the key of a block (rather than a pool).
    pub(super) fn is_block(&self) -> bool {
        self.kind == Kind::Block
    }
}

/// The hashes of one decision: which shard, and where its pool and its user's block are.
#[derive(Clone, Copy, Debug)]
pub(super) struct Hashes {
    /// The user's hash: picks the shard, so a user's pools and block share one lock.
    pub(super) user: u64,
    /// The pool's key.
    pub(super) pool: u64,
    /// The user's block key.
    pub(super) block: u64,
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

    /// The hashes of a decision on `pool`.
    pub(super) fn hashes(&self, pool: &Pool<'_>) -> Hashes {
        let mut hasher = self.hasher();
        pool.user.hash(&mut hasher);
        let user = hasher.finish();

        let (kind, scope) = Kind::of(pool.scope);
        let mut hasher = self.hasher();
        hasher.write_u64(user);
        hasher.write_u8(kind.tag());
        scope.hash(&mut hasher);
        pool.method.hash(&mut hasher);
        let pool = hasher.finish();

        let mut hasher = self.hasher();
        hasher.write_u64(user);
        hasher.write_u8(Kind::Block.tag());
        let block = hasher.finish();

        Hashes { user, pool, block }
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
            (a.user, a.pool, a.block),
            (same.user, same.pool, same.block)
        );
        let zone = seed.hashes(&pool(Scope::Zone("/a"), Some("GET"), "u"));
        assert_eq!((a.user, a.block), (zone.user, zone.block));
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

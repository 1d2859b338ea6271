//! Redis key names: unambiguous, prefixed, and one cluster slot per user.
//!
//! ```text
//! <prefix>:{<user>}:block                                      the user's block
//! <prefix>:{<user>}:v2:<algorithm>:<scope>:<method>:<unit>     one limit of one pool
//!
//! <user>       the user id with `%`, `{` and `}` written `%25`, `%7B` and `%7D`;
//!              the empty id is `%` (a hash tag must not be empty)
//! v2           the layout of the state: a string (each algorithm's `.lua` describes it)
//! <algorithm>  fw (fixed window), sw (sliding window) or gcra
//! <scope>      Z<len>:<zone> or P<len>:<path>, len in bytes
//! <method>     * (any method) or M<len>:<method>
//! <unit>       the window: second, minute, hour, day or month, or a length such as 10s,
//!              5m, 2h or 3d (a length that is a unit's is named so: 60s is minute)
//! ```
//!
//! The prefix may not contain `{` or `}`, so the first `{` of every key opens the user's
//! hash tag and, the user being escaped, the first `}` closes it: every key of one user (its
//! block and all its pools) hashes to one cluster slot, and one decision never spans slots.
//! The parts after the user are tagged and length-prefixed, so no two pools share a key
//! whatever their parts contain (`:` included), and the algorithm is part of the key, so
//! changing it never reads state of another shape.
//!
//! `v2` marks the state's layout. The first layout (no marker: `<prefix>:{<user>}:fw:…`)
//! kept each state in a hash; the state is now one string. The marker keeps the two apart:
//! while instances of both versions run (a rolling upgrade), each counts in its own keys
//! instead of one meeting the other's type (`WRONGTYPE` for the first version's `HMGET` on a
//! string), and the first layout's keys expire by themselves. The block has been a string
//! holding the time it ends in both, and keeps its name: a block set by either version holds
//! for both. Since it also holds its length (`end.length`, so that a step back of Redis's
//! clock cannot lengthen it), the first versions read it as a number a fraction of a
//! microsecond past its end.

use std::fmt::Write as _;

use ratelimit_core::Limit;
#[cfg(test)]
use ratelimit_core::Unit;

use crate::backend::{Algorithm, Pool, Scope};

/// The key of `user`'s block.
#[cfg(test)]
pub(super) fn block_key(prefix: &str, user: &str) -> String {
    let mut key = String::new();
    write_block_key(&mut key, prefix, user);
    key
}

/// The key of one limit of `pool`.
#[cfg(test)]
pub(super) fn limit_key(prefix: &str, algorithm: Algorithm, pool: &Pool<'_>, unit: Unit) -> String {
    let mut key = String::new();
    write_limit_key(&mut key, prefix, algorithm, pool, Limit::new(unit, 1));
    key
}

/// Writes the key of `user`'s block after what `key` holds (a decision writes each of its
/// keys into one buffer in turn, cleared in between, and copies it into the command: one
/// allocation for all of them).
pub(super) fn write_block_key(key: &mut String, prefix: &str, user: &str) {
    write_user_part(key, prefix, user);
    key.push_str(":block");
}

/// The layout of the limits' state (see the module docs): `v2`, one string per limit.
const STATE_LAYOUT: &str = "v2";

/// Writes the key of one limit of `pool` after what `key` holds.
pub(super) fn write_limit_key(
    key: &mut String,
    prefix: &str,
    algorithm: Algorithm,
    pool: &Pool<'_>,
    limit: Limit,
) {
    write_user_part(key, prefix, pool.user);
    key.push(':');
    key.push_str(STATE_LAYOUT);
    key.push(':');
    key.push_str(algorithm_tag(algorithm));
    let (tag, scope) = match pool.scope {
        Scope::Zone(zone) => ('Z', zone),
        Scope::Path(path) => ('P', path),
    };
    // Writing to a String cannot fail.
    let _ = write!(key, ":{tag}{}:{scope}", scope.len());
    match pool.method {
        None => key.push_str(":*"),
        Some(method) => {
            let _ = write!(key, ":M{}:{method}", method.len());
        }
    }
    key.push(':');
    match limit.unit() {
        Some(unit) => key.push_str(unit.name()),
        None => {
            let _ = write!(key, "{}", limit.window_name());
        }
    }
}

/// Writes `<prefix>:{<escaped user>}` after what `key` holds.
fn write_user_part(key: &mut String, prefix: &str, user: &str) {
    key.push_str(prefix);
    key.push_str(":{");
    key.extend(escaped_user(user));
    key.push('}');
}

/// The user id as its keys' hash tag holds it, a part at a time, without an allocation: `%`
/// for the empty id, runs of plain text, and `%`, `{` and `}` written `%25`, `%7B` and `%7D`.
/// The key writer pushes the parts and the cluster slot hashes them (`nodes.rs`).
pub(super) fn escaped_user(user: &str) -> impl Iterator<Item = &str> {
    let mut rest = user;
    let empty = user.is_empty().then_some("%");
    empty.into_iter().chain(std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let plain = rest.find(['%', '{', '}']).unwrap_or(rest.len());
        // A run of plain text, or else the one (ASCII) character to escape.
        let (part, after) = rest.split_at(plain.max(1));
        rest = after;
        Some(match part {
            "%" => "%25",
            "{" => "%7B",
            "}" => "%7D",
            plain => plain,
        })
    }))
}

const fn algorithm_tag(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::FixedWindow => "fw",
        Algorithm::SlidingWindow => "sw",
        Algorithm::Gcra => "gcra",
    }
}

/// Whether `prefix` can start keys: it must not contain `{` or `}`.
pub(super) fn valid_prefix(prefix: &str) -> bool {
    !prefix.contains(['{', '}'])
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn pool<'a>(scope: Scope<'a>, method: Option<&'a str>, user: &'a str) -> Pool<'a> {
        Pool {
            scope,
            method,
            user,
        }
    }

    /// The hash tag Redis Cluster hashes: between the first `{` and the next `}`, when
    /// that is not empty; otherwise the whole key.
    fn hash_tag(key: &str) -> &str {
        let Some(open) = key.find('{') else {
            return key;
        };
        match key[open + 1..].find('}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        }
    }

    #[test]
    fn keys_are_readable() {
        let p = pool(Scope::Path("/towns"), Some("GET"), "alice");
        assert_eq!(
            limit_key("ratelimit", Algorithm::FixedWindow, &p, Unit::Second),
            "ratelimit:{alice}:v2:fw:P6:/towns:M3:GET:second"
        );
        let p = pool(Scope::Zone("user-api"), None, "alice");
        assert_eq!(
            limit_key("rl", Algorithm::Gcra, &p, Unit::Month),
            "rl:{alice}:v2:gcra:Z8:user-api:*:month"
        );
        assert_eq!(block_key("rl", "alice"), "rl:{alice}:block");
    }

    #[test]
    fn users_are_escaped_and_never_an_empty_tag() {
        assert_eq!(block_key("rl", "a}b{c%d"), "rl:{a%7Db%7Bc%25d}:block");
        assert_eq!(block_key("rl", ""), "rl:{%}:block");
        assert_eq!(block_key("rl", "%"), "rl:{%25}:block");
    }

    #[test]
    fn every_key_of_a_user_has_the_users_tag() {
        let users = [
            "alice", "", "}", "{", "{}", "a}b", "%", "%7D", "::", "a:{b}:c", "é☃",
        ];
        for user in users {
            let tag = hash_tag(&block_key("p:x", user)).to_owned();
            assert!(!tag.is_empty());
            for algorithm in [
                Algorithm::FixedWindow,
                Algorithm::SlidingWindow,
                Algorithm::Gcra,
            ] {
                for scope in [Scope::Path("/{a}"), Scope::Zone("}")] {
                    for method in [None, Some("GET"), Some("}")] {
                        for unit in Unit::ALL {
                            let key = limit_key("p:x", algorithm, &pool(scope, method, user), unit);
                            assert_eq!(hash_tag(&key), tag, "{key}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn distinct_pools_have_distinct_keys() {
        // Parts chosen to collide under naive `a:b:c` joining.
        let parts = [
            "", ":", "a", "a:", ":a", "a:b", "*", "M3:GET", "P1:a", "%", "%25", "}", "{",
        ];
        let mut seen = HashSet::new();
        let mut count = 0;
        for user in parts {
            seen.insert(block_key("rl", user));
            count += 1;
            for scope in parts {
                for zone in [false, true] {
                    for method in parts.iter().map(|m| Some(*m)).chain([None]) {
                        for unit in [Unit::Second, Unit::Minute] {
                            let scope = if zone {
                                Scope::Zone(scope)
                            } else {
                                Scope::Path(scope)
                            };
                            for algorithm in [Algorithm::FixedWindow, Algorithm::Gcra] {
                                seen.insert(limit_key(
                                    "rl",
                                    algorithm,
                                    &pool(scope, method, user),
                                    unit,
                                ));
                                count += 1;
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(seen.len(), count);
    }

    #[test]
    fn state_keys_never_take_a_first_layout_name() {
        // The first layout's state keys (hashes) went straight from the user to the
        // algorithm: `<prefix>:{<user>}:fw:…`, `:sw:…` or `:gcra:…`. Every key now has
        // `block` or `v2` there.
        let users = ["alice", "", "fw", "}:fw:{", "v2"];
        for user in users {
            let block = block_key("rl", user);
            let after_user = &block[block.find('}').unwrap() + 1..];
            assert_eq!(after_user, ":block");
            for algorithm in [
                Algorithm::FixedWindow,
                Algorithm::SlidingWindow,
                Algorithm::Gcra,
            ] {
                let p = pool(Scope::Path("/fw"), Some("GET"), user);
                let key = limit_key("rl", algorithm, &p, Unit::Second);
                let after_user = &key[key.find('}').unwrap() + 1..];
                assert!(after_user.starts_with(":v2:"), "{key}");
            }
        }
    }

    #[test]
    fn prefixes_with_braces_are_invalid() {
        assert!(valid_prefix("ratelimit"));
        assert!(valid_prefix(""));
        assert!(valid_prefix("app:rl"));
        assert!(!valid_prefix("{app}"));
        assert!(!valid_prefix("a}"));
    }
}

//! Rate limiting for axum and tower services, with limits declared inline in Rust and
//! checked by the compiler.
//!
//! ```
//! use ratelimit::{ratelimit, Rules};
//!
//! static RULES: Rules = ratelimit! {
//!     "^/towns"    => [second = 1 @default, unlimited @admin],
//!     "^/forests"  => [minute = 1 @default, unlimited @admin],
//!     "^/api"      => [day = 400 minute = 200 second = 10, minute = 500 second = 25 @admin],
//!     r"^/user/\d+" => [minute = 200 zone = "user-api", second = 100 zone = "user-api" @admin],
//!     "^/login"    => [second = 5 block_time = 60],
//!     "^/upload"   => [method = POST minute = 3, unlimited @admin],
//!     "^/banned"   => [deny @blocked_tier],
//! };
//!
//! let towns = RULES.select("/towns/paris", "GET", "default").expect("limited");
//! assert_eq!(towns.rule.limits()[0].to_string(), "second = 1");
//! ```
//!
//! Every mistake in the rules is a compile error at its token: see [`ratelimit!`] for the
//! grammar and the checks.
//!
//! # Features
//!
//! | feature  | default | what it adds |
//! |----------|---------|--------------|
//! | `macros` | yes     | the [`ratelimit!`] macro |
//! | `redis`  | no      | [`backend::redis::RedisBackend`]: counts in Redis or Redis Cluster |
//! | `full`   | no      | every feature |

#![cfg_attr(docsrs, feature(doc_cfg))]

// Lets `::ratelimit::…` paths in macro expansions resolve inside this crate too.
#[allow(unused_extern_crates)]
extern crate self as ratelimit;

#[doc(hidden)]
pub mod __private;
pub mod auth;
pub mod backend;
mod rules;

pub use ratelimit_core::{
    DEFAULT_GROUP, Limit, MAX_COUNT, Method, Pattern, PatternKind, Policy, Route, Rule, Unit,
};
pub use rules::{Matching, Rules, Selection};

/// Declares rate-limit rules, checked at compile time.
///
/// The value is a [`Rules`]: use it in a `let`, a `static` or a `const`.
///
/// ```
/// # use ratelimit::{ratelimit, Rules};
/// const RULES: Rules = ratelimit! {
///     "^/towns"   => [second = 1 @default, unlimited @admin],
///     "^/login$"  => [second = 5 block_time = 10m],
///     "^/message" => [method = GET minute = 1, method = "POST" minute = 2],
/// };
/// # let _ = RULES;
/// ```
///
/// # Grammar
///
/// ```text
/// input    = route ("," route)* ","?
/// route    = PATTERN "=>" "[" rule ("," rule)* ","? "]"
/// rule     = item+ ("@" GROUP)?                  group defaults to "default"
/// item     = UNIT "=" COUNT                      UNIT: second | minute | hour | day | month
///          | "unlimited" | "deny"
///          | "block_time" "=" DURATION           60, 60s, 10m, 2h, 1d
///          | "zone" "=" STRING
///          | "method" "=" METHOD                 GET, POST, … (ident or string); default: any
/// PATTERN  = string literal, `regex` crate syntax
/// GROUP    = identifier or string literal
/// ```
///
/// Windows: a second, a minute (60 s), an hour, a day, and a month of 31 days (as the
/// original `asgi-ratelimit`). A rule with several units enforces all of them.
///
/// Patterns match like Python's `re.match`: at the start of the path, not necessarily to
/// its end (`"^/towns"` and `"/towns"` both match `/townsfolk`; end with `$` for an exact
/// path). A pattern that is a plain string becomes a prefix or equality test at compile time;
/// only real regexes are compiled, once, on first use, and tried only on paths that start
/// with their literal prefix.
///
/// # Compile-time checks
///
/// Each of these is a compile error at the offending token, and one invocation reports all
/// of them at once:
///
/// - an invalid regex (the `regex` crate's message), look-around or back-references (which
///   that crate lacks), or a pattern that can never match a path (`"towns"`: paths start
///   with `/`);
/// - an unknown key, unit or method, with the closest valid name;
/// - a count of 0 (write `deny`), a negative, fractional, suffixed or overflowing count
///   (the largest is 2^53 - 1); a bad `block_time`;
/// - a key given twice in one rule; `unlimited` or `deny` mixed with limits or with each
///   other; `block_time` or `zone` on a rule without limits; a rule without any limit; an
///   empty route, rule, zone or group;
/// - a rule that an earlier rule of the same route always wins over (same group, same or
///   every method);
/// - the same pattern twice, or a route that an earlier route matches every path of, with a
///   rule for every group and method it names (`"^/"` before `"^/api"`);
/// - a limit that can never bind because a longer window admits no more
///   (`second = 10 minute = 5`).
///
/// ```compile_fail
/// let rules = ratelimit::ratelimit! { "^/towns" => [secnd = 1] };
/// ```
///
/// ```compile_fail
/// let rules = ratelimit::ratelimit! { "^/towns" => [second = 0] };
/// ```
#[cfg(feature = "macros")]
pub use ratelimit_macros::ratelimit;

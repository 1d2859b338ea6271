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
//! [`RateLimitLayer`] applies the rules to an axum router or any tower service, with an
//! authenticator ([`auth`]) and a backend ([`backend`]); see the [`middleware`] module:
//!
//! ```
//! use axum::{Router, routing::get};
//! use ratelimit::auth::ClientIp;
//! use ratelimit::backend::MemoryBackend;
//! use ratelimit::{RateLimitLayer, Rules, ratelimit};
//!
//! static RULES: Rules = ratelimit! {
//!     "^/towns" => [second = 1],
//! };
//!
//! let app: Router = Router::new()
//!     .route("/towns", get(|| async { "towns" }))
//!     .layer(RateLimitLayer::new(RULES, ClientIp::new(), MemoryBackend::new()));
//! // Serve it with the peer address, which `ClientIp` reads:
//! // axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
//! ```
//!
//! [`rate_limited`] puts a rule list on a handler instead, limited by the router's layer.
//!
//! # Features
//!
//! | feature  | default | what it adds |
//! |----------|---------|--------------|
//! | `macros` | yes     | the [`ratelimit!`] and [`rate_limited`] macros |
//! | `jwt`    | no      | `auth::JwtAuth`: identity from a verified JSON Web Token (`jsonwebtoken`, pure-Rust crypto) |
//! | `redis`  | no      | `backend::redis::RedisBackend`: counts in Redis or Redis Cluster |
//! | `session`| no      | `auth::SessionAuth`: identity from a `tower-sessions` session |
//! | `rules-file` | no  | rules read at run time with the macro's grammar, checks and messages ([`Rules::parse`], [`Rules::from_file`]), and a watcher that reloads a file into a live layer: see [`rules_file`] |
//! | `metrics`| no      | counters and a histogram of the limiter's decisions through the `metrics` facade (any exporter): see [`middleware`](crate::middleware#observing-it) |
//! | `full`   | no      | every feature above |
//! | `test-util` | no   | for tests only, not in `full`: a test clock for the Redis backend |
//!
//! Always there: the client-IP authenticator [`auth::ClientIp`] (with trusted proxies),
//! [`auth::HeaderAuth`] and [`auth::FirstOf`] (each of its authenticators' user ids in a
//! namespace of its own; [`auth::FirstOfShared`] for one).

#![cfg_attr(docsrs, feature(doc_cfg))]

// Lets `::ratelimit::…` paths in macro expansions resolve inside this crate too.
#[allow(unused_extern_crates)]
extern crate self as ratelimit;

#[doc(hidden)]
pub mod __private;
pub mod auth;
pub mod backend;
pub mod handler;
pub mod middleware;
mod path;
mod rules;
#[cfg(feature = "rules-file")]
#[cfg_attr(docsrs, doc(cfg(feature = "rules-file")))]
pub mod rules_file;

pub use middleware::{RateLimit, RateLimitLayer, RulesHandle};
pub use ratelimit_core::{
    DEFAULT_GROUP, Limit, Pattern, PatternKind, Policy, Route, Rule, RuleMethod, StatusSet, Unit,
};
pub use rules::{Matching, Rules, Selection};

/// `mutex` locked, poisoned or not: what its holders keep behind it (tickets, counts, a
/// file's last bytes, a cache's entries) stays usable after a panic while it was held, so
/// the panic does not spread to every later user.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

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
///          | LENGTH "=" COUNT                    a window of any length: 10s, 5m, 2h, 3d
///          | "unlimited" | "deny"
///          | "block_time" "=" DURATION           60, 60s, 10m, 2h, 1d
///          | "zone" "=" STRING
///          | "method" "=" METHOD                 GET, POST, … (ident or string); default: any
///          | "shadow"                            decide and count as usual, never refuse
///          | "global"                            one pool for every user (no user in the key)
///          | "cost" "=" COUNT                    each request uses COUNT of every limit
///          | "count_if" "=" STATUS ("|" STATUS)* only these responses use up the limits
/// STATUS   = 100..=599 | 1xx | 2xx | 3xx | 4xx | 5xx
/// PATTERN  = string literal, `regex` crate syntax
/// GROUP    = identifier or string literal
/// ```
///
/// Windows: a second, a minute (60 s), an hour, a day, and a month of 31 days (as the
/// original `asgi-ratelimit`), or any whole number of seconds up to 31 days (`10s`, `90s`,
/// `5m`; a length that is a unit's is that unit's window). A rule with several windows (at
/// most eight) enforces all of them. `cost = N` makes each request of the rule use N of every
/// limit; rate-limit headers count remaining units. `count_if = 401 | 5xx` counts a request
/// when it is admitted and gives it back once its response's status is not listed.
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
///   other; `block_time`, `zone` or `global` on a rule without limits; `shadow` on an
///   `unlimited` rule; `global` with `block_time`; a rule without any limit; an empty route,
///   rule, zone or group;
/// - a rule that an earlier rule of the same route always wins over (same group, same or
///   every method);
/// - the same pattern twice, or a route that an earlier route matches every path of, with a
///   rule for every group and method it names (`"^/"` before `"^/api"`);
/// - a limit that can never bind because a longer window admits no more
///   (`second = 10 minute = 5`);
/// - a window without a unit (`10 = 3`), of an unknown unit, of 0 s or over 31 days; the same
///   window twice (`60s = 5 minute = 10`); more than eight limits;
/// - `cost = 0`, a cost on a rule without limits, or larger than the rule's smallest count
///   (never admitted);
/// - in `count_if`, a status outside 100 to 599, a class other than `1xx` to `5xx`, a status
///   twice, a code its class in the list already covers; `count_if` on a rule without
///   limits.
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

/// Declares rate-limit rules from a file, checked at compile time.
///
/// The file holds exactly what goes between the braces of [`ratelimit!`] (`//` and `/* */`
/// comments included); its path is relative to the crate's directory (where its
/// `Cargo.toml` is). The value is a [`Rules`], as [`ratelimit!`]'s, built the same way, and
/// a change to the file rebuilds the crate.
///
/// ```ignore
/// static RULES: ratelimit::Rules = ratelimit::include_rules!("limits.rl");
/// ```
///
/// Every mistake in the file is a compile error whose message starts with
/// `FILE:LINE:COL:` and goes on with [`ratelimit!`]'s message for it:
///
/// ```text
/// error: limits.rl:3:15: unknown key `secnd`; did you mean `second`? …
/// ```
///
/// The same file can be checked from the shell (`ratelimit check limits.rl`, package
/// `ratelimit-cli`) and read at run time ([`Rules::from_file`], feature `rules-file`).
#[cfg(feature = "macros")]
pub use ratelimit_macros::include_rules;

/// Limits an axum handler with a rule list, checked at compile time.
///
/// ```
/// use axum::{Router, extract::Path, routing::get};
/// use ratelimit::{RateLimitLayer, Rules, rate_limited};
/// # use ratelimit::auth::{AuthError, Identity};
/// # async fn authenticate(_: &http::request::Parts) -> Result<Identity, AuthError> {
/// #     Ok(Identity::new("someone"))
/// # }
/// # fn backend() -> impl ratelimit::backend::Backend { ratelimit::backend::MemoryBackend::new() }
///
/// /// Towns: one a second, unlimited for admins.
/// #[rate_limited(second = 1 @default, unlimited @admin)]
/// async fn towns() -> &'static str {
///     "towns"
/// }
///
/// #[rate_limited(minute = 2)]
/// async fn item(Path(id): Path<u32>) -> String {
///     format!("item {id}")
/// }
///
/// let app: Router = Router::new()
///     .route("/towns", get(towns))
///     .route("/items/{id}", get(item))
///     .layer(RateLimitLayer::new(Rules::none(), authenticate, backend()));
/// ```
///
/// The argument is the rule list of one route of [`ratelimit!`] (the same grammar, checks
/// and messages, each error at its token), without a pattern: the rules apply to every
/// request the handler serves. The handler's requests are limited by the router's
/// [`RateLimitLayer`] (its authenticator, backend, failure policy and responses), found
/// through the request's extensions, where every layer puts it by default in a program that
/// has `#[rate_limited]` handlers (each registers itself at link time; see
/// [`limiter_extension`](RateLimitLayer::limiter_extension)). With no layer, the handler
/// answers 500 and logs the fix. See [`handler`] for the details.
///
/// The handler keeps its attributes, visibility, name, generics, parameters, return type
/// and body as written; the attribute adds one leading extractor parameter, a
/// [`RateLimitGuard`](handler::RateLimitGuard), which axum runs before the handler's own
/// extractors (so a body extractor stays last, and a refused request's body is never read).
/// Calling the function directly (not through axum) therefore takes that extra first
/// argument: test a limited handler through its router, with `tower::ServiceExt::oneshot`.
///
/// The pool of the handler's requests is the handler itself (`module_path!()::name`) unless
/// its rule names a `zone`.
///
/// ```compile_fail
/// #[ratelimit::rate_limited(secnd = 1)]
/// async fn towns() -> &'static str { "towns" }
/// ```
#[cfg(feature = "macros")]
pub use ratelimit_macros::rate_limited;

//! The rule model, the DSL grammar and its checks, shared by [`ratelimit`] and
//! [`ratelimit-macros`]: one source of truth for what a rule is and which rules are valid.
//!
//! This crate does no I/O and nothing async. Users depend on `ratelimit`, which re-exports
//! what they need from here; the layers are:
//!
//! - [`model`]: routes, rules, limits, methods, groups, zones, block times;
//! - [`pattern`]: route patterns, analysed into prefix, equality or regex tests;
//! - `parse`: the DSL's syntax, on `proc_macro2` tokens (feature `parse`);
//! - `check`: the DSL's meaning, every mistake reported at its token (feature `parse`);
//! - `source`: rules as text (a rules file, `include_rules!`), every mistake at its line and
//!   column, rendered as rustc renders errors (feature `parse`).
//!
//! The parser and checker sit behind the `parse` feature, which only `ratelimit-macros` and
//! `ratelimit`'s `rules-file` feature enable: `ratelimit` without them compiles neither `syn`
//! nor `proc-macro2`.
//!
//! [`ratelimit`]: https://docs.rs/ratelimit
//! [`ratelimit-macros`]: https://docs.rs/ratelimit-macros

#![cfg_attr(docsrs, feature(doc_cfg))]

mod bytes;
#[cfg(feature = "parse")]
#[cfg_attr(docsrs, doc(cfg(feature = "parse")))]
pub mod check;
pub mod model;
#[cfg(feature = "parse")]
#[cfg_attr(docsrs, doc(cfg(feature = "parse")))]
pub mod parse;
pub mod pattern;
#[cfg(feature = "parse")]
#[cfg_attr(docsrs, doc(cfg(feature = "parse")))]
pub mod source;

pub use model::{
    DEFAULT_GROUP, Limit, MAX_LIMITS, MAX_WINDOW_SECONDS, Policy, Route, Rule, RuleMethod,
    RuleParts, StatusSet, Unit, WindowName, rule_for,
};
pub use pattern::{Pattern, PatternError, PatternKind};

/// For the other crates of this workspace only (`ratelimit`'s hot path and tests): not
/// public API, no semver promise.
#[doc(hidden)]
pub mod __private {
    pub use crate::bytes::{path_head, same_bytes};

    /// The largest count a limit can have: 2^53 - 1, so that every backend (Lua numbers in
    /// Redis are doubles) counts it exactly.
    pub const MAX_COUNT: u64 = (1 << 53) - 1;
}

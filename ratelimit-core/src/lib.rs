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
//! - [`bytes`]: short byte strings compared inline (patterns, rule selection, the in-memory
//!   backend's keys).
//!
//! The parser and checker sit behind the `parse` feature, which only `ratelimit-macros`
//! enables: `ratelimit` without its macros compiles neither `syn` nor `proc-macro2`.
//!
//! [`ratelimit`]: https://docs.rs/ratelimit
//! [`ratelimit-macros`]: https://docs.rs/ratelimit-macros

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod bytes;
#[cfg(feature = "parse")]
#[cfg_attr(docsrs, doc(cfg(feature = "parse")))]
pub mod check;
pub mod model;
#[cfg(feature = "parse")]
#[cfg_attr(docsrs, doc(cfg(feature = "parse")))]
pub mod parse;
pub mod pattern;

pub use model::{
    DEFAULT_GROUP, Limit, MAX_COUNT, Method, Policy, Route, Rule, RuleParts, STANDARD_METHODS,
    Unit, rule_for,
};
pub use pattern::{Pattern, PatternError, PatternKind};

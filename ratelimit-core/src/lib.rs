//! The rule model, the DSL grammar and its checks, shared by [`ratelimit`] and
//! [`ratelimit-macros`]: one source of truth for what a rule is and which rules are valid.
//!
//! This crate does no I/O and nothing async. Users depend on `ratelimit`, which re-exports
//! what they need from here; the layers are:
//!
//! - [`model`]: routes, rules, limits, methods, groups, zones, block times;
//! - [`pattern`]: route patterns, analysed into prefix, equality or regex tests;
//! - [`parse`]: the DSL's syntax, on `proc_macro2` tokens;
//! - [`check`]: the DSL's meaning, every mistake reported at its token;
//! - [`bytes`]: short byte strings compared inline (patterns, rule selection, the in-memory
//!   backend's keys).
//!
//! [`ratelimit`]: https://docs.rs/ratelimit
//! [`ratelimit-macros`]: https://docs.rs/ratelimit-macros

pub mod bytes;
pub mod check;
pub mod model;
pub mod parse;
pub mod pattern;

pub use model::{
    DEFAULT_GROUP, Limit, MAX_COUNT, Method, Policy, Route, Rule, RuleParts, STANDARD_METHODS,
    Unit, rule_for,
};
pub use pattern::{Pattern, PatternError, PatternKind};

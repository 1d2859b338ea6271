//! What `ratelimit!` and `#[rate_limited]` expansions name. Not public API: no semver promise.

pub use std::borrow::Cow;

pub use ratelimit_core::{
    Limit, Pattern, Policy, Route, Rule, RuleMethod, RuleParts, StatusSet, Unit,
};

pub use crate::rules::Rules;

// For `#[rate_limited]`: the router's limiter, found in request extensions, runs the
// handler's rules.
pub use http;

pub use crate::backend::Scope;
pub use crate::handler::{COUNT_IF_HANDLERS, HANDLERS, HandlerRules, RateLimitGuard};
pub use crate::middleware::{CheckError, Limiter, Outcome};
pub use linkme;

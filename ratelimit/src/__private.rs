//! What `ratelimit!` and `#[rate_limited]` expansions name. Not public API: no semver promise.

pub use std::borrow::Cow;

pub use ratelimit_core::{Limit, Method, Pattern, Policy, Route, Rule, RuleParts, Unit};

pub use crate::rules::Rules;

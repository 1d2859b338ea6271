//! The compile-time checks of `ratelimit!` and `#[rate_limited]`, one folder per macro: one
//! compile-fail case per check, each with its reviewed `.stderr`, and pass cases for every
//! form of the grammar.
//!
//! The rule checks both macros share (counts, units, groups, zones, methods, rules that never
//! apply) have their cases under `ratelimit!` (`ui/ratelimit/fail`); `ui/rate_limited/fail`
//! holds what only the attribute checks (the item it is on, route patterns, no rules) and one
//! case showing the shared checks through it, every error at the attribute's tokens.
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p ratelimit-tests
//! --test ui`, then read the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/ratelimit/fail/*.rs");
    cases.pass("tests/ui/ratelimit/pass/*.rs");
    cases.compile_fail("tests/ui/rate_limited/fail/*.rs");
    cases.pass("tests/ui/rate_limited/pass/*.rs");
}

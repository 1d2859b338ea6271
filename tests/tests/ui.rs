//! The compile-time checks of `ratelimit!` and `#[rate_limited]`: one compile-fail case per
//! check, each with its reviewed `.stderr`, and pass cases for every form of the grammar.
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p ratelimit-tests
//! --test ui`, then read the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
    cases.compile_fail("tests/ui/attr-fail/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}

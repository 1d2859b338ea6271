//! The compile-time checks of `ratelimit!` and `#[rate_limited]`, one folder per macro: one
//! compile-fail case per check, each with its reviewed `.stderr`, and pass cases for every
//! form of the grammar.
//!
//! The rule checks both macros share (counts, units, groups, zones, methods, rules that never
//! apply) have their cases under `ratelimit!` (`ui/ratelimit/fail`); `ui/rate_limited/fail`
//! holds what only the attribute checks (the item it is on, route patterns, no rules) and one
//! case showing the shared checks through it, every error at the attribute's tokens.
//!
//! `ui/include_rules` holds `include_rules!`'s cases; their rules files (`ui/include_rules/rules`)
//! are copied to `ui-rules/` in the directory trybuild builds the cases in, which is their
//! `CARGO_MANIFEST_DIR`.
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p ratelimit-tests
//! --test ui`, then read the diff.

use std::path::PathBuf;

/// The crate directory trybuild builds the cases in: `TARGET/tests/trybuild/ratelimit-tests`,
/// `TARGET` being this test binary's (`TARGET/debug/deps/ui-…`).
fn trybuild_crate_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("the test binary is in TARGET/PROFILE/deps");
    target.join("tests/trybuild/ratelimit-tests")
}

/// Copies the rules files of `include_rules!`'s cases where the cases' paths find them.
fn copy_include_rules_files() {
    let to = trybuild_crate_dir().join("ui-rules");
    std::fs::create_dir_all(&to).expect("the rules files' directory");
    let from = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ui/include_rules/rules");
    for entry in std::fs::read_dir(from).expect("the rules files") {
        let entry = entry.expect("a rules file");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copied");
    }
}

#[test]
fn ui() {
    copy_include_rules_files();
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/ratelimit/fail/*.rs");
    cases.pass("tests/ui/ratelimit/pass/*.rs");
    cases.compile_fail("tests/ui/rate_limited/fail/*.rs");
    cases.pass("tests/ui/rate_limited/pass/*.rs");
    cases.compile_fail("tests/ui/include_rules/fail/*.rs");
    cases.pass("tests/ui/include_rules/pass/*.rs");
}

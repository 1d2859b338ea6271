//! The route matcher, differentially: `Pattern::is_match` (the pattern analysed at run time,
//! and rebuilt the way `ratelimit!` emits it, its regex compiled lazily) against the `regex`
//! crate's `^(?:pattern)`, on generated patterns and paths. And `Rules::matching`, which
//! matches the path as written or percent-decoded, against the same reference run on both
//! spellings.
//!
//! The patterns come from a small grammar that reaches every kind the analysis decides
//! (prefix, exact, regex with or without a literal prefix), with classes, `\d+`,
//! alternations, optional groups, case-insensitive and other flags, Unicode letters and
//! escapes; the paths from pieces that hit them, with `%` escapes, non-ASCII letters whose
//! case folds are not ASCII (`ſ`, `K`), newlines, the empty path and `/`.

use std::borrow::Cow;
use std::cell::RefCell;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use ratelimit::Rules;
use ratelimit_core::{Pattern, PatternError, PatternKind, Policy, Route, Rule, RuleParts};
use regex::Regex;

/// The pieces a pattern is made of: literals (short, and longer than the 8 bytes the matcher
/// compares first), escapes, classes, anchors and flags.
const PATTERN_LEAVES: &[&str] = &[
    "/",
    "/a",
    "/b",
    "/ab",
    "a",
    "b",
    "B",
    "s",
    "/abcdefgh",
    "/abcdefghijklmnop",
    "é",
    "/é",
    "ж",
    "Ж",
    "ß",
    "\u{212a}",
    "ſ",
    "1",
    "%",
    "%31",
    "/%",
    "-",
    " ",
    r"\.",
    r"\/",
    r"\-",
    r"\%",
    r"\x41",
    r"\u{e9}",
    r"\n",
    r"\?",
    r"\$",
    ".",
    r"\d",
    r"\d+",
    r"\w",
    r"\w+",
    r"\s",
    "[ab]",
    "[^/]",
    "[^/]+",
    "[a-z]",
    "[A-Z0-9]",
    r"\p{L}",
    r"\p{Lu}",
    "[[:alpha:]]",
    "[é-ж]",
    r"[%\d]",
    "[a]",
    r"\b",
    r"\B",
    "^",
    "$",
    "(?i)",
    "(?-i)",
    "(?s)",
    "(?m)",
    "(?m)^",
    "(?m)$",
    "(?-u)a",
];

/// The pieces a path is made of.
const PATH_PIECES: &[&str] = &[
    "/",
    "/",
    "/a",
    "/b",
    "/ab",
    "a",
    "b",
    "A",
    "B",
    "1",
    "12",
    "/1",
    "%",
    "%31",
    "%2F",
    "%2f",
    "%zz",
    "%C3%A9",
    "%c3%a9",
    "%ff",
    "%41",
    "é",
    "É",
    "ж",
    "Ж",
    "ß",
    "SS",
    "\u{212a}",
    "k",
    "K",
    "ſ",
    "s",
    "S",
    ".",
    "-",
    " ",
    "\n",
    "?",
    "x",
    "_",
    "/abcdefgh",
    "/ABCDEFGH",
    "/abcdefghijklmnop",
];

/// A regex source from the grammar: leaves, concatenations, groups of alternatives (plain,
/// capturing, with flags) and quantified groups.
fn body() -> impl Strategy<Value = String> {
    select(PATTERN_LEAVES)
        .prop_map(str::to_owned)
        .prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..4).prop_map(|items| items.concat()),
                (
                    select(&["(", "(?:", "(?i:", "(?-i:", "(?s:"][..]),
                    prop::collection::vec(inner.clone(), 1..4),
                )
                    .prop_map(|(open, alternatives)| format!("{open}{})", alternatives.join("|"))),
                (
                    inner,
                    select(&["?", "*", "+", "{2}", "{0,2}", "??", "+?"][..]),
                )
                    .prop_map(|(item, quantifier)| format!("(?:{item}){quantifier}")),
            ]
        })
}

/// A whole pattern: mostly a leading `/` (so that most patterns can match a path), an
/// optional `^` (or `\A`) and `$` (or `\z`), and sometimes `(?i)` in front.
fn pattern() -> impl Strategy<Value = String> {
    (
        select(&["", "", "", "(?i)", "(?-u)"][..]),
        select(&["", "^", "^", r"\A"][..]),
        select(&["/", "/", "/", ""][..]),
        prop_oneof![3 => body(), 1 => Just(String::new())],
        select(&["", "", "$", r"\z", "/?$"][..]),
    )
        .prop_map(|(flags, anchor, slash, body, end)| format!("{flags}{anchor}{slash}{body}{end}"))
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(select(PATH_PIECES), 0..6).prop_map(|pieces| pieces.concat())
}

/// The reference: the `regex` crate, anchored at the start of the path only.
fn reference(source: &str) -> Option<Regex> {
    Regex::new(&format!("^(?:{source})")).ok()
}

/// The pattern as `ratelimit!` emits it (`Pattern::prefix`, `Pattern::exact`, or
/// `Pattern::regex_checked_by_macro` compiling on first use), from what `analyze` decided.
fn as_the_macro_emits(pattern: &Pattern) -> Pattern {
    let source: &'static str = Box::leak(pattern.source().to_owned().into_boxed_str());
    let leak = |literal: &str| -> &'static str { Box::leak(literal.to_owned().into_boxed_str()) };
    match pattern.kind() {
        PatternKind::Prefix(literal) => Pattern::prefix(source, leak(literal)),
        PatternKind::Exact(literal) => Pattern::exact(source, leak(literal)),
        PatternKind::Regex { prefix } => Pattern::regex_checked_by_macro(source, leak(prefix)),
    }
}

/// One route with `pattern`, as rules (leaked: rules are `'static`).
fn rules_of(pattern: Pattern) -> Rules {
    let rule = Rule::new(RuleParts {
        group: Cow::Borrowed("default"),
        method: None,
        policy: Policy::Unlimited,
        zone: None,
        block_time: None,
        shadow: false,
        global: false,
        cost: 1,
        count_if: None,
    });
    let route = Route::new(pattern, Cow::Owned(vec![rule]));
    Rules::from_static(Box::leak(vec![route].into_boxed_slice()))
}

/// `path` with its `%XX` escapes decoded once (a `%` not followed by two hex digits kept as
/// it is), invalid UTF-8 replaced by U+FFFD; written here independently of the library.
fn percent_decoded(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let hex = |offset: usize| {
            bytes
                .get(at + offset)
                .and_then(|&byte| char::from(byte).to_digit(16))
        };
        match (bytes[at], hex(1), hex(2)) {
            (b'%', Some(high), Some(low)) => {
                out.push(u8::try_from(high * 16 + low).expect("two hex digits make a byte"));
                at += 3;
            }
            (byte, ..) => {
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What one run saw, to check that the generator reached every kind and outcome.
#[derive(Debug, Default)]
struct Seen {
    prefix: usize,
    exact: usize,
    regex_with_prefix: usize,
    regex_without_prefix: usize,
    never_matches: usize,
    refused_by_both: usize,
    matched: usize,
    unmatched: usize,
    matched_only_decoded: usize,
}

/// The differential check of one pattern on some paths.
fn check(source: &str, paths: &[String], seen: &RefCell<Seen>) -> Result<(), TestCaseError> {
    let reference = reference(source);
    let analyzed = Pattern::analyze(source);
    let mut seen = seen.borrow_mut();
    let Some(reference) = reference else {
        // The reference refuses it: so must the analysis (the generator never writes the
        // `)` that would let `^(?:…)` accept what the pattern alone does not).
        prop_assert!(
            analyzed.is_err(),
            "{source:?}: the regex crate refuses `^(?:{source})`, analyze accepts it"
        );
        seen.refused_by_both += 1;
        return Ok(());
    };
    let pattern = match analyzed {
        Ok(pattern) => pattern,
        Err(PatternError::NeverMatches(_)) => {
            // Refused as useless: then no path (a string starting with `/`) may match.
            for path in paths.iter().filter(|path| path.starts_with('/')) {
                prop_assert!(
                    !reference.is_match(path),
                    "{source:?} was refused as never matching, but the regex crate matches {path:?}"
                );
            }
            seen.never_matches += 1;
            return Ok(());
        }
        Err(err) => {
            return Err(TestCaseError::fail(format!(
                "{source:?}: the regex crate accepts it, analyze refuses it: {err}"
            )));
        }
    };
    match pattern.kind() {
        PatternKind::Prefix(_) => seen.prefix += 1,
        PatternKind::Exact(_) => seen.exact += 1,
        PatternKind::Regex { prefix: "" } => seen.regex_without_prefix += 1,
        PatternKind::Regex { .. } => seen.regex_with_prefix += 1,
    }
    let emitted = as_the_macro_emits(&pattern);
    let rules = rules_of(pattern.clone());
    for path in paths {
        let expected = reference.is_match(path);
        prop_assert_eq!(
            pattern.is_match(path),
            expected,
            "analyze({:?}) as {:?} on {:?}",
            source,
            pattern.kind(),
            path
        );
        prop_assert_eq!(
            emitted.is_match(path),
            expected,
            "{:?} as the macro emits it ({:?}) on {:?}",
            source,
            emitted.kind(),
            path
        );
        // The rules: the path without its query, as written or decoded.
        let raw = path.split_once('?').map_or(path.as_str(), |(raw, _)| raw);
        let decoded = percent_decoded(raw);
        let expected_route = reference.is_match(raw) || reference.is_match(&decoded);
        prop_assert_eq!(
            rules.matching(path).count() == 1,
            expected_route,
            "rules with {:?} on {:?} (decoded {:?})",
            source,
            path,
            decoded
        );
        if expected {
            seen.matched += 1;
        } else {
            seen.unmatched += 1;
        }
        if expected_route && !reference.is_match(raw) {
            seen.matched_only_decoded += 1;
        }
    }
    Ok(())
}

/// Paths every pattern is tried on, besides the generated ones.
fn with_fixed_paths(mut paths: Vec<String>) -> Vec<String> {
    paths.extend(["", "/", "/a", "/a/", "/ab", "/%61"].map(str::to_owned));
    paths
}

#[test]
fn the_matcher_agrees_with_the_regex_crate_on_generated_patterns_and_paths() {
    let seen = RefCell::new(Seen::default());
    let mut runner = TestRunner::new(Config {
        cases: 800,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (pattern(), prop::collection::vec(path(), 24));
    let result = runner.run(&strategy, |(source, paths)| {
        check(&source, &with_fixed_paths(paths), &seen)
    });
    if let Err(err) = result {
        panic!("{err}");
    }
    // The generator reached every kind and outcome, enough times to mean something.
    let seen = seen.into_inner();
    println!("{seen:?}");
    assert!(seen.prefix >= 50, "{seen:?}");
    assert!(seen.exact >= 50, "{seen:?}");
    assert!(seen.regex_with_prefix >= 200, "{seen:?}");
    assert!(seen.regex_without_prefix >= 20, "{seen:?}");
    assert!(seen.never_matches >= 20, "{seen:?}");
    assert!(seen.matched >= 2_000, "{seen:?}");
    assert!(seen.unmatched >= 2_000, "{seen:?}");
    assert!(seen.matched_only_decoded >= 50, "{seen:?}");
}

/// Hand-picked patterns of every kind, on every path piece and pairs of them: the cases the
/// generator reaches only by chance.
#[test]
fn the_matcher_agrees_with_the_regex_crate_on_chosen_patterns() {
    let sources = [
        "^/towns",
        "/towns",
        "^/health$",
        "/health$",
        "^",
        "",
        r"^/a\.b",
        r"^/user/\d+",
        r"^/user/\d+$",
        r"^/\d",
        "^/(a|b)",
        "(?i)^/towns",
        "(?i)^/ab",
        "(?i)^/s",
        "(?i)^/k",
        "(?i)^/ß",
        "(?i)^/é",
        "^/é",
        "^/ж+$",
        r"^/\p{L}+$",
        r"^/\w+$",
        "^/abcdefgh",
        "^/abcdefghijklmnop$",
        "^/abcdefg$",
        "^/a%31",
        r"^/a\%",
        r"^/\x41",
        "^/(x)?$",
        "(/x)?",
        "a*",
        r"^\d*",
        "^/a$|^/b",
        "^/a|/b$",
        "(?m)^/a$",
        "(?s)^/.$",
        "^/.$",
        r"^/\b",
        "^/[^/]+$",
        "towns",
        "^$",
        "[a&&b]",
    ];
    let pieces: Vec<String> = PATH_PIECES.iter().map(|&piece| piece.to_owned()).collect();
    let mut paths = with_fixed_paths(pieces.clone());
    for first in &pieces {
        for second in &pieces {
            paths.push(format!("{first}{second}"));
        }
    }
    paths.extend(
        [
            "/towns",
            "/townsfolk",
            "/TOWNS",
            "/Towns/x",
            "/health",
            "/healthz",
            "/health\n",
            "/user/12",
            "/user/%31",
            "/user/x",
            "/a.b",
            "/axb",
            "/ſ",
            "/\u{212a}",
            "/ẞ",
            "/SS",
            "/É",
            "/%C3%A9",
            "/жжж",
            "/%D0%B6",
            "/abcdefg",
            "/abcdefgh",
            "/abcdefghijklmnop",
            "/abcdefghijklmnopq",
            "/abcdefghijklmno",
            "/a\n/a",
            "/\n",
        ]
        .map(str::to_owned),
    );
    let seen = RefCell::new(Seen::default());
    for source in sources {
        if let Err(err) = check(source, &paths, &seen) {
            panic!("{err}");
        }
    }
    let seen = seen.into_inner();
    assert_eq!(seen.never_matches, 3, "{seen:?}");
    assert!(seen.matched_only_decoded >= 5, "{seen:?}");
}

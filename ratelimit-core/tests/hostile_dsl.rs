//! Hostile input to the DSL: random token streams for the parser and checker, random strings
//! for the pattern analysis. Nothing may panic, and every error must point at a token of the
//! input (a location in it), never at nowhere.

use std::str::FromStr;

use proc_macro2::TokenStream;
use proptest::prelude::*;
use ratelimit_core::Pattern;
use ratelimit_core::check::{check_routes, check_rules};
use ratelimit_core::parse::{parse_routes, parse_rules};
use ratelimit_core::source::{SourceError, parse_source};

/// Tokens the DSL uses, its likely mistakes, and noise.
const VOCABULARY: &[&str] = &[
    "second",
    "minute",
    "hour",
    "day",
    "month",
    "unlimited",
    "deny",
    "block_time",
    "zone",
    "method",
    "secnd",
    "GET",
    "post",
    "PSOT",
    "admin",
    "r#type",
    "=",
    "=>",
    "@",
    ",",
    "-",
    ":",
    ";",
    "0",
    "1",
    "10",
    "-1",
    "1.5",
    "60s",
    "10m",
    "2h",
    "1d",
    "60x",
    "10u32",
    "99999999999999999999999",
    "9007199254740992",
    "\"^/towns\"",
    "\"/a\"",
    "\"towns\"",
    "\"\"",
    "\"(?=x)\"",
    "\"??\"",
    "r\"^/\\d+\"",
    "\"^/\"",
    "\"^$\"",
    "\"PURGE\"",
    "\"G T\"",
    "[",
    "]",
    "(",
    ")",
    "{",
    "}",
    "'a",
    "true",
];

/// A token stream from random words, balanced or not; `None` when it does not lex.
fn tokens(words: &[&str]) -> Option<TokenStream> {
    TokenStream::from_str(&words.join(" ")).ok()
}

/// Every error of the checker points at a token of the input (a non-empty byte range),
/// never at nowhere. (A syntax error at the end of the input points at the macro
/// invocation, which is where a compile shows it.)
fn assert_located(error: syn::Error) {
    for error in error {
        let range = error.span().byte_range();
        assert!(!range.is_empty(), "error without a location: {error}");
    }
}

fn words() -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(prop::sample::select(VOCABULARY), 0..40)
}

/// Random words shaped like routes, so that the checker (not only the parser) gets work.
fn route_like() -> impl Strategy<Value = String> {
    let rule = prop::collection::vec(prop::sample::select(VOCABULARY), 1..6)
        .prop_map(|words| words.join(" "));
    let route = (
        prop::sample::select(&VOCABULARY[38..48]),
        prop::collection::vec(rule, 0..4),
    )
        .prop_map(|(pattern, rules)| format!("{pattern} => [{}]", rules.join(", ")));
    prop::collection::vec(route, 1..5).prop_map(|routes| routes.join(", "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn random_token_streams_never_panic_and_errors_are_located(words in words()) {
        if let Some(tokens) = tokens(&words) {
            match parse_routes(tokens.clone()) {
                Ok(input) => {
                    if let Err(error) = check_routes(&input) {
                        assert_located(error);
                    }
                }
                Err(_syntax) => {}
            }
            if let Ok(input) = parse_rules(tokens) {
                let _ = check_rules(&input, proc_macro2::Span::call_site());
            }
        }
    }

    #[test]
    fn route_shaped_input_never_panics_and_errors_are_located(source in route_like()) {
        if let Some(tokens) = tokens(&[&source]) {
            match parse_routes(tokens) {
                Ok(input) => {
                    if let Err(error) = check_routes(&input) {
                        assert_located(error);
                    }
                }
                Err(_syntax) => {}
            }
        }
    }

    #[test]
    fn random_bytes_as_a_rules_file_never_panic_and_errors_are_in_the_text(
        bytes in prop::collection::vec(any::<u8>(), 0..200)
    ) {
        check_rules_text(&bytes);
    }

    #[test]
    fn route_shaped_rules_files_never_panic_and_errors_are_in_the_text(source in route_like()) {
        check_rules_text(source.as_bytes());
    }

    #[test]
    fn random_patterns_never_panic(source in ".{0,40}") {
        if let Ok(pattern) = Pattern::analyze(&source) {
            // An accepted pattern matches without panicking, and matches some path when it
            // is a plain prefix.
            let _ = pattern.is_match("/");
            let _ = pattern.is_match("/some/path");
        }
    }

    #[test]
    fn regex_like_patterns_never_panic(source in r"\^?/?[a-z\\d\[\]\(\)\?\*\+\|\$\.\{\},0-9^!=<]{0,20}") {
        if let Ok(pattern) = Pattern::analyze(&source) {
            let _ = pattern.is_match("/a/1");
        }
    }
}

/// The location check above can fail: an error at no token has an empty range.
#[test]
fn an_error_at_no_token_has_no_location() {
    let error = syn::Error::new(proc_macro2::Span::call_site(), "nowhere");
    assert!(error.span().byte_range().is_empty());
    let tokens = tokens(&["\"^/a\"", "=>", "[", "secnd", "]"]).expect("lexes");
    let input = parse_routes(tokens).expect("parses");
    let error = check_routes(&input).expect_err("unknown key");
    assert_eq!(error.span().byte_range(), 11..16);
}

/// Rules text parses, or every error of it has a line and column inside the text.
fn check_rules_text(bytes: &[u8]) {
    let Err(error) = parse_source(bytes) else {
        return;
    };
    assert!(!matches!(error, SourceError::TooLarge { .. }));
    assert!(!error.diagnostics().is_empty());
    let lines = bytes.split(|&b| b == b'\n').count();
    for diagnostic in error.diagnostics() {
        assert!(diagnostic.byte_range().end <= bytes.len(), "{diagnostic}");
        assert!((1..=lines).contains(&diagnostic.line()), "{diagnostic}");
        assert!(diagnostic.column() >= 1, "{diagnostic}");
    }
    let _ = error.render("hostile.rl", bytes);
}

/// Deep nesting, huge input and binary are errors, at once.
#[test]
fn deep_huge_and_binary_rules_files_are_errors() {
    let deep = format!(
        "\"^/a\" => [{}{}]",
        "(".repeat(400_000),
        ")".repeat(400_000)
    );
    assert!(matches!(
        parse_source(deep.as_bytes()),
        Err(SourceError::Invalid(_))
    ));
    let unbalanced = "[".repeat(1_000_000);
    assert!(matches!(
        parse_source(unbalanced.as_bytes()),
        Err(SourceError::Invalid(_))
    ));
    let huge = vec![b'/'; 2 << 20];
    assert!(matches!(
        parse_source(&huge),
        Err(SourceError::TooLarge { .. })
    ));
    assert!(matches!(
        parse_source(&[0xff, 0xfe, 0x00]),
        Err(SourceError::NotUtf8(_))
    ));
    assert!(matches!(
        parse_source(b"\0\0\0"),
        Err(SourceError::Invalid(_))
    ));
}

//! The DSL from the macro to run time: rules read from text (`Rules::parse`) report each
//! compile-time check's message at the macro's line and column, and match and select exactly
//! as the same rules written in `ratelimit! { … }`.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use ratelimit::{Rules, ratelimit};

/// One error of a trybuild `.stderr`: its message, line and column.
type Located = (String, usize, usize);

/// The errors of a `.stderr`: `error: MESSAGE` (a message of several lines goes on indented
/// by the width of `error: `), then ` --> FILE:LINE:COL`.
fn expected_errors(stderr: &str) -> Vec<Located> {
    let mut errors = Vec::new();
    let mut message: Option<String> = None;
    for line in stderr.lines() {
        if let Some(first) = line.strip_prefix("error: ") {
            message = Some(first.to_owned());
        } else if let Some(place) = line.strip_prefix(" --> ") {
            let Some(message) = message.take() else {
                continue;
            };
            let mut parts = place.rsplitn(3, ':');
            let column = parts.next().and_then(|c| c.parse().ok()).expect("a column");
            let line = parts.next().and_then(|l| l.parse().ok()).expect("a line");
            errors.push((message, line, column));
        } else if let Some(message) = &mut message {
            message.push('\n');
            message.push_str(line.strip_prefix("       ").unwrap_or(line));
        }
    }
    errors
}

/// The case's file with everything but the body of its `ratelimit! { … }` blanked (newlines
/// kept), so that a position in it is a position in the file.
fn macro_body_in_place(case: &str) -> String {
    let open = case.find("ratelimit! {").expect("a `ratelimit! {`") + "ratelimit! {".len();
    let close = case.rfind("\n    };").expect("the invocation's end");
    case.char_indices()
        .map(|(at, c)| {
            if (open..close).contains(&at) || c == '\n' {
                c
            } else {
                ' '
            }
        })
        .collect()
}

fn ui_cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/ratelimit/fail");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the ui cases")
        .map(|entry| entry.expect("a case").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    cases.sort();
    cases
}

#[test]
fn every_ui_error_of_the_macro_is_the_run_time_error_at_the_same_place() {
    let cases = ui_cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    for case in cases {
        let source = std::fs::read_to_string(&case).expect("the case");
        let stderr = std::fs::read_to_string(case.with_extension("stderr")).expect("its stderr");
        let expected = expected_errors(&stderr);
        assert!(
            !expected.is_empty(),
            "{}: no error in its stderr",
            case.display()
        );
        let error = Rules::parse(&macro_body_in_place(&source))
            .expect_err(&format!("{}: valid at run time", case.display()));
        let found: Vec<Located> = error
            .diagnostics()
            .iter()
            .map(|d| (d.message().to_owned(), d.line(), d.column()))
            .collect();
        assert_eq!(found, expected, "{}", case.display());
    }
}

/// The same tokens as `ratelimit! { … }` and as text parsed at run time.
macro_rules! both {
    ($($rules:tt)*) => {
        (
            ratelimit! { $($rules)* },
            Rules::parse(stringify!($($rules)*)).expect("valid at run time"),
        )
    };
}

/// The corpus's rules, built by the macro and parsed at run time (once: rules read at run
/// time are leaked).
fn corpus_rules() -> (Rules, Rules) {
    static RULES: std::sync::LazyLock<(Rules, Rules)> = std::sync::LazyLock::new(|| {
        both! {
            "^/login$"                 => [second = 5 block_time = 60],
            "^/logout$"                => [second = 5],
            "^/signup"                 => [minute = 3],
            r"^/api/v1/users/\d+$"     => [second = 20, unlimited @admin],
            r"^/api/v1/users/\d+/posts" => [second = 10 zone = "posts"],
            "^/api/v1/users"           => [second = 50],
            r"^/api/v1/posts/\d+/comments" => [method = POST second = 10, second = 30],
            "^/api/v1/posts"           => [second = 50],
            "^/api/v1/upload"          => [method = POST minute = 10, method = "PUT" minute = 5],
            r"^/api/v2/[a-z]+/items"   => [second = 100 shadow],
            r"(?i)^/CaSe/ß"            => [second = 3],
            "^/é/ж"                    => [second = 4],
            r"^/files/[0-9a-f]{32}$"   => [minute = 60 global],
            "^/banned"                 => [deny @blocked],
            "^/webhooks/"              => [second = 100],
            "^/health$"                => [second = 100],
            r"^/x(/y)?$"               => [second = 1],
            "^/"                       => [hour = 1000 @default],
        }
    });
    *RULES
}

/// Where a path meets each set of rules: the index of every matching route, and of the route
/// and rule selected for a few methods and groups.
fn meeting(rules: Rules, path: &str) -> (Vec<usize>, Vec<Option<(usize, usize)>>) {
    let index = |route: &ratelimit::Route| {
        rules
            .routes()
            .iter()
            .position(|own| std::ptr::eq(own, route))
            .expect("one of the routes")
    };
    let matching = rules.matching(path).map(index).collect();
    let selected = ["GET", "HEAD", "POST", "put"]
        .into_iter()
        .flat_map(|method| ["default", "admin", "blocked"].map(move |group| (method, group)))
        .map(|(method, group)| {
            rules.select(path, method, group).map(|selection| {
                let rule = selection
                    .route
                    .rules()
                    .iter()
                    .position(|own| std::ptr::eq(own, selection.rule))
                    .expect("one of its rules");
                (index(selection.route), rule)
            })
        })
        .collect();
    (matching, selected)
}

#[test]
fn run_time_rules_are_the_macro_s_route_for_route() {
    let (built, parsed) = corpus_rules();
    assert_eq!(built.routes().len(), parsed.routes().len());
    for (a, b) in built.routes().iter().zip(parsed.routes()) {
        assert_eq!(a.pattern().source(), b.pattern().source());
        assert_eq!(
            a.pattern().kind(),
            b.pattern().kind(),
            "{}",
            a.pattern().source()
        );
        assert_eq!(a.rules(), b.rules(), "{}", a.pattern().source());
    }
}

#[test]
fn run_time_rules_match_and_select_as_the_macro_s_on_a_corpus_of_paths() {
    let (built, parsed) = corpus_rules();
    let corpus = [
        "",
        "/",
        "/login",
        "/login/",
        "/logout?x=1",
        "/signup/now",
        "/api/v1/users/42",
        "/api/v1/users/42/posts/7",
        "/api/v1/users/%34%32",
        "/api/v1/users/abc",
        "/api/v1/posts/3/comments",
        "/api/v1/posts",
        "/api/v1/upload",
        "/api/v2/things/items",
        "/api/v2/THINGS/items",
        "/case/SS",
        "/CASE/ß",
        "/%C3%A9/%D0%B6",
        "/é/ж",
        "/files/0123456789abcdef0123456789abcdef",
        "/files/0123456789abcdef0123456789abcdeF",
        "/banned",
        "/webhooks/x",
        "/health",
        "/healthz",
        "/x",
        "/x/y",
        "/x/y/z",
        "/%zz",
        "no-slash",
    ];
    for path in corpus {
        assert_eq!(meeting(built, path), meeting(parsed, path), "{path}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn run_time_rules_match_and_select_as_the_macro_s_on_random_paths(
        pieces in prop::collection::vec(prop::sample::select(&[
            "/", "api", "v1", "v2", "users", "posts", "42", "x", "y", "items", "comments",
            "login", "health", "files", "0123456789abcdef", "é", "ж", "ß", "SS", "CaSe",
            "%2F", "%41", "?", "$", "z",
        ][..]), 0..10)
    ) {
        let (built, parsed) = corpus_rules();
        let path = pieces.concat();
        prop_assert_eq!(meeting(built, &path), meeting(parsed, &path), "{}", path);
    }
}

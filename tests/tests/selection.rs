//! Rule selection (README, "Request semantics", steps 1 and 3): from path, method and group to the rule that
//! applies, walking the matching routes in declaration order with fall-through.

use ratelimit::{Policy, Rules, Selection, ratelimit};

static RULES: Rules = ratelimit! {
    "^/towns"     => [second = 1 @default, unlimited @admin],
    "/forests"    => [minute = 1],
    "^/exact$"    => [hour = 1],
    r"^/user/\d+" => [minute = 200 zone = "user-api", second = 100 zone = "user-api" @admin],
    "^/upload"    => [method = POST minute = 3, unlimited @admin],
    "^/banned"    => [deny @blocked_tier],
    "^/"          => [day = 1000, method = DELETE deny @blocked_tier],
};

fn selected(path: &str, method: &str, group: &str) -> Option<(String, Vec<String>)> {
    RULES
        .select(path, method, group)
        .map(|Selection { route, rule }| {
            let rule = match rule.policy() {
                Policy::Limited(limits) => limits.iter().map(ToString::to_string).collect(),
                Policy::Unlimited => vec!["unlimited".to_owned()],
                Policy::Deny => vec!["deny".to_owned()],
            };
            (route.pattern().source().to_owned(), rule)
        })
}

fn route_of(path: &str, method: &str, group: &str) -> Option<String> {
    selected(path, method, group).map(|(route, _)| route)
}

#[test]
fn matching_is_anchored_at_the_start_of_the_path() {
    assert_eq!(
        route_of("/towns", "GET", "default").as_deref(),
        Some("^/towns")
    );
    assert_eq!(
        route_of("/townsfolk/1", "GET", "default").as_deref(),
        Some("^/towns")
    );
    // A pattern without `^` is anchored too, as with Python's `re.match`.
    assert_eq!(
        route_of("/forests/oak", "GET", "default").as_deref(),
        Some("/forests")
    );
    assert_eq!(
        route_of("/x/forests", "GET", "default").as_deref(),
        Some("^/")
    );
    assert_eq!(
        route_of("/x/towns", "GET", "default").as_deref(),
        Some("^/")
    );
}

#[test]
fn a_dollar_makes_a_pattern_exact() {
    assert_eq!(
        route_of("/exact", "GET", "default").as_deref(),
        Some("^/exact$")
    );
    assert_eq!(
        route_of("/exactly", "GET", "default").as_deref(),
        Some("^/")
    );
}

#[test]
fn regex_patterns_match_by_regex() {
    assert_eq!(
        route_of("/user/42", "GET", "default").as_deref(),
        Some(r"^/user/\d+")
    );
    assert_eq!(
        route_of("/user/bob", "GET", "default").as_deref(),
        Some("^/")
    );
    let rule = RULES
        .select("/user/42", "GET", "admin")
        .expect("a rule")
        .rule;
    assert_eq!(rule.zone(), Some("user-api"));
    assert_eq!(rule.group(), "admin");
}

#[test]
fn the_query_string_is_ignored() {
    assert_eq!(
        route_of("/exact?page=2", "GET", "default").as_deref(),
        Some("^/exact$")
    );
    assert_eq!(
        route_of("/user/42?x=/towns", "GET", "default").as_deref(),
        Some(r"^/user/\d+")
    );
    let matching = RULES.matching("/towns?x=1");
    assert_eq!(matching.path(), "/towns");
}

#[test]
fn methods_compare_without_case() {
    for method in ["POST", "post", "PoSt"] {
        assert_eq!(
            selected("/upload", method, "default"),
            Some(("^/upload".to_owned(), vec!["minute = 3".to_owned()])),
            "{method}"
        );
    }
}

#[test]
fn the_first_rule_for_the_group_wins() {
    assert_eq!(
        selected("/towns", "GET", "default"),
        Some(("^/towns".to_owned(), vec!["second = 1".to_owned()]))
    );
    assert_eq!(
        selected("/towns", "GET", "admin"),
        Some(("^/towns".to_owned(), vec!["unlimited".to_owned()]))
    );
}

#[test]
fn a_route_without_a_rule_for_the_method_falls_through() {
    // `^/upload` limits only POST for `default`: a GET falls through to `^/`.
    assert_eq!(
        selected("/upload", "GET", "default"),
        Some(("^/".to_owned(), vec!["day = 1000".to_owned()]))
    );
    // Its admin rule takes every method.
    assert_eq!(
        selected("/upload", "GET", "admin"),
        Some(("^/upload".to_owned(), vec!["unlimited".to_owned()]))
    );
}

#[test]
fn a_route_without_a_rule_for_the_group_falls_through() {
    // `^/banned` only names `blocked_tier`: `default` falls through to `^/`.
    assert_eq!(
        selected("/banned", "GET", "default"),
        Some(("^/".to_owned(), vec!["day = 1000".to_owned()]))
    );
    assert_eq!(
        selected("/banned", "GET", "blocked_tier"),
        Some(("^/banned".to_owned(), vec!["deny".to_owned()]))
    );
    // On `^/`, `blocked_tier` has a rule only for DELETE.
    assert_eq!(
        selected("/elsewhere", "DELETE", "blocked_tier"),
        Some(("^/".to_owned(), vec!["deny".to_owned()]))
    );
    assert_eq!(selected("/elsewhere", "GET", "blocked_tier"), None);
}

#[test]
fn no_rule_at_all_means_not_limited() {
    assert_eq!(selected("/towns", "GET", "nobody"), None);
    let only_towns: Rules = ratelimit! { "^/towns" => [second = 1] };
    assert_eq!(only_towns.matching("/forests").count(), 0);
    assert!(only_towns.select("/forests", "GET", "default").is_none());
}

#[test]
fn matching_routes_are_walked_in_declaration_order() {
    let sources: Vec<&str> = RULES
        .matching("/upload/file")
        .map(|route| route.pattern().source())
        .collect();
    assert_eq!(sources, ["^/upload", "^/"]);
}

#[test]
fn a_route_matches_the_path_as_written_or_percent_decoded() {
    // `\d+` fails on `%31` as written, and matches `1` decoded: the earlier route wins over
    // the catch-all that matches the raw spelling.
    assert_eq!(
        route_of("/user/%31", "GET", "default").as_deref(),
        Some(r"^/user/\d+")
    );
    assert_eq!(
        route_of("/%74owns", "GET", "default").as_deref(),
        Some("^/towns")
    );
    assert_eq!(
        route_of("/exac%74?x=%31", "GET", "default").as_deref(),
        Some("^/exact$")
    );
    // Bad escapes stay as they are: no route but the catch-all.
    for path in ["/user/%zz", "/user/%ff", "/user/%", "/user/%3"] {
        assert_eq!(
            route_of(path, "GET", "default").as_deref(),
            Some("^/"),
            "{path}"
        );
    }
    // Decoded once, as a router does.
    assert_eq!(
        route_of("/user/%2531", "GET", "default").as_deref(),
        Some("^/")
    );
}

#[test]
fn head_takes_the_get_rule_unless_a_rule_names_head() {
    static HEAD_RULES: Rules = ratelimit! {
        "^/get"  => [method = GET minute = 1, method = POST hour = 1],
        "^/head" => [method = GET minute = 1, method = HEAD second = 5],
        "^/post" => [method = POST minute = 1],
        "^/"     => [day = 7],
    };
    let rule_of = |path: &str, method: &str| {
        HEAD_RULES.select(path, method, "default").map(|selection| {
            let method = selection.rule.method().map(ToString::to_string);
            let limits: Vec<String> = selection
                .rule
                .limits()
                .iter()
                .map(ToString::to_string)
                .collect();
            format!("{} {}", method.unwrap_or_default(), limits.join(" "))
        })
    };
    assert_eq!(rule_of("/get", "HEAD"), rule_of("/get", "GET"));
    assert_eq!(rule_of("/get", "head").as_deref(), Some("GET minute = 1"));
    assert_eq!(rule_of("/head", "HEAD").as_deref(), Some("HEAD second = 5"));
    // No GET rule on `/post`: HEAD falls through, as a GET would.
    assert_eq!(rule_of("/post", "HEAD").as_deref(), Some(" day = 7"));
}

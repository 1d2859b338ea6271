//! `--bench matcher`: finding the first route that matches a path, among 20 routes like a
//! real API's.
//!
//! - `static`: the matcher `ratelimit!` generates (prefix and equality tests decided at
//!   compile time, regexes only behind their literal prefix);
//! - `runtime`: the same rules read at run time (`Rules::parse` of the macro's text), which
//!   should match as fast (the same matcher, decided when the text is read);
//! - `regex_set`: one run-time `RegexSet` of the same patterns;
//! - `regex_loop`: a loop of `Regex::is_match`, which is what the original `asgi-ratelimit`
//!   does.
//!
//! Each on a path that hits the first route, the last route, and no route.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ratelimit::{Rules, ratelimit};
use regex::{Regex, RegexSet};

/// `RULES` from the macro, and `TEXT`, the same rules as text for `Rules::parse`.
macro_rules! rules_and_text {
    ($($rules:tt)*) => {
        static RULES: Rules = ratelimit! { $($rules)* };
        const TEXT: &str = stringify!($($rules)*);
    };
}

rules_and_text! {
    "^/login$"                 => [second = 5 block_time = 60],
    "^/logout$"                => [second = 5],
    "^/signup"                 => [minute = 3],
    "^/password/reset"         => [hour = 5],
    r"^/api/v1/users/\d+$"     => [second = 20],
    r"^/api/v1/users/\d+/posts" => [second = 10],
    "^/api/v1/users"           => [second = 50],
    r"^/api/v1/posts/\d+/comments" => [second = 10],
    "^/api/v1/posts"           => [second = 50],
    "^/api/v1/search"          => [second = 2 minute = 30],
    "^/api/v1/upload"          => [method = POST minute = 10],
    "^/api/v1/export"          => [hour = 2],
    r"^/api/v2/[a-z]+/items"   => [second = 100],
    "^/api/v2/billing"         => [minute = 20],
    "^/api/v2/reports"         => [minute = 5],
    "^/admin"                  => [second = 10],
    "^/static/"                => [second = 1000],
    r"^/files/[0-9a-f]{32}$"   => [minute = 60],
    "^/webhooks/"              => [second = 100],
    "^/health$"                => [second = 100],
}

const PATHS: [(&str, &str); 3] = [
    ("first", "/login"),
    ("last", "/health"),
    ("none", "/about/company/team"),
];

fn matcher(c: &mut Criterion) {
    let patterns: Vec<&str> = RULES
        .routes()
        .iter()
        .map(|r| r.pattern().source())
        .collect();
    let regexes: Vec<Regex> = patterns
        .iter()
        .map(|p| Regex::new(p).expect("a valid pattern"))
        .collect();
    let set = RegexSet::new(&patterns).expect("valid patterns");
    // Every matcher must agree before any is timed.
    for (_, path) in PATHS {
        let expected = regexes
            .iter()
            .position(|re| re.find(path).is_some_and(|m| m.start() == 0));
        let ours = RULES.matching(path).next().map(|route| {
            patterns
                .iter()
                .position(|p| *p == route.pattern().source())
                .unwrap_or(usize::MAX)
        });
        assert_eq!(ours, expected, "{path}");
        assert_eq!(set.matches(path).iter().next(), expected, "{path}");
    }
    let runtime = Rules::parse(TEXT).expect("the same rules, valid at run time");
    for (_, path) in PATHS {
        let sources = |rules: Rules| -> Vec<String> {
            rules
                .matching(path)
                .map(|route| route.pattern().source().to_owned())
                .collect()
        };
        assert_eq!(sources(runtime), sources(RULES), "{path}");
    }
    // Compile the lazy regexes before timing.
    for (_, path) in PATHS {
        black_box(RULES.matching(path).count());
        black_box(runtime.matching(path).count());
    }

    let mut group = c.benchmark_group("matcher");
    for (name, path) in PATHS {
        group.bench_function(format!("static/{name}"), |b| {
            b.iter(|| RULES.matching(black_box(path)).next().is_some());
        });
        group.bench_function(format!("runtime/{name}"), |b| {
            b.iter(|| runtime.matching(black_box(path)).next().is_some());
        });
        group.bench_function(format!("regex_set/{name}"), |b| {
            b.iter(|| set.matches(black_box(path)).iter().next());
        });
        group.bench_function(format!("regex_loop/{name}"), |b| {
            b.iter(|| regexes.iter().position(|re| re.is_match(black_box(path))));
        });
    }
    group.finish();
}

criterion_group!(benches, matcher);
criterion_main!(benches);

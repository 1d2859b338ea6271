//! Every form the grammar allows: trailing commas, string groups and methods, raw strings,
//! every unit, every duration suffix, exact and regex patterns, rules in shadow and global
//! rules, windows of any length, costs, and the responses that count.
use ratelimit::ratelimit;

fn main() {
    let rules = ratelimit! {
        "^/a$" => [second = 1 minute = 2 hour = 3 day = 4 month = 5,],
        "^/b" => [method = get second = 1 block_time = 90s @"blocked tier", unlimited,],
        "^/c" => [method = "PURGE" minute = 1 block_time = 10m, second = 2 block_time = 2h @r#type],
        r"^/d/\d+" => [hour = 1 block_time = 1d zone = "d"],
        "(?i)^/e" => [deny],
        "^/f" => [minute = 1 shadow, deny shadow @banned, second = 3 global zone = "f" @shared],
        "^/g" => [10s = 3 5m = 100 2h = 1000 1d = 5000 cost = 2, 90s = 10 31d = 20 @admin],
        "^/h" => [minute = 3 count_if = 401 block_time = 60, minute = 9 count_if = 2xx|429|5xx @x],
    };
    assert_eq!(rules.routes().len(), 8);
    let f = rules.routes()[5].rules();
    assert!(f[0].shadow() && f[1].shadow() && !f[2].shadow());
    assert!(f[2].global() && !f[0].global());
    let g = rules.routes()[6].rules();
    let windows: Vec<u64> = g[0].limits().iter().map(|l| l.window_seconds()).collect();
    assert_eq!(windows, [10, 300, 7_200, 86_400]);
    assert_eq!((g[0].cost(), g[1].cost()), (2, 1));
    assert_eq!(g[1].limits()[1].to_string(), "month = 20");
    let h = rules.routes()[7].rules();
    let login = h[0].count_if().expect("statuses");
    assert!(login.contains(401) && !login.contains(200));
    let x = h[1].count_if().expect("statuses");
    assert!(x.contains(204) && x.contains(429) && x.contains(503) && !x.contains(404));
}

//! Every form the grammar allows: trailing commas, string groups and methods, raw strings,
//! every unit, every duration suffix, exact and regex patterns, rules in shadow and global
//! rules.
use ratelimit::ratelimit;

fn main() {
    let rules = ratelimit! {
        "^/a$" => [second = 1 minute = 2 hour = 3 day = 4 month = 5,],
        "^/b" => [method = get second = 1 block_time = 90s @"blocked tier", unlimited,],
        "^/c" => [method = "PURGE" minute = 1 block_time = 10m, second = 2 block_time = 2h @r#type],
        r"^/d/\d+" => [hour = 1 block_time = 1d zone = "d"],
        "(?i)^/e" => [deny],
        "^/f" => [minute = 1 shadow, deny shadow @banned, second = 3 global zone = "f" @shared],
    };
    assert_eq!(rules.routes().len(), 6);
    let f = rules.routes()[5].rules();
    assert!(f[0].shadow() && f[1].shadow() && !f[2].shadow());
    assert!(f[2].global() && !f[0].global());
}

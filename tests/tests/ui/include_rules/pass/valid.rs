use ratelimit::{Rules, include_rules};

static RULES: Rules = include_rules!("ui-rules/valid.rl");

fn main() {
    assert_eq!(RULES.routes().len(), 4);
    let towns = RULES.select("/towns", "GET", "default").expect("limited");
    assert_eq!(towns.rule.limits()[0].to_string(), "second = 1");
    assert!(RULES.select("/user/1", "GET", "default").is_some());
}

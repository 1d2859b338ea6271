use ratelimit::include_rules;

fn main() {
    let _rules = include_rules!(limits);
}

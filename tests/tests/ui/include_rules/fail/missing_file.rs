use ratelimit::include_rules;

fn main() {
    let _rules = include_rules!("ui-rules/no_such_file.rl");
}

use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/export" => [deny cost = 2],
    };
}

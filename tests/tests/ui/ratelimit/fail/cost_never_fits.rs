use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/export" => [second = 3 minute = 10 cost = 4],
    };
}

use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/api" => [second = 10 minute = 5],
    };
}

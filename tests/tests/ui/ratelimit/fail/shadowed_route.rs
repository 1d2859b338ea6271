use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/" => [second = 10],
        "^/api" => [second = 1],
    };
}

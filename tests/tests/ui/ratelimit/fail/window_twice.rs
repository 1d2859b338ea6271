use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/search" => [60s = 5 minute = 10],
    };
}

use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/login" => [minute = 3 count_if = 4xx | 401],
    };
}

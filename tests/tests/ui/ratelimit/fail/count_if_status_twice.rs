use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/login" => [minute = 3 count_if = 401 | 401],
    };
}

use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/login" => [unlimited count_if = 401],
    };
}

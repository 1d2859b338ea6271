use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/search" => [10 = 3],
    };
}

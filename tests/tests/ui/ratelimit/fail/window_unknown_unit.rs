use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/search" => [10w = 3],
    };
}

use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/search" => [0s = 3],
    };
}

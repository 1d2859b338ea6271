use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/search" => [32d = 3],
    };
}

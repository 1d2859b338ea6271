use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/search" => [deny global],
    };
}

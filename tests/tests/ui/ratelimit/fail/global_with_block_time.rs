use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/search" => [second = 3 global block_time = 60],
    };
}

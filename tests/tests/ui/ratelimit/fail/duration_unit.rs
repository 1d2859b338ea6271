use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/login" => [second = 5 block_time = 60x],
    };
}

use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/export" => [minute = 10 cost = 0],
    };
}

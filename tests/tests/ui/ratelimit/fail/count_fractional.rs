use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/towns" => [minute = 1.5],
    };
}

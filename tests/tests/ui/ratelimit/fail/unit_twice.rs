use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/towns" => [second = 1 minute = 10 second = 2],
    };
}

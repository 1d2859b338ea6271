use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "??.*" => [second = 1],
    };
}

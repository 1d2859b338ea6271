use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/towns" => [],
    };
}

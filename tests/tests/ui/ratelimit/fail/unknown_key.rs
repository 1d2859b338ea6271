use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/towns" => [secnd = 1],
    };
}

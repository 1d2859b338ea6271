use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        r"^/(\w+)/\1" => [second = 1],
    };
}

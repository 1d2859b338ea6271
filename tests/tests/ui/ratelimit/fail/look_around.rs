use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/towns(?!/admin)" => [second = 1],
    };
}

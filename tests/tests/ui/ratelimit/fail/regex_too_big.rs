use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        r"^/\w{1000}{1000}" => [second = 1],
    };
}

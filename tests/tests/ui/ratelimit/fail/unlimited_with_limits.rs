use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/towns" => [unlimited second = 1 @admin],
    };
}

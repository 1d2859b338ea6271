use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/towns" => [second = 1 @admin, unlimited @admin],
    };
}

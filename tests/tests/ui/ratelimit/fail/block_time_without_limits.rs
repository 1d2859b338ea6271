use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/towns" => [unlimited block_time = 60 @admin],
    };
}

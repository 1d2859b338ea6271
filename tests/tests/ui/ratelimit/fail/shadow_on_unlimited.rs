use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/towns" => [second = 1, unlimited shadow @admin],
    };
}

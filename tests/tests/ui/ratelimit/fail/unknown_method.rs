use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/upload" => [method = PSOT minute = 3],
    };
}

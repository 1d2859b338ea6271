use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/upload" => [method = "PO ST" minute = 3],
    };
}

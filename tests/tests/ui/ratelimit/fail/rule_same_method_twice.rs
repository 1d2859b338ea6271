use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/upload" => [method = POST minute = 3, method = post minute = 5],
    };
}

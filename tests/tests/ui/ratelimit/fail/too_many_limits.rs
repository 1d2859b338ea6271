use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/a" => [1s = 1 2s = 2 3s = 3 4s = 4 5s = 5 6s = 6 7s = 7 8s = 8 9s = 9],
    };
}

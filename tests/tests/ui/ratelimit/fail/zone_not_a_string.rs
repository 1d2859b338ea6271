use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/user" => [minute = 200 zone = user_api],
    };
}

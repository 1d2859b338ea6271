use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "towns" => [secnd = 1],
        "^/forests" => [minute = 0 @admin],
        "^/api" => [second = 10 minute = 5 zone = ""],
    };
}

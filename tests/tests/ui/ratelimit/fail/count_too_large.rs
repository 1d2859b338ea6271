use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/towns" => [day = 9007199254740992],
    };
}

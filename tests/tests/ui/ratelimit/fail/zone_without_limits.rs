use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "^/towns" => [deny zone = "towns" @banned],
    };
}

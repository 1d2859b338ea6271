//! `Rule(second=0)`: the original accepts it and refuses every request (issues #56, #64).

use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "/" => [second = 0, unlimited @admin],
    };
}

//! `{r"??.*": [Rule(group="admin")]}` raises `re.error` in the original.

use ratelimit::ratelimit;

fn main() {
    let _rules = ratelimit! {
        "??.*" => [unlimited @admin],
    };
}

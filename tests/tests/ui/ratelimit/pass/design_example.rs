//! The README's DSL example, as a `let`, a `static` and a `const`.
use ratelimit::{ratelimit, Rules};

static STATIC_RULES: Rules = ratelimit! {
    "^/towns"    => [second = 1 @default, unlimited @admin],
    "^/forests"  => [minute = 1 @default, unlimited @admin],
    "^/api"      => [day = 400 minute = 200 second = 10, minute = 500 second = 25 @admin],
    r"^/user/\d+" => [minute = 200 zone = "user-api", second = 100 zone = "user-api" @admin],
    "^/login"    => [second = 5 block_time = 60],
    "^/upload"   => [method = POST minute = 3, unlimited @admin],
    "^/banned"   => [deny @blocked_tier],
};

const CONST_RULES: Rules = ratelimit! {
    "^/towns" => [second = 1 @default, unlimited @admin],
};

fn main() {
    let local: Rules = ratelimit! {
        "^/login" => [second = 5 block_time = 60],
        "^/banned" => [deny @blocked_tier],
    };
    assert_eq!(STATIC_RULES.routes().len(), 7);
    assert_eq!(CONST_RULES.routes().len(), 1);
    assert_eq!(local.routes().len(), 2);
}

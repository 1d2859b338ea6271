//! The rules of the `custom_auth` example, in the order its contract gives.
use ratelimit::ratelimit;

fn main() {
    let rules = ratelimit! {
        "^/towns"        => [second = 1 @default, unlimited @admin],
        "^/forests"      => [minute = 1 @default, unlimited @admin],
        "^/api"          => [day = 400 minute = 200 second = 10, minute = 500 second = 25 @admin],
        r"^/user/\d+"    => [minute = 200 zone = "user-api", second = 100 zone = "user-api" @admin],
        "^/login"        => [second = 5 block_time = 60],
        "^/second_limit" => [second = 1, unlimited @admin],
        "^/minute"       => [minute = 1, unlimited @admin],
        "^/multi-minute" => [minute = 2, unlimited @admin],
        "^/block"        => [second = 1 block_time = 5],
        "^/multiple"     => [second = 1 minute = 3],
        "^/message"      => [method = GET minute = 1, method = POST minute = 2],
        r"^/\d+"         => [second = 1 zone = "common"],
        "^/common"       => [second = 1 zone = "common"],
        "^/bench"        => [second = 1000000000],
    };
    assert_eq!(rules.routes().len(), 14);
}

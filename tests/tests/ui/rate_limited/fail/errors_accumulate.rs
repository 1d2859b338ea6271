use ratelimit::rate_limited;

// The rule checks are the ones `ratelimit!` runs (each has its case in `ui/ratelimit/fail`);
// through the attribute, every error is reported at once, each at the attribute's own tokens.
#[rate_limited(second = 10 minute = 5 zone = "", hour = 0 @gold, secnd = 1 @admin)]
async fn handler() -> &'static str {
    "ok"
}

fn main() {
    let _ = handler;
}

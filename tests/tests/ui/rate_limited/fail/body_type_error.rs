//! A type error in the body points at the user's code, not at the attribute.
use ratelimit::rate_limited;

#[rate_limited(second = 1)]
async fn handler() -> &'static str {
    42
}

fn main() {
    let _ = handler;
}

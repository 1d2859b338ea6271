use ratelimit::rate_limited;

#[rate_limited(second = 1)]
fn handler() -> &'static str {
    "ok"
}

fn main() {
    let _ = handler;
}

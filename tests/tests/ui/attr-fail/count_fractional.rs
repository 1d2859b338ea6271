use ratelimit::rate_limited;

#[rate_limited(minute = 1.5)]
async fn handler() -> &'static str {
    "ok"
}

fn main() {
    let _ = handler;
}

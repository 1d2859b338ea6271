use ratelimit::rate_limited;

#[rate_limited(second = 1 minute = 10 second = 2)]
async fn handler() -> &'static str {
    "ok"
}

fn main() {
    let _ = handler;
}

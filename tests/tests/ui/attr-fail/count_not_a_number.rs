use ratelimit::rate_limited;

#[rate_limited(second = "10")]
async fn handler() -> &'static str {
    "ok"
}

fn main() {
    let _ = handler;
}

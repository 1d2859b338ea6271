use ratelimit::rate_limited;

#[rate_limited(minute = 200 zone = "")]
async fn handler() -> &'static str {
    "ok"
}

fn main() {
    let _ = handler;
}

use ratelimit::rate_limited;

#[rate_limited(second = 1 zone = "a" zone = "b")]
async fn handler() -> &'static str {
    "ok"
}

fn main() {
    let _ = handler;
}

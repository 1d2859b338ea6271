use ratelimit::rate_limited;

#[rate_limited(method = GET)]
async fn handler() -> &'static str {
    "ok"
}

fn main() {
    let _ = handler;
}

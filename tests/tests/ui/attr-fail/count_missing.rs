use ratelimit::rate_limited;

#[rate_limited(second)]
async fn handler() -> &'static str {
    "ok"
}

fn main() {
    let _ = handler;
}

use ratelimit::rate_limited;

#[rate_limited]
async fn handler() -> &'static str {
    "ok"
}

fn main() {
    let _ = handler;
}

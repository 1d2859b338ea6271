use ratelimit::rate_limited;

#[rate_limited(method = POST minute = 3, method = post minute = 5)]
async fn handler() -> &'static str {
    "ok"
}

fn main() {
    let _ = handler;
}

use ratelimit::rate_limited;

#[rate_limited(method = "PO ST" minute = 3)]
async fn handler() -> &'static str {
    "ok"
}

fn main() {
    let _ = handler;
}

use ratelimit::rate_limited;

#[rate_limited(unlimited deny @admin)]
async fn handler() -> &'static str {
    "ok"
}

fn main() {
    let _ = handler;
}

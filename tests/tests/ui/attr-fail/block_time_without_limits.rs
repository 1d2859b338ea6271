use ratelimit::rate_limited;

#[rate_limited(unlimited block_time = 60 @admin)]
async fn handler() -> &'static str {
    "ok"
}

fn main() {
    let _ = handler;
}

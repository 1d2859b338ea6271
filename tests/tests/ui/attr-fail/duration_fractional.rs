use ratelimit::rate_limited;

#[rate_limited(second = 5 block_time = 1.5)]
async fn handler() -> &'static str {
    "ok"
}

fn main() {
    let _ = handler;
}

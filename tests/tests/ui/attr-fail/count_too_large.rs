use ratelimit::rate_limited;

#[rate_limited(day = 9007199254740992)]
async fn handler() -> &'static str {
    "ok"
}

fn main() {
    let _ = handler;
}

use ratelimit::rate_limited;

#[rate_limited(deny zone = "towns" @banned)]
async fn handler() -> &'static str {
    "ok"
}

fn main() {
    let _ = handler;
}

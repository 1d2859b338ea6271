use ratelimit::rate_limited;

#[rate_limited("^/towns" => [second = 1])]
async fn handler() -> &'static str {
    "ok"
}

fn main() {
    let _ = handler;
}

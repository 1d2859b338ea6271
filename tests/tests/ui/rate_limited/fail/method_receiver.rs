use ratelimit::rate_limited;

struct Api;

impl Api {
    #[rate_limited(second = 1)]
    async fn handler(&self) -> &'static str {
        "ok"
    }
}

fn main() {}

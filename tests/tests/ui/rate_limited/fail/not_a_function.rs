use ratelimit::rate_limited;

#[rate_limited(second = 1)]
struct Handler;

fn main() {}

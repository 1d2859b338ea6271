//! Several limits in one rule: checked and counted all-or-nothing.

use ratelimit::backend::DenialCause;
use ratelimit::{Limit, Unit};
use ratelimit_tests::harness::{
    Ask, Harness, assert_admitted_after, assert_time, per_algorithm, secs,
};

pub(crate) async fn denied_request_counts_in_no_window(h: &impl Harness) {
    let second = Limit::new(Unit::Second, 2);
    let minute = Limit::new(Unit::Minute, 3);
    let limits = [second, minute];
    let ask = Ask::path("/api", "alice", &limits);
    assert_eq!(ask.admitted(h, 2).await, 2);
    for _ in 0..10 {
        // Refused by the second; had they counted in the minute, it would be full.
        assert_eq!(ask.deny(h).await.cause, DenialCause::Limit(second));
    }
    h.advance(secs(2)).await;
    let quota = ask.allow(h).await;
    assert_eq!((quota.limit, quota.remaining), (minute, 0));
    assert_eq!(ask.deny(h).await.cause, DenialCause::Limit(minute));
}

pub(crate) async fn retry_after_is_the_longest_wait(h: &impl Harness) {
    let second = Limit::new(Unit::Second, 1);
    let minute = Limit::new(Unit::Minute, 2);
    let limits = [second, minute];
    let ask = Ask::path("/api", "alice", &limits);
    ask.allow(h).await;
    h.advance(secs(2)).await;
    ask.allow(h).await;
    // Both exhausted: the second frees up in 1 s (sliding: 2 s), the minute later.
    let denial = ask.deny(h).await;
    assert_eq!(denial.cause, DenialCause::Limit(minute));
    // Fixed: 60 − 2. Sliding: 58 to the window's end, then until 1 + 2·(1 − e/60) ≤ 2
    // (e = 30). GCRA: TAT (60) − tolerance (30) − now (2).
    let wait = per_algorithm(h, secs(58), secs(88), secs(28));
    assert_time(h, denial.retry_after, wait);
    assert_admitted_after(h, &ask, wait).await;
}

//! One limit: how each algorithm admits, denies, waits and refills.

use ratelimit::backend::DenialCause;
use ratelimit::{Limit, Unit};
use ratelimit_tests::harness::{
    Ask, Harness, assert_admitted_after, assert_time, ms, per_algorithm, secs,
};

pub(crate) async fn admits_the_count_then_denies(h: &impl Harness) {
    let limits = [Limit::new(Unit::Minute, 3)];
    let ask = Ask::path("/towns", "alice", &limits);
    for remaining in [2, 1, 0] {
        let quota = ask.allow(h).await;
        assert_eq!((quota.limit, quota.remaining), (limits[0], remaining));
    }
    for _ in 0..5 {
        let denial = ask.deny(h).await;
        assert_eq!(denial.cause, DenialCause::Limit(limits[0]));
    }
}

pub(crate) async fn retry_after_is_the_exact_wait(h: &impl Harness) {
    let limits = [Limit::new(Unit::Second, 2)];
    let ask = Ask::path("/towns", "alice", &limits);
    assert_eq!(ask.admitted(h, 2).await, 2);
    h.advance(ms(300)).await;
    let denial = ask.deny(h).await;
    // Fixed: the rest of the window. Sliding: the rest of the window, then until
    // 2·(1 − e) ≤ 1 in the next (e = 500 ms). GCRA: TAT (1 s) − tolerance (500 ms) − now.
    let wait = per_algorithm(h, ms(700), ms(1200), ms(200));
    assert_time(h, denial.retry_after, wait);
    assert_eq!(
        denial.retry_after_secs(),
        per_algorithm(h, 1, 2, 1),
        "Retry-After rounds up"
    );
    assert_admitted_after(h, &ask, wait).await;
}

pub(crate) async fn windows_start_at_the_first_request(h: &impl Harness) {
    // Time passing before a pool's first request changes nothing: windows are not aligned
    // to the clock (a clock-aligned fixed window would reset 300 ms after this burst).
    h.advance(ms(700)).await;
    let limits = [Limit::new(Unit::Second, 2)];
    let ask = Ask::path("/towns", "alice", &limits);
    assert_eq!(ask.admitted(h, 2).await, 2);
    let wait = per_algorithm(h, secs(1), ms(1500), ms(500));
    assert_time(h, ask.deny(h).await.retry_after, wait);
    assert_admitted_after(h, &ask, wait).await;
}

pub(crate) async fn boundary_burst_only_in_fixed_window(h: &impl Harness) {
    let limits = [Limit::new(Unit::Second, 5)];
    let ask = Ask::path("/towns", "alice", &limits);
    ask.allow(h).await;
    h.advance(ms(990)).await;
    let before = ask.admitted(h, 5).await;
    h.advance(ms(10)).await;
    let after = ask.admitted(h, 5).await;
    // Within 10 ms around the end of the first window: a fixed window lets 2·5 − 1 through,
    // the sliding counter and GCRA at most the count.
    assert_eq!(
        (before, after),
        per_algorithm(h, (4, 5), (4, 0), (5, 0)),
        "{:?}",
        h.algorithm()
    );
}

pub(crate) async fn exhausted_limit_refills(h: &impl Harness) {
    let limits = [Limit::new(Unit::Second, 4)];
    let ask = Ask::path("/towns", "alice", &limits);
    assert_eq!(ask.admitted(h, 4).await, 4);
    let mut admitted = Vec::new();
    for _ in 0..8 {
        h.advance(ms(250)).await;
        admitted.push(ask.admitted(h, 4).await);
    }
    // Fixed: all at once when the window ends. Sliding: one per quarter once the previous
    // window's weight has slid off enough. GCRA: one per emission interval (250 ms).
    let expected = per_algorithm(
        h,
        [0, 0, 0, 4, 0, 0, 0, 4],
        [0, 0, 0, 0, 1, 1, 1, 1],
        [1, 1, 1, 1, 1, 1, 1, 1],
    );
    assert_eq!(admitted, expected, "{:?}", h.algorithm());
}

pub(crate) async fn idle_pool_is_forgotten(h: &impl Harness) {
    let limits = [Limit::new(Unit::Minute, 2)];
    let ask = Ask::path("/towns", "alice", &limits);
    assert_eq!(ask.admitted(h, 3).await, 2);
    // Two windows on, every algorithm is back to a full count.
    h.advance(secs(120)).await;
    assert_eq!(ask.allow(h).await.remaining, 1);
    assert_eq!(ask.allow(h).await.remaining, 0);
    ask.deny(h).await;
}

pub(crate) async fn quota_reports_the_tightest_limit(h: &impl Harness) {
    let second = Limit::new(Unit::Second, 5);
    let minute = Limit::new(Unit::Minute, 7);
    let limits = [second, minute];
    let ask = Ask::path("/towns", "alice", &limits);

    let quota = ask.allow(h).await;
    assert_eq!((quota.limit, quota.remaining), (second, 4));
    // Reset: until the limit is back to its full count.
    assert_time(h, quota.reset, per_algorithm(h, secs(1), secs(2), ms(200)));

    assert_eq!(ask.admitted(h, 3).await, 3);
    let quota = ask.allow(h).await;
    assert_eq!((quota.limit, quota.remaining), (second, 0));
    assert_time(h, quota.reset, per_algorithm(h, secs(1), secs(2), secs(1)));

    // The second is fresh again; the minute has 1 left after this request.
    h.advance(secs(2)).await;
    let quota = ask.allow(h).await;
    assert_eq!((quota.limit, quota.remaining), (minute, 1));
    // GCRA: 6 requests spaced 60/7 s, from 0 s: back to full at 6·60/7 s.
    let gcra = std::time::Duration::from_nanos(360_000_000_000_u64.div_ceil(7)) - secs(2);
    assert_time(h, quota.reset, per_algorithm(h, secs(58), secs(118), gcra));
}

//! What a request counts: a cost of several units, and windows of any length.

use ratelimit::backend::DenialCause;
use ratelimit::{Limit, Unit};
use ratelimit_tests::harness::{
    Ask, Harness, assert_admitted_after, assert_time, per_algorithm, secs,
};

pub(crate) async fn a_cost_uses_that_much_of_every_window(h: &impl Harness) {
    let minute = Limit::new(Unit::Minute, 10);
    let limits = [minute];
    let ask = Ask::path("/export", "alice", &limits).cost(4);
    // Remaining is in units: 10 − 4, then 10 − 8.
    assert_eq!(ask.allow(h).await.remaining, 6);
    assert_eq!(ask.allow(h).await.remaining, 2);
    let denial = ask.deny(h).await;
    assert_eq!(denial.cause, DenialCause::Limit(minute));
    // Fixed: the window's end. Sliding: 60 s to the next window, then until
    // 8·(1 − e/60) + 4 ≤ 10 (e = 15). GCRA (6 s a unit): TAT 48 − (10 − 4)·6.
    let wait = per_algorithm(h, secs(60), secs(75), secs(12));
    assert_time(h, denial.retry_after, wait);
    assert_admitted_after(h, &ask, wait).await;
    // A request of cost 1 in the same pool fits where one of cost 4 did not.
    let one = Ask::path("/export", "bob", &limits).cost(4);
    assert_eq!(one.admitted(h, 3).await, 2);
    let cheap = Ask::path("/export", "bob", &limits);
    assert_eq!(cheap.admitted(h, 3).await, 2, "the two units left");
}

pub(crate) async fn a_window_of_any_length_counts_like_a_unit(h: &impl Harness) {
    let ten = Limit::per_seconds(10, 2);
    let limits = [ten];
    let ask = Ask::path("/burst", "alice", &limits);
    let quota = ask.allow(h).await;
    assert_eq!((quota.limit, quota.remaining), (ten, 1));
    ask.allow(h).await;
    let denial = ask.deny(h).await;
    assert_eq!(denial.cause, DenialCause::Limit(ten));
    // Fixed: the window's end. Sliding: 10 s, then until 2·(1 − e/10) + 1 ≤ 2 (e = 5).
    // GCRA (5 s a request): TAT 10 − (2 − 1)·5.
    let wait = per_algorithm(h, secs(10), secs(15), secs(5));
    assert_time(h, denial.retry_after, wait);
    assert_admitted_after(h, &ask, wait).await;
}

pub(crate) async fn a_window_of_a_units_length_is_that_units_window(h: &impl Harness) {
    let sixty = [Limit::per_seconds(60, 2)];
    let minute = [Limit::new(Unit::Minute, 2)];
    assert_eq!(Ask::path("/a", "alice", &sixty).admitted(h, 2).await, 2);
    let denial = Ask::path("/a", "alice", &minute).deny(h).await;
    assert_eq!(denial.cause, DenialCause::Limit(minute[0]), "one window");
}

pub(crate) async fn windows_of_other_lengths_are_kept_apart(h: &impl Harness) {
    let ten = Limit::per_seconds(10, 1);
    let twenty = Limit::per_seconds(20, 1);
    let ninety = Limit::per_seconds(90, 2);
    assert_eq!(Ask::path("/a", "alice", &[ten]).admitted(h, 2).await, 1);
    assert_eq!(Ask::path("/a", "alice", &[twenty]).admitted(h, 2).await, 1);
    // Both in one rule: the first two windows are full, the third has room.
    let limits = [ten, twenty, ninety];
    let denial = Ask::path("/a", "alice", &limits).deny(h).await;
    assert_eq!(denial.cause, DenialCause::Limit(twenty), "frees up last");
    // Two of the 20 s windows later, every algorithm has room in both short windows.
    h.advance(secs(40)).await;
    let quota = Ask::path("/a", "alice", &limits).allow(h).await;
    assert_eq!(quota.remaining, 0);
    let quota = Ask::path("/a", "alice", &[ninety]).allow(h).await;
    assert_eq!(quota.remaining, 0, "counted in the 90 s window too");
    assert_eq!(
        Ask::path("/a", "alice", &[ninety]).deny(h).await.cause,
        DenialCause::Limit(ninety)
    );
}

pub(crate) async fn a_request_given_back_leaves_its_room(h: &impl Harness) {
    let minute = Limit::new(Unit::Minute, 3);
    let limits = [minute];
    let ask = Ask::path("/login", "alice", &limits);
    ask.allow(h).await;
    let second = ask.allow(h).await;
    ask.allow(h).await;
    ask.deny(h).await;
    ask.give_back(h, &second).await;
    let again = ask.allow(h).await;
    assert_eq!(again.remaining, 0, "one unit given back, one used again");
    ask.deny(h).await;
    // A cost is given back whole.
    let ten = [Limit::new(Unit::Minute, 10)];
    let costly = Ask::path("/export", "alice", &ten).cost(4);
    let quota = costly.allow(h).await;
    costly.allow(h).await;
    costly.deny(h).await;
    costly.give_back(h, &quota).await;
    assert_eq!(costly.allow(h).await.remaining, 2);
}

pub(crate) async fn a_give_back_never_goes_below_zero(h: &impl Harness) {
    let limits = [Limit::new(Unit::Minute, 2)];
    let ask = Ask::path("/login", "alice", &limits);
    let quota = ask.allow(h).await;
    ask.give_back(h, &quota).await;
    ask.give_back(h, &quota).await;
    ask.give_back(h, &quota).await;
    assert_eq!(
        ask.admitted(h, 3).await,
        2,
        "no credit below an empty window"
    );
}

pub(crate) async fn a_give_back_never_reaches_a_window_started_since(h: &impl Harness) {
    let limits = [Limit::new(Unit::Minute, 2)];
    let ask = Ask::path("/login", "alice", &limits);
    let old = ask.allow(h).await;
    // Two windows later (a sliding window forgets its previous one then too).
    h.advance(secs(121)).await;
    assert_eq!(ask.admitted(h, 2).await, 2);
    ask.give_back(h, &old).await;
    ask.deny(h).await;
    // In every window the request was counted in, it is given back.
    let recent = Ask::path("/other", "alice", &limits);
    let quota = recent.allow(h).await;
    h.advance(secs(10)).await;
    recent.allow(h).await;
    recent.give_back(h, &quota).await;
    recent.allow(h).await;
    recent.deny(h).await;
}

pub(crate) async fn a_give_back_leaves_a_block_in_place(h: &impl Harness) {
    let limits = [Limit::new(Unit::Minute, 1)];
    let ask = Ask::path("/login", "alice", &limits).block(secs(600));
    let quota = ask.allow(h).await;
    assert_eq!(ask.deny(h).await.cause, DenialCause::Limit(limits[0]));
    ask.give_back(h, &quota).await;
    assert_eq!(ask.deny(h).await.cause, DenialCause::Blocked);
}

//! `block_time`: a denial blocks the user on every pool, for a while, without extension.

use ratelimit::backend::DenialCause;
use ratelimit::{Limit, Unit};
use ratelimit_tests::harness::{Ask, Harness, assert_time, per_algorithm, secs};

const LOGIN: [Limit; 1] = [Limit::new(Unit::Second, 1)];
const API: [Limit; 1] = [Limit::new(Unit::Minute, 5)];

pub(crate) async fn block_denies_the_user_everywhere_and_counts_nothing(h: &impl Harness) {
    let login = Ask::path("/login", "alice", &LOGIN).block(secs(10));
    login.allow(h).await;
    let denial = login.deny(h).await;
    // The request that sets the block: the block time (longer than the window's wait).
    assert_eq!(denial.cause, DenialCause::Limit(LOGIN[0]));
    assert_time(h, denial.retry_after, secs(10));

    // Every pool of the user is blocked: other paths, zones, methods, rules without a block.
    let elsewhere = [
        Ask::path("/api", "alice", &API),
        Ask::zone("user-api", "alice", &API),
        Ask::path("/api", "alice", &API).method("POST"),
        Ask::path("/login", "alice", &LOGIN),
    ];
    for ask in &elsewhere {
        let denial = ask.deny(h).await;
        assert_eq!(denial.cause, DenialCause::Blocked);
        assert_time(h, denial.retry_after, secs(10));
    }
    // Other users are not.
    Ask::path("/api", "bob", &API).allow(h).await;
    Ask::path("/login", "bob", &LOGIN).allow(h).await;

    h.advance(secs(5)).await;
    for ask in &elsewhere {
        assert_time(h, ask.deny(h).await.retry_after, secs(5));
    }

    // Over: nothing was counted while blocked.
    h.advance(secs(5)).await;
    for ask in &elsewhere[..3] {
        assert_eq!(ask.allow(h).await.remaining, 4);
    }
    login.allow(h).await;
}

pub(crate) async fn block_is_not_extended_by_requests(h: &impl Harness) {
    let login = Ask::path("/login", "alice", &LOGIN).block(secs(10));
    login.allow(h).await;
    login.deny(h).await;
    for elapsed in 1..10 {
        h.advance(secs(1)).await;
        let denial = login.deny(h).await;
        assert_eq!(denial.cause, DenialCause::Blocked);
        assert_time(h, denial.retry_after, secs(10 - elapsed));
    }
    h.advance(secs(1)).await;
    login.allow(h).await;
}

pub(crate) async fn block_waits_for_an_exhausted_window(h: &impl Harness) {
    let limits = [Limit::new(Unit::Minute, 1)];
    let ask = Ask::path("/login", "alice", &limits).block(secs(10));
    ask.allow(h).await;
    h.advance(secs(1)).await;
    // The window is still full when the 10 s block ends: Retry-After is the window's wait.
    let denial = ask.deny(h).await;
    assert_eq!(denial.cause, DenialCause::Limit(limits[0]));
    assert_time(
        h,
        denial.retry_after,
        per_algorithm(h, secs(59), secs(119), secs(59)),
    );

    h.advance(secs(5)).await;
    let denial = ask.deny(h).await;
    assert_eq!(denial.cause, DenialCause::Blocked);
    assert_time(
        h,
        denial.retry_after,
        per_algorithm(h, secs(54), secs(114), secs(54)),
    );
    // A rule whose windows are free waits for the block only.
    let other = Ask::path("/api", "alice", &API).deny(h).await;
    assert_eq!(other.cause, DenialCause::Blocked);
    assert_time(h, other.retry_after, secs(5));
}

pub(crate) async fn block_is_set_again_if_the_window_is_still_exhausted(h: &impl Harness) {
    // As the original: the block ends; a request the window still refuses blocks again.
    let limits = [Limit::new(Unit::Minute, 1)];
    let ask = Ask::path("/login", "alice", &limits).block(secs(10));
    ask.allow(h).await;
    h.advance(secs(1)).await;
    ask.deny(h).await;
    h.advance(secs(10)).await;
    let api = Ask::path("/api", "alice", &API);
    api.allow(h).await;
    let denial = ask.deny(h).await;
    assert_eq!(denial.cause, DenialCause::Limit(limits[0]));
    assert_time(
        h,
        denial.retry_after,
        per_algorithm(h, secs(49), secs(109), secs(49)),
    );
    let denial = api.deny(h).await;
    assert_eq!(denial.cause, DenialCause::Blocked);
    assert_time(h, denial.retry_after, secs(10));
}

pub(crate) async fn no_block_without_block_time(h: &impl Harness) {
    let login = Ask::path("/login", "alice", &LOGIN);
    login.allow(h).await;
    assert_eq!(login.deny(h).await.cause, DenialCause::Limit(LOGIN[0]));
    Ask::path("/api", "alice", &API).allow(h).await;
}

//! The shared flows of `tests/backends/backend_utils.py`, step for step, over any harness.
//!
//! Both expect an [`App`] limited by rules with the original's routes (see
//! [`crate::backends`]): `/second_limit` (`second = 1`, admins unlimited), `/minute.*`
//! (`minute = 1`, admins unlimited), `/block` (`second = 1 block_time = 5`), and for
//! [`base_test_multi`] `/multi-minute` (`minute = 2`, admins unlimited). They start at the
//! harness's current time and leave the clock where they end.

use crate::support::{ADMIN, ANONYMOUS, App, Harness, USER, ms, per_algorithm, secs};

/// `base_test_cases`, steps 1 to 13 of the original.
///
/// Its waits assume a limit of 1 frees up one window after the request (the fixed window and
/// GCRA; not the sliding window counter: see [`crate::ported_suite`]).
///
/// Difference: the original asserts `Retry-After` only at steps 3 and 10; this asserts it at
/// every refusal, as ours is the time until the request would be admitted: steps 3 and 7 the
/// whole window (no time has passed in it), 10 the block time, 11 and 12 what is left of the
/// block (the original's Redis backend says the same, its memory backend the integer seconds
/// to the deadline). And the block ends exactly when that says, not a moment before.
pub(crate) async fn base_test_cases(app: &App, h: &impl Harness) {
    let auth_calls = app.auth_calls();

    // 1. No pattern matches `/`: passed through without authentication (headerless).
    app.get("/", ANONYMOUS).await.assert_hello("1");
    assert_eq!(app.auth_calls(), auth_calls, "1: not authenticated");

    // 2-5. `second = 1`, admins unlimited.
    app.get("/second_limit", USER).await.assert_hello("2");
    app.get("/second_limit", USER)
        .await
        .assert_limited("3", Some(1));
    app.get("/second_limit", ADMIN)
        .await
        .assert_hello("4: the admin rule is unlimited");
    h.advance(secs(1)).await;
    app.get("/second_limit", USER).await.assert_hello("5");

    // 6-8. `/minute_limit` matches `/minute.*` (a prefix match, as Python's `re.match`).
    app.get("/minute_limit", USER).await.assert_hello("6");
    app.get("/minute_limit", USER)
        .await
        .assert_limited("7", Some(60));
    app.get("/minute_limit", ADMIN).await.assert_hello("8");

    // 9-13. `second = 1 block_time = 5`.
    app.get("/block", USER).await.assert_hello("9");
    app.get("/block", USER)
        .await
        .assert_limited("10: blocked for block_time", Some(5));
    h.advance(secs(1)).await;
    app.get("/block", USER)
        .await
        .assert_limited("11: still blocked (the window is fresh)", Some(4));
    app.get("/block", USER)
        .await
        .assert_limited("12: the block is not extended", Some(4));
    // The original sleeps 4 s; ours is still blocked a millisecond before that.
    h.advance(secs(4) - ms(1)).await;
    app.get("/block", USER)
        .await
        .assert_limited("13-: still blocked 1 ms before its end", Some(1));
    h.advance(ms(1)).await;
    app.get("/block", USER)
        .await
        .assert_hello("13: the block is over, a new window");

    // Difference: once per request (the original: once per matching pattern, also once here
    // as no two patterns match one path).
    assert_eq!(app.auth_calls(), auth_calls + 13, "steps 2-13");
}

/// `base_test_multi`: `/multi-minute` (`minute = 2`) admits two, then refuses.
///
/// Difference: `Retry-After` (not asserted by the original) is the time until admission: the
/// rest of the minute for the fixed window, half a minute for GCRA (spacing window / count),
/// 90 s for the sliding window counter (the rest of this window, then half the next).
pub(crate) async fn base_test_multi(app: &App, h: &impl Harness) {
    app.get("/multi-minute", USER).await.assert_hello("multi 1");
    // Admitted: `/multi-minute` does not match `/minute.*` (`minute = 1`), as `re.match`
    // anchors at the start of the path.
    app.get("/multi-minute", USER).await.assert_hello("multi 2");
    app.get("/multi-minute", USER)
        .await
        .assert_limited("multi 3", Some(per_algorithm(h, 60, 90, 30)));
}

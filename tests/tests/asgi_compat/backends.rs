//! `tests/backends/test_simple.py` and `tests/backends/test_redis.py`, over any harness, and
//! the backend behaviours where this port deliberately differs from the original.
//!
//! The app authenticates with `backend_utils.auth_func` ([`backend_utils_auth`]).

use ratelimit::{Rules, ratelimit};

use crate::flows;
use crate::support::{
    App, Harness, USER, backend_utils_auth, ms, one_window_refill, per_algorithm, secs,
};

/// `test_redis`'s config. `Rule(group="admin")` (no limits) is `unlimited @admin`.
static TEST_REDIS_RULES: Rules = ratelimit! {
    "/second_limit" => [second = 1, unlimited @admin],
    "/minute.*"     => [minute = 1, unlimited @admin],
    "/block"        => [second = 1 block_time = 5],
};

/// `test_simple`'s config: `test_redis`'s with `/multi-minute` after `/minute.*`.
static TEST_SIMPLE_RULES: Rules = ratelimit! {
    "/second_limit" => [second = 1, unlimited @admin],
    "/minute.*"     => [minute = 1, unlimited @admin],
    "/multi-minute" => [minute = 2, unlimited @admin],
    "/block"        => [second = 1 block_time = 5],
};

/// `test_multiple`'s and `test_multiple_with_punitive`'s config.
static TEST_MULTIPLE_RULES: Rules = ratelimit! { "/multiple" => [second = 1 minute = 3] };

/// `test_simple[MemoryBackend]`: `base_test_cases`, then `base_test_multi`.
pub(crate) async fn test_simple(h: &impl Harness) {
    let app = App::new(TEST_SIMPLE_RULES, backend_utils_auth(), h);
    flows::base_test_cases(&app, h).await;
    flows::base_test_multi(&app, h).await;
}

/// `test_redis[RedisBackend]` and `test_redis[SlidingRedisBackend]`: `base_test_cases` on
/// `test_redis`'s config (run on every harness's backend: memory and Redis). Our backends all have the fixed window, sliding window counter and GCRA; the
/// original's `SlidingRedisBackend` (a sliding log) has no counterpart with its exact waits.
pub(crate) async fn test_redis(h: &impl Harness) {
    let app = App::new(TEST_REDIS_RULES, backend_utils_auth(), h);
    flows::base_test_cases(&app, h).await;
}

/// `base_test_multi` on its own, so that it runs on every algorithm (within `test_simple` it
/// follows `base_test_cases`, which needs a one-window refill).
pub(crate) async fn base_test_multi(h: &impl Harness) {
    let app = App::new(TEST_SIMPLE_RULES, backend_utils_auth(), h);
    flows::base_test_multi(&app, h).await;
}

/// `test_multiple[RedisBackend]`: `second = 1 minute = 3` is all-or-nothing: the requests the
/// second refuses do not count against the minute, so the third admitted request comes at
/// 3 s, after two refusals.
///
/// Beyond the original: the minute then holds exactly those three, and `Retry-After` is the
/// minute's wait (the longest over the exhausted limits; the original's Redis backend says
/// 60, the full window of the first exhausted unit). (Fixed window and GCRA: the sliding
/// window counter's `second = 1` frees up two seconds after a request, so its step 3 is a 429;
/// [`test_multiple_with_punitive`] runs the same rule on every algorithm.)
pub(crate) async fn test_multiple(h: &impl Harness) {
    let app = App::new(TEST_MULTIPLE_RULES, backend_utils_auth(), h);
    app.get("/multiple", USER).await.assert_hello("1");
    app.get("/multiple", USER)
        .await
        .assert_limited("2: the second is used up", Some(1));
    h.advance(secs(1)).await;
    app.get("/multiple", USER).await.assert_hello("3");
    app.get("/multiple", USER)
        .await
        .assert_limited("4: the second is used up", Some(1));
    h.advance(secs(2)).await;
    app.get("/multiple", USER)
        .await
        .assert_hello("5: only three counted in the minute");
    // The minute is full: the fixed window's ends at 60 s, GCRA's next slot (20 s apart, a
    // burst of 3) is at 20 s.
    app.get("/multiple", USER).await.assert_limited(
        "6: the minute is used up",
        Some(one_window_refill(h, 57, 17)),
    );
}

/// `test_multiple_with_punitive[SlidingRedisBackend]`, ported to our semantics.
///
/// Difference: the original's sliding backend counts a refused request in every window that
/// had room ("punitive"), so after 200, 429, 200, 429 its minute (`minute = 3`) is full and
/// the last step is a 429. Ours are all-or-nothing in every backend and algorithm: a refused
/// request counts in no window. So here the second refuses ten requests at each step, and
/// the minute still admits the three it allows; the steps wait for the `Retry-After` each
/// refusal gives (1 s; 2 s for the sliding window counter, whose limit of 1 frees up two
/// windows after a request), so that the case runs on every algorithm.
pub(crate) async fn test_multiple_with_punitive(h: &impl Harness) {
    let app = App::new(TEST_MULTIPLE_RULES, backend_utils_auth(), h);
    let second = per_algorithm(h, 1, 2, 1);
    for admitted in 1..=3 {
        app.get("/multiple", USER)
            .await
            .assert_hello(&format!("admitted {admitted} of the minute's 3"));
        if admitted == 3 {
            break;
        }
        for refused in 1..=10 {
            app.get("/multiple", USER).await.assert_limited(
                &format!("refused {refused} after admitted {admitted}: the second"),
                Some(second),
            );
        }
        h.advance(secs(second)).await;
    }
    // Now the minute is full (the fixed window's ends 58 s from here, the sliding counter's
    // next room is 76 s away, GCRA's next slot 18 s), and it is the minute that binds once
    // the second has room again.
    let minute = per_algorithm(h, 58, 76, 18);
    app.get("/multiple", USER)
        .await
        .assert_limited("the minute is used up", Some(minute));
    h.advance(secs(second)).await;
    app.get("/multiple", USER)
        .await
        .assert_limited("the minute still binds", Some(minute - second));
}

/// `test_other[MemoryBackend]`: `/test-remove` with `second = 1 block_time = 50` blocks the
/// user, who is still blocked a second later.
///
/// Difference: the original then unblocks the user by hand (`backend.remove_user("user")`,
/// `backend.remove_rule(path, "/test-remove:*:user:second")`, both truthy) and gets a 200.
/// Our `MemoryBackend` has no such administration API, so that part cannot be ported; the
/// case checks instead that the block (not extended by requests) ends exactly at its end,
/// and that `Retry-After` counts down to it.
pub(crate) async fn test_other(h: &impl Harness) {
    static RULES: Rules = ratelimit! { "/test-remove" => [second = 1 block_time = 50] };
    let app = App::new(RULES, backend_utils_auth(), h);
    app.get("/test-remove", USER).await.assert_hello("1");
    app.get("/test-remove", USER)
        .await
        .assert_limited("2: blocked", Some(50));
    h.advance(secs(1)).await;
    app.get("/test-remove", USER)
        .await
        .assert_limited("3: still blocked", Some(49));
    h.advance(secs(49) - ms(1)).await;
    app.get("/test-remove", USER)
        .await
        .assert_limited("4: blocked until the end", Some(1));
    h.advance(ms(1)).await;
    app.get("/test-remove", USER)
        .await
        .assert_hello("5: the block is over");
}

/// Difference (behaviour §9.2): `Retry-After` is the time left until the request would be
/// admitted. The original's Redis backend says the full window (60 for a minute) however
/// much of it is left; its memory backend the integer seconds left. (Fixed window and GCRA:
/// the sliding window counter's `minute = 1` frees up two minutes after the request.)
pub(crate) async fn retry_after_is_the_time_left_not_the_window(h: &impl Harness) {
    let app = App::new(TEST_REDIS_RULES, backend_utils_auth(), h);
    app.get("/minute_limit", USER).await.assert_hello("first");
    h.advance(secs(20)).await;
    app.get("/minute_limit", USER)
        .await
        .assert_limited("20 s into the minute", Some(40));
    // Rounded up: 39.5 s left is 40.
    h.advance(ms(500)).await;
    app.get("/minute_limit", USER)
        .await
        .assert_limited("20.5 s into the minute", Some(40));
    h.advance(ms(39_500)).await;
    app.get("/minute_limit", USER)
        .await
        .assert_hello("admitted when Retry-After said");
}

/// Difference (behaviour §9.1): no bypass at the end of a window. The original's memory
/// backend counts in whole seconds and takes a wait of 0 for "allowed", so in the last second
/// of a window it admits requests over the limit; ours refuses them until the window ends,
/// with a `Retry-After` of at least 1 (rounded up, never 0). (Fixed window and GCRA: the
/// sliding window counter's limits of 1 free up two windows after the request.)
pub(crate) async fn no_bypass_at_the_end_of_a_window(h: &impl Harness) {
    let app = App::new(TEST_REDIS_RULES, backend_utils_auth(), h);

    app.get("/minute_limit", USER).await.assert_hello("minute");
    h.advance(ms(59_500)).await;
    app.get("/minute_limit", USER)
        .await
        .assert_limited("0.5 s left in the minute", Some(1));
    h.advance(ms(499)).await;
    app.get("/minute_limit", USER)
        .await
        .assert_limited("1 ms left in the minute", Some(1));
    h.advance(ms(1)).await;
    app.get("/minute_limit", USER)
        .await
        .assert_hello("the minute is over");

    app.get("/second_limit", USER).await.assert_hello("second");
    h.advance(ms(999)).await;
    app.get("/second_limit", USER)
        .await
        .assert_limited("1 ms left in the second", Some(1));
    h.advance(ms(1)).await;
    app.get("/second_limit", USER)
        .await
        .assert_hello("the second is over");
}

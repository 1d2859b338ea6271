//! The original `asgi-ratelimit` test suite, ported: every case of `tests/test_core.py`,
//! `tests/backends/test_simple.py` and `tests/backends/test_redis.py`, and the shared flows of
//! `tests/backends/backend_utils.py` (`base_test_cases`, `base_test_multi`), through the
//! middleware on an axum `Router` driven by `tower::ServiceExt::oneshot`. (The auth modules'
//! cases, `test_ip`, `test_jwt` and `test_session`, are ported with the authenticators.)
//!
//! Each test keeps the original's rules, paths, users and steps. Where this port deliberately
//! differs from the original (README, "Where and why this differs from `asgi-ratelimit`"; the behaviour reference §9), the test asserts our
//! behaviour, and a comment names the difference.
//!
//! The cases that need a backend are written once over a [`Harness`](support::Harness) (a
//! backend and a way to move its time) and generated per algorithm by [`ported_suite!`]: the
//! memory backend on a manual clock ([`memory`]) and the Redis backend on its frozen test
//! clock ([`redis`]), each for the three algorithms. Time is never slept: where the original
//! sleeps, the harness advances its clock.
//!
//! - [`construction`]: `test_invalid_init_config` (compile errors here, see its docs);
//! - [`core`]: the rest of `test_core.py`, and the middleware's differences that no original
//!   case shows (one authentication per request, `deny` for a limit of 0);
//! - [`flows`]: `base_test_cases` and `base_test_multi`;
//! - [`backends`]: `test_simple.py` and `test_redis.py`, and the tests of the backend
//!   differences (Retry-After, no bypass at the end of a window, all-or-nothing limits).

mod backends;
mod construction;
mod core;
mod flows;
mod support;

/// The ported cases on the in-memory backend (the original's `MemoryBackend`), on a manual
/// clock.
mod memory {
    crate::ported_suite!(ratelimit_tests::harness::MemoryHarness::new);
}

/// The ported cases on the Redis backend (the original's `test_redis.py` ran its cases on a
/// real Redis too): a standalone server started by the tests, shared by the cases that run
/// at the same time, each case with a fresh key prefix, on the backend's frozen test clock
/// (time moves only by `advance`, exactly, as on the memory harness's manual clock). Every
/// ported case applies to Redis; none is skipped. Without `redis-server` installed the cases
/// say they were skipped and pass, unless `RATELIMIT_REQUIRE_REDIS=1`.
mod redis {
    crate::ported_suite!(optional ratelimit_tests::harness::RedisHarness::standalone);
}

/// Generates the ported cases for a harness: one module per algorithm, one `#[tokio::test]`
/// per case.
///
/// `ported_suite!(path::to::new)` takes an `async fn(Algorithm) -> impl Harness`;
/// `ported_suite!(optional path::to::new)` an `async fn(Algorithm) -> Option<impl Harness>`,
/// whose `None` (a store that is not installed, say) skips the case, saying so on stderr.
///
/// Every case runs on the three algorithms, except those whose original steps depend on a
/// limit of 1 freeing up one window after the request: the sliding window counter frees it
/// two windows after (its estimate weighs the previous window fully at the boundary; see
/// `Algorithm::SlidingWindow`), so the original's "sleep 1 s, then 200" is a 429 there. Those
/// cases run on the fixed window (the original's algorithm) and GCRA, whose waits are the
/// same for them.
macro_rules! ported_suite {
    (@suite [$($optional:ident)?] $new:path) => {
        mod fixed_window {
            $crate::ported_suite!(@every [$($optional)?] $new, FixedWindow);
            $crate::ported_suite!(@one_window_refill [$($optional)?] $new, FixedWindow);
        }
        mod gcra {
            $crate::ported_suite!(@every [$($optional)?] $new, Gcra);
            $crate::ported_suite!(@one_window_refill [$($optional)?] $new, Gcra);
        }
        mod sliding_window {
            $crate::ported_suite!(@every [$($optional)?] $new, SlidingWindow);
        }
    };
    (@every [$($optional:ident)?] $new:path, $algorithm:ident) => {
        $crate::ported_suite!(@tests [$($optional)?] $new, $algorithm,
            core::test_on_auth_error_default,
            core::test_on_auth_error_default_misconfigured_is_500,
            core::test_on_auth_error_with_handler,
            core::test_custom_blocked,
            core::test_rule_zone,
            core::test_rule_method,
            core::authentication_runs_once_per_request_not_per_matching_pattern,
            core::a_limit_of_zero_is_written_deny,
            backends::base_test_multi,
            backends::test_multiple_with_punitive,
            backends::test_other,
        );
    };
    (@one_window_refill [$($optional:ident)?] $new:path, $algorithm:ident) => {
        $crate::ported_suite!(@tests [$($optional)?] $new, $algorithm,
            backends::test_simple,
            backends::test_redis,
            backends::test_multiple,
            backends::retry_after_is_the_time_left_not_the_window,
            backends::no_bypass_at_the_end_of_a_window,
        );
    };
    (@tests [] $new:path, $algorithm:ident, $($group:ident :: $case:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let harness = $new(::ratelimit::backend::Algorithm::$algorithm).await;
                $crate::$group::$case(&harness).await;
            }
        )+
    };
    (@tests [optional] $new:path, $algorithm:ident, $($group:ident :: $case:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                match $new(::ratelimit::backend::Algorithm::$algorithm).await {
                    Some(harness) => $crate::$group::$case(&harness).await,
                    None => eprintln!("skipped {}: no store", module_path!()),
                }
            }
        )+
    };
    (optional $new:path) => {
        $crate::ported_suite!(@suite [optional] $new);
    };
    ($new:path) => {
        $crate::ported_suite!(@suite [] $new);
    };
}

pub(crate) use ported_suite;

//! The backend conformance suite: one set of cases, run against every backend and every
//! algorithm.
//!
//! A backend joins the suite with a [`Harness`](ratelimit_tests::harness::Harness) (its
//! backend, and a way to move its time forward) and one line:
//! `conformance_suite!(path::to::async_constructor);`, which generates a `#[tokio::test]` per case and algorithm. Cases are written once, over
//! the harness; where algorithms legitimately differ (the boundary burst, the exact waits),
//! a case states each algorithm's expected values.
//!
//! The harnesses are the support library's ([`ratelimit_tests::harness`]): the memory
//! backend on a manual clock, and the Redis backend on its frozen test clock (a standalone
//! server and a 3-node Redis Cluster, started by the tests; without `redis-server` installed
//! those cases say they were skipped and pass, unless `RATELIMIT_REQUIRE_REDIS=1`).

mod cases;

/// The in-memory backend, on a manual clock.
mod memory {
    use ratelimit::backend::Algorithm;
    use ratelimit_tests::harness::MemoryHarness;

    crate::conformance_suite!(ratelimit_tests::harness::MemoryHarness::new);

    /// The same suite on a backend with a cap far above what a case uses: the cap changes
    /// nothing until it is reached.
    mod capped {
        use super::*;

        pub(crate) async fn new(algorithm: Algorithm) -> MemoryHarness {
            MemoryHarness::capped(algorithm, 1_000).await
        }

        crate::conformance_suite!(crate::memory::capped::new);
    }
}

/// The Redis backend, on a standalone server and on a 3-node Redis Cluster, each case with a
/// fresh key prefix.
mod redis {
    mod standalone {
        crate::conformance_suite!(optional ratelimit_tests::harness::RedisHarness::standalone);
    }

    mod cluster {
        crate::conformance_suite!(optional ratelimit_tests::harness::RedisHarness::cluster);
    }
}

/// Generates, for the harness made by `$new` (an `async fn(Algorithm) -> impl Harness`), one
/// module per algorithm holding one `#[tokio::test]` per case.
macro_rules! conformance_suite {
    ($new:path) => {
        $crate::conformance_suite!(@algorithms required $new);
    };
    (optional $new:path) => {
        $crate::conformance_suite!(@algorithms optional $new);
    };
    (@algorithms $mode:ident $new:path) => {
        mod fixed_window {
            $crate::conformance_suite!(@cases $mode $new, FixedWindow);
        }
        mod sliding_window {
            $crate::conformance_suite!(@cases $mode $new, SlidingWindow);
        }
        mod gcra {
            $crate::conformance_suite!(@cases $mode $new, Gcra);
        }
    };
    (@cases $mode:ident $new:path, $algorithm:ident) => {
        $crate::conformance_suite!(@tests $mode $new, $algorithm,
            windows::admits_the_count_then_denies,
            windows::retry_after_is_the_exact_wait,
            windows::windows_start_at_the_first_request,
            windows::boundary_burst_only_in_fixed_window,
            windows::exhausted_limit_refills,
            windows::idle_pool_is_forgotten,
            windows::quota_reports_the_tightest_limit,
            limits::denied_request_counts_in_no_window,
            limits::retry_after_is_the_longest_wait,
            pools::a_zone_is_one_pool,
            pools::zone_and_path_of_one_name_are_two_pools,
            pools::method_is_part_of_the_pool,
            pools::users_are_isolated,
            pools::the_pool_of_no_user_is_one_pool_apart_from_every_user,
            pools::pool_parts_never_collide,
            blocks::block_denies_the_user_everywhere_and_counts_nothing,
            blocks::block_is_not_extended_by_requests,
            blocks::block_waits_for_an_exhausted_window,
            blocks::block_is_set_again_if_the_window_is_still_exhausted,
            blocks::no_block_without_block_time,
            concurrency::concurrent_decisions_admit_exactly_the_limit,
            concurrency::concurrent_users_each_get_their_limit,
            concurrency::concurrent_blocked_user_counts_nothing,
            counting::a_cost_uses_that_much_of_every_window,
            counting::a_window_of_any_length_counts_like_a_unit,
            counting::a_window_of_a_units_length_is_that_units_window,
            counting::windows_of_other_lengths_are_kept_apart,
            counting::a_request_given_back_leaves_its_room,
            counting::a_give_back_never_goes_below_zero,
            counting::a_give_back_never_reaches_a_window_started_since,
            counting::a_give_back_leaves_a_block_in_place,
        );
    };
    (@tests $mode:ident $new:path, $algorithm:ident, $($group:ident :: $case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let harness = $crate::conformance_suite!(
                    @harness $mode $new(::ratelimit::backend::Algorithm::$algorithm).await
                );
                $crate::cases::$group::$case(&harness).await;
            }
        )+
    };
    (@harness required $harness:expr) => {
        $harness
    };
    (@harness optional $harness:expr) => {
        match $harness {
            ::core::option::Option::Some(harness) => harness,
            // The harness said why it cannot run.
            ::core::option::Option::None => return,
        }
    };
}

pub(crate) use conformance_suite;

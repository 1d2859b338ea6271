//! Tests of the memory backend as a whole: memory bounds, caps, concurrency, odd requests.
//! The shared semantics are tested for every backend by the conformance suite
//! (`tests/tests/conformance`).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use ratelimit_core::{Limit, Unit};

use super::*;
use crate::backend::{Denial, DenialCause, ManualClock, Pool, Quota, Scope};

const ALGORITHMS: [Algorithm; 3] = [
    Algorithm::FixedWindow,
    Algorithm::SlidingWindow,
    Algorithm::Gcra,
];

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

fn backend(algorithm: Algorithm) -> (MemoryBackend<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    let backend = MemoryBackend::builder()
        .algorithm(algorithm)
        .clock(clock.clone())
        .build();
    (backend, clock)
}

fn decide(
    backend: &impl Backend,
    path: &str,
    user: &str,
    limits: &[Limit],
    block_time: Option<Duration>,
) -> Decision {
    let request = DecisionRequest {
        pool: Pool {
            scope: Scope::Path(path),
            method: None,
            user,
        },
        limits,
        block_time,
        cost: 1,
    };
    block_on(backend.decide(&request)).expect("the memory backend decides")
}

fn is_allowed(decision: Decision) -> bool {
    matches!(decision, Decision::Allow(_))
}

#[test]
fn the_future_is_ready_and_the_defaults_are_documented() {
    let backend = MemoryBackend::new();
    assert_eq!(backend.algorithm(), Algorithm::FixedWindow);
    assert_eq!(backend.max_pools(), None);
    let limits = [Limit::new(Unit::Second, 1)];
    let request = DecisionRequest {
        pool: Pool {
            scope: Scope::Zone("z"),
            method: Some("GET"),
            user: "u",
        },
        limits: &limits,
        block_time: None,
        cost: 1,
    };
    let mut future = backend.decide(&request);
    let polled = pin!(&mut future).poll(&mut Context::from_waker(Waker::noop()));
    assert!(matches!(polled, Poll::Ready(Ok(Decision::Allow(_)))));
    assert!(format!("{backend:?}").contains("FixedWindow"));
}

#[test]
fn a_request_without_limits_is_an_error_not_a_panic() {
    for algorithm in ALGORITHMS {
        let (backend, _) = backend(algorithm);
        let request = DecisionRequest {
            pool: Pool {
                scope: Scope::Path("/"),
                method: None,
                user: "u",
            },
            limits: &[],
            block_time: Some(Duration::from_secs(1)),
            cost: 1,
        };
        let error = block_on(backend.decide(&request)).expect_err("no limits");
        assert!(matches!(error, BackendError::InvalidRequest(_)));
        assert_eq!(
            error.to_string(),
            "invalid decision request: a decision request without limits"
        );
    }
}

#[test]
fn a_unit_given_twice_by_hand_is_counted_once_and_the_smaller_count_binds() {
    for algorithm in ALGORITHMS {
        let (backend, _) = backend(algorithm);
        let small = Limit::new(Unit::Minute, 2);
        let limits = [Limit::new(Unit::Minute, 5), small];
        assert!(is_allowed(decide(&backend, "/", "u", &limits, None)));
        assert!(is_allowed(decide(&backend, "/", "u", &limits, None)));
        let Decision::Deny(denial) = decide(&backend, "/", "u", &limits, None) else {
            panic!("{algorithm:?}: the smaller count binds");
        };
        assert_eq!(denial.cause, DenialCause::Limit(small), "{algorithm:?}");
    }
}

#[test]
fn extreme_durations_and_counts_do_not_panic() {
    for algorithm in ALGORITHMS {
        let (backend, clock) = backend(algorithm);
        let limits = [
            Limit::new(Unit::Second, 1),
            Limit::new(Unit::Month, ratelimit_core::__private::MAX_COUNT),
        ];
        let block = Some(Duration::MAX);
        assert!(is_allowed(decide(&backend, "/", "u", &limits, block)));
        assert!(!is_allowed(decide(&backend, "/", "u", &limits, block)));
        // The clock saturates at the end of time, where even the longest block is over.
        clock.advance(Duration::from_secs(u64::MAX));
        let _ = decide(&backend, "/", "u", &limits, block);
        assert!(is_allowed(decide(&backend, "/", "v", &limits, block)));
        assert!(is_allowed(decide(&backend, "/", "w", &limits, None)));
        backend.evict_expired();
    }
}

#[test]
fn retry_after_secs_rounds_up_to_at_least_one_second() {
    let denial = |retry_after| Denial {
        retry_after,
        cause: DenialCause::Blocked,
    };
    assert_eq!(denial(Duration::ZERO).retry_after_secs(), 1);
    assert_eq!(denial(Duration::from_nanos(1)).retry_after_secs(), 1);
    assert_eq!(denial(Duration::from_millis(999)).retry_after_secs(), 1);
    assert_eq!(denial(Duration::from_secs(1)).retry_after_secs(), 1);
    assert_eq!(
        denial(Duration::from_secs(1) + Duration::from_nanos(1)).retry_after_secs(),
        2
    );
    assert_eq!(denial(Duration::from_secs(60)).retry_after_secs(), 60);
}

#[test]
fn a_flood_of_distinct_users_stays_bounded_once_windows_expire() {
    const ROUND: usize = 5_000;
    for algorithm in ALGORITHMS {
        let (backend, clock) = backend(algorithm);
        let limits = [Limit::new(Unit::Second, 1)];
        let mut most = 0;
        for round in 0..20 {
            for user in 0..ROUND {
                let user = format!("{round}-{user}");
                assert!(is_allowed(decide(&backend, "/flood", &user, &limits, None)));
            }
            most = most.max(backend.pool_count());
            // Every pool of this round expires (two windows for the sliding counter).
            clock.advance(Duration::from_secs(2));
        }
        // 100 000 users came; at most two rounds' worth were ever held.
        assert!(most <= 2 * ROUND, "{algorithm:?}: {most} pools held");
        backend.evict_expired();
        assert_eq!(backend.pool_count(), 0, "{algorithm:?}");
    }
}

/// The scopes held, over every shard.
fn scopes(backend: &MemoryBackend<ManualClock>) -> usize {
    fn sum<W: Window>(shards: &Shards<W>) -> usize {
        shards
            .shards
            .iter()
            .map(|shard| shard.lock().scopes())
            .sum()
    }
    match &backend.inner.store {
        Store::Fixed(shards) => sum(shards),
        Store::Sliding(shards) => sum(shards),
        Store::Gcra(shards) => sum(shards),
    }
}

#[test]
fn what_keys_share_goes_with_the_last_entry_that_names_it() {
    // Distinct paths (each a scope), users of every form (kept as they are, packed, and too
    // long: kept whole), blocks, and all three ways entries go: swept as new ones come, dropped
    // by a full shard, and dropped all at once.
    let long = "u".repeat(40);
    for algorithm in ALGORITHMS {
        for cap in [None, Some(500)] {
            let clock = ManualClock::new();
            let builder = MemoryBackend::builder()
                .algorithm(algorithm)
                .clock(clock.clone());
            let backend = match cap {
                Some(cap) => builder.max_pools(cap).build(),
                None => builder.build(),
            };
            let limits = [Limit::new(Unit::Second, 1), Limit::new(Unit::Minute, 2)];
            for round in 0..4 {
                for i in 0..2_000 {
                    let path = format!("/{round}/{}", i % 300);
                    let user = match i % 3 {
                        0 => format!("u{i}"),
                        1 => format!("203.113.{}.{}", i / 250, i % 250),
                        _ => format!("{long}{i}"),
                    };
                    let block = Some(Duration::from_secs(1));
                    assert!(is_allowed(decide(&backend, &path, &user, &limits, block)));
                    decide(&backend, &path, &user, &limits, block);
                }
                let held = scopes(&backend);
                assert!(held <= 300 * 8 * 2, "{algorithm:?} {cap:?}: {held} scopes");
                clock.advance(Duration::from_secs(121));
            }
            backend.evict_expired();
            assert_eq!(backend.pool_count(), 0, "{algorithm:?} {cap:?}");
            assert_eq!(scopes(&backend), 0, "{algorithm:?} {cap:?}");
        }
    }
}

#[test]
fn tables_shrink_after_a_flood() {
    let (backend, clock) = backend(Algorithm::FixedWindow);
    let limits = [Limit::new(Unit::Second, 1)];
    let sizes = |backend: &MemoryBackend<ManualClock>| match &backend.inner.store {
        Store::Fixed(shards) => shards.shards.iter().fold((0, 0), |(len, capacity), shard| {
            let table = shard.lock();
            (len + table.len(), capacity + table.capacity())
        }),
        _ => unreachable!(),
    };
    for user in 0..20_000 {
        decide(&backend, "/", &user.to_string(), &limits, None);
    }
    let (len, flooded) = sizes(&backend);
    assert_eq!(len, 20_000);
    clock.advance(Duration::from_secs(1));
    // A trickle of new users (about 1 000 live at a time) sweeps the flood away.
    for user in 0..20_000 {
        decide(&backend, "/", &format!("late-{user}"), &limits, None);
        clock.advance(Duration::from_millis(1));
    }
    let (len, capacity) = sizes(&backend);
    assert!(len < 3_000, "{len} entries");
    assert!(capacity * 2 < flooded, "{capacity} of {flooded}");
}

#[test]
fn the_cap_bounds_pools_and_blocks_and_limits_still_apply() {
    for algorithm in ALGORITHMS {
        let clock = ManualClock::new();
        let backend = MemoryBackend::builder()
            .algorithm(algorithm)
            .max_pools(1_000)
            .clock(clock.clone())
            .build();
        assert_eq!(backend.max_pools(), Some(1_000));
        let limits = [Limit::new(Unit::Hour, 1)];
        let block = Some(Duration::from_secs(60));
        for user in 0..10_000 {
            let user = user.to_string();
            assert!(is_allowed(decide(&backend, "/", &user, &limits, block)));
            // Denied (and blocked) at once: the user's own pool was just counted.
            assert!(!is_allowed(decide(&backend, "/", &user, &limits, block)));
        }
        assert!(backend.pool_count() <= 1_000, "{algorithm:?}");
        // Windows and blocks have a cap each.
        let entries = tables(&backend, |table, _| table.len());
        let blocks = tables(&backend, |table, _| table.block_count());
        assert!(blocks <= 1_000, "{algorithm:?}: {blocks} blocks");
        assert!(
            entries - blocks <= 1_000,
            "{algorithm:?}: {} windows",
            entries - blocks
        );
        check(&backend);
    }
}

#[test]
fn a_cap_below_the_shard_count_still_holds() {
    let (clock, limits) = (ManualClock::new(), [Limit::new(Unit::Day, 1)]);
    let backend = MemoryBackend::builder().max_pools(0).clock(clock).build();
    assert_eq!(backend.max_pools(), Some(1));
    for user in 0..100 {
        assert!(is_allowed(decide(
            &backend,
            "/",
            &user.to_string(),
            &limits,
            None
        )));
        assert_eq!(backend.pool_count(), 1);
    }
    // The one pool held is the last user's: still limited.
    assert!(!is_allowed(decide(&backend, "/", "99", &limits, None)));
}

#[test]
fn concurrent_threads_admit_exactly_the_limit() {
    for algorithm in ALGORITHMS {
        let (backend, _) = backend(algorithm);
        let limits = [Limit::new(Unit::Minute, 100), Limit::new(Unit::Hour, 150)];
        let admitted = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let backend = backend.clone();
                    scope.spawn(move || {
                        (0..100)
                            .filter(|_| is_allowed(decide(&backend, "/", "u", &limits, None)))
                            .count()
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|thread| thread.join().expect("no panic"))
                .sum::<usize>()
        });
        assert_eq!(admitted, 100, "{algorithm:?}");
    }
}

#[test]
fn quota_reports_the_tightest_limit() {
    let (backend, _) = backend(Algorithm::FixedWindow);
    let second = Limit::new(Unit::Second, 5);
    let minute = Limit::new(Unit::Minute, 5);
    let Decision::Allow(quota) = decide(&backend, "/", "u", &[second, minute], None) else {
        panic!("fresh pool");
    };
    // Same remaining: the longer reset binds.
    assert_eq!(
        quota,
        Quota {
            limit: minute,
            remaining: 4,
            reset: Duration::from_secs(60),
            counted_at: 0,
        },
        "counted at the manual clock's start"
    );
}

#[test]
fn a_user_id_kept_whole_is_found_again() {
    for algorithm in ALGORITHMS {
        let (backend, _clock) = backend(algorithm);
        let limits = [Limit::new(Unit::Minute, 2)];
        for user in ["user-0000000001", "203.113.145.127", "alice"] {
            assert!(is_allowed(decide(&backend, "/a", user, &limits, None)));
            assert!(is_allowed(decide(&backend, "/a", user, &limits, None)));
            assert!(
                !is_allowed(decide(&backend, "/a", user, &limits, None)),
                "{user}"
            );
        }
        assert_eq!(backend.pool_count(), 3, "{algorithm:?}");
    }
}

/// Calls `each` on every shard's table and sums what it returns.
fn tables(
    backend: &MemoryBackend<ManualClock>,
    each: impl Fn(&dyn TableView, &Seed) -> usize,
) -> usize {
    fn over<W: Window>(
        shards: &Shards<W>,
        seed: &Seed,
        each: &impl Fn(&dyn TableView, &Seed) -> usize,
    ) -> usize {
        shards
            .shards
            .iter()
            .map(|shard| each(&*shard.lock(), seed))
            .sum()
    }
    let seed = &backend.inner.seed;
    match &backend.inner.store {
        Store::Fixed(shards) => over(shards, seed, &each),
        Store::Sliding(shards) => over(shards, seed, &each),
        Store::Gcra(shards) => over(shards, seed, &each),
    }
}

/// Checks every shard's counts against its entries.
fn check(backend: &MemoryBackend<ManualClock>) {
    tables(backend, |table, seed| {
        table.assert_consistent(seed);
        0
    });
}

/// A table, whatever its windows: what the tests look at.
trait TableView {
    fn len(&self) -> usize;
    fn block_count(&self) -> usize;
    fn windows_of(&self, user: &str) -> usize;
    fn assert_consistent(&self, seed: &Seed);
}

impl<W: Window> TableView for table::Table<W> {
    fn len(&self) -> usize {
        table::Table::len(self)
    }
    fn block_count(&self) -> usize {
        table::Table::block_count(self)
    }
    fn windows_of(&self, user: &str) -> usize {
        table::Table::windows_of(self, user)
    }
    fn assert_consistent(&self, seed: &Seed) {
        table::Table::assert_consistent(self, seed);
    }
}

/// The first `count` users named `{prefix}{i}` whose entries share `first`'s shard.
fn same_shard(
    backend: &MemoryBackend<ManualClock>,
    first: &str,
    prefix: &str,
    count: usize,
) -> Vec<String> {
    let shards = match &backend.inner.store {
        Store::Fixed(shards) => shards.shards.len(),
        Store::Sliding(shards) => shards.shards.len(),
        Store::Gcra(shards) => shards.shards.len(),
    };
    let shard = |user: &str| {
        let pool = Pool {
            scope: Scope::Path("/"),
            method: None,
            user,
        };
        usize::try_from(backend.inner.seed.hashes(&pool).user >> 56).unwrap_or(0) & (shards - 1)
    };
    let target = shard(first);
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .filter(|user| shard(user) == target)
        .take(count)
        .collect()
}

fn retry_after(decision: Decision) -> Option<(Duration, DenialCause)> {
    match decision {
        Decision::Deny(denial) => Some((denial.retry_after, denial.cause)),
        Decision::Allow(_) => None,
    }
}

#[test]
fn a_live_block_is_never_dropped_for_a_window() {
    for algorithm in ALGORITHMS {
        let clock = ManualClock::new();
        let backend = MemoryBackend::builder()
            .algorithm(algorithm)
            .max_pools(1)
            .clock(clock.clone())
            .build();
        let limits = [Limit::new(Unit::Minute, 1)];
        let hour = Some(Duration::from_secs(3_600));
        assert!(is_allowed(decide(
            &backend, "/login", "mallory", &limits, hour
        )));
        assert_eq!(
            retry_after(decide(&backend, "/login", "mallory", &limits, hour)),
            Some((Duration::from_secs(3_600), DenialCause::Limit(limits[0])))
        );
        for i in 0..5_000 {
            clock.advance(Duration::from_millis(100));
            let user = format!("other-{i}");
            assert!(is_allowed(decide(
                &backend,
                &format!("/{i}"),
                &user,
                &limits,
                hour
            )));
        }
        // 500 s later, still blocked for the rest of the hour.
        assert_eq!(
            retry_after(decide(&backend, "/login", "mallory", &limits, None)),
            Some((Duration::from_secs(3_100), DenialCause::Blocked)),
            "{algorithm:?}"
        );
        check(&backend);
    }
}

#[test]
fn a_full_budget_of_blocks_keeps_its_live_blocks() {
    for algorithm in ALGORITHMS {
        let clock = ManualClock::new();
        let backend = MemoryBackend::builder()
            .algorithm(algorithm)
            .max_pools(1)
            .clock(clock.clone())
            .build();
        let limits = [Limit::new(Unit::Minute, 1)];
        let block = |seconds| Some(Duration::from_secs(seconds));
        assert!(is_allowed(decide(
            &backend,
            "/",
            "first",
            &limits,
            block(3_600)
        )));
        assert!(!is_allowed(decide(
            &backend,
            "/",
            "first",
            &limits,
            block(3_600)
        )));
        // The next user denied is not blocked (no room), and is told only its wait.
        assert!(is_allowed(decide(
            &backend,
            "/",
            "second",
            &limits,
            block(3_600)
        )));
        let (wait, cause) =
            retry_after(decide(&backend, "/", "second", &limits, block(3_600))).expect("denied");
        assert_eq!(cause, DenialCause::Limit(limits[0]));
        assert!(wait <= Duration::from_secs(120), "{algorithm:?}: {wait:?}");
        clock.advance(Duration::from_secs(600));
        assert!(is_allowed(decide(&backend, "/", "second", &limits, None)));
        assert_eq!(
            retry_after(decide(&backend, "/", "first", &limits, None)),
            Some((Duration::from_secs(3_000), DenialCause::Blocked))
        );
        // Once the first block is over, a new one takes its place.
        clock.advance(Duration::from_secs(3_000));
        assert!(is_allowed(decide(&backend, "/", "second", &limits, None)));
        assert!(!is_allowed(decide(
            &backend,
            "/",
            "second",
            &limits,
            block(300)
        )));
        assert_eq!(
            retry_after(decide(&backend, "/", "second", &limits, None)),
            Some((Duration::from_secs(300), DenialCause::Blocked)),
            "{algorithm:?}"
        );
        check(&backend);
    }
}

#[test]
fn a_full_shard_takes_the_requesting_users_own_windows_first() {
    for algorithm in ALGORITHMS {
        let clock = ManualClock::new();
        let backend = MemoryBackend::builder()
            .algorithm(algorithm)
            .max_pools(256)
            .clock(clock.clone())
            .build();
        let users = same_shard(&backend, "victim-0", "victim-", 4);
        let attacker = &same_shard(&backend, &users[0], "attacker-", 1)[0];
        let minute = [Limit::new(Unit::Minute, 1)];
        let hour = [Limit::new(Unit::Hour, 1)];
        // The victims' windows expire in a minute, the attacker's in an hour: dropping the
        // soonest-expiring entries would forget the victims'.
        for user in &users {
            assert!(is_allowed(decide(&backend, "/a", user, &minute, None)));
        }
        for i in 0..2_000 {
            let path = format!("/churn/{i}");
            assert!(is_allowed(decide(&backend, &path, attacker, &hour, None)));
        }
        for user in &users {
            assert!(
                !is_allowed(decide(&backend, "/a", user, &minute, None)),
                "{algorithm:?}: {user} forgotten"
            );
        }
        // The attacker holds what the victims leave of the shard's cap, no more.
        let held = tables(&backend, |table, _| table.windows_of(attacker));
        assert!(held >= 8, "{algorithm:?}: {held}");
        assert!(held + users.len() <= 256, "{algorithm:?}: {held}");
        // Its last window is still counted.
        assert!(!is_allowed(decide(
            &backend,
            "/churn/1999",
            attacker,
            &hour,
            None
        )));
        // A user with no window in the full shard takes another's (the soonest-expiring of
        // a sample), never a block.
        check(&backend);
    }
}

#[test]
fn one_user_holds_at_most_its_budget_of_windows() {
    for algorithm in ALGORITHMS {
        let clock = ManualClock::new();
        let backend = MemoryBackend::builder()
            .algorithm(algorithm)
            .max_pools_per_user(100)
            .clock(clock.clone())
            .build();
        assert_eq!(backend.max_pools_per_user(), 100);
        let others = same_shard(&backend, "churner", "other-", 3);
        let limits = [Limit::new(Unit::Second, 1), Limit::new(Unit::Hour, 1)];
        let block = Some(Duration::from_secs(3_600));
        for user in &others {
            assert!(is_allowed(decide(&backend, "/a", user, &limits, block)));
            assert!(is_allowed(decide(&backend, "/b", user, &limits[1..], None)));
        }
        // The first of them blocked for an hour.
        assert!(!is_allowed(decide(
            &backend, "/a", &others[0], &limits, block
        )));
        let mut most = 0;
        for i in 0..10_000 {
            clock.advance(Duration::from_millis(10));
            let path = format!("/churn/{i}");
            assert!(is_allowed(decide(
                &backend, &path, "churner", &limits, None
            )));
            most = most.max(tables(&backend, |table, _| table.windows_of("churner")));
        }
        assert!(most <= 100, "{algorithm:?}: {most} windows");
        // The budget counts windows: two a pool here, the newest still counted.
        assert!(!is_allowed(decide(
            &backend,
            "/churn/9999",
            "churner",
            &limits,
            None
        )));
        assert_eq!(
            retry_after(decide(&backend, "/a", &others[0], &limits, None)).map(|(_, cause)| cause),
            Some(DenialCause::Blocked)
        );
        // Their one-second windows are over; their hour windows were left alone.
        for user in &others[1..] {
            assert_eq!(
                tables(&backend, |table, _| table.windows_of(user)),
                2,
                "{algorithm:?}"
            );
            assert!(!is_allowed(decide(&backend, "/a", user, &limits, None)));
            assert!(!is_allowed(decide(
                &backend,
                "/b",
                user,
                &limits[1..],
                None
            )));
        }
        check(&backend);
    }
}

#[test]
fn the_per_user_budget_takes_any_figure_and_a_budget_of_one_works() {
    let backend = MemoryBackend::builder().max_pools_per_user(0).build();
    assert_eq!(backend.max_pools_per_user(), 1);
    let backend = MemoryBackend::builder()
        .max_pools_per_user(usize::MAX)
        .build();
    assert_eq!(backend.max_pools_per_user(), MAX_WINDOWS_PER_USER);
    assert_eq!(
        MemoryBackend::new().max_pools_per_user(),
        MemoryBackend::DEFAULT_MAX_POOLS_PER_USER
    );
    for algorithm in ALGORITHMS {
        let clock = ManualClock::new();
        let backend = MemoryBackend::builder()
            .algorithm(algorithm)
            .max_pools_per_user(1)
            .clock(clock)
            .build();
        let limits = [Limit::new(Unit::Hour, 1)];
        for i in 0..100 {
            assert!(is_allowed(decide(
                &backend,
                &format!("/{i}"),
                "u",
                &limits,
                None
            )));
            assert!(!is_allowed(decide(
                &backend,
                &format!("/{i}"),
                "u",
                &limits,
                None
            )));
            assert_eq!(tables(&backend, |table, _| table.windows_of("u")), 1);
        }
        check(&backend);
    }
}

#[test]
fn the_counts_stay_in_step_with_the_entries() {
    // Every way entries come and go: new windows, blocks, the sweep, a full shard, a user over
    // its budget, expired blocks found again, evict_expired and the tables shrinking.
    let long = "u".repeat(40);
    for algorithm in ALGORITHMS {
        for cap in [None, Some(64)] {
            let clock = ManualClock::new();
            let builder = MemoryBackend::builder()
                .algorithm(algorithm)
                .max_pools_per_user(16)
                .clock(clock.clone());
            let backend = match cap {
                Some(cap) => builder.max_pools(cap).build(),
                None => builder.build(),
            };
            let limits = [Limit::new(Unit::Second, 1), Limit::new(Unit::Minute, 3)];
            for round in 0..6 {
                for i in 0..3_000_usize {
                    let user = match i % 3 {
                        0 => format!("u{}", i % 40),
                        1 => format!("203.113.1.{}", i % 7),
                        _ => format!("{long}{}", i % 5),
                    };
                    let path = format!("/{}", i % 97);
                    let block = Some(Duration::from_secs(1 + u64::try_from(i % 5).unwrap_or(0)));
                    decide(&backend, &path, &user, &limits[i % 2..], block);
                    clock.advance(Duration::from_millis(7));
                }
                check(&backend);
                if round % 2 == 1 {
                    clock.advance(Duration::from_secs(61));
                    backend.evict_expired();
                    check(&backend);
                }
            }
            clock.advance(Duration::from_secs(121));
            backend.evict_expired();
            assert_eq!(tables(&backend, |table, _| table.len()), 0);
            assert_eq!(scopes(&backend), 0, "{algorithm:?} {cap:?}");
        }
    }
}

#[test]
fn a_shard_tells_apart_27_window_lengths_besides_the_units() {
    for algorithm in ALGORITHMS {
        let (backend, _) = backend(algorithm);
        // One user, so one shard: every length takes a slot of it.
        for seconds in 2..29 {
            let limits = [Limit::per_seconds(seconds, 1)];
            assert!(is_allowed(decide(&backend, "/", "u", &limits, None)));
            assert!(!is_allowed(decide(&backend, "/", "u", &limits, None)));
        }
        for unit in Unit::ALL {
            let limits = [Limit::new(unit, 1)];
            assert!(is_allowed(decide(&backend, "/", "u", &limits, None)));
        }
        let request = DecisionRequest {
            pool: Pool {
                scope: Scope::Path("/"),
                method: None,
                user: "u",
            },
            limits: &[Limit::per_seconds(29, 1)],
            block_time: None,
            cost: 1,
        };
        let error = block_on(backend.decide(&request)).expect_err("no slot left");
        assert_eq!(
            error.to_string(),
            "invalid decision request: more window lengths than a shard of the in-memory \
             backend tells apart"
        );
    }
}

#[test]
fn a_cost_of_zero_or_above_a_count_is_an_error_not_a_panic() {
    for algorithm in ALGORITHMS {
        let (backend, _) = backend(algorithm);
        for (cost, limits) in [
            (0, vec![Limit::new(Unit::Second, 3)]),
            (4, vec![Limit::new(Unit::Second, 3)]),
            (
                4,
                vec![Limit::new(Unit::Second, 3), Limit::new(Unit::Minute, 10)],
            ),
        ] {
            let request = DecisionRequest {
                pool: Pool {
                    scope: Scope::Path("/"),
                    method: None,
                    user: "u",
                },
                limits: &limits,
                block_time: None,
                cost,
            };
            let error = block_on(backend.decide(&request)).expect_err("invalid");
            assert_eq!(
                error.to_string(),
                "invalid decision request: a decision request of cost 0 or above a limit's count",
                "{algorithm:?} cost {cost}"
            );
        }
    }
}

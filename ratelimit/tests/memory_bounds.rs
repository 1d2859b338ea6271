//! Bounded memory of the in-memory backend, measured: floods of hundreds of thousands of
//! distinct users against short windows, on a `ManualClock`, driven through the backend
//! directly (an HTTP request would add nothing but time: the middleware hands the backend
//! the same decision). The pool count stays a small multiple of the pools live at once, the
//! heap (counted by `allocation-counter`, this binary's global allocator, on this thread)
//! stays proportional to it and is given back when the flood is over, and the optional cap
//! holds under a flood and evicts by its documented rule.
//!
//! The measured figures go to stderr (`-- --nocapture`); the README ("Security" → "Memory")
//! and the backend's docs (`MemoryBackend`, "Measured") print them, and each is asserted
//! within 1.5× of the figure printed, either way ([`assert_near_printed`]): a change that
//! makes the backend hold half as much again as the README says fails here.
//!
//! `cargo test -p ratelimit --test memory_bounds -- --nocapture`

use std::fmt::Write as _;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use ratelimit::backend::{
    Algorithm, Backend, Decision, DecisionRequest, DenialCause, ManualClock, MemoryBackend, Pool,
    Scope,
};
use ratelimit::{Limit, Unit};

const ALGORITHMS: [Algorithm; 3] = [
    Algorithm::FixedWindow,
    Algorithm::SlidingWindow,
    Algorithm::Gcra,
];

/// Decides one request (the memory backend's future is ready at once).
fn decide(backend: &impl Backend, path: &str, user: &str, limits: &[Limit]) -> Decision {
    decide_blocking(backend, path, user, limits, None)
}

/// The same, with a rule's block time.
fn decide_blocking(
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
    let mut future = pin!(backend.decide(&request));
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result.expect("the memory backend decides"),
        Poll::Pending => panic!("the memory backend decides at once"),
    }
}

fn allowed(decision: Decision) -> bool {
    matches!(decision, Decision::Allow(_))
}

fn backend(
    algorithm: Algorithm,
    max_pools: Option<usize>,
) -> (MemoryBackend<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    let mut builder = MemoryBackend::builder()
        .algorithm(algorithm)
        .clock(clock.clone());
    if let Some(max_pools) = max_pools {
        builder = builder.max_pools(max_pools);
    }
    (builder.build(), clock)
}

/// `bytes / pools`, as a figure for humans.
#[allow(clippy::cast_precision_loss, reason = "a figure for humans")]
fn ratio(bytes: impl TryInto<u64>, pools: usize) -> f64 {
    bytes.try_into().unwrap_or(u64::MAX) as f64 / pools as f64
}

/// Asserts `measured` is within 1.5× of `printed`, the figure the README prints for it,
/// either way: at most half as much again (the claim), at least two thirds (the measurement
/// still measures what the figure says).
#[track_caller]
#[allow(clippy::cast_precision_loss, reason = "figures for humans")]
fn assert_near_printed(what: &str, measured: impl TryInto<u64>, printed: u64) {
    let measured = measured.try_into().unwrap_or(u64::MAX) as f64;
    let printed = printed as f64;
    assert!(
        measured <= 1.5 * printed && 1.5 * measured >= printed,
        "{what}: {measured}, where the README prints {printed} (allowed: within 1.5× of it)"
    );
}

/// 300 000 distinct users, 10 000 a second for 30 seconds, each making one request under a
/// one-second limit: the pool count never exceeds a few times the pools live at once, the
/// heap's peak stays proportional to them, and everything is given back once the windows
/// are over.
#[test]
fn a_flood_of_distinct_users_leaves_the_pool_count_bounded() {
    const PER_SECOND: usize = 10_000;
    const SECONDS: usize = 30;
    let limits = [Limit::new(Unit::Second, 1)];
    for algorithm in ALGORITHMS {
        let (backend, clock) = backend(algorithm, None);
        let mut user = String::new();
        let mut most = 0;
        let info = allocation_counter::measure(|| {
            for second in 0..SECONDS {
                for i in 0..PER_SECOND {
                    user.clear();
                    write!(user, "{second}-{i}").expect("formatted");
                    assert!(allowed(decide(&backend, "/flood", &user, &limits)));
                    // Spread over the second, as a real flood.
                    clock.advance(Duration::from_micros(100));
                }
                most = most.max(backend.pool_count());
            }
        });
        // Live at once: the last second's users (the last two for the sliding window, whose
        // pools stay until two windows have passed).
        let live = if algorithm == Algorithm::SlidingWindow {
            2 * PER_SECOND
        } else {
            PER_SECOND
        };
        let total = PER_SECOND * SECONDS;
        eprintln!(
            "{algorithm:?}: {total} users, {live} live at once: at most {most} pools held, \
             heap peak {} bytes ({:.0} per live pool)",
            info.bytes_max,
            ratio(info.bytes_max, live),
        );
        // The README: "at most about 12 100 pools (about 24 200 with the sliding window)",
        // "1.4 MB of heap at the peak (1.7 MB with GCRA, 3.4 MB with the sliding window)".
        let (pools, heap) = match algorithm {
            Algorithm::FixedWindow => (12_100, 1_400_000),
            Algorithm::SlidingWindow => (24_200, 3_400_000),
            _ => (12_100, 1_700_000),
        };
        assert_near_printed(&format!("{algorithm:?}: pools held"), most, pools);
        assert_near_printed(&format!("{algorithm:?}: heap peak"), info.bytes_max, heap);

        // The flood is over: once its windows are, nothing of it is left.
        clock.advance(Duration::from_secs(2));
        let after = allocation_counter::measure(|| backend.evict_expired());
        assert_eq!(backend.pool_count(), 0, "{algorithm:?}");
        let held = info.bytes_current + after.bytes_current;
        eprintln!("{algorithm:?}: {held} bytes held once the flood's windows are over");
        assert!(
            // "All given back": 8 bytes stay (measured), far under one pool of the flood.
            held <= 64,
            "{algorithm:?}: {held} bytes still held after the flood"
        );
    }
}

/// A flood of 300 000 new users through a cap of 10 000 pools: never more than the cap, every
/// new user is still decided (its first request admitted), the pools that expire soonest are
/// the ones forgotten (the minute pools of the flood, not the hour pools of users already
/// limited), and once the flood's windows are over its expired pools make room first.
#[test]
fn the_cap_holds_under_a_flood_and_evicts_the_pools_that_expire_soonest() {
    const CAP: usize = 10_000;
    const LONG_LIVED: usize = 200;
    let hour = [Limit::new(Unit::Hour, 1)];
    let minute = [Limit::new(Unit::Minute, 1)];
    for algorithm in ALGORITHMS {
        let (backend, clock) = backend(algorithm, Some(CAP));
        // Users limited for an hour: one request admitted, the next refused.
        for i in 0..LONG_LIVED {
            let user = format!("hour-{i}");
            assert!(allowed(decide(&backend, "/hour", &user, &hour)));
            assert!(!allowed(decide(&backend, "/hour", &user, &hour)));
        }
        let mut user = String::new();
        let mut flood = |label: &str, users: usize| {
            for i in 0..users {
                user.clear();
                write!(user, "{label}-{i}").expect("formatted");
                // Never refused, nor let through unchecked, for lack of room.
                assert!(
                    allowed(decide(&backend, "/minute", &user, &minute)),
                    "{algorithm:?}: {user} refused"
                );
                if i % 1_000 == 0 {
                    let pools = backend.pool_count();
                    assert!(pools <= CAP, "{algorithm:?}: {pools} pools");
                }
            }
            assert!(backend.pool_count() <= CAP);
        };
        flood("first", 300_000);
        // The hour pools expire last: the flood evicted its own minute pools, not them.
        for i in 0..LONG_LIVED {
            let user = format!("hour-{i}");
            assert!(
                !allowed(decide(&backend, "/hour", &user, &hour)),
                "{algorithm:?}: {user} was forgotten"
            );
        }
        // The trade-off, as documented: live minute pools of the flood were forgotten, and
        // their users get a fresh window.
        let forgotten = (0..1_000)
            .filter(|i| allowed(decide(&backend, "/minute", &format!("first-{i}"), &minute)))
            .count();
        assert!(forgotten >= 900, "{algorithm:?}: {forgotten} of 1000");

        // A minute on, the flood's pools have expired (the sliding window needs two): they make
        // room for the next flood before any live pool.
        clock.advance(Duration::from_secs(121));
        flood("second", 100_000);
        for i in 0..LONG_LIVED {
            let user = format!("hour-{i}");
            assert!(
                !allowed(decide(&backend, "/hour", &user, &hour)),
                "{algorithm:?}: {user} was forgotten"
            );
        }
    }
}

/// The heap per pool, for short keys (held inline in the table's entry) and long ones
/// (allocated once per pool), at a few table sizes: figures for the docs, and a generous
/// bound.
#[test]
fn bytes_per_pool() {
    let limits = [Limit::new(Unit::Minute, 10), Limit::new(Unit::Hour, 100)];
    for algorithm in ALGORITHMS {
        for pools in [10_000, 100_000] {
            for long in [false, true] {
                let (backend, _clock) = backend(algorithm, None);
                let (path, prefix) = if long {
                    ("/api/v1/accounts/settings", "2001:db8:1234:5678:9abc:def0:")
                } else {
                    ("/api", "")
                };
                let mut user = String::new();
                let info = allocation_counter::measure(|| {
                    for i in 0..pools {
                        user.clear();
                        write!(user, "{prefix}{i:x}").expect("formatted");
                        decide(&backend, path, &user, &limits);
                    }
                });
                assert_eq!(backend.pool_count(), pools);
                let per = ratio(info.bytes_current, pools);
                let key = path.len() + user.len();
                eprintln!(
                    "{algorithm:?}: {pools} pools, keys of ~{key} bytes: {per:.0} bytes per pool"
                );
                // The README: "98–123 bytes of heap (fixed window) or 119–149 bytes (sliding
                // window, GCRA)" for a short user id, "295–318 bytes (fixed window) or 316–344
                // bytes" for another, the higher figure for the smaller table.
                let printed = match (algorithm, long, pools) {
                    (Algorithm::FixedWindow, false, 10_000) => 123,
                    (Algorithm::FixedWindow, false, _) => 98,
                    (Algorithm::FixedWindow, true, 10_000) => 318,
                    (Algorithm::FixedWindow, true, _) => 295,
                    (_, false, 10_000) => 149,
                    (_, false, _) => 119,
                    (_, true, 10_000) => 344,
                    (_, true, _) => 316,
                };
                let pools_bytes = info.bytes_current.try_into().unwrap_or(u64::MAX);
                assert_near_printed(
                    &format!("{algorithm:?}: {pools} pools, keys of ~{key} bytes, bytes per pool"),
                    pools_bytes / pools as u64,
                    printed,
                );
            }
        }
    }
}

/// The denial's `retry_after` and cause, if denied.
fn denial(decision: Decision) -> Option<(Duration, DenialCause)> {
    match decision {
        Decision::Deny(denial) => Some((denial.retry_after, denial.cause)),
        Decision::Allow(_) => None,
    }
}

/// A user blocked for an hour under `max_pools(1)` stays blocked through thousands of other
/// users' requests: windows make room among windows, never by dropping a live block.
#[test]
fn a_block_survives_other_users_traffic_under_the_smallest_cap() {
    let limits = [Limit::new(Unit::Minute, 1)];
    let hour = Some(Duration::from_secs(3_600));
    for algorithm in ALGORITHMS {
        let (backend, clock) = backend(algorithm, Some(1));
        assert!(allowed(decide_blocking(
            &backend, "/login", "mallory", &limits, hour
        )));
        assert_eq!(
            denial(decide_blocking(
                &backend, "/login", "mallory", &limits, hour
            )),
            Some((Duration::from_secs(3_600), DenialCause::Limit(limits[0])))
        );
        let mut user = String::new();
        for i in 0..10_000 {
            user.clear();
            write!(user, "other-{i}").expect("formatted");
            assert!(allowed(decide(
                &backend,
                &format!("/{}", i % 50),
                &user,
                &limits
            )));
            clock.advance(Duration::from_millis(100));
        }
        assert!(backend.pool_count() <= 1, "{algorithm:?}");
        // 1 000 s later: refused for the rest of the hour.
        assert_eq!(
            denial(decide(&backend, "/login", "mallory", &limits)),
            Some((Duration::from_secs(2_600), DenialCause::Blocked)),
            "{algorithm:?}: the block was dropped"
        );
        assert_eq!(
            denial(decide(&backend, "/elsewhere", "mallory", &limits)),
            Some((Duration::from_secs(2_600), DenialCause::Blocked)),
        );
    }
}

/// A client churning distinct paths through a full table takes its own windows, not other
/// users': 2 048 users limited for a minute (spread over every shard, so some share the
/// churning client's) are all still limited after it opened 20 000 pools of an hour (which
/// expire later than theirs: evicting the soonest-expiring entries would have forgotten
/// theirs). The per-user budget is set out of the way, so that the cap is what binds.
#[test]
fn a_full_shard_takes_the_requesting_users_own_windows_first() {
    const CAP: usize = 1 << 16;
    const USERS: usize = 2_048;
    let minute = [Limit::new(Unit::Minute, 1)];
    let hour = [Limit::new(Unit::Hour, 1)];
    for algorithm in ALGORITHMS {
        let clock = ManualClock::new();
        let backend = MemoryBackend::builder()
            .algorithm(algorithm)
            .max_pools(CAP)
            .max_pools_per_user(usize::MAX)
            .clock(clock.clone())
            .build();
        for i in 0..USERS {
            assert!(allowed(decide(
                &backend,
                "/a",
                &format!("user-{i}"),
                &minute
            )));
        }
        let mut path = String::new();
        for i in 0..20_000 {
            path.clear();
            write!(path, "/churn/{i}").expect("formatted");
            assert!(allowed(decide(&backend, &path, "churner", &hour)));
        }
        assert!(backend.pool_count() <= CAP, "{algorithm:?}");
        let forgotten = (0..USERS)
            .filter(|i| allowed(decide(&backend, "/a", &format!("user-{i}"), &minute)))
            .count();
        assert_eq!(
            forgotten, 0,
            "{algorithm:?}: other users' windows were taken"
        );
        // The churning client's newest pool still counts.
        assert!(!allowed(decide(&backend, &path, "churner", &hour)));
        let held = backend.pool_count() - USERS;
        eprintln!(
            "{algorithm:?}: a client churning 20 000 paths through a full shard holds {held} \
             pools at the end (from half to all of the room the others leave; it gives back \
             half of its own at once), every other user's window kept"
        );
        assert!(held < 20_000, "{algorithm:?}: {held}");
    }
}

/// One client churning 100 000 distinct paths (a rule without a zone pools by path) holds at
/// most its budget of live pools, and the heap it takes is that budget's; other users'
/// windows and blocks, some in its shard, are untouched.
#[test]
fn one_client_churning_paths_holds_at_most_its_budget() {
    const USERS: usize = 2_048;
    const PATHS: usize = 100_000;
    let budget = MemoryBackend::DEFAULT_MAX_POOLS_PER_USER;
    let minute = [Limit::new(Unit::Minute, 1)];
    let hour = Some(Duration::from_secs(3_600));
    for algorithm in ALGORITHMS {
        let (backend, clock) = backend(algorithm, None);
        assert_eq!(backend.max_pools_per_user(), budget);
        // Other users: a window each, and every other one blocked for an hour.
        for i in 0..USERS {
            let user = format!("user-{i}");
            assert!(allowed(decide_blocking(
                &backend, "/a", &user, &minute, hour
            )));
            if i % 2 == 0 {
                assert!(!allowed(decide_blocking(
                    &backend, "/a", &user, &minute, hour
                )));
            }
        }
        let mut path = String::new();
        let mut most = 0;
        let info = allocation_counter::measure(|| {
            for i in 0..PATHS {
                path.clear();
                write!(path, "/api/items/{i}").expect("formatted");
                assert!(allowed(decide(&backend, &path, "churner", &minute)));
                clock.advance(Duration::from_micros(100));
                if i % 1_000 == 999 {
                    most = most.max(backend.pool_count() - USERS);
                }
            }
        });
        // 10 s went by: every other user's window is still live.
        let held = backend.pool_count() - USERS;
        eprintln!(
            "{algorithm:?}: one client, {PATHS} distinct paths: at most {most} of its pools \
             held (budget {budget}), heap peak {} bytes ({:.0} per pool of the budget), {} \
             bytes held at the end",
            info.bytes_max,
            ratio(info.bytes_max, budget),
            info.bytes_current,
        );
        assert!(
            most <= budget && held <= budget,
            "{algorithm:?}: {most}, {held}"
        );
        assert!(held >= budget * 3 / 4, "{algorithm:?}: {held}");
        // The README: "247–293 KB of heap at the peak" (fixed window; sliding window, GCRA).
        let printed = if algorithm == Algorithm::FixedWindow {
            247_000
        } else {
            293_000
        };
        assert_near_printed(
            &format!("{algorithm:?}: heap peak"),
            info.bytes_max,
            printed,
        );
        // Its newest pool counts; every other user's window and block are as they were.
        assert!(!allowed(decide(&backend, &path, "churner", &minute)));
        for i in 0..USERS {
            let decision = denial(decide(&backend, "/a", &format!("user-{i}"), &minute));
            let (_, cause) = decision.expect("still limited");
            let expected = if i % 2 == 0 {
                DenialCause::Blocked
            } else {
                DenialCause::Limit(minute[0])
            };
            assert_eq!(cause, expected, "{algorithm:?}: user-{i}");
        }
    }
}

//! Bounded memory of the in-memory backend, measured: floods of hundreds of thousands of
//! distinct users against short windows, on a `ManualClock`, driven through the backend
//! directly (an HTTP request would add nothing but time: the middleware hands the backend
//! the same decision). The pool count stays a small multiple of the pools live at once, the
//! heap (counted by `allocation-counter`, this binary's global allocator, on this thread)
//! stays proportional to it and is given back when the flood is over, and the optional cap
//! holds under a flood and evicts by its documented rule.
//!
//! The measured figures go to stderr (`-- --nocapture`); the backend's docs quote them
//! (`MemoryBackend`, "Measured").
//!
//! `cargo test -p ratelimit-tests --test memory_bounds -- --nocapture`

use std::fmt::Write as _;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use ratelimit::backend::{
    Algorithm, Backend, Decision, DecisionRequest, ManualClock, MemoryBackend, Pool, Scope,
};
use ratelimit::{Limit, Unit};

const ALGORITHMS: [Algorithm; 3] = [
    Algorithm::FixedWindow,
    Algorithm::SlidingWindow,
    Algorithm::Gcra,
];

/// Decides one request (the memory backend's future is ready at once).
fn decide(backend: &impl Backend, path: &str, user: &str, limits: &[Limit]) -> Decision {
    let request = DecisionRequest {
        pool: Pool {
            scope: Scope::Path(path),
            method: None,
            user,
        },
        limits,
        block_time: None,
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
        assert!(
            most <= 3 * live,
            "{algorithm:?}: {most} pools held for {live} live"
        );
        assert!(
            info.bytes_max <= 1_024 * live as u64,
            "{algorithm:?}: a heap peak of {} bytes for {live} live pools",
            info.bytes_max
        );

        // The flood is over: once its windows are, nothing of it is left.
        clock.advance(Duration::from_secs(2));
        let after = allocation_counter::measure(|| backend.evict_expired());
        assert_eq!(backend.pool_count(), 0, "{algorithm:?}");
        let held = info.bytes_current + after.bytes_current;
        assert!(
            held <= 64 * 1_024,
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
                let bound = if long { 640.0 } else { 512.0 };
                assert!(per <= bound, "{algorithm:?}: {per} bytes per pool");
            }
        }
    }
}

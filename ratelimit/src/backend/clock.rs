//! Time sources for in-process backends: the real monotonic clock, and a manual one for tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// A monotonic time source: how much time has passed since a fixed origin.
///
/// [`MemoryBackend`](super::MemoryBackend) reads it once per decision. Wall-clock time is never
/// used: a clock that jumps (NTP, a changed time zone) would open or shut windows early.
///
/// A clock that goes backwards is not trusted to: backends treat time that has not advanced
/// as no time passed, without panicking.
pub trait Clock: Send + Sync + 'static {
    /// The time elapsed since this clock's origin.
    fn now(&self) -> Duration;

    /// [`now`](Self::now) in whole nanoseconds (`u64::MAX` past about 584 years): what
    /// [`MemoryBackend`](super::MemoryBackend) reads. Override it where the source counts in
    /// nanoseconds already, to skip the conversion through [`Duration`].
    fn now_nanos(&self) -> u64 {
        nanos(self.now())
    }
}

/// The default clock: the CPU's time-stamp counter, read through [`quanta`], where it is
/// reliable, and the operating system's monotonic clock otherwise.
///
/// quanta reads the counter where the CPU says it is invariant (it ticks at a constant rate
/// in every power state, as on x86-64 server CPUs of the last decade and ARMv8's system
/// counter), its rate measured against the operating system's monotonic clock once, when the
/// process first reads it (to within a few parts in 10^4 on a loaded machine: an hour's
/// window may be a second long or short); elsewhere it reads that clock (what
/// [`std::time::Instant`] reads). All clones and instances share the one calibration.
///
/// It is monotonic, with nanosecond resolution: windows and `Retry-After` are exact on this
/// clock (a `Retry-After` of 2 s means a request 2 s later fits, to the nanosecond). A coarse
/// clock (one that ticks every few milliseconds) would not do: a request would be judged at a
/// time up to a tick old, and a `Retry-After` rounded up to whole seconds could be one second
/// too long, or admit a request a tick early.
///
/// Any other source plugs in through [`MemoryBackendBuilder::clock`](super::MemoryBackendBuilder::clock):
/// a [`Clock`] over `Instant` is a few lines.
#[derive(Clone, Copy, Debug)]
pub struct MonotonicClock {
    /// The counter's raw reading at this clock's origin.
    origin: u64,
}

/// The process's counter clock, calibrated on first use.
fn counter() -> &'static quanta::Clock {
    static COUNTER: OnceLock<quanta::Clock> = OnceLock::new();
    COUNTER.get_or_init(quanta::Clock::new)
}

impl MonotonicClock {
    /// A clock whose origin is now.
    #[must_use]
    pub fn new() -> Self {
        Self {
            origin: counter().raw(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    #[inline]
    fn now(&self) -> Duration {
        Duration::from_nanos(self.now_nanos())
    }

    /// The counter's ticks since the origin, scaled to nanoseconds at once (0 if the counter
    /// reads earlier than the origin).
    #[inline]
    fn now_nanos(&self) -> u64 {
        let counter = counter();
        counter.delta_as_nanos(self.origin, counter.raw())
    }
}

/// A clock that only moves when told to, for deterministic tests.
///
/// It starts at zero, and clones share one time: keep a clone, give another to the backend,
/// and [`advance`](Self::advance) it instead of sleeping.
///
/// ```
/// use std::time::Duration;
/// use ratelimit::backend::{Clock, ManualClock, MemoryBackend};
///
/// let clock = ManualClock::new();
/// let backend = MemoryBackend::builder().clock(clock.clone()).build();
/// clock.advance(Duration::from_secs(61));
/// assert_eq!(backend.clock().now(), Duration::from_secs(61));
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at zero.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock (and every clone of it) forward by `by`, saturating after about 584
    /// years.
    pub fn advance(&self, by: Duration) {
        let by = nanos(by);
        // `fetch_update` with a closure that always returns `Some` cannot fail.
        let _ = self
            .nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                Some(now.saturating_add(by))
            });
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now(&self) -> Duration {
        Duration::from_nanos(self.now_nanos())
    }

    #[inline]
    fn now_nanos(&self) -> u64 {
        self.nanos.load(Ordering::Acquire)
    }
}

/// `duration` in whole nanoseconds, saturating at `u64::MAX` (about 584 years).
#[inline]
pub(crate) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_is_shared_by_clones_and_saturates() {
        let clock = ManualClock::new();
        let other = clock.clone();
        assert_eq!(clock.now(), Duration::ZERO);
        other.advance(Duration::from_millis(1500));
        assert_eq!(clock.now(), Duration::from_millis(1500));
        assert_eq!(clock.now_nanos(), 1_500_000_000);
        clock.advance(Duration::MAX);
        assert_eq!(other.now(), Duration::from_nanos(u64::MAX));
    }

    #[test]
    fn a_clock_that_only_tells_a_duration_reads_in_nanoseconds_saturating() {
        struct Fixed(Duration);
        impl Clock for Fixed {
            fn now(&self) -> Duration {
                self.0
            }
        }
        assert_eq!(Fixed(Duration::from_micros(1_500)).now_nanos(), 1_500_000);
        assert_eq!(Fixed(Duration::MAX).now_nanos(), u64::MAX);
    }

    #[test]
    fn monotonic_clock_does_not_go_backwards() {
        let clock = MonotonicClock::new();
        let mut last = clock.now();
        for _ in 0..100_000 {
            let now = clock.now();
            assert!(now >= last, "{now:?} after {last:?}");
            last = now;
        }
        // Clones and other clocks read the same source, from their own origins.
        let copy = clock;
        assert!(copy.now() >= last);
    }

    #[test]
    fn monotonic_clock_keeps_time_with_std_instant() {
        // Each reading of this clock is bracketed by two readings of `Instant`, so the time
        // it measures must lie between the shortest and the longest interval they allow,
        // give or take the calibration's rate error (quanta's: 2e-4 measured at worst, in a
        // debug build calibrated while other tests ran).
        let clock = MonotonicClock::new();
        let before = std::time::Instant::now();
        let start = clock.now();
        let after = std::time::Instant::now();
        std::thread::sleep(Duration::from_millis(50));
        let before_end = std::time::Instant::now();
        let end = clock.now();
        let after_end = std::time::Instant::now();
        let measured = end - start;
        let shortest = before_end - after;
        let longest = after_end - before;
        let slack = longest / 1_000 + Duration::from_micros(1);
        assert!(
            measured + slack >= shortest && measured <= longest + slack,
            "{measured:?} not within [{shortest:?}, {longest:?}]"
        );
    }
}

//! Time sources for in-process backends: the real monotonic clock, and a manual one for tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
}

/// The default clock: [`std::time::Instant`], counted from when the clock was made.
///
/// Reading it is a `clock_gettime` call, a few tens of nanoseconds on some virtual machines:
/// a large part of an in-memory decision there. A [`Clock`] over a cheaper source (a
/// TSC-based crate, for one) plugs in through
/// [`MemoryBackendBuilder::clock`](super::MemoryBackendBuilder::clock).
#[derive(Clone, Copy, Debug)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    /// A clock whose origin is now.
    #[must_use]
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
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
        self.origin.elapsed()
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
        Duration::from_nanos(self.nanos.load(Ordering::Acquire))
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
        clock.advance(Duration::MAX);
        assert_eq!(other.now(), Duration::from_nanos(u64::MAX));
    }

    #[test]
    fn monotonic_clock_does_not_go_backwards() {
        let clock = MonotonicClock::new();
        let first = clock.now();
        assert!(clock.now() >= first);
    }
}

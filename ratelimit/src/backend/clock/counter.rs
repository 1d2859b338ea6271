//! The process's counter clock: the CPU's time-stamp counter (through [`quanta`]), turned into
//! nanoseconds of the operating system's monotonic clock, and kept in step with it.
//!
//! Reading `Instant` (a `clock_gettime` call) costs 30 to 40 ns on some virtual machines;
//! reading the counter costs about 10. The counter ticks at a constant rate (quanta only uses
//! it where the CPU says it is invariant, and the OS clock otherwise), but that rate is only
//! known by measuring it against the OS clock: quanta does so once, for about a millisecond,
//! which leaves an error of up to a few parts in 10^4 under load (tens of seconds a day).
//!
//! So this clock measures the rate again and again, over ever longer stretches: the time is a
//! line through the counter, `base_ns + (raw − base_raw) · mult / 2^32`, and every so often
//! (after 1 ms, then twice as long each time, then every second) the line is replaced by one
//! that starts where the old one is (so time never jumps) with the slope measured between the
//! counter and `Instant` over the last one to two minutes (or since the start, early on): an
//! error of well under a part per million once the process has run a second, and rate changes
//! the OS clock makes (NTP) followed within two minutes. Only rates matter here (windows and
//! waits are differences of two readings), so the offset the first stretch may leave (under a
//! millisecond) is left alone.
//!
//! Readers never wait: the line lives in two slots, a new one is written into the slot not in
//! use and then published by switching slots, and each slot has a sequence number that tells
//! a reader (which would have to stall for a whole second to see it) that the slot changed
//! under it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// The longest time between two measurements of the rate, in nanoseconds.
const PERIOD_NS: u64 = 1_000_000_000;
/// The first one, in nanoseconds.
const FIRST_PERIOD_NS: u64 = 1_000_000;
/// How long an anchor of the rate's measurement serves before the next takes over, in
/// nanoseconds: the rate is measured over one to two of these.
const ANCHOR_NS: u64 = 60_000_000_000;
/// The most nanoseconds a reading of the OS clock may take for the rate measured from it:
/// a longer one was interrupted (a reading takes tens of nanoseconds).
const MAX_SAMPLE_NS: u64 = 1_000;
/// A measured rate further than this (in parts per 2^16) from quanta's is not trusted (the
/// counter or the OS clock jumped: a suspended or migrated virtual machine): the old rate is
/// kept and the measurement starts again.
const SANE_RATE: u64 = 1 << 10;

/// The shared counter clock; calibrated on first use.
pub(super) fn counter() -> &'static Counter {
    static COUNTER: OnceLock<Counter> = OnceLock::new();
    COUNTER.get_or_init(Counter::new)
}

/// One line of time against the counter (see the module docs).
#[derive(Debug, Default)]
struct Slot {
    /// Odd while the slot is being written; bumped by every write.
    seq: AtomicU64,
    base_raw: AtomicU64,
    base_ns: AtomicU64,
    /// Nanoseconds per 2^32 ticks.
    mult: AtomicU64,
    /// The counter value from which the rate is due to be measured again.
    next_raw: AtomicU64,
}

#[derive(Clone, Copy, Debug)]
struct Line {
    base_raw: u64,
    base_ns: u64,
    mult: u64,
    next_raw: u64,
}

impl Line {
    #[inline]
    fn at(&self, raw: u64) -> u64 {
        let ticks = u128::from(raw.saturating_sub(self.base_raw));
        let ns = (ticks * u128::from(self.mult)) >> 32;
        self.base_ns
            .saturating_add(u64::try_from(ns).unwrap_or(u64::MAX))
    }
}

/// A simultaneous reading of the counter and of the OS clock (nanoseconds since `origin`).
#[derive(Clone, Copy, Debug)]
struct Anchor {
    raw: u64,
    ns: u64,
}

/// The anchors the rate is measured from: the older serves until the newer is old enough.
#[derive(Debug)]
struct Anchors {
    older: Anchor,
    newer: Anchor,
}

#[derive(Debug)]
pub(super) struct Counter {
    source: quanta::Clock,
    /// The OS clock's origin: this clock's nanoseconds count from it.
    origin: Instant,
    /// quanta's rate, in nanoseconds per 2^32 ticks: the first line's, and the yardstick of
    /// sane measurements.
    quanta_mult: u64,
    slots: [Slot; 2],
    /// The slot in use.
    active: AtomicUsize,
    /// Held by the one reader that measures the rate.
    anchors: Mutex<Anchors>,
}

impl Counter {
    fn new() -> Self {
        let source = quanta::Clock::new();
        let quanta_mult = source.delta_as_nanos(0, 1 << 32).max(1);
        let origin = Instant::now();
        let start = Anchor {
            raw: source.raw(),
            ns: 0,
        };
        let mut counter = Self {
            source,
            origin,
            quanta_mult,
            slots: [Slot::default(), Slot::default()],
            active: AtomicUsize::new(0),
            anchors: Mutex::new(Anchors {
                older: start,
                newer: start,
            }),
        };
        let start = counter.sample().unwrap_or(start);
        counter.anchors = Mutex::new(Anchors {
            older: start,
            newer: start,
        });
        let first = Line {
            base_raw: start.raw,
            base_ns: start.ns,
            mult: quanta_mult,
            next_raw: start
                .raw
                .saturating_add(Self::ticks(FIRST_PERIOD_NS, quanta_mult)),
        };
        counter.publish(first);
        counter
    }

    /// A reading of the OS clock between two of the counter, taken at their midpoint; `None`
    /// when the three readings were more than [`MAX_SAMPLE_NS`] apart three times in a row
    /// (the thread was interrupted between them, which would skew the rate).
    fn sample(&self) -> Option<Anchor> {
        let max_gap = Self::ticks(MAX_SAMPLE_NS, self.quanta_mult);
        (0..3).find_map(|_| {
            let before = self.source.raw();
            let ns = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
            let after = self.source.raw();
            let gap = after.checked_sub(before)?;
            (gap <= max_gap).then_some(Anchor {
                raw: before + gap / 2,
                ns,
            })
        })
    }

    /// Nanoseconds since the origin.
    #[inline]
    pub(super) fn now(&self) -> u64 {
        loop {
            let Some(slot) = self.slots.get(self.active.load(Ordering::Acquire) & 1) else {
                continue;
            };
            let seq = slot.seq.load(Ordering::Acquire);
            let line = Line {
                base_raw: slot.base_raw.load(Ordering::Relaxed),
                base_ns: slot.base_ns.load(Ordering::Relaxed),
                mult: slot.mult.load(Ordering::Relaxed),
                next_raw: slot.next_raw.load(Ordering::Relaxed),
            };
            fence(Ordering::Acquire);
            if seq & 1 == 1 || slot.seq.load(Ordering::Relaxed) != seq {
                // Rewritten under us (after a stall of a second or more): read again.
                continue;
            }
            let raw = self.source.raw();
            let now = line.at(raw);
            if raw >= line.next_raw {
                self.recalibrate();
            }
            return now;
        }
    }

    /// `ns` nanoseconds in ticks, at `mult`.
    fn ticks(ns: u64, mult: u64) -> u64 {
        let ticks = (u128::from(ns) << 32) / u128::from(mult.max(1));
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }

    /// Measures the rate and publishes the next line, unless another reader is doing so (or
    /// has just done so).
    #[cold]
    fn recalibrate(&self) {
        let Ok(mut anchors) = self.anchors.try_lock() else {
            return;
        };
        // The line in use: only the holder of `anchors` writes lines, so it is whole.
        let Some(slot) = self.slots.get(self.active.load(Ordering::Acquire) & 1) else {
            return;
        };
        let current = Line {
            base_raw: slot.base_raw.load(Ordering::Relaxed),
            base_ns: slot.base_ns.load(Ordering::Relaxed),
            mult: slot.mult.load(Ordering::Relaxed),
            next_raw: slot.next_raw.load(Ordering::Relaxed),
        };
        if self.source.raw() < current.next_raw {
            return;
        }
        let Some(now) = self.sample() else {
            // Interrupted every time: keep the line, and try again after another period.
            let retry = Self::ticks(FIRST_PERIOD_NS, current.mult);
            self.publish(Line {
                next_raw: current.next_raw.saturating_add(retry),
                ..current
            });
            return;
        };
        if now.ns.saturating_sub(anchors.newer.ns) >= ANCHOR_NS {
            anchors.older = anchors.newer;
            anchors.newer = now;
        }
        let ticks = now.raw.saturating_sub(anchors.older.raw);
        let elapsed = now.ns.saturating_sub(anchors.older.ns);
        let measured = if ticks == 0 {
            current.mult
        } else {
            let mult = (u128::from(elapsed) << 32) / u128::from(ticks);
            u64::try_from(mult).unwrap_or(u64::MAX)
        };
        let sane = measured.abs_diff(self.quanta_mult) <= (self.quanta_mult >> 16) * SANE_RATE;
        let mult = if sane {
            measured
        } else {
            // Start measuring afresh from here.
            *anchors = Anchors {
                older: now,
                newer: now,
            };
            current.mult
        };
        // As long again as the clock has run (at least a millisecond, at most a second)
        // before the next measurement.
        let period = now.ns.clamp(FIRST_PERIOD_NS, PERIOD_NS);
        let line = Line {
            base_raw: now.raw,
            base_ns: current.at(now.raw),
            mult,
            next_raw: now.raw.saturating_add(Self::ticks(period, mult)),
        };
        self.publish(line);
    }

    /// Writes `line` into the slot not in use, then puts that slot in use. Only `new` and the
    /// holder of `anchors` call it.
    fn publish(&self, line: Line) {
        let index = (self.active.load(Ordering::Relaxed) + 1) & 1;
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        let seq = slot.seq.load(Ordering::Relaxed);
        slot.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        slot.base_raw.store(line.base_raw, Ordering::Relaxed);
        slot.base_ns.store(line.base_ns, Ordering::Relaxed);
        slot.mult.store(line.mult, Ordering::Relaxed);
        slot.next_raw.store(line.next_raw, Ordering::Relaxed);
        slot.seq.store(seq.wrapping_add(2), Ordering::Release);
        self.active.store(index, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_continuous_and_saturates() {
        let line = Line {
            base_raw: 100,
            base_ns: 1_000,
            mult: 3 << 31,
            next_raw: 0,
        };
        assert_eq!(line.at(100), 1_000);
        assert_eq!(line.at(102), 1_003);
        // A counter read before the line's start is its start.
        assert_eq!(line.at(50), 1_000);
        let steep = Line {
            mult: u64::MAX,
            ..line
        };
        assert_eq!(steep.at(u64::MAX), u64::MAX);
    }

    #[test]
    fn the_counter_never_goes_backwards_across_recalibrations() {
        let counter = counter();
        let mut last = counter.now();
        let start = Instant::now();
        // Long enough for several measurements of the rate.
        while start.elapsed().as_millis() < 20 {
            let now = counter.now();
            assert!(now >= last, "{now} after {last}");
            last = now;
        }
    }
}

//! The three counting algorithms, one window state type each, behind one trait.
//!
//! Times are nanoseconds on the backend's clock ([`u64`], about 584 years). Products that can
//! exceed 64 bits (a count of up to 2^53 times a window of up to 2.7·10^15 ns) are computed in
//! [`u128`], so every result is exact: no rounding drift, and a wait is the exact time until
//! admission, rounded up to the nanosecond.

mod fixed;
mod gcra;
mod sliding;

use ratelimit_core::{Limit, Unit};

pub(super) use fixed::Fixed;
pub(super) use gcra::Gcra;
pub(super) use sliding::Sliding;

/// The window lengths a shard tells apart, each in a slot of its keys: the five named units
/// (slots 0 to 4, in [`Unit::ALL`]'s order) and up to 27 other lengths, given a slot in the
/// order a shard first meets them.
pub(super) const SLOTS: usize = 32;

/// The slot of a window of `seconds` when it is a named unit's.
pub(super) const fn named_slot(seconds: u64) -> Option<usize> {
    match Unit::from_seconds(seconds) {
        Some(Unit::Second) => Some(0),
        Some(Unit::Minute) => Some(1),
        Some(Unit::Hour) => Some(2),
        Some(Unit::Day) => Some(3),
        Some(Unit::Month) => Some(4),
        None => None,
    }
}

/// One limit in the algorithms' terms: `count` units per `window` nanoseconds, of which
/// a request uses `cost`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Rate {
    /// The window length in nanoseconds (at least one second's worth).
    pub(super) window: u64,
    /// The units admitted per window (at least 1).
    pub(super) count: u64,
    /// The units one request uses (from 1 to `count`).
    pub(super) cost: u64,
}

impl Rate {
    /// The rate of `limit` for requests of `cost`.
    pub(super) const fn of(limit: Limit, cost: u64) -> Self {
        Self {
            // At most 31 days: 2.7·10^15 ns.
            window: limit.window_seconds() * 1_000_000_000,
            count: limit.count(),
            cost,
        }
    }
}

/// The state of one limit of one pool, for one algorithm.
///
/// The default value is a fresh state: nothing counted. Methods other than [`at`](Self::at)
/// expect a state already brought to `now` by `at`.
pub(super) trait Window: Copy + Default + Send + 'static {
    /// A zero-sized type whose alignment the table's entries take: 32 when an entry is
    /// 32 bytes, so that two fill exactly one cache line and none straddles two.
    type Align: Copy + Default + Send + std::fmt::Debug + 'static;

    /// The state of a user's block ending at `until` (blocks share the windows' table, and
    /// keep their end where a window keeps its state).
    fn block(until: u64) -> Self;

    /// The end of a block made by [`block`](Self::block).
    fn block_end(&self) -> u64;

    /// This state as it stands at `now` (windows that ended are rolled over); counts nothing.
    #[must_use]
    fn at(self, now: u64, rate: Rate) -> Self;

    /// The time from `now` until one more request (of `rate.cost`) fits: 0 if it fits now.
    fn wait(&self, now: u64, rate: Rate) -> u64;

    /// Counts one request (of `rate.cost`) at `now` (one that fits).
    fn count(&mut self, now: u64, rate: Rate);

    /// Gives back a request (of `rate.cost`) counted at `counted_at`, if this state (brought
    /// to `now` by `at`) is still the window that counted it: never below zero, never into
    /// a window that started after it.
    fn give_back(&mut self, now: u64, rate: Rate, counted_at: u64);

    /// The units that still fit now, and the time until the state is fresh again.
    fn quota(&self, now: u64, rate: Rate) -> (u64, u64);

    /// When the state will be as good as fresh (nothing to remember): 0 if it already is.
    /// `window` is the length of its unit's window.
    fn fresh_at(&self, window: u64) -> u64;
}

/// Aligns what contains it to half a cache line.
#[derive(Clone, Copy, Debug, Default)]
#[repr(align(32))]
pub(super) struct HalfCacheLine;

/// `value` as a `u64`, saturating.
pub(super) fn saturate(value: u128) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

/// `numerator / denominator`, rounded down; 0 for a zero denominator. Divides in 64 bits when
/// the numerator fits (a 128-bit division is several times slower).
pub(super) fn div_floor(numerator: u128, denominator: u64) -> u128 {
    if denominator == 0 {
        return 0;
    }
    match u64::try_from(numerator) {
        Ok(small) => u128::from(small / denominator),
        Err(_) => numerator / u128::from(denominator),
    }
}

/// `numerator / denominator`, rounded up; 0 for a zero denominator.
pub(super) fn div_ceil(numerator: u128, denominator: u64) -> u128 {
    if denominator == 0 {
        return 0;
    }
    match u64::try_from(numerator) {
        Ok(small) => u128::from(small.div_ceil(denominator)),
        Err(_) => numerator.div_ceil(u128::from(denominator)),
    }
}

/// Tries a request at `now` on any window: `Ok(quota)` if counted, `Err(wait)` if not (what
/// the backend does, for the algorithms' unit tests).
#[cfg(test)]
pub(super) fn try_request<W: Window>(
    state: &mut W,
    now: u64,
    rate: Rate,
) -> Result<(u64, u64), u64> {
    *state = state.at(now, rate);
    match state.wait(now, rate) {
        0 => {
            state.count(now, rate);
            Ok(state.quota(now, rate))
        }
        wait => Err(wait),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_helpers_are_exact_on_both_paths() {
        assert_eq!(div_floor(7, 2), 3);
        assert_eq!(div_ceil(7, 2), 4);
        assert_eq!(div_ceil(8, 2), 4);
        assert_eq!(div_floor(7, 0), 0);
        assert_eq!(div_ceil(7, 0), 0);
        let big = u128::from(u64::MAX) * 3 + 1;
        assert_eq!(div_floor(big, 3), u128::from(u64::MAX));
        assert_eq!(div_ceil(big, 3), u128::from(u64::MAX) + 1);
        assert_eq!(saturate(big), u64::MAX);
        assert_eq!(saturate(5), 5);
    }

    #[test]
    fn named_units_take_the_first_slots_in_order() {
        for (index, unit) in Unit::ALL.into_iter().enumerate() {
            assert_eq!(named_slot(unit.seconds()), Some(index));
        }
        assert_eq!(named_slot(10), None);
    }
}

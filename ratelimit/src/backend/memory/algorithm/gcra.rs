//! The generic cell rate algorithm (GCRA), as a virtual scheduler with a burst.
//!
//! Requests are spaced by the emission interval `T = window / count`, with a burst of up to
//! `count`: a pool keeps its theoretical arrival time `TAT`, and a request at `now` fits when
//! `TAT − (count − 1)·T ≤ now`; counting it sets `TAT = max(TAT, now) + T`. From idle,
//! `count` requests fit at once, then one every `T`; in any interval of length `d`, at most
//! `count + ⌊d / T⌋` fit.
//!
//! `T` is rarely a whole number of nanoseconds (a second over 3 is not), so times are kept
//! scaled by `count`: in those units `T` is exactly `window`, and nothing drifts.

use super::{Rate, Window, div_ceil, div_floor, saturate};

/// The theoretical arrival time, in nanoseconds times `count`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(in crate::backend::memory) struct Gcra {
    /// The high 64 bits of the scaled TAT (two `u64`s keep the state 8-byte aligned).
    high: u64,
    /// The low 64 bits of the scaled TAT.
    low: u64,
    /// The count the TAT is scaled by; 0 for a fresh state.
    count: u64,
}

impl Gcra {
    fn tat(&self) -> u128 {
        (u128::from(self.high) << 64) | u128::from(self.low)
    }

    fn set_tat(&mut self, tat: u128) {
        self.high = saturate(tat >> 64);
        self.low = saturate(tat & u128::from(u64::MAX));
    }

    /// The burst tolerance `(count − 1)·T`, scaled: how far ahead of now the TAT may be
    /// for one more unit to fit.
    fn tolerance(rate: Rate) -> u128 {
        Self::tolerance_for(rate, 1)
    }

    /// How far ahead of now the TAT may be for `units` more to fit, `(count − units)·T`,
    /// scaled.
    fn tolerance_for(rate: Rate, units: u64) -> u128 {
        u128::from(rate.count.saturating_sub(units)) * u128::from(rate.window)
    }
}

impl Window for Gcra {
    type Align = ();

    fn block(until: u64) -> Self {
        Self {
            high: 0,
            low: until,
            count: 0,
        }
    }

    fn block_end(&self) -> u64 {
        self.low
    }

    fn at(mut self, _now: u64, rate: Rate) -> Self {
        if self.count != rate.count {
            // Another limit with the same window but another count shares this state (two
            // rules counted in one pool): rescale the TAT, rounding it up to the nanosecond.
            let nanos = div_ceil(self.tat(), self.count);
            self.set_tat(nanos * u128::from(rate.count));
            self.count = rate.count;
        }
        self
    }

    fn wait(&self, now: u64, rate: Rate) -> u64 {
        let now = u128::from(now) * u128::from(rate.count);
        let allowed_from = self
            .tat()
            .saturating_sub(Self::tolerance_for(rate, rate.cost));
        if allowed_from <= now {
            0
        } else {
            saturate(div_ceil(allowed_from - now, rate.count)).max(1)
        }
    }

    fn count(&mut self, now: u64, rate: Rate) {
        let now = u128::from(now) * u128::from(rate.count);
        self.set_tat(self.tat().max(now) + u128::from(rate.cost) * u128::from(rate.window));
        self.count = rate.count;
    }

    fn give_back(&mut self, now: u64, rate: Rate, counted_at: u64) {
        // No windows: the request's emission intervals come off the TAT, which never goes
        // below now (a TAT in the past is a fresh state). A request fits only if the TAT is
        // then at most a window ahead, so one window after it was counted its intervals
        // have all passed: nothing to give back (as a fixed window would have rolled over).
        if self.count == 0 || now >= counted_at.saturating_add(rate.window) {
            return;
        }
        let now = u128::from(now) * u128::from(rate.count);
        let tat = self.tat();
        if tat > now {
            let given = u128::from(rate.cost) * u128::from(rate.window);
            self.set_tat(tat.saturating_sub(given).max(now));
        }
    }

    fn quota(&self, now: u64, rate: Rate) -> (u64, u64) {
        let now = u128::from(now) * u128::from(rate.count);
        let tat = self.tat();
        let limit = now + Self::tolerance(rate);
        let remaining = if tat <= limit {
            saturate(div_floor(limit - tat, rate.window) + 1).min(rate.count)
        } else {
            0
        };
        (
            remaining,
            saturate(div_ceil(tat.saturating_sub(now), rate.count)),
        )
    }

    fn fresh_at(&self, _window: u64) -> u64 {
        saturate(div_ceil(self.tat(), self.count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    /// Tries a request at `now`: `Ok(quota)` if counted, `Err(wait)` if not.
    fn request(state: &mut Gcra, now: u64, rate: Rate) -> Result<(u64, u64), u64> {
        super::super::try_request(state, now, rate)
    }

    #[test]
    fn burst_then_one_per_interval() {
        // T = 20 s, burst 3 (the reference test vector: T = 1 unit, b = 3).
        let rate = Rate {
            window: 60 * SECOND,
            count: 3,
            cost: 1,
        };
        let mut state = Gcra::default();
        assert_eq!(request(&mut state, 0, rate), Ok((2, 20 * SECOND)));
        assert_eq!(request(&mut state, 0, rate), Ok((1, 40 * SECOND)));
        assert_eq!(request(&mut state, 0, rate), Ok((0, 60 * SECOND)));
        assert_eq!(request(&mut state, 0, rate), Err(20 * SECOND));
        assert_eq!(request(&mut state, 20 * SECOND - 1, rate), Err(1));
        assert_eq!(request(&mut state, 20 * SECOND, rate), Ok((0, 60 * SECOND)));
        assert_eq!(request(&mut state, 20 * SECOND, rate), Err(20 * SECOND));
        // Long idle: the burst is back, not more.
        assert_eq!(state.fresh_at(rate.window), 80 * SECOND);
        for _ in 0..3 {
            assert!(request(&mut state, 200 * SECOND, rate).is_ok());
        }
        assert_eq!(request(&mut state, 200 * SECOND, rate), Err(20 * SECOND));
    }

    #[test]
    fn a_fractional_interval_does_not_drift() {
        // T = 1/3 s.
        let rate = Rate {
            window: SECOND,
            count: 3,
            cost: 1,
        };
        let mut state = Gcra::default();
        for _ in 0..3 {
            assert!(request(&mut state, 0, rate).is_ok());
        }
        // Back to full exactly one second later, not 1.000000002 s.
        assert_eq!(state.quota(0, rate), (0, SECOND));
        assert_eq!(request(&mut state, 0, rate), Err(333_333_334));
        assert_eq!(request(&mut state, 333_333_333, rate), Err(1));
        assert_eq!(request(&mut state, 333_333_334, rate), Ok((0, SECOND)));
        // 3 000 requests spaced by T, three seconds' worth, all fit.
        let mut state = Gcra::default();
        for i in 0..3_000u64 {
            let now = div_ceil(u128::from(i) * u128::from(SECOND), 3);
            assert!(
                request(&mut state, saturate(now), rate).is_ok(),
                "request {i}"
            );
        }
    }

    #[test]
    fn another_count_on_the_same_state_is_rescaled() {
        let three = Rate {
            window: SECOND,
            count: 3,
            cost: 1,
        };
        let one = Rate {
            window: SECOND,
            count: 1,
            cost: 1,
        };
        let mut state = Gcra::default();
        assert!(request(&mut state, 0, three).is_ok());
        // TAT = 1/3 s, rounded up to the nanosecond; with count 1 it fits from TAT − 0.
        assert_eq!(request(&mut state, 0, one), Err(333_333_334));
        assert_eq!(request(&mut state, 333_333_334, one), Ok((0, SECOND)));
    }

    #[test]
    fn a_scaled_tat_past_64_bits_still_limits() {
        // T = 1 µs. Five and a half hours into the clock, `now · count` = 2·10^19 ns·count is
        // past 2^64 ≈ 1.845·10^19: the TAT needs its high 64 bits.
        let rate = Rate {
            window: SECOND,
            count: 1_000_000,
            cost: 1,
        };
        let now = 20_000 * SECOND;
        let mut state = Gcra::default();
        // TAT = now + T: 999 999 more fit now, and the state is fresh again in 1 µs.
        assert_eq!(request(&mut state, now, rate), Ok((999_999, 1_000)));
        for i in 1..1_000_000 {
            assert!(request(&mut state, now, rate).is_ok(), "request {i}");
        }
        // TAT = now + 1 s: the burst is spent, the next fits from TAT − (count − 1)·T.
        assert_eq!(request(&mut state, now, rate), Err(1_000));
        assert_eq!(request(&mut state, now + 1_000, rate), Ok((0, SECOND)));
        assert_eq!(state.fresh_at(rate.window), now + SECOND + 1_000);
    }

    #[test]
    fn a_state_rescaled_to_a_larger_count_keeps_its_tat() {
        let one = Rate {
            window: SECOND,
            count: 1,
            cost: 1,
        };
        let two = Rate {
            window: SECOND,
            count: 2,
            cost: 1,
        };
        let mut state = Gcra::default();
        assert!(request(&mut state, 0, one).is_ok());
        // TAT = 1 s, now scaled by 2; with T = 500 ms it fits from TAT − T = 500 ms.
        assert_eq!(state.at(0, two).fresh_at(two.window), SECOND);
        assert_eq!(request(&mut state, 0, two), Err(500_000_000));
        assert_eq!(request(&mut state, 500_000_000, two), Ok((0, SECOND)));
        assert_eq!(state.fresh_at(two.window), 1_500_000_000);
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let rate = Rate {
            window: 31 * 86_400 * SECOND,
            count: ratelimit_core::__private::MAX_COUNT,
            cost: 1,
        };
        let mut state = Gcra::default();
        assert!(request(&mut state, u64::MAX - 1, rate).is_ok());
        assert!(request(&mut state, u64::MAX, rate).is_ok());
        let _ = state.fresh_at(rate.window);
        assert_eq!(Gcra::default().fresh_at(rate.window), 0);
    }

    #[test]
    fn a_cost_uses_that_many_intervals() {
        // T = 0.2 s; two requests of cost 2 from idle leave the TAT at 0.8 s, and one more
        // fits when TAT − (5 − 2)·T ≤ now.
        let rate = Rate {
            window: SECOND,
            count: 5,
            cost: 2,
        };
        let mut state = Gcra::default();
        assert_eq!(request(&mut state, 0, rate), Ok((3, 400_000_000)));
        assert_eq!(request(&mut state, 0, rate), Ok((1, 800_000_000)));
        assert_eq!(request(&mut state, 0, rate), Err(200_000_000));
        assert!(request(&mut state, 200_000_000, rate).is_ok());
    }

    #[test]
    fn a_give_back_takes_the_intervals_off_within_a_window_of_the_count() {
        // T = 0.5 s, a burst of 2.
        let rate = Rate {
            window: SECOND,
            count: 2,
            cost: 1,
        };
        let mut state = Gcra::default();
        assert!(request(&mut state, 0, rate).is_ok());
        assert!(request(&mut state, 0, rate).is_ok());
        assert!(request(&mut state, 0, rate).is_err());
        state.give_back(0, rate, 0);
        assert_eq!(
            state.tat(),
            u128::from(SECOND),
            "one interval off, scaled by 2"
        );
        assert!(request(&mut state, 0, rate).is_ok());
        // Never below now.
        let mut state = Gcra::default();
        assert!(request(&mut state, 0, rate).is_ok());
        state = state.at(100, rate);
        state.give_back(100, rate, 0);
        state.give_back(100, rate, 0);
        assert_eq!(state.tat(), 200, "now (100 ns), scaled by 2");
        // A window after the count, its intervals have passed: nothing given back.
        let mut state = Gcra::default();
        assert!(request(&mut state, 0, rate).is_ok());
        assert!(request(&mut state, SECOND, rate).is_ok());
        assert!(request(&mut state, SECOND, rate).is_ok());
        let before = state.tat();
        state.give_back(SECOND, rate, 0);
        assert_eq!(state.tat(), before);
        state.give_back(SECOND, rate, 1);
        assert!(state.tat() < before, "counted less than a window ago");
    }
}

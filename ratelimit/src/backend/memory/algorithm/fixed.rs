//! Fixed window from the first request: a window of the limit's length starts with the first
//! request counted in it; once it has ended, the next request starts a new one.
//!
//! Up to `count` requests fit in a window. The wait of a full window is the time to its end.

use super::{Rate, Window};

/// The current window: when it started and how many requests it counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(in crate::backend::memory) struct Fixed {
    /// When the window started (meaningless while `count` is 0).
    start: u64,
    /// Requests counted in it.
    count: u64,
}

impl Fixed {
    fn end(&self, window: u64) -> u64 {
        self.start.saturating_add(window)
    }
}

impl Window for Fixed {
    type Align = super::HalfCacheLine;

    fn block(until: u64) -> Self {
        Self {
            start: until,
            count: 0,
        }
    }

    fn block_end(&self) -> u64 {
        self.start
    }

    fn at(self, now: u64, rate: Rate) -> Self {
        if self.count != 0 && now < self.end(rate.window) {
            self
        } else {
            Self::default()
        }
    }

    fn wait(&self, now: u64, rate: Rate) -> u64 {
        if self.count.saturating_add(rate.cost) <= rate.count {
            0
        } else {
            self.end(rate.window).saturating_sub(now).max(1)
        }
    }

    fn count(&mut self, now: u64, rate: Rate) {
        if self.count == 0 {
            self.start = now;
        }
        self.count = self.count.saturating_add(rate.cost);
    }

    fn give_back(&mut self, _now: u64, rate: Rate, counted_at: u64) {
        // A window starts with its first request: the one that counted this request started
        // at or before it. A later start is a window rolled over since.
        if self.count != 0 && self.start <= counted_at {
            self.count = self.count.saturating_sub(rate.cost);
        }
    }

    fn quota(&self, now: u64, rate: Rate) -> (u64, u64) {
        (
            rate.count.saturating_sub(self.count),
            self.end(rate.window).saturating_sub(now),
        )
    }

    fn fresh_at(&self, window: u64) -> u64 {
        if self.count == 0 { 0 } else { self.end(window) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;
    const RATE: Rate = Rate {
        window: SECOND,
        count: 2,
        cost: 1,
    };

    /// Tries a request at `now`: `Ok(quota)` if counted, `Err(wait)` if not.
    fn request(state: &mut Fixed, now: u64) -> Result<(u64, u64), u64> {
        super::super::try_request(state, now, RATE)
    }

    #[test]
    fn window_starts_at_the_first_request_and_waits_until_its_end() {
        let mut state = Fixed::default();
        let t0 = 300_000_000;
        assert_eq!(request(&mut state, t0), Ok((1, SECOND)));
        assert_eq!(request(&mut state, t0 + 100), Ok((0, SECOND - 100)));
        assert_eq!(request(&mut state, t0 + 700_000_000), Err(300_000_000));
        assert_eq!(request(&mut state, t0 + SECOND - 1), Err(1));
        assert_eq!(state.fresh_at(SECOND), t0 + SECOND);
        // The window ends exactly one window after its first request.
        assert_eq!(request(&mut state, t0 + SECOND), Ok((1, SECOND)));
    }

    #[test]
    fn a_fresh_state_is_fresh_and_a_late_one_is_rolled_over() {
        assert_eq!(Fixed::default().fresh_at(SECOND), 0);
        let mut state = Fixed::default();
        assert!(request(&mut state, 0).is_ok());
        assert!(request(&mut state, 0).is_ok());
        assert_eq!(state.at(5 * SECOND, RATE), Fixed::default());
    }

    #[test]
    fn a_clock_going_backwards_does_not_panic() {
        let mut state = Fixed::default();
        assert!(request(&mut state, 10 * SECOND).is_ok());
        assert!(request(&mut state, 10 * SECOND).is_ok());
        assert_eq!(request(&mut state, 0), Err(11 * SECOND));
    }

    #[test]
    fn a_cost_uses_that_much_of_the_window() {
        let rate = Rate {
            window: SECOND,
            count: 5,
            cost: 2,
        };
        let mut state = Fixed::default();
        let mut request = |now| super::super::try_request(&mut state, now, rate);
        assert_eq!(request(0), Ok((3, SECOND)));
        assert_eq!(request(10), Ok((1, SECOND - 10)));
        assert_eq!(request(20), Err(SECOND - 20), "4 + 2 is more than 5");
        let whole = Rate { cost: 5, ..rate };
        let mut state = Fixed::default();
        assert_eq!(
            super::super::try_request(&mut state, 0, whole),
            Ok((0, SECOND))
        );
    }

    #[test]
    fn a_give_back_returns_the_cost_to_the_window_that_counted_it_only() {
        let mut state = Fixed::default();
        assert!(request(&mut state, 100).is_ok());
        assert!(request(&mut state, 200).is_ok());
        // Counted before the window started: another window's request.
        state = state.at(300, RATE);
        state.give_back(300, RATE, 50);
        assert_eq!(request(&mut state, 300), Err(SECOND - 200));
        // Counted in it: given back.
        state.give_back(300, RATE, 200);
        assert_eq!(request(&mut state, 300), Ok((0, SECOND - 200)));
        // Never below zero.
        let mut state = Fixed::default();
        assert!(request(&mut state, 0).is_ok());
        for _ in 0..3 {
            state.give_back(0, RATE, 0);
        }
        assert!(request(&mut state, 0).is_ok());
        assert!(request(&mut state, 0).is_ok());
        assert!(request(&mut state, 0).is_err());
        // A window rolled over since: the new one keeps its count.
        let mut state = Fixed::default();
        assert!(request(&mut state, 0).is_ok());
        assert!(request(&mut state, 2 * SECOND).is_ok());
        assert!(request(&mut state, 2 * SECOND).is_ok());
        state = state.at(2 * SECOND, RATE);
        state.give_back(2 * SECOND, RATE, 0);
        assert!(request(&mut state, 2 * SECOND).is_err());
    }
}

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
}

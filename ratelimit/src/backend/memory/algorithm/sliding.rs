//! Sliding window counter (Cloudflare's), with windows aligned to a pool's first request.
//!
//! Time is cut into consecutive windows of the limit's length, the first starting at the first
//! request. A request at offset `e` into the current window fits when
//!
//! ```text
//! current + 1 + previous · (window − e) / window  ≤  count
//! ```
//!
//! that is, when the requests of the current window plus those of the previous one, weighted by
//! the part of it still inside the last window-length of time, leave room for one more. The
//! test is done exactly, in integers (`(current + 1)·window + previous·(window − e) ≤
//! count·window`). A window with nothing counted in it and its predecessor is fresh.
//!
//! Consequences: there is no boundary burst (in any interval of length `d ≤ window`, at most
//! `count + ⌈count·d/window⌉` requests fit, against `2·count` for a fixed window however short
//! the interval); and the estimate is cautious when the previous window's requests came early
//! in it. With `count = 1`, a request at 0 admits the next at two windows, not one.

use super::{Rate, Window, div_floor, saturate};

/// The current window and the count of the one before.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(in crate::backend::memory) struct Sliding {
    /// When the current window started (meaningless while both counts are 0).
    start: u64,
    /// Requests counted in the current window.
    current: u64,
    /// Requests counted in the previous window.
    previous: u64,
}

impl Sliding {
    const fn is_fresh(&self) -> bool {
        self.current == 0 && self.previous == 0
    }
}

impl Window for Sliding {
    type Align = ();

    fn block(until: u64) -> Self {
        Self {
            start: until,
            current: 0,
            previous: 0,
        }
    }

    fn block_end(&self) -> u64 {
        self.start
    }

    fn at(self, now: u64, rate: Rate) -> Self {
        if self.is_fresh() {
            return Self::default();
        }
        let elapsed = now.saturating_sub(self.start);
        if elapsed < rate.window {
            self
        } else if elapsed / 2 < rate.window && self.current != 0 {
            // The next window: `elapsed` is in [window, 2·window).
            Self {
                start: self.start.saturating_add(rate.window),
                current: 0,
                previous: self.current,
            }
        } else {
            Self::default()
        }
    }

    fn wait(&self, now: u64, rate: Rate) -> u64 {
        let window = u128::from(rate.window);
        let count = u128::from(rate.count);
        let cost = u128::from(rate.cost);
        let current = u128::from(self.current);
        let previous = u128::from(self.previous);
        let elapsed = u128::from(now.saturating_sub(self.start).min(rate.window));
        let remaining = window - elapsed;
        if (current + cost) * window + previous * remaining <= count * window {
            return 0;
        }
        let wait = if current + cost > count {
            // Nothing fits before this window ends. In the next one, `previous` is `current`
            // and the request fits from offset `e'` with
            // `cost·window + current·(window − e') ≤ count·window` (`current` > 0 here, as
            // a cost is at most the count).
            let room = count.saturating_sub(cost) * window;
            let next = window - div_floor(room, self.current).min(window);
            remaining + next
        } else {
            // It fits later in this window, from offset `e'` with
            // `(current + cost)·window + previous·(window − e') ≤ count·window`.
            // (`previous` > 0 here, or it would fit now.)
            let room = (count - current - cost) * window;
            let admit = window - div_floor(room, self.previous).min(window);
            admit.saturating_sub(elapsed)
        };
        saturate(wait).max(1)
    }

    fn count(&mut self, now: u64, rate: Rate) {
        if self.is_fresh() {
            self.start = now;
        }
        self.current = self.current.saturating_add(rate.cost);
    }

    fn give_back(&mut self, _now: u64, rate: Rate, counted_at: u64) {
        // Counted in the current window only if it started at or before the request; once
        // that window is the previous one, it has rolled over and keeps its count.
        if self.current != 0 && self.start <= counted_at {
            self.current = self.current.saturating_sub(rate.cost);
        }
    }

    fn quota(&self, now: u64, rate: Rate) -> (u64, u64) {
        let window = u128::from(rate.window);
        let elapsed = u128::from(now.saturating_sub(self.start).min(rate.window));
        let used =
            u128::from(self.current) * window + u128::from(self.previous) * (window - elapsed);
        let room = (u128::from(rate.count) * window).saturating_sub(used);
        let remaining = saturate(div_floor(room, rate.window));
        (remaining, self.fresh_at(rate.window).saturating_sub(now))
    }

    fn fresh_at(&self, window: u64) -> u64 {
        if self.current != 0 {
            self.start.saturating_add(window.saturating_mul(2))
        } else if self.previous != 0 {
            self.start.saturating_add(window)
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;
    const MS: u64 = 1_000_000;

    /// Tries a request at `now`: `Ok(quota)` if counted, `Err(wait)` if not.
    fn request(state: &mut Sliding, now: u64, rate: Rate) -> Result<(u64, u64), u64> {
        super::super::try_request(state, now, rate)
    }

    #[test]
    fn full_window_waits_into_the_next_one() {
        let rate = Rate {
            window: SECOND,
            count: 2,
            cost: 1,
        };
        let mut state = Sliding::default();
        assert_eq!(request(&mut state, 0, rate), Ok((1, 2 * SECOND)));
        assert_eq!(request(&mut state, 0, rate), Ok((0, 2 * SECOND)));
        // Rest of this window (700 ms), then until 2·(1 − e') ≤ 1 in the next: e' = 500 ms.
        assert_eq!(request(&mut state, 300 * MS, rate), Err(1200 * MS));
        assert_eq!(request(&mut state, 1500 * MS - 1, rate), Err(1));
        assert_eq!(request(&mut state, 1500 * MS, rate), Ok((0, 1500 * MS)));
        // previous = 2, current = 1: nothing fits until current + previous·(1 − e) ≤ 1.
        assert_eq!(request(&mut state, 1600 * MS, rate), Err(400 * MS));
    }

    #[test]
    fn weighted_previous_window_frees_room_linearly() {
        let rate = Rate {
            window: SECOND,
            count: 10,
            cost: 1,
        };
        let mut state = Sliding::default();
        for _ in 0..10 {
            assert!(request(&mut state, 0, rate).is_ok());
        }
        // At the boundary the previous window weighs fully: the next fits at 100 ms.
        assert_eq!(request(&mut state, SECOND, rate), Err(100 * MS));
        assert_eq!(
            request(&mut state, 1100 * MS, rate),
            Ok((0, 2 * SECOND - 100 * MS))
        );
        // 1 + 1 + 10·(1 − e) ≤ 10 from e = 200 ms.
        assert_eq!(request(&mut state, 1150 * MS, rate), Err(50 * MS));
        // Half-way, 5 of the previous 10 still weigh, and 2 are counted: room for 3.
        assert_eq!(request(&mut state, 1500 * MS, rate), Ok((3, 1500 * MS)));
    }

    #[test]
    fn no_boundary_burst() {
        let rate = Rate {
            window: SECOND,
            count: 5,
            cost: 1,
        };
        let mut state = Sliding::default();
        let mut admitted = 0;
        assert!(request(&mut state, 0, rate).is_ok());
        for now in [990 * MS, SECOND, 1010 * MS] {
            admitted += (0..5)
                .filter(|_| request(&mut state, now, rate).is_ok())
                .count();
        }
        // 4 fit before the boundary and none in the 20 ms after it (a fixed window: 4 + 5).
        assert_eq!(admitted, 4);
    }

    #[test]
    fn count_one_waits_two_windows_and_state_goes_fresh() {
        let rate = Rate {
            window: 60 * SECOND,
            count: 1,
            cost: 1,
        };
        let mut state = Sliding::default();
        assert_eq!(request(&mut state, 0, rate), Ok((0, 120 * SECOND)));
        assert_eq!(request(&mut state, SECOND, rate), Err(119 * SECOND));
        assert_eq!(state.fresh_at(rate.window), 120 * SECOND);
        assert_eq!(state.at(120 * SECOND, rate), Sliding::default());
        assert_eq!(
            request(&mut state, 120 * SECOND, rate),
            Ok((0, 120 * SECOND))
        );
    }

    #[test]
    fn a_smaller_count_sharing_the_state_still_gets_a_wait() {
        let big = Rate {
            window: SECOND,
            count: 4,
            cost: 1,
        };
        let small = Rate {
            window: SECOND,
            count: 2,
            cost: 1,
        };
        let mut state = Sliding::default();
        for _ in 0..4 {
            assert!(request(&mut state, 0, big).is_ok());
        }
        // current (4) ≥ count (2): rest of the window, then 1 + 4·(1 − e') ≤ 2: e' = 750 ms.
        assert_eq!(request(&mut state, 0, small), Err(1750 * MS));
    }

    #[test]
    fn a_request_at_the_window_end_counts_in_the_next_window() {
        let rate = Rate {
            window: SECOND,
            count: 2,
            cost: 1,
        };
        let mut state = Sliding::default();
        assert_eq!(request(&mut state, 0, rate), Ok((1, 2 * SECOND)));
        // Windows are [start, start + window): at 1 s the first one is over, so the request
        // is counted in [1 s, 2 s), with the first window's 1 as the previous count, and the
        // state is fresh at 3 s.
        assert_eq!(request(&mut state, SECOND, rate), Ok((0, 2 * SECOND)));
        assert_eq!(state.fresh_at(rate.window), 3 * SECOND);
        // At 1.5 s: 1 + 1 + 1·(1 − 0.5) > 2; the previous window stops weighing at 2 s.
        assert_eq!(request(&mut state, 1500 * MS, rate), Err(500 * MS));
    }

    #[test]
    fn a_state_with_only_a_previous_count_is_fresh_one_window_after_its_start() {
        assert_eq!(Sliding::default().fresh_at(SECOND), 0);
        let rate = Rate {
            window: SECOND,
            count: 3,
            cost: 1,
        };
        let mut state = Sliding::default();
        assert!(request(&mut state, 0, rate).is_ok());
        assert!(request(&mut state, 0, rate).is_ok());
        // At 1.2 s the window [1 s, 2 s) has nothing counted yet; the previous one's 2 weigh
        // until 2 s.
        let rolled = state.at(1200 * MS, rate);
        assert_eq!(
            rolled,
            Sliding {
                start: SECOND,
                current: 0,
                previous: 2,
            }
        );
        assert_eq!(rolled.fresh_at(rate.window), 2 * SECOND);
        assert_eq!(rolled.at(2 * SECOND, rate), Sliding::default());
    }

    #[test]
    fn a_clock_going_backwards_does_not_panic() {
        let rate = Rate {
            window: SECOND,
            count: 1,
            cost: 1,
        };
        let mut state = Sliding::default();
        assert!(request(&mut state, 10 * SECOND, rate).is_ok());
        assert_eq!(request(&mut state, 0, rate), Err(2 * SECOND));
    }

    #[test]
    fn a_cost_uses_that_much_of_the_window() {
        let rate = Rate {
            window: SECOND,
            count: 5,
            cost: 2,
        };
        let mut state = Sliding::default();
        assert_eq!(request(&mut state, 0, rate), Ok((3, 2 * SECOND)));
        assert_eq!(request(&mut state, 0, rate), Ok((1, 2 * SECOND)));
        // 4 + 2 is more than 5: the next window, from where 4·(1 − e) + 2 ≤ 5 (e = 0.25 s).
        assert_eq!(request(&mut state, 0, rate), Err(SECOND + 250 * MS));
        // With room in this window but the previous one weighing: 2·(1 − e) + 0 + 2 ≤ 3
        // from e = 0.5 s.
        let three = Rate { count: 3, ..rate };
        let mut state = Sliding::default();
        assert!(request(&mut state, 0, Rate { cost: 1, ..three }).is_ok());
        assert!(request(&mut state, 0, Rate { cost: 1, ..three }).is_ok());
        assert_eq!(request(&mut state, SECOND, three), Err(500 * MS));
    }

    #[test]
    fn a_cost_of_the_whole_count_waits_out_the_previous_window() {
        let rate = Rate {
            window: SECOND,
            count: 3,
            cost: 3,
        };
        let mut state = Sliding::default();
        assert!(request(&mut state, 0, rate).is_ok());
        // The next window, nothing in it yet: the whole count fits only once the previous
        // window weighs nothing, at its end.
        assert_eq!(request(&mut state, SECOND, rate), Err(SECOND));
        assert_eq!(request(&mut state, 1400 * MS, rate), Err(600 * MS));
        assert_eq!(request(&mut state, 2 * SECOND - 1, rate), Err(1));
        assert!(request(&mut state, 2 * SECOND, rate).is_ok());
    }

    #[test]
    fn a_give_back_returns_the_cost_to_the_current_window_only() {
        let rate = Rate {
            window: SECOND,
            count: 2,
            cost: 1,
        };
        let mut state = Sliding::default();
        assert!(request(&mut state, 100, rate).is_ok());
        assert!(request(&mut state, 200, rate).is_ok());
        state = state.at(300, rate);
        state.give_back(300, rate, 50);
        assert!(
            request(&mut state, 300, rate).is_err(),
            "counted before it started"
        );
        state.give_back(300, rate, 200);
        assert!(request(&mut state, 300, rate).is_ok());
        // Never below zero.
        let mut state = Sliding::default();
        assert!(request(&mut state, 0, rate).is_ok());
        for _ in 0..3 {
            state.give_back(0, rate, 0);
        }
        assert_eq!(state.current, 0);
        // Once its window is the previous one, a request stays counted.
        let mut state = Sliding::default();
        assert!(request(&mut state, 0, rate).is_ok());
        state = state.at(SECOND + 100, rate);
        state.give_back(SECOND + 100, rate, 0);
        assert_eq!((state.current, state.previous), (0, 1));
    }
}

//! The test clock (the `test-util` feature): a backend's clock moved forward, or frozen, by
//! a test, through scripts of their own (`lua/test_clock.lua` in place of `lua/clock.lua`).
//! A backend whose clock was neither moved nor frozen runs the production script.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::{Cmd, Value};

use super::builder::{Connection, RedisBackendBuilder};
use super::script::{Script, scripts};
use super::{RedisBackend, micros};
use crate::backend::{Algorithm, BackendError};

/// Where a frozen clock starts: 2023-11-14, in microseconds since the Unix epoch (a time of
/// the size Redis's clock gives).
const FROZEN_START_US: u64 = 1_700_000_000_000_000;

/// A backend's test clock, and the script that reads it.
pub(super) struct TestClock {
    script: Script,
    /// The give-back script that reads it.
    give_back: Script,
    /// Microseconds added to Redis's `TIME`, or, when `frozen`, the time itself.
    offset_us: AtomicU64,
    /// Microseconds taken off the script's clock (not the refusal cache's, which is monotonic
    /// in production): a step back of Redis's clock.
    rewound_us: AtomicU64,
    frozen: bool,
}

impl TestClock {
    /// The test clock of a backend of `algorithm` (its script loaded by [`load`](Self::load)
    /// or on first use).
    pub(super) fn new(algorithm: Algorithm, frozen: bool) -> Self {
        let (text, give_back) = scripts!("test_clock.lua", algorithm);
        Self {
            script: Script::new(text),
            give_back: Script::new(give_back),
            offset_us: AtomicU64::new(if frozen { FROZEN_START_US } else { 0 }),
            rewound_us: AtomicU64::new(0),
            frozen,
        }
    }

    /// Loads its script.
    pub(super) async fn load(&self, connection: &Connection) -> Result<(), redis::RedisError> {
        self.script.load(connection).await?;
        self.give_back.load(connection).await.map(|_| ())
    }

    /// Runs the test script (the give-back script when `give_back`), with the clock's two
    /// arguments after `command`'s, when the clock is frozen or was moved; `None` otherwise
    /// (the production script runs).
    pub(super) async fn run(
        &self,
        give_back: bool,
        connection: &Connection,
        command: impl Fn(&str, &str) -> Cmd,
        lost: impl FnOnce(),
    ) -> Option<Result<Value, BackendError>> {
        let offset = self.offset_us.load(Ordering::Relaxed);
        let rewound = self.rewound_us.load(Ordering::Relaxed);
        if offset == 0 && rewound == 0 && !self.frozen {
            return None;
        }
        // Signed: a clock stepped back may be behind Redis's.
        let offset = i128::from(offset) - i128::from(rewound);
        let command = |name: &str, body: &str| {
            let mut cmd = command(name, body);
            cmd.arg(offset.to_string()).arg(u8::from(self.frozen));
            cmd
        };
        let script = if give_back {
            &self.give_back
        } else {
            &self.script
        };
        Some(script.run(connection, command, lost).await)
    }

    /// The cache's clock when the test clock was frozen or moved: the frozen time, or the
    /// monotonic time since `epoch` plus the offset. `None` for an untouched clock.
    pub(super) fn local_now(&self, epoch: std::time::Instant) -> Option<u64> {
        let offset = self.offset_us.load(Ordering::Relaxed);
        if self.frozen {
            Some(offset)
        } else if offset == 0 {
            None
        } else {
            Some(micros(epoch.elapsed()).saturating_add(offset))
        }
    }
}

impl RedisBackend {
    /// Moves the backend's clock forward by `by`: the test script adds the total to Redis's
    /// `TIME` (or, with [`RedisBackendBuilder::frozen_clock_for_tests`], uses it alone).
    ///
    /// For tests only (the `test-util` feature): it lets a test step over windows without
    /// sleeping, as Redis's clock cannot be paused. Clones share the clock; another backend
    /// on the same keys does not see it. Keys still expire by Redis's real clock, later than
    /// the moved clock says, which the script never relies on.
    #[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
    pub fn advance_clock_for_tests(&self, by: Duration) {
        self.inner
            .test_clock
            .offset_us
            .fetch_add(micros(by), Ordering::Relaxed);
    }

    /// Steps the clock the backend's script reads back by `by`, as a Redis fail-over to a
    /// replica whose clock is behind, or NTP, would (its refusal cache's clock, monotonic in
    /// production, does not move).
    ///
    /// For tests only (the `test-util` feature).
    #[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
    pub fn step_clock_back_for_tests(&self, by: Duration) {
        self.inner
            .test_clock
            .rewound_us
            .fetch_add(micros(by), Ordering::Relaxed);
    }
}

impl RedisBackendBuilder {
    /// Stops the backend's clock: the script ignores Redis's `TIME` and time moves only by
    /// [`RedisBackend::advance_clock_for_tests`], so a test's assertions are exact whatever
    /// the real time its steps take. Keys live a second longer than they need to, so that
    /// the real time between two steps of a test cannot expire them before the stopped
    /// clock says.
    ///
    /// For tests only (the `test-util` feature): a service built with it never sees a
    /// window end.
    #[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
    pub fn frozen_clock_for_tests(mut self) -> Self {
        self.frozen_clock = true;
        self
    }
}

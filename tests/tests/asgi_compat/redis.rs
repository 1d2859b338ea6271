//! The ported cases on the Redis backend (the original's `test_redis.py` ran its cases on a
//! real Redis too): a standalone server started by the tests (see `../redis/support.rs`),
//! shared by the cases that run at the same time, each case with a fresh key prefix.
//!
//! Redis's clock cannot be paused, so the backend runs on its test-only frozen clock: the
//! script ignores `TIME` and time moves only by `advance`, exactly, as on the memory
//! harness's manual clock. Every ported case applies to Redis; none is skipped.
//!
//! Without `redis-server` installed the cases say they were skipped and pass, unless
//! `RATELIMIT_REQUIRE_REDIS=1`.

use std::sync::Arc;
use std::time::Duration;

use ratelimit::backend::redis::RedisBackend;
use ratelimit::backend::{Algorithm, Backend};

use crate::redis_support::{RedisServer, fresh_prefix, shared_server};
use crate::support::Harness;

/// A fresh key prefix on the shared server, with the algorithm, on the frozen clock.
pub(crate) struct RedisHarness {
    backend: Arc<RedisBackend>,
    /// Kept alive while the harness is.
    _server: Arc<RedisServer>,
}

impl RedisHarness {
    /// A harness on a standalone server; `None` when Redis is not installed.
    pub(crate) async fn new(algorithm: Algorithm) -> Option<Self> {
        let server = shared_server("asgi-ratelimit port on redis")?;
        let backend = RedisBackend::builder(server.url())
            .algorithm(algorithm)
            .prefix(fresh_prefix("asgi_compat"))
            // Generous: the cases run in parallel on a loaded machine.
            .timeout(Duration::from_secs(10))
            .frozen_clock_for_tests()
            .build()
            .await
            .expect("a backend on the test server");
        Some(Self {
            backend: Arc::new(backend),
            _server: server,
        })
    }
}

impl Harness for RedisHarness {
    fn algorithm(&self) -> Algorithm {
        self.backend.algorithm()
    }

    fn backend(&self) -> Arc<dyn Backend> {
        self.backend.clone()
    }

    async fn advance(&self, by: Duration) {
        self.backend.advance_clock_for_tests(by);
    }

    /// The frozen clock counts whole microseconds.
    fn slack(&self) -> Duration {
        Duration::from_micros(1)
    }
}

crate::ported_suite!(optional crate::redis::RedisHarness::new);

//! The Redis backend in the suite: on a standalone server and on a 3-node Redis Cluster,
//! started by the tests (see `../redis/support.rs`) and shared by the cases that run at the
//! same time, each case with a fresh key prefix.
//!
//! Redis's clock cannot be paused, so the backend runs on its test-only frozen clock: the
//! script ignores `TIME` and time moves only by `advance`, exactly. The clock counts whole
//! microseconds, where the suite's expectations are in nanoseconds: the slack is 1 µs, under
//! the 1 ms from which the suite would skip checking that a request is still refused 1 ms
//! before its `Retry-After`, so that side is checked on Redis too.
//!
//! Without `redis-server` installed the cases say they were skipped and pass, unless
//! `RATELIMIT_REQUIRE_REDIS=1`.

use std::sync::Arc;
use std::time::Duration;

use ratelimit::backend::redis::{RedisBackend, RedisBackendBuilder};
use ratelimit::backend::{Algorithm, Backend};

use crate::harness::Harness;
use crate::redis_support::{
    RedisCluster, RedisServer, fresh_prefix, shared_cluster, shared_server,
};

/// What the backend's store is; kept alive while the harness is.
enum Store {
    Server(#[allow(dead_code)] Arc<RedisServer>),
    Cluster(#[allow(dead_code)] Arc<RedisCluster>),
}

pub(crate) struct RedisHarness {
    backend: Arc<RedisBackend>,
    _store: Store,
}

impl RedisHarness {
    /// A harness on a standalone server; `None` when Redis is not installed.
    pub(crate) async fn standalone(algorithm: Algorithm) -> Option<Self> {
        let server = shared_server("conformance on redis")?;
        let builder = RedisBackend::builder(server.url());
        Some(Self::build(builder, algorithm, Store::Server(server)).await)
    }

    /// A harness on a Redis Cluster; `None` when Redis is not installed.
    pub(crate) async fn cluster(algorithm: Algorithm) -> Option<Self> {
        let cluster = shared_cluster("conformance on redis cluster")?;
        let builder = RedisBackend::cluster_builder(cluster.urls());
        Some(Self::build(builder, algorithm, Store::Cluster(cluster)).await)
    }

    async fn build(builder: RedisBackendBuilder, algorithm: Algorithm, store: Store) -> Self {
        let backend = builder
            .algorithm(algorithm)
            .prefix(fresh_prefix("conformance"))
            // Generous: the concurrency cases queue 200 decisions on a loaded machine.
            .timeout(Duration::from_secs(10))
            .frozen_clock_for_tests()
            .build()
            .await
            .expect("a backend on the test server");
        Self {
            backend: Arc::new(backend),
            _store: store,
        }
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

    fn slack(&self) -> Duration {
        Duration::from_micros(1)
    }
}

mod standalone {
    crate::conformance_suite!(optional crate::redis::RedisHarness::standalone);
}

mod cluster {
    crate::conformance_suite!(optional crate::redis::RedisHarness::cluster);
}

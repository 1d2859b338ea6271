//! `--bench redis`'s pair: our decision and the bare round trip, on one private
//! `redis-server`.

use std::hint::black_box;
use std::time::Duration;

use ratelimit::backend::redis::RedisBackend;
use ratelimit::backend::{Backend, Decision};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

#[path = "../../../tests/src/redis_server.rs"]
mod support;

/// A private `redis-server` (no persistence, a free loopback port, killed on drop), the
/// backend on it (fixed window, the defaults), and a connection of the same kind as the
/// backend's (a `ConnectionManager`, configured as the backend configures its own) with a
/// script that returns at once (`return 1`, no keys, no arguments) loaded.
pub struct RedisPair {
    pub backend: RedisBackend,
    floor: ConnectionManager,
    floor_sha: String,
    _server: support::RedisServer,
}

impl RedisPair {
    /// Starts the server and connects, or says loudly that `bench` measures nothing when
    /// `redis-server` is not installed.
    pub fn start(runtime: &tokio::runtime::Runtime, bench: &str) -> Option<Self> {
        let Some(server) = support::RedisServer::start_or_skip(bench) else {
            eprintln!(
                "\n*** {bench} MEASURED NOTHING of Redis: redis-server is not installed \
                 (Debian: `apt-get install -y redis-server`). ***\n"
            );
            return None;
        };
        let pair = runtime.block_on(async {
            let backend = RedisBackend::builder(server.url())
                .build()
                .await
                .expect("the backend connects and loads its script");
            let client = redis::Client::open(server.url()).expect("a valid URL");
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(1)))
                .set_response_timeout(None);
            let mut floor = ConnectionManager::new_with_config(client, config)
                .await
                .expect("a connection");
            let floor_sha: String = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg("return 1")
                .query_async(&mut floor)
                .await
                .expect("the floor script loads");
            Self {
                backend,
                floor,
                floor_sha,
                _server: server,
            }
        });
        Some(pair)
    }

    /// One decision of the backend (one user, 10^9 a second: always admitted); `ratelimit/c1`.
    pub async fn decide(&self) {
        let decision = self
            .backend
            .decide(black_box(&super::decision("10.0.0.1")))
            .await;
        assert!(matches!(decision, Ok(Decision::Allow(_))), "{decision:?}");
    }

    /// One `EVALSHA` of the script that returns at once; `floor/c1`.
    pub async fn floor(&mut self) {
        let one: Result<i64, _> = redis::cmd("EVALSHA")
            .arg(black_box(&self.floor_sha))
            .arg(0)
            .query_async(&mut self.floor)
            .await;
        assert!(matches!(one, Ok(1)), "{one:?}");
    }
}

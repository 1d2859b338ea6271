//! `--bench redis` (needs `--features redis`): one Redis decision, against the bare round trip.
//!
//! - `ratelimit/c1`: [`RedisBackend`] (fixed window, the defaults) deciding one request at a
//!   time: keys and arguments built, one `EVALSHA` of the decision script (block check, the
//!   limit, the count), the reply parsed, under the backend's deadline;
//! - `floor/c1`: one `EVALSHA` at a time of a script that returns at once (`return 1`, no keys,
//!   no arguments), on the same kind of connection (a `ConnectionManager`, configured as the
//!   backend configures its own).
//!
//! The ratio is the cost of our script and client-side work over the bare round trip. Both run
//! on one current-thread tokio runtime against a private `redis-server` this bench starts on a
//! free loopback port (no persistence) and kills when it ends. The limit (10^9 a second, one
//! user) is never reached. Without `redis-server` on `PATH` the bench says so loudly and
//! measures nothing.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ratelimit::backend::redis::RedisBackend;
use ratelimit::backend::{Backend, Decision, DecisionRequest, Pool, Scope};
use ratelimit::{Limit, Unit};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

#[path = "../../tests/tests/redis/support.rs"]
#[allow(dead_code, unreachable_pub)]
mod support;

fn redis(c: &mut Criterion) {
    let Some(server) = support::RedisServer::start_or_skip("--bench redis") else {
        eprintln!(
            "\n*** --bench redis MEASURED NOTHING: redis-server is not installed \
             (Debian: `apt-get install -y redis-server`). ***\n"
        );
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");

    let backend = runtime
        .block_on(RedisBackend::builder(server.url()).build())
        .expect("the backend connects and loads its script");
    let limits = [Limit::new(Unit::Second, 1_000_000_000)];
    let request = DecisionRequest {
        pool: Pool {
            scope: Scope::Path("/bench"),
            method: None,
            user: "10.0.0.1",
        },
        limits: &limits,
        block_time: None,
    };

    let (mut floor, floor_sha) = runtime.block_on(async {
        let client = redis::Client::open(server.url()).expect("a valid URL");
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(None);
        let mut connection = ConnectionManager::new_with_config(client, config)
            .await
            .expect("a connection");
        let sha: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg("return 1")
            .query_async(&mut connection)
            .await
            .expect("the floor script loads");
        (connection, sha)
    });

    // Both answer as expected before anything is timed.
    runtime.block_on(async {
        let decision = backend.decide(&request).await.expect("a decision");
        assert!(matches!(decision, Decision::Allow(_)), "{decision:?}");
        let one: i64 = redis::cmd("EVALSHA")
            .arg(&floor_sha)
            .arg(0)
            .query_async(&mut floor)
            .await
            .expect("the floor script runs");
        assert_eq!(one, 1);
    });

    let mut group = c.benchmark_group("redis");
    group.bench_function("ratelimit/c1", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iterations {
                    let decision = backend.decide(black_box(&request)).await;
                    assert!(matches!(decision, Ok(Decision::Allow(_))), "{decision:?}");
                }
                start.elapsed()
            })
        });
    });
    group.bench_function("floor/c1", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iterations {
                    let one: Result<i64, _> = redis::cmd("EVALSHA")
                        .arg(black_box(&floor_sha))
                        .arg(0)
                        .query_async(&mut floor)
                        .await;
                    assert!(matches!(one, Ok(1)), "{one:?}");
                }
                start.elapsed()
            })
        });
    });
    group.finish();
    drop(server);
}

criterion_group!(benches, redis);
criterion_main!(benches);

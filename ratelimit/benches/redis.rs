//! `--bench redis` (needs `--features redis`): one Redis decision, against the bare round trip.
//!
//! - `ratelimit/c1`: [`RedisBackend`] (fixed window, the defaults) deciding one request at a
//!   time: keys and arguments built, one `EVALSHA` of the decision script (block check, the
//!   limit, the count), the reply parsed, under the backend's deadline;
//! - `floor/c1`: one `EVALSHA` at a time of a script that returns at once (`return 1`, no keys,
//!   no arguments), on the same kind of connection (a `ConnectionManager`, configured as the
//!   backend configures its own).
//!
//! On a shared machine the round trip itself moves by several times from one run to the next:
//! `--bench interleaved` alternates the two for a ratio that does not.
//!
//! The ratio is the cost of our script and client-side work over the bare round trip. Both run
//! on one current-thread tokio runtime against a private `redis-server` this bench starts on a
//! free loopback port (no persistence) and kills when it ends. The limit (10^9 a second, one
//! user) is never reached. Without `redis-server` on `PATH` the bench says so loudly and
//! measures nothing.

use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};

mod peers;

fn redis(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let Some(mut pair) = peers::RedisPair::start(&runtime, "--bench redis") else {
        return;
    };
    // Both answer as expected before anything is timed.
    runtime.block_on(async {
        pair.decide().await;
        pair.floor().await;
    });

    let mut group = c.benchmark_group("redis");
    group.bench_function("ratelimit/c1", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iterations {
                    pair.decide().await;
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
                    pair.floor().await;
                }
                start.elapsed()
            })
        });
    });
    group.finish();
}

criterion_group!(benches, redis);
criterion_main!(benches);

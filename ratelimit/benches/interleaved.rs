//! `--bench interleaved`: the ratios of `--bench memory` and `--bench middleware`, measured
//! so that a loaded machine does not skew them.
//!
//! Criterion measures one case for seconds, then the next: on a shared machine the load
//! moves between them, and the ratio of two cases moves with it (by 2× here). This bench
//! alternates the cases every few thousand operations instead, for hundreds of rounds, takes
//! the ratio within each round, and prints the quartiles of those ratios: the median is the
//! figure to compare with the targets.
//!
//! - `middleware`: the overhead ratio `(ratelimit − bare) / (tower_governor − bare)`, each
//!   round sending 2 000 requests through each router (requests built outside the timed
//!   loop), for `ratelimit` (default options) and `ratelimit_with_extension`;
//! - `memory`: `ratelimit / governor` per decision, each round 5 000 decisions of each, on
//!   one key and on 100 000 keys visited in turn, for each algorithm;
//! - `redis` (with `--features redis`): `ratelimit/c1 / floor/c1`, each round 200 of each,
//!   on a private `redis-server` (see `--bench redis`).
//!
//! `cargo bench -p ratelimit --features redis --bench interleaved` (about a minute; the
//! targets are measured without the `metrics` feature, which `--all-features` turns on); a filter
//! (`-- middleware`, `-- memory`, `-- redis`) runs one part.

use std::hint::black_box;
use std::time::Instant;

use axum::body::Body;
use http::Request;
use ratelimit::backend::Algorithm;

mod peers;

/// The quartiles of `values`.
fn quartiles(mut values: Vec<f64>) -> [f64; 3] {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        // The nearest rank: a quartile of at most a few hundred values.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let index = ((values.len() - 1) as f64 * q).round() as usize;
        values[index]
    };
    [at(0.25), at(0.5), at(0.75)]
}

/// Nanoseconds per operation of `per` operations.
#[allow(clippy::cast_precision_loss)]
fn per_op(start: Instant, per: usize) -> f64 {
    start.elapsed().as_nanos() as f64 / per as f64
}

fn print(name: &str, ratios: Vec<f64>) {
    let [p25, median, p75] = quartiles(ratios);
    println!("{name:<52} median {median:.2}  (p25 {p25:.2}, p75 {p75:.2})");
}

fn middleware() {
    const ROUNDS: usize = 300;
    const PER: usize = 2_000;
    let apps = peers::middleware_apps();
    let mut times = vec![Vec::with_capacity(ROUNDS); apps.len()];
    let mut requests: Vec<Request<Body>> = Vec::with_capacity(PER);
    for _ in 0..ROUNDS {
        for ((_, app), times) in apps.iter().zip(&mut times) {
            requests.extend((0..PER).map(|_| peers::request()));
            let start = Instant::now();
            for request in requests.drain(..) {
                black_box(peers::send(app, request));
            }
            times.push(per_op(start, PER));
        }
    }
    let time = |name: &str| {
        let index = apps
            .iter()
            .position(|(id, _)| *id == name)
            .expect("a known id");
        &times[index]
    };
    let (bare, governor) = (time("bare"), time("tower_governor"));
    for name in ["ratelimit", "ratelimit_with_extension"] {
        let ours = time(name);
        let ratios = (0..ROUNDS)
            .map(|round| (ours[round] - bare[round]) / (governor[round] - bare[round]))
            .collect();
        print(
            &format!("middleware: ({name} - bare) / (tower_governor - bare)"),
            ratios,
        );
    }
    let [_, bare, _] = quartiles(bare.clone());
    println!("  (bare: median {bare:.0} ns a request)");
}

fn memory() {
    const ROUNDS: usize = 300;
    const PER: usize = 5_000;
    let keys = peers::Keys::new();
    let users = keys.users();
    let addresses = &keys.addresses;
    let limiter = peers::governor_limiter(addresses);
    for (name, algorithm) in [
        ("ratelimit", Algorithm::FixedWindow),
        ("ratelimit_gcra", Algorithm::Gcra),
        ("ratelimit_sliding", Algorithm::SlidingWindow),
    ] {
        let backend = peers::memory_backend(algorithm, &users);
        for (case, count) in [("hot_key", 1), ("100k_keys", users.len())] {
            let (mut ours, mut theirs) = (0, 0);
            let ratios = (0..ROUNDS)
                .map(|_| {
                    let start = Instant::now();
                    for _ in 0..PER {
                        ours = (ours + 1) % count;
                        black_box(peers::decide(
                            &backend,
                            &peers::decision(black_box(users[ours])),
                        ));
                    }
                    let ratelimit = per_op(start, PER);
                    let start = Instant::now();
                    for _ in 0..PER {
                        theirs = (theirs + 1) % count;
                        black_box(limiter.check_key(black_box(&addresses[theirs])).is_ok());
                    }
                    ratelimit / per_op(start, PER)
                })
                .collect();
            print(&format!("memory: {name}/{case} / governor/{case}"), ratios);
        }
    }
}

#[cfg(feature = "redis")]
fn redis() {
    const ROUNDS: usize = 150;
    const PER: usize = 200;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let Some(mut pair) = peers::RedisPair::start(&runtime, "--bench interleaved") else {
        return;
    };
    let ratios = runtime.block_on(async {
        let mut ratios = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let start = Instant::now();
            for _ in 0..PER {
                pair.decide().await;
            }
            let ours = per_op(start, PER);
            let start = Instant::now();
            for _ in 0..PER {
                pair.floor().await;
            }
            ratios.push(ours / per_op(start, PER));
        }
        ratios
    });
    print("redis: ratelimit/c1 / floor/c1", ratios);
}

fn main() {
    // `cargo bench` passes `--bench`; a filter picks one half.
    let filter = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    let runs = |name: &str| filter.as_deref().is_none_or(|filter| name.contains(filter));
    if runs("middleware") {
        middleware();
    }
    if runs("memory") {
        memory();
    }
    #[cfg(feature = "redis")]
    if runs("redis") {
        redis();
    }
}

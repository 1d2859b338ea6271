//! `--bench callgrind`: the middleware bench's routers in a plain loop, for counting
//! instructions under `valgrind --tool=callgrind` (see `BENCHMARKS.md`).
//!
//! `callgrind ROUTER N` builds `N` requests (the middleware bench's `GET /bench` as `alice`),
//! then sends them through the router named `ROUTER` (`bare`, `ratelimit`, `ratelimit_with_extension`,
//! `tower_governor`). Count the sending alone
//! (`--collect-atstart=no --toggle-collect='callgrind::send_all'`) and divide by `N`. The
//! difference of two whole runs with different `N`s does not cancel the set-up: quanta's
//! calibration runs for as long as the clock takes to settle, and differs from run to run by
//! millions of instructions. Criterion is not used: it would add its own work to the count.

use std::hint::black_box;

mod peers;

fn main() {
    let mut args = std::env::args().skip(1).filter(|arg| arg != "--bench");
    let (Some(name), Some(count)) = (args.next(), args.next()) else {
        // `cargo bench` runs every bench target without arguments: nothing to count then.
        eprintln!(
            "usage: callgrind ROUTER N (bare, ratelimit, ratelimit_with_extension, tower_governor)"
        );
        return;
    };
    let count: u32 = count.parse().expect("N is a count of requests");
    let apps = peers::middleware_apps();
    let (_, app) = apps
        .iter()
        .find(|(app, _)| *app == name)
        .expect("a router of the middleware bench");
    // As `--bench interleaved` does: the requests built first, then sent one after another.
    let requests: Vec<_> = (0..count).map(|_| peers::request()).collect();
    send_all(app, requests);
}

/// The loop that sends the requests: a function of its own, so that callgrind can count it
/// alone (`--toggle-collect='callgrind::send_all'`, for the code a request runs).
#[inline(never)]
fn send_all(app: &axum::Router, requests: Vec<http::Request<axum::body::Body>>) {
    for request in requests {
        black_box(peers::send(app, request));
    }
}

//! `--bench memory`: one in-memory decision, against `governor`'s keyed limiter.
//!
//! - `ratelimit/…`: [`MemoryBackend::new()`] (fixed window, the default), deciding a
//!   [`DecisionRequest`] through the [`Backend`] trait; its future is ready, and is polled
//!   once with a no-op waker. `ratelimit_gcra/…` and `ratelimit_sliding/…`: the same with
//!   the other two algorithms.
//! - `governor/…`: `RateLimiter::keyed` with governor's defaults (`DashMap` with std's
//!   SipHash, the quanta clock), `check_key`.
//!
//! Each on one key (`hot_key`) and on 100 000 IP-address keys visited in turn
//! (`100k_keys`, every key already present: the steady state of a busy service). The limit
//! (10^9 a second) is never reached, so every decision admits and counts. The inputs are
//! prepared before timing on both sides: for `hot_key`, governor's key and ratelimit's
//! `DecisionRequest`; for `100k_keys`, governor's `IpAddr`s in a vector and ratelimit's user
//! ids as text in one buffer, the `DecisionRequest` around each built in the call (as the
//! middleware builds it; 100 000 prepared requests would be 8.8 MB against governor's
//! 1.7 MB of keys). Building the request in the `hot_key` call too costs about 5 ns more: the
//! backend reads it right after the caller wrote it, and waits on store forwarding.
//!
//! The one asymmetry, in governor's favour: governor's keys are `IpAddr`s (16 bytes and a
//! tag), while ratelimit's pool is the user id as text (the address as authentication
//! gives it, formatted before timing, all in one buffer as the `IpAddr`s are in theirs)
//! together with the rule's path. The work per decision
//! is otherwise the same: read the clock, hash the key, find its state, check and update it.
//! ratelimit also computes the quota (remaining, reset) for rate-limit headers, which
//! governor's default `NoOpMiddleware` does not.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use ratelimit::backend::Algorithm;

mod peers;

fn ratelimit_cases(c: &mut Criterion, name: &str, algorithm: Algorithm, users: &[&str]) {
    // Every key present before timing, and every decision an admission.
    let backend = peers::memory_backend(algorithm, users);
    let mut group = c.benchmark_group("memory");
    // One key: its request ready before timing, as governor's key is.
    let hot = peers::decision("10.0.0.1");
    group.bench_function(format!("{name}/hot_key"), |b| {
        b.iter(|| peers::decide(&backend, black_box(&hot)));
    });
    group.bench_function(format!("{name}/100k_keys"), |b| {
        let mut keys = users.iter().cycle();
        b.iter(|| {
            peers::decide(
                &backend,
                &peers::decision(black_box(keys.next().copied().unwrap_or_default())),
            )
        });
    });
    group.finish();
}

fn governor_cases(c: &mut Criterion, addresses: &[IpAddr]) {
    let limiter = peers::governor_limiter(addresses);
    let hot = peers::address(1);
    let mut group = c.benchmark_group("memory");
    group.bench_function("governor/hot_key", |b| {
        b.iter(|| limiter.check_key(black_box(&hot)).is_ok());
    });
    group.bench_function("governor/100k_keys", |b| {
        let mut keys = addresses.iter().cycle();
        b.iter(|| {
            limiter
                .check_key(black_box(keys.next().unwrap_or(&hot)))
                .is_ok()
        });
    });
    group.finish();
}

fn memory(c: &mut Criterion) {
    let keys = peers::Keys::new();
    let users = keys.users();
    ratelimit_cases(c, "ratelimit", Algorithm::FixedWindow, &users);
    governor_cases(c, &keys.addresses);
    ratelimit_cases(c, "ratelimit_gcra", Algorithm::Gcra, &users);
    ratelimit_cases(c, "ratelimit_sliding", Algorithm::SlidingWindow, &users);
}

criterion_group!(benches, memory);
criterion_main!(benches);

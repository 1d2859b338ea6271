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

use std::future::Future;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{Criterion, criterion_group, criterion_main};
use governor::{Quota, RateLimiter};
use ratelimit::backend::{
    Algorithm, Backend, Decision, DecisionRequest, MemoryBackend, Pool, Scope,
};
use ratelimit::{Limit, Unit};

/// Keys visited in turn by the `100k_keys` cases.
const KEYS: u32 = 100_000;
/// A limit no benchmark reaches.
const COUNT: u32 = 1_000_000_000;

/// The `i`-th IP address: 10.0.0.0 + i.
fn address(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
}

/// Decides `request` on `backend`: polls the ready future once.
#[inline]
fn decide(backend: &impl Backend, request: &DecisionRequest<'_>) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(backend.decide(request)).poll(&mut cx) {
        Poll::Ready(Ok(Decision::Allow(_))) => true,
        Poll::Ready(_) | Poll::Pending => false,
    }
}

fn ratelimit_cases(c: &mut Criterion, name: &str, algorithm: Algorithm, users: &[&str]) {
    let backend = if algorithm == Algorithm::default() {
        MemoryBackend::new()
    } else {
        MemoryBackend::builder().algorithm(algorithm).build()
    };
    let limits = [Limit::new(Unit::Second, u64::from(COUNT))];
    let request = |user| DecisionRequest {
        pool: Pool {
            scope: Scope::Path("/bench"),
            method: None,
            user,
        },
        limits: &limits,
        block_time: None,
    };
    // Every key present before timing, and every decision an admission.
    for &user in users {
        assert!(
            decide(&backend, &request(user)),
            "{name}: a limit that is never reached"
        );
    }
    let mut group = c.benchmark_group("memory");
    // One key: its request ready before timing, as governor's key is.
    let hot = request("10.0.0.1");
    group.bench_function(format!("{name}/hot_key"), |b| {
        b.iter(|| decide(&backend, black_box(&hot)));
    });
    group.bench_function(format!("{name}/100k_keys"), |b| {
        let mut keys = users.iter().cycle();
        b.iter(|| {
            decide(
                &backend,
                &request(black_box(keys.next().copied().unwrap_or_default())),
            )
        });
    });
    group.finish();
}

fn governor_cases(c: &mut Criterion, addresses: &[IpAddr]) {
    let quota = Quota::per_second(NonZeroU32::new(COUNT).expect("not zero"));
    let limiter = RateLimiter::keyed(quota);
    for address in addresses {
        assert!(limiter.check_key(address).is_ok());
    }
    let hot = address(1);
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
    let addresses: Vec<IpAddr> = (0..KEYS).map(address).collect();
    // The user ids as text, one after the other in one buffer (as the addresses are in
    // theirs), so that reading them costs what reading the addresses does.
    let text: String = addresses.iter().map(ToString::to_string).collect();
    let mut users = Vec::with_capacity(addresses.len());
    let mut rest = text.as_str();
    for address in &addresses {
        let (user, after) = rest.split_at(address.to_string().len());
        users.push(user);
        rest = after;
    }
    ratelimit_cases(c, "ratelimit", Algorithm::FixedWindow, &users);
    governor_cases(c, &addresses);
    ratelimit_cases(c, "ratelimit_gcra", Algorithm::Gcra, &users);
    ratelimit_cases(c, "ratelimit_sliding", Algorithm::SlidingWindow, &users);
}

criterion_group!(benches, memory);
criterion_main!(benches);

//! End-to-end tests of the limiter in a real axum server over loopback HTTP, on a
//! multi-threaded runtime: exactness under bursts of concurrent connections (in-memory,
//! Redis, Redis Cluster), store faults through the middleware (Redis killed, restarted,
//! slowed, flushed), hostile HTTP (raw bytes on TCP), attacks on the rules (path
//! spellings, nested routers, `HEAD`, long paths), and the identities of `FirstOf`'s
//! authenticators kept apart (a token's user named like the client's address).
//!
//! Time is controlled (a `ManualClock`, or the Redis backend's frozen test clock), never
//! slept, except in the fault tests, where real timeouts are the point and bounds are
//! generous. Redis tests start their own `redis-server`s (see
//! `ratelimit_tests::redis_server`); without Redis installed they say they were skipped and
//! pass, unless `RATELIMIT_REQUIRE_REDIS=1`.
//!
//! `cargo test -p ratelimit-tests --test e2e`

mod evasion;
mod exactness;
mod faults;
mod hostile_http;
mod identity_namespaces;

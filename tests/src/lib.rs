//! What the integration tests of `ratelimit` share: real Redis servers started by the tests
//! ([`redis_server`]), a real axum server on loopback with a raw HTTP/1.1 client ([`net`]),
//! the harness the backend suites are written over ([`harness`]), and what a test's thread
//! logs ([`logs`]).
//!
//! The test binaries of this crate (`tests/`) and the examples' contract tests use it; none
//! of it is part of `ratelimit`.

pub mod harness;
pub mod logs;
pub mod net;
pub mod redis_server;

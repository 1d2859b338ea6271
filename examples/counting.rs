//! Counting what matters: failed logins only, costly requests, everyone together, any window.
//!
//! ```sh
//! cargo run --example counting
//! curl -i -X POST -H 'X-User: alice' -H 'X-Password: letmein' http://127.0.0.1:3000/login # 200, not counted
//! curl -i -X POST -H 'X-User: alice' http://127.0.0.1:3000/login   # 401, counted (three: blocked 60 s)
//! curl -i -H 'X-User: alice' http://127.0.0.1:3000/export          # 200; two a minute (cost 4 of 10)
//! curl -i -H 'X-User: bob' http://127.0.0.1:3000/search            # 200; three per 10 s for everyone
//! curl -i -H 'X-User: alice' http://127.0.0.1:3000/burst           # 200; two per 10 s
//! ```
//!
//! The contract (kept as the code changes):
//! - listens on `$RATELIMIT_ADDR` (default `127.0.0.1:3000`);
//! - the identity is the `X-User` header (missing or empty: `401`) in the group of the
//!   `X-Group` header (missing or empty: `default`);
//! - `$RATELIMIT_BACKEND`: `memory` (the default) or `redis` (at `$REDIS_URL`, default
//!   `redis://127.0.0.1:6379`);
//! - `POST /login` answers `200` when the `X-Password` header is `letmein`, else `401` (the
//!   handler's own answer); every other path and method answers `200 ok`;
//! - the rules below, exactly: only failed logins count (three a minute, then the user is
//!   blocked for a minute), an export uses four of ten a minute, searches are three per ten
//!   seconds for all users together, bursts two per ten seconds.

use axum::Router;
use axum::routing::post;
use http::{HeaderMap, HeaderName, StatusCode};
use ratelimit::auth::HeaderAuth;
use ratelimit::backend::redis::RedisBackend;
use ratelimit::backend::{Backend, MemoryBackend};
use ratelimit::{RateLimitLayer, Rules, ratelimit};
use ratelimit_examples::{BoxError, env_or, init_logging, ok, serve};

static RULES: Rules = ratelimit! {
    "^/login"  => [minute = 3 count_if = 401 block_time = 60],
    "^/export" => [minute = 10 cost = 4],
    "^/search" => [10s = 3 global],
    "^/burst"  => [10s = 2],
};

/// `200` with the right password, else `401`: only the second counts against the limit.
async fn login(headers: HeaderMap) -> StatusCode {
    let password = headers
        .get("x-password")
        .and_then(|value| value.to_str().ok());
    if password == Some("letmein") {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    }
}

/// The example's app on `backend`.
pub(crate) fn app(backend: impl Backend) -> Router {
    let identity = HeaderAuth::new(HeaderName::from_static("x-user"))
        .group_header(HeaderName::from_static("x-group"));
    Router::new()
        .route("/login", post(login).fallback(ok))
        .fallback(ok)
        .layer(RateLimitLayer::new(RULES, identity, backend))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    init_logging();
    let app = match env_or("RATELIMIT_BACKEND", "memory")?.as_str() {
        "memory" => app(MemoryBackend::new()),
        "redis" => {
            let url = env_or("REDIS_URL", "redis://127.0.0.1:6379")?;
            app(RedisBackend::builder(url).build().await?)
        }
        other => {
            return Err(format!("$RATELIMIT_BACKEND is {other:?}; use `memory` or `redis`").into());
        }
    };
    serve("counting", app).await
}

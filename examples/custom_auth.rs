//! A custom authenticator and every feature of the DSL.
//!
//! ```sh
//! cargo run --example custom_auth
//! curl -i -H 'X-User: alice' http://127.0.0.1:3000/towns                    # 200 ok
//! curl -i -H 'X-User: alice' http://127.0.0.1:3000/towns                    # 429
//! curl -i -H 'X-User: alice' -H 'X-Group: admin' http://127.0.0.1:3000/towns # 200 ok
//! curl -i http://127.0.0.1:3000/towns                                       # 401
//! ```
//!
//! The contract (kept as the code changes):
//! - listens on `$RATELIMIT_ADDR` (default `127.0.0.1:3000`); every path answers `200 ok` to
//!   any method unless limited;
//! - the identity is the `X-User` header (missing or empty: `401`) in the group of the
//!   `X-Group` header (missing or empty: `default`);
//! - `$RATELIMIT_BACKEND`: `memory` (the default), `redis` (at `$REDIS_URL`, default
//!   `redis://127.0.0.1:6379`) or `redis-cluster` (`$REDIS_URL` is a comma-separated list of
//!   node URLs); `$RATELIMIT_ALGORITHM`: `fixed-window` (the default), `sliding-window` or
//!   `gcra`;
//! - the rules below, in this order.

use axum::Router;
use ratelimit::backend::redis::RedisBackend;
use ratelimit::backend::{Backend, MemoryBackend};
use ratelimit::{RateLimitLayer, Rules, ratelimit};
use ratelimit_examples::{
    BoxError, algorithm_from_env, env_or, from_headers, init_logging, ok, serve,
};

static RULES: Rules = ratelimit! {
    "^/towns"        => [second = 1 @default, unlimited @admin],
    "^/forests"      => [minute = 1 @default, unlimited @admin],
    "^/api"          => [day = 400 minute = 200 second = 10, minute = 500 second = 25 @admin],
    r"^/user/\d+"    => [minute = 200 zone = "user-api", second = 100 zone = "user-api" @admin],
    "^/login"        => [second = 5 block_time = 60],
    "^/second_limit" => [second = 1, unlimited @admin],
    "^/minute"       => [minute = 1, unlimited @admin],
    "^/multi-minute" => [minute = 2, unlimited @admin],
    "^/block"        => [second = 1 block_time = 5],
    "^/multiple"     => [second = 1 minute = 3],
    "^/message"      => [method = GET minute = 1, method = POST minute = 2],
    r"^/\d+"         => [second = 1 zone = "common"],
    "^/common"       => [second = 1 zone = "common"],
    "^/bench"        => [second = 1000000000],
};

/// The example's app on `backend`: every path answers `200 ok` unless limited.
pub(crate) fn app(backend: impl Backend) -> Router {
    Router::new()
        .fallback(ok)
        .layer(RateLimitLayer::new(RULES, from_headers, backend))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    init_logging();
    let algorithm = algorithm_from_env()?;
    let app = match env_or("RATELIMIT_BACKEND", "memory")?.as_str() {
        "memory" => app(MemoryBackend::builder().algorithm(algorithm).build()),
        "redis" => {
            let url = env_or("REDIS_URL", "redis://127.0.0.1:6379")?;
            app(RedisBackend::builder(url)
                .algorithm(algorithm)
                .build()
                .await?)
        }
        "redis-cluster" => {
            let urls = env_or("REDIS_URL", "redis://127.0.0.1:6379")?;
            let urls = urls.split(',').map(str::trim).filter(|url| !url.is_empty());
            app(RedisBackend::cluster_builder(urls.map(str::to_owned))
                .algorithm(algorithm)
                .build()
                .await?)
        }
        other => {
            return Err(format!(
                "$RATELIMIT_BACKEND is {other:?}; use `memory`, `redis` or `redis-cluster`"
            )
            .into());
        }
    };
    serve("custom_auth", app).await
}

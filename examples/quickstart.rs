//! The README's quick start: two limited routes, by client IP, on the in-memory backend.
//!
//! ```sh
//! cargo run --example quickstart
//! curl -i http://127.0.0.1:3000/towns   # 200 ok
//! curl -i http://127.0.0.1:3000/towns   # 429, Retry-After: 1 (within the same second)
//! ```
//!
//! - listens on `$RATELIMIT_ADDR` (default `127.0.0.1:3000`); every path answers `200 ok`
//!   to any method unless limited;
//! - `^/towns`: one request a second, `^/forests`: one a minute; both unlimited for the
//!   `admin` group (which an IP address never is: see `custom_auth` for groups);
//! - the identity is the client's IP address: the peer address, or, when the peer is one of
//!   the trusted proxies in `$RATELIMIT_TRUSTED_PROXIES` (comma-separated CIDRs, none by
//!   default), the rightmost untrusted address of its `X-Forwarded-For`.

use axum::Router;
use ratelimit::auth::{Cidr, ClientIp};
use ratelimit::backend::{Backend, MemoryBackend};
use ratelimit::{RateLimitLayer, Rules, ratelimit};
use ratelimit_examples::{BoxError, env_or, init_logging, ok, serve};

static RULES: Rules = ratelimit! {
    "^/towns"   => [second = 1, unlimited @admin],
    "^/forests" => [minute = 1, unlimited @admin],
};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    init_logging();
    let trusted = env_or("RATELIMIT_TRUSTED_PROXIES", "")?
        .split(',')
        .map(str::trim)
        .filter(|cidr| !cidr.is_empty())
        .map(|cidr| {
            cidr.parse::<Cidr>()
                .map_err(|err| format!("$RATELIMIT_TRUSTED_PROXIES: {cidr:?}: {err}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    serve("quickstart", app(trusted, MemoryBackend::new())).await
}

/// The example's app: limited by client IP, trusting the `trusted` proxies.
pub(crate) fn app(trusted: Vec<Cidr>, backend: impl Backend) -> Router {
    Router::new().fallback(ok).layer(RateLimitLayer::new(
        RULES,
        ClientIp::new().trust_proxies(trusted),
        backend,
    ))
}

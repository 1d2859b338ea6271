//! The README's two rules, with the identity from a JSON Web Token.
//!
//! ```sh
//! JWT_SECRET='a secret of at least 32 bytes, please!' cargo run --example jwt
//! curl -i -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/towns
//! ```
//!
//! - listens on `$RATELIMIT_ADDR` (default `127.0.0.1:3000`); every path answers `200 ok`
//!   to any method unless limited;
//! - `^/towns`: one request a second, `^/forests`: one a minute; both unlimited for the
//!   `admin` group;
//! - `Authorization: Bearer <token>`, an HS256 token signed with `$JWT_SECRET` (required),
//!   whose `user` claim is the user (a string or a number) and whose `group` claim is the
//!   group (`default` when absent or null); `exp` and `nbf` are checked when present;
//! - the default error responses: `401` without a token or with a bad one (bad signature,
//!   another algorithm, expired, …).

use axum::Router;
use ratelimit::auth::{Algorithm, DecodingKey, JwtAuth};
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
    let secret = env_or("JWT_SECRET", "")?;
    if secret.is_empty() {
        return Err("set $JWT_SECRET to the HS256 secret the tokens are signed with".into());
    }
    if secret.len() < 32 {
        tracing::warn!("$JWT_SECRET is shorter than 32 bytes: too short for HS256 in production");
    }
    serve("jwt", app(secret.as_bytes(), MemoryBackend::new())?).await
}

/// The example's app: tokens signed with the HS256 `secret`.
pub(crate) fn app(secret: &[u8], backend: impl Backend) -> Result<Router, BoxError> {
    // `new` takes any secret length; `from_secret` would refuse a short one.
    let auth = JwtAuth::new(DecodingKey::from_secret(secret)?, [Algorithm::HS256])?;
    Ok(Router::new()
        .fallback(ok)
        .layer(RateLimitLayer::new(RULES, auth, backend)))
}

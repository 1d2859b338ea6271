//! What the examples share: where they listen, how they serve, and how they read their
//! settings from the environment. The examples themselves are this package's `[[example]]`
//! targets (`cargo run --example NAME` from the repository root).

use std::error::Error;
use std::net::SocketAddr;

use axum::Router;
use http::request::Parts;
use ratelimit::auth::{AuthError, Identity};
use ratelimit::backend::Algorithm;

/// The address an example listens on when `$RATELIMIT_ADDR` is not set.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// A boxed error, for examples' `main`.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// The value of the environment variable `name`, or `default` when it is unset or empty.
///
/// # Errors
///
/// When the variable is set to something that is not UTF-8.
pub fn env_or(name: &str, default: &str) -> Result<String, BoxError> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Ok(value),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(default.to_owned()),
        Err(err) => Err(format!("${name}: {err}").into()),
    }
}

/// The algorithm named by `$RATELIMIT_ALGORITHM`: `fixed-window` (the default),
/// `sliding-window` or `gcra`.
///
/// # Errors
///
/// When the variable names another algorithm.
pub fn algorithm_from_env() -> Result<Algorithm, BoxError> {
    match env_or("RATELIMIT_ALGORITHM", "fixed-window")?.as_str() {
        "fixed-window" => Ok(Algorithm::FixedWindow),
        "sliding-window" => Ok(Algorithm::SlidingWindow),
        "gcra" => Ok(Algorithm::Gcra),
        other => Err(format!(
            "$RATELIMIT_ALGORITHM is {other:?}; use `fixed-window`, `sliding-window` or `gcra`"
        )
        .into()),
    }
}

/// Logs to stderr, at `info` unless `$RUST_LOG` says otherwise.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Serves `app` on `$RATELIMIT_ADDR` (default [`DEFAULT_ADDR`]) with the peer address in
/// every request's extensions (axum's `ConnectInfo`), until Ctrl-C.
///
/// # Errors
///
/// When the address is invalid or cannot be bound, or serving fails.
pub async fn serve(name: &str, app: Router) -> Result<(), BoxError> {
    let addr: SocketAddr = env_or("RATELIMIT_ADDR", DEFAULT_ADDR)?
        .parse()
        .map_err(|err| format!("$RATELIMIT_ADDR: {err}"))?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("{name} listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// The answer of every route that is not limited: `200 ok`.
pub async fn ok() -> &'static str {
    "ok"
}

/// The identity of `custom_auth`, `observe` and `rules_file`: the `X-User` header (missing or empty:
/// [`AuthError::MissingIdentity`], so `401`), in the group of the `X-Group` header (missing
/// or empty: `default`).
///
/// # Errors
///
/// [`AuthError::MissingIdentity`] when `X-User` is missing, empty or not visible ASCII.
pub async fn from_headers(head: &Parts) -> Result<Identity, AuthError> {
    let header = |name: &str| {
        head.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .filter(|value| !value.is_empty())
    };
    let user = header("x-user").ok_or(AuthError::MissingIdentity("no `X-User` header".into()))?;
    let identity = Identity::new(user);
    Ok(match header("x-group") {
        Some(group) => identity.with_group(group.to_owned()),
        None => identity,
    })
}

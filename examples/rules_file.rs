//! Rules from a file, reloaded while the server runs.
//!
//! ```sh
//! cargo run --example rules_file
//! curl -i -H 'X-User: alice' http://127.0.0.1:3000/towns   # 200 ok
//! curl -i -H 'X-User: alice' http://127.0.0.1:3000/towns   # 429
//! # edit examples/limits.rl (say `second = 1` to `second = 5`): it applies within 2 s
//! ```
//!
//! The contract (kept as the code changes):
//! - listens on `$RATELIMIT_ADDR` (default `127.0.0.1:3000`); every path answers `200 ok` to
//!   any method unless limited;
//! - the identity is the `X-User` header (missing or empty: `401`) in the group of the
//!   `X-Group` header (missing or empty: `default`), as in `custom_auth`; counts in memory;
//! - the rules are the file `$RATELIMIT_RULES` (default `examples/limits.rl`, shipped with
//!   the example): at start, an invalid file is an error (each mistake written as rustc
//!   writes it) and the server does not start;
//! - a change to the file applies within 2 seconds; a change with mistakes is not applied:
//!   each mistake is logged as `FILE:LINE:COL: message` and the rules in force stay. Counts
//!   go on across a reload wherever a pool and window stay the same.

use std::path::Path;

use axum::Router;
use ratelimit::backend::{Backend, MemoryBackend};
use ratelimit::rules_file::RulesWatcher;
use ratelimit::{RateLimitLayer, Rules};
use ratelimit_examples::{BoxError, env_or, from_headers, init_logging, ok, serve};

/// The example's app with the rules of the file at `path`, counted in `backend`, and the
/// watcher that reloads the file into it (the reloading stops when the watcher is dropped).
///
/// # Errors
///
/// When the file cannot be read or is invalid (the error rendered as rustc renders compile
/// errors), or its directory cannot be watched.
pub(crate) fn app(path: &Path, backend: impl Backend) -> Result<(Router, RulesWatcher), BoxError> {
    let rules = Rules::from_file(path).map_err(|error| error.render())?;
    let (layer, handle) = RateLimitLayer::new(rules, from_headers, backend).reloadable();
    let watcher = RulesWatcher::new(path, handle)?;
    Ok((Router::new().fallback(ok).layer(layer), watcher))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    init_logging();
    let path = env_or("RATELIMIT_RULES", "examples/limits.rl")?;
    let (app, watcher) = app(Path::new(&path), MemoryBackend::new())?;
    tracing::info!("rules from {path}, reloaded when it changes");
    serve("rules_file", app).await?;
    drop(watcher);
    Ok(())
}

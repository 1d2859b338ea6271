//! Rolling a rule out and watching it: rules in shadow, and the limiter's metrics in the
//! Prometheus text format.
//!
//! ```sh
//! cargo run --example observe
//! curl -i -H 'X-User: alice' http://127.0.0.1:3000/trial    # 200 ok
//! curl -i -H 'X-User: alice' http://127.0.0.1:3000/trial    # 200 ok: only a would-be refusal
//! curl -s http://127.0.0.1:3000/metrics | grep ratelimit_   # ...outcome="shadow_limited"... 1
//! ```
//!
//! The contract (kept as the code changes):
//! - listens on `$RATELIMIT_ADDR` (default `127.0.0.1:3000`), counts in memory;
//! - the identity is the `X-User` header (missing or empty: `401`) in the group of the
//!   `X-Group` header (missing or empty: `default`);
//! - `GET /metrics` answers the metrics in the Prometheus text format (not limited, no
//!   identity needed); every other path answers `200 ok` to any method unless refused;
//! - the rules below, in this order: `/towns` enforced, `/trial` and `/closed` in shadow (they
//!   admit every request, and count the ones they would have refused as `shadow_limited` and
//!   `shadow_denied`), `/denied` enforced.

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use ratelimit::backend::{Backend, MemoryBackend};
use ratelimit::{RateLimitLayer, Rules, ratelimit};
use ratelimit_examples::{BoxError, from_headers, init_logging, ok, serve};

static RULES: Rules = ratelimit! {
    "^/towns"  => [second = 1 @default, unlimited @admin],
    "^/trial"  => [minute = 1 shadow],
    "^/closed" => [deny shadow],
    "^/denied" => [deny],
};

/// The example's app on `backend`, serving the metrics `metrics` renders at `/metrics`.
pub(crate) fn app(backend: impl Backend, metrics: PrometheusHandle) -> Router {
    Router::new()
        // No route of the rules matches `/metrics`: the layer lets it through unauthenticated.
        .route(
            "/metrics",
            get(move || std::future::ready(metrics.render())),
        )
        .fallback(ok)
        .layer(RateLimitLayer::new(RULES, from_headers, backend))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    init_logging();
    // The global recorder: every layer's counters and histogram go to it.
    let metrics = PrometheusBuilder::new().install_recorder()?;
    serve("observe", app(MemoryBackend::new(), metrics)).await
}

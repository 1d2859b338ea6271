//! Limits declared on the handlers themselves, with `#[rate_limited(…)]`.
//!
//! ```sh
//! cargo run --example handler_attribute
//! curl -i -H 'X-User: alice' http://127.0.0.1:3000/towns     # 200, then 429 within a second
//! curl -i -H 'X-User: alice' http://127.0.0.1:3000/forests   # 200
//! curl -i -H 'X-User: alice' http://127.0.0.1:3000/lakes     # 429: same zone as /forests
//! curl -i -H 'X-User: alice' http://127.0.0.1:3000/items/7   # 200 twice a minute
//! curl -i http://127.0.0.1:3000/free                         # 200, no identity needed
//! ```
//!
//! The contract (kept as the code changes):
//! - listens on `$RATELIMIT_ADDR` (default `127.0.0.1:3000`), in-memory backend;
//! - the identity is the `X-User` header (missing or empty: `401`) in the group of the
//!   `X-Group` header (missing or empty: `default`), as in `custom_auth`;
//! - `GET /towns`: `second = 1 @default, unlimited @admin`;
//! - `GET /forests` and `GET /lakes`: each `minute = 1 zone = "outdoors"` (one shared pool);
//! - `GET /items/{id}`: `minute = 2`, with `Path` and `State` extractors;
//! - `GET /free`: no limit, no identity needed.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use ratelimit::auth::HeaderAuth;
use ratelimit::backend::{Backend, MemoryBackend};
use ratelimit::{RateLimitLayer, Rules, rate_limited};
use ratelimit_examples::{BoxError, init_logging, serve};

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct Inventory {
    pub(crate) name: &'static str,
}

#[rate_limited(second = 1 @default, unlimited @admin)]
pub(crate) async fn towns() -> &'static str {
    "towns"
}

#[rate_limited(minute = 1 zone = "outdoors")]
async fn forests() -> &'static str {
    "forests"
}

#[rate_limited(minute = 1 zone = "outdoors")]
async fn lakes() -> &'static str {
    "lakes"
}

#[rate_limited(minute = 2)]
pub(crate) async fn item(Path(id): Path<u64>, State(inventory): State<Inventory>) -> String {
    format!("{} item {id}", inventory.name)
}

async fn free() -> &'static str {
    "free"
}

/// The example's app on `backend`.
pub(crate) fn app(backend: impl Backend) -> Router {
    let identity = HeaderAuth::new(http::HeaderName::from_static("x-user"))
        .group_header(http::HeaderName::from_static("x-group"));
    Router::new()
        .route("/towns", get(towns))
        .route("/forests", get(forests))
        .route("/lakes", get(lakes))
        .route("/items/{id}", get(item))
        .route("/free", get(free))
        .with_state(Inventory { name: "inventory" })
        // No routes of its own: the layer serves the handlers' attributes.
        .layer(RateLimitLayer::new(Rules::none(), identity, backend))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    init_logging();
    serve("handler_attribute", app(MemoryBackend::new())).await
}

//! The identity from a server-side session (`tower-sessions`).
//!
//! ```sh
//! cargo run --example session
//! curl -i -c jar -X POST 'http://127.0.0.1:3000/login?user=alice'   # sets the session
//! curl -i -b jar http://127.0.0.1:3000/towns                         # 200, then 429
//! curl -i -b jar -X POST http://127.0.0.1:3000/logout
//! curl -i -b jar http://127.0.0.1:3000/towns                         # 401: no session user
//! ```
//!
//! - listens on `$RATELIMIT_ADDR` (default `127.0.0.1:3000`);
//! - `POST /login?user=NAME&group=GROUP` stores `user` and `group` (optional) in the session;
//!   `POST /logout` ends it;
//! - `GET /towns`: one request a second, unlimited for the `admin` group, per session user;
//!   without a logged-in user, `401`.

use axum::Router;
use axum::extract::Query;
use axum::routing::{get, post};
use http::StatusCode;
use ratelimit::auth::SessionAuth;
use ratelimit::backend::{Backend, MemoryBackend};
use ratelimit::{RateLimitLayer, Rules, ratelimit};
use ratelimit_examples::{BoxError, init_logging, serve};
use tower_sessions::{MemoryStore, Session, SessionManagerLayer};

static RULES: Rules = ratelimit! {
    "^/towns" => [second = 1, unlimited @admin],
};

/// Who logs in.
#[derive(serde::Deserialize)]
struct Login {
    user: String,
    group: Option<String>,
}

async fn login(session: Session, Query(login): Query<Login>) -> Result<String, StatusCode> {
    let store = async {
        session.insert("user", &login.user).await?;
        session.insert("group", &login.group).await
    };
    store.await.map_err(|err| {
        tracing::error!("could not store the session: {err}");
        StatusCode::INTERNAL_SERVER_ERROR
    })?;
    Ok(format!("logged in as {}", login.user))
}

async fn logout(session: Session) -> Result<&'static str, StatusCode> {
    session.flush().await.map_err(|err| {
        tracing::error!("could not end the session: {err}");
        StatusCode::INTERNAL_SERVER_ERROR
    })?;
    Ok("logged out")
}

async fn towns() -> &'static str {
    "towns"
}

/// The example's app on `backend`.
pub(crate) fn app(backend: impl Backend) -> Router {
    Router::new()
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/towns", get(towns))
        .layer(RateLimitLayer::new(RULES, SessionAuth::new(), backend))
        // Added last, so it runs first: the rate limiter reads the session it loads.
        .layer(SessionManagerLayer::new(MemoryStore::default()).with_secure(false))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    init_logging();
    serve("session", app(MemoryBackend::new())).await
}

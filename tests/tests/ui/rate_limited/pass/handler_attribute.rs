//! `#[rate_limited]` keeps what the handler says about itself: docs, attributes, visibility,
//! extractors (`State`, `Path`, and a body extractor last), and its return type.
use axum::extract::{Json, Path, State};
use axum::routing::{get, post};
use axum::Router;
use ratelimit::{rate_limited, RateLimitLayer, Rules};
use ratelimit::auth::{AuthError, Identity};
use ratelimit::backend::MemoryBackend;

#[derive(Clone)]
struct App {
    name: &'static str,
}

#[derive(serde::Deserialize)]
struct Message {
    text: String,
}

/// Towns: one a second, unlimited for admins.
#[rate_limited(second = 1 @default, unlimited @admin)]
#[allow(clippy::unused_async)]
pub async fn towns() -> &'static str {
    "towns"
}

#[rate_limited(minute = 2, hour = 100 global shadow @trial)]
pub(crate) async fn item(Path(id): Path<u32>, State(app): State<App>) -> String {
    format!("{} {id}", app.name)
}

#[rate_limited(method = POST minute = 1 zone = "messages")]
async fn message(State(app): State<App>, Json(message): Json<Message>) -> String {
    format!("{}: {}", app.name, message.text)
}

async fn authenticate(_: &http::request::Parts) -> Result<Identity, AuthError> {
    Ok(Identity::new("someone"))
}

fn main() {
    let _app: Router = Router::new()
        .route("/towns", get(towns))
        .route("/items/{id}", get(item))
        .route("/messages", post(message))
        .with_state(App { name: "app" })
        .layer(RateLimitLayer::new(Rules::none(), authenticate, MemoryBackend::new()));
}

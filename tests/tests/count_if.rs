//! `count_if` through a `#[rate_limited]` handler: the handler's check counts the request,
//! and the layer gives it back when the handler's response is not a listed status, on the
//! in-memory backend and on Redis.

use axum::Router;
use axum::routing::post;
use http::{HeaderMap, HeaderName, StatusCode};
use ratelimit::auth::HeaderAuth;
use ratelimit::backend::Backend;
use ratelimit::backend::MemoryBackend;
use ratelimit::backend::redis::RedisBackend;
use ratelimit::{RateLimitLayer, Rules, rate_limited};
use ratelimit_tests::net::Server;
use ratelimit_tests::redis_server::RedisServer;

/// Counts only failed attempts: two a minute, then the user waits.
#[rate_limited(minute = 2 count_if = 401 | 403)]
async fn unlock(headers: HeaderMap) -> StatusCode {
    match headers.get("x-code").and_then(|value| value.to_str().ok()) {
        Some("1234") => StatusCode::NO_CONTENT,
        Some("") => StatusCode::FORBIDDEN,
        _ => StatusCode::UNAUTHORIZED,
    }
}

fn app(backend: impl Backend) -> Router {
    let identity = HeaderAuth::new(HeaderName::from_static("x-user"));
    Router::new()
        .route("/unlock", post(unlock))
        .layer(RateLimitLayer::new(Rules::none(), identity, backend))
}

async fn only_failures_count(server: &Server) {
    let user = ("x-user", "alice");
    for _ in 0..6 {
        let reply = server
            .send("POST", "/unlock", &[user, ("x-code", "1234")])
            .await;
        assert_eq!(reply.status, 204, "a success is given back");
    }
    assert_eq!(server.send("POST", "/unlock", &[user]).await.status, 401);
    assert_eq!(
        server
            .send("POST", "/unlock", &[user, ("x-code", "")])
            .await
            .status,
        403
    );
    let refused = server
        .send("POST", "/unlock", &[user, ("x-code", "1234")])
        .await;
    assert_eq!(refused.status, 429, "two failures: the limit");
    let bob = server
        .send("POST", "/unlock", &[("x-user", "bob"), ("x-code", "1234")])
        .await;
    assert_eq!(bob.status, 204);
}

#[tokio::test]
async fn a_handlers_count_if_gives_back_what_its_response_does_not_count_in_memory() {
    let server = Server::start(app(MemoryBackend::new())).await;
    only_failures_count(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handlers_count_if_gives_back_what_its_response_does_not_count_on_redis() {
    let Some(redis) = RedisServer::start_or_skip("count_if::handler") else {
        return;
    };
    let backend = RedisBackend::builder(redis.url())
        .frozen_clock_for_tests()
        .build()
        .await
        .expect("built");
    let server = Server::start(app(backend)).await;
    only_failures_count(&server).await;
}

//! The `handler_attribute` example serves its contract: real HTTP to the example's own app
//! on a loopback port, on a backend whose clock the test controls.

#[path = "../handler_attribute.rs"]
#[allow(dead_code)]
mod example;

use std::time::Duration;

use ratelimit::backend::{ManualClock, MemoryBackend};
use ratelimit_tests::net::Server;

async fn start() -> (Server, ManualClock) {
    let clock = ManualClock::new();
    let backend = MemoryBackend::builder().clock(clock.clone()).build();
    (Server::start(example::app(backend)).await, clock)
}

const ALICE: (&str, &str) = ("x-user", "alice");

#[tokio::test]
async fn towns_admits_one_a_second_and_admins_without_limit() {
    let (server, clock) = start().await;
    let first = server.get("/towns", &[ALICE]).await;
    assert_eq!((first.status, first.text().as_str()), (200, "towns"));
    let refused = server.get("/towns", &[ALICE]).await;
    assert_eq!(
        (refused.status, refused.header("retry-after")),
        (429, Some("1"))
    );
    for _ in 0..3 {
        let admin = server.get("/towns", &[ALICE, ("x-group", "admin")]).await;
        assert_eq!(admin.status, 200);
    }
    clock.advance(Duration::from_secs(1));
    assert_eq!(server.get("/towns", &[ALICE]).await.status, 200);
}

#[tokio::test]
async fn forests_and_lakes_share_the_outdoors_zone() {
    let (server, clock) = start().await;
    assert_eq!(server.get("/forests", &[ALICE]).await.status, 200);
    let refused = server.get("/lakes", &[ALICE]).await;
    assert_eq!(
        (refused.status, refused.header("retry-after")),
        (429, Some("60"))
    );
    assert_eq!(server.get("/forests", &[ALICE]).await.status, 429);
    // Another user has their own pool.
    assert_eq!(server.get("/lakes", &[("x-user", "bob")]).await.status, 200);
    clock.advance(Duration::from_secs(60));
    assert_eq!(server.get("/lakes", &[ALICE]).await.status, 200);
}

#[tokio::test]
async fn items_admit_two_a_minute_with_their_extractors() {
    let (server, _) = start().await;
    let first = server.get("/items/7", &[ALICE]).await;
    assert_eq!(
        (first.status, first.text().as_str()),
        (200, "inventory item 7")
    );
    // The pool is the handler, not the path: another id shares it.
    assert_eq!(server.get("/items/8", &[ALICE]).await.status, 200);
    assert_eq!(server.get("/items/9", &[ALICE]).await.status, 429);
    // The limit runs before the `Path` extractor: a bad id of a limited user is a 429.
    assert_eq!(server.get("/items/x", &[ALICE]).await.status, 429);
    assert_eq!(
        server.get("/items/x", &[("x-user", "bob")]).await.status,
        400
    );
}

#[tokio::test]
async fn free_needs_no_identity_and_has_no_limit() {
    let (server, _) = start().await;
    for _ in 0..5 {
        let reply = server.get("/free", &[]).await;
        assert_eq!((reply.status, reply.text().as_str()), (200, "free"));
    }
}

#[tokio::test]
async fn a_limited_handler_without_identity_is_401() {
    let (server, _) = start().await;
    assert_eq!(server.get("/towns", &[]).await.status, 401);
    assert_eq!(server.get("/towns", &[("x-user", "")]).await.status, 401);
}

#[tokio::test]
async fn a_handler_whose_router_has_no_limiter_answers_500() {
    use axum::Router;
    use axum::routing::get;
    let app = Router::new().route("/towns", get(example::towns));
    let server = Server::start(app).await;
    assert_eq!(server.get("/towns", &[ALICE]).await.status, 500);
}

#[tokio::test]
async fn a_layer_with_routes_serves_the_handlers_with_its_defaults() {
    use axum::Router;
    use axum::routing::get;
    use ratelimit::auth::HeaderAuth;
    use ratelimit::{RateLimitLayer, Rules, ratelimit};

    static ROUTES: Rules = ratelimit! { "^/other" => [second = 1] };
    let app = |extension: Option<bool>| {
        let layer = RateLimitLayer::new(
            ROUTES,
            HeaderAuth::new(http::HeaderName::from_static("x-user")),
            MemoryBackend::new(),
        );
        let layer = match extension {
            Some(extension) => layer.limiter_extension(extension),
            None => layer,
        };
        Router::new()
            .route("/towns", get(example::towns))
            .layer(layer)
    };
    // This program has `#[rate_limited]` handlers (registered at link time), so a layer with
    // routes of its own hands its limiter to them by default.
    let server = Server::start(app(None)).await;
    assert_eq!(server.get("/towns", &[ALICE]).await.status, 200);
    assert_eq!(server.get("/towns", &[ALICE]).await.status, 429);
    // Turned off, the handlers have no limiter: 500, never unlimited.
    let server = Server::start(app(Some(false))).await;
    assert_eq!(server.get("/towns", &[ALICE]).await.status, 500);
}

#[tokio::test]
async fn an_admitted_handler_response_carries_the_handlers_rate_limit_headers() {
    use axum::Router;
    use axum::routing::get;
    use ratelimit::auth::HeaderAuth;
    use ratelimit::middleware::RateLimitHeaders;
    use ratelimit::{RateLimitLayer, Rules, ratelimit};

    static ROUTES: Rules = ratelimit! { "^/" => [hour = 100] };
    let auth = || HeaderAuth::new(http::HeaderName::from_static("x-user"));
    // `items` is `minute = 2`; `/plain` has no attribute.
    let app = |rules, headers| {
        Router::new()
            .route("/items/{id}", get(example::item))
            .route("/plain", get(|| async { "plain" }))
            .with_state(example::Inventory { name: "inventory" })
            .layer(
                RateLimitLayer::new(rules, auth(), MemoryBackend::new())
                    .headers(headers)
                    .limiter_extension(true),
            )
    };
    let header =
        |reply: &ratelimit_tests::net::Reply, name: &str| reply.header(name).map(str::to_owned);

    // The attribute's rule alone.
    let server = Server::start(app(Rules::none(), RateLimitHeaders::Ietf)).await;
    let first = server.get("/items/1", &[ALICE]).await;
    assert_eq!(first.status, 200);
    assert_eq!(
        header(&first, "ratelimit").as_deref(),
        Some(r#""minute";r=1;t=60"#)
    );
    assert_eq!(
        header(&first, "ratelimit-policy").as_deref(),
        Some(r#""minute";q=2;w=60"#)
    );
    let plain = server.get("/plain", &[ALICE]).await;
    assert_eq!((plain.status, header(&plain, "ratelimit")), (200, None));

    // A route rule admitted it too: the handler's headers replace the route's.
    let server = Server::start(app(ROUTES, RateLimitHeaders::Legacy)).await;
    let item = server.get("/items/1", &[ALICE]).await;
    assert_eq!(item.status, 200);
    assert_eq!(header(&item, "x-ratelimit-limit").as_deref(), Some("2"));
    assert_eq!(header(&item, "x-ratelimit-remaining").as_deref(), Some("1"));
    // Without an attribute, the route's (its pool is the path's).
    let plain = server.get("/plain", &[ALICE]).await;
    assert_eq!(header(&plain, "x-ratelimit-limit").as_deref(), Some("100"));
    assert_eq!(
        header(&plain, "x-ratelimit-remaining").as_deref(),
        Some("99")
    );
}

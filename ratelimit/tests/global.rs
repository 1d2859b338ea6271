//! `global` rules through the middleware's public API: one pool for every user.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use http::{HeaderName, Request, Response, StatusCode};
use ratelimit::auth::HeaderAuth;
use ratelimit::backend::{ManualClock, MemoryBackend};
use ratelimit::middleware::RateLimitLayer;
use ratelimit::{Rules, ratelimit};
use tower::{Layer, Service, ServiceExt, service_fn};

static RULES: Rules = ratelimit! {
    "^/search" => [second = 3 global, unlimited @admin],
    "^/mine"   => [second = 3],
    "^/zoned"  => [second = 2 global zone = "catalog"],
    "^/also"   => [second = 2 global zone = "catalog"],
};

fn service(
    clock: &ManualClock,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone {
    let backend = MemoryBackend::builder().clock(clock.clone()).build();
    let auth = HeaderAuth::new(HeaderName::from_static("x-user"))
        .group_header(HeaderName::from_static("x-group"));
    let ok =
        service_fn(|_: Request<Body>| async { Ok::<_, Infallible>(Response::new(Body::empty())) });
    RateLimitLayer::new(RULES, auth, backend).layer(ok)
}

async fn status<S>(service: &S, path: &str, user: &str, group: Option<&str>) -> u16
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    let mut request = Request::get(path).header("x-user", user);
    if let Some(group) = group {
        request = request.header("x-group", group);
    }
    let request = request.body(Body::empty()).unwrap();
    service
        .clone()
        .oneshot(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn every_user_counts_against_one_pool_and_the_window_frees_it_for_all() {
    let clock = ManualClock::new();
    let service = service(&clock);
    let users = ["ann", "ben", "cat", "dan"];
    let mut statuses = Vec::new();
    for user in users {
        statuses.push(status(&service, "/search", user, None).await);
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 429],
        "three a second, for everyone together"
    );
    // A per-user rule beside it still counts each user apart.
    for user in users {
        assert_eq!(status(&service, "/mine", user, None).await, 200);
    }
    clock.advance(Duration::from_secs(1));
    assert_eq!(status(&service, "/search", "dan", None).await, 200);
}

#[tokio::test]
async fn the_rule_is_still_chosen_by_group_and_a_zone_shares_the_pool_across_routes() {
    let clock = ManualClock::new();
    let service = service(&clock);
    for user in ["ann", "ben", "cat"] {
        assert_eq!(status(&service, "/search", user, None).await, 200);
    }
    assert_eq!(status(&service, "/search", "eve", None).await, 429);
    assert_eq!(
        status(&service, "/search", "eve", Some("admin")).await,
        StatusCode::OK
    );
    assert_eq!(status(&service, "/zoned", "ann", None).await, 200);
    assert_eq!(status(&service, "/also", "ben", None).await, 200);
    assert_eq!(status(&service, "/zoned", "cat", None).await, 429);
}

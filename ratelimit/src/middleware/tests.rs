//! The middleware's allocations on a path that needs private items (an identity made from
//! an inline id, `Identity::of`). Everything else the middleware does is tested through its
//! public API in `ratelimit/tests/middleware`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

use http::request::Parts;
use http::{Request, Response, StatusCode};
use tower::service_fn;
use tower_layer::Layer;
use tower_service::Service;

use super::*;
use crate::auth::{AuthError, Authenticate, Identity, RequestHead};
use crate::{Rules, ratelimit};

/// Everyone is the same (empty, so allocation-free) user.
async fn anyone(_: &Parts) -> Result<Identity, AuthError> {
    Ok(Identity::new(String::new()))
}

/// The allocations of one call of `service` for `request`, up to its response.
fn allocations_of_request<S>(service: &mut S, request: Request<()>) -> u64
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    let mut cx = Context::from_waker(std::task::Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    let mut response = None;
    let info = allocation_counter::measure(|| {
        let mut future = pin!(service.call(request));
        response = loop {
            if let Poll::Ready(response) = future.as_mut().poll(&mut cx) {
                break Some(response);
            }
        };
    });
    assert_eq!(response.unwrap().unwrap().status(), StatusCode::OK);
    info.count_total
}

/// `FirstOf` of built-ins answers at once, so the request is decided inside `call` (no
/// boxed check), and its tag keeps a short id inline; an `async fn` reached is awaited.
#[test]
fn a_first_of_built_ins_is_decided_at_once_and_its_tag_allocates_nothing() {
    use std::net::SocketAddr;

    use axum::extract::ConnectInfo;

    use crate::auth::ClientIp;

    static RULES: Rules = ratelimit! { "^/limited" => [second = 1000] };
    let inner = service_fn(|_: Request<()>| std::future::ready(Ok(Response::new(()))));
    /// `x-user`, as `HeaderAuth` reads it, but missing with a message not formatted (as
    /// `JwtAuth`'s): falling through to `ClientIp` allocates nothing.
    #[derive(Clone)]
    struct UserOrNot;

    impl Authenticate for UserOrNot {
        fn authenticate<'a>(
            &'a self,
            head: &'a Parts,
        ) -> impl Future<Output = Result<Identity, AuthError>> + Send + 'a {
            std::future::ready(self.authenticate_now(head.into()).expect("known at once"))
        }

        fn authenticate_now(&self, head: RequestHead<'_>) -> Option<Result<Identity, AuthError>> {
            let user = head.headers.get("x-user").and_then(|v| v.to_str().ok());
            Some(user.map_or_else(
                || Err(AuthError::MissingIdentity("no x-user".into())),
                |user| Ok(Identity::of(user.into())),
            ))
        }
    }

    let user = UserOrNot;
    let mut service = RateLimitLayer::new(
        RULES,
        user.clone().or(ClientIp::new()),
        crate::backend::MemoryBackend::new(),
    )
    .layer(inner);
    let request = |user: Option<&str>| {
        let mut request = Request::get("/limited");
        if let Some(user) = user {
            request = request.header("x-user", user);
        }
        let mut request = request.body(()).unwrap();
        let peer: SocketAddr = "192.0.2.7:4000".parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    };
    let long = "x".repeat(23);
    // (user, allocations once its window exists)
    let cases = [
        // `0-203.0.113.195`, `1-192.0.2.7`, and 24 bytes with the tag: inline.
        (Some("203.0.113.195"), 0),
        (None, 0),
        (Some("an-account-id-22-bytes"), 0),
        // 25 bytes with the tag: the identity's user id on the heap.
        (Some(long.as_str()), 1),
    ];
    for (user, expected) in cases {
        allocations_of_request(&mut service, request(user));
        assert_eq!(
            allocations_of_request(&mut service, request(user)),
            expected,
            "{user:?}"
        );
    }

    // An `async fn` reached: the check is boxed.
    let inner = service_fn(|_: Request<()>| std::future::ready(Ok(Response::new(()))));
    let mut service =
        RateLimitLayer::new(RULES, user.or(anyone), crate::backend::MemoryBackend::new())
            .layer(inner);
    allocations_of_request(&mut service, request(None));
    assert!(allocations_of_request(&mut service, request(None)) > 0);
}

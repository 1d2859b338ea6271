//! What `Debug` shows of the middleware's service and its response future.

use http::HeaderName;
use ratelimit::auth::HeaderAuth;
use ratelimit::backend::MemoryBackend;

use super::*;

#[test]
fn the_service_shows_its_inner_service_and_its_limiters_types_and_rules() {
    static RULES: Rules = ratelimit! { "^/debug" => [minute = 1] };
    let (backend, _) = backend(Mode::AllowFirst(1));
    let service =
        RateLimitLayer::<Body>::new(RULES, TestAuth::default(), backend).layer(hello_debug());

    let shown = format!("{service:?}");

    assert!(shown.starts_with("RateLimit { inner: "), "{shown}");
    assert!(shown.contains("ServiceFn"), "the inner service: {shown}");
    assert!(
        shown.contains("TestAuth") && shown.contains("TestBackend"),
        "the authenticator's and the backend's type names: {shown}"
    );
    assert!(shown.contains("^/debug"), "the rules: {shown}");
}

#[test]
fn the_response_future_shows_its_state() {
    static RULES: Rules = ratelimit! { "^/debug" => [minute = 1] };
    let mut service = RateLimitLayer::<Body>::new(
        RULES,
        HeaderAuth::new(HeaderName::from_static("x-user")),
        MemoryBackend::new(),
    )
    .layer(hello_debug());
    let mut shown = |uri: &str| {
        let request = request("GET", uri, Some("alice"), None);
        format!("{:?}", service.call(request))
    };

    // No route: the inner service's future; admitted at once: the same; refused: a response.
    assert_eq!(shown("/other"), r#"ResponseFuture { state: "call" }"#);
    assert_eq!(shown("/debug"), r#"ResponseFuture { state: "call" }"#);
    assert_eq!(shown("/debug"), r#"ResponseFuture { state: "respond" }"#);
}

/// An inner service that answers 200 and has a `Debug` impl (tower's `ServiceFn`).
fn hello_debug() -> impl Service<
    Request<Body>,
    Response = Response<Body>,
    Error = Infallible,
    Future = std::future::Ready<Result<Response<Body>, Infallible>>,
> + Clone
+ fmt::Debug {
    service_fn(|_: Request<Body>| std::future::ready(Ok(Response::new(Body::empty()))))
}

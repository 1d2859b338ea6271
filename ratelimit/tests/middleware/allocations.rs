//! Allocations: the pass-through path allocates nothing, a limited request decided at once
//! nothing, one that waits two boxes.

use std::pin::pin;

use super::*;

/// Admits every request, at once.
struct AdmitAll;

impl Backend for AdmitAll {
    fn decide<'a>(&'a self, request: &'a DecisionRequest<'a>) -> DecisionFuture<'a> {
        DecisionFuture::ready(Ok(Decision::Allow(Quota {
            limit: request.limits[0],
            remaining: 1,
            reset: Duration::from_secs(1),
            counted_at: 0,
        })))
    }
}

/// Everyone is the same (empty, so allocation-free) user.
async fn anyone(_: &Parts) -> Result<Identity, AuthError> {
    Ok(Identity::new(String::new()))
}

/// The allocations of one call of `service` for `uri`, up to its response.
fn allocations_of<S>(service: &mut S, uri: &str) -> u64
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    allocations_of_request(service, Request::get(uri).body(()).unwrap())
}

/// The allocations of one call of `service` for `request`, up to its response, after one
/// call for a copy of it: what is made once per layer (with the `metrics` feature, each
/// counter is registered on first use) is not counted.
fn allocations_of_request<S>(service: &mut S, request: Request<()>) -> u64
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    let mut copy = Request::new(());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.headers_mut() = request.headers().clone();
    *copy.extensions_mut() = request.extensions().clone();
    let _ = count_allocations(service, copy);
    count_allocations(service, request)
}

/// The allocations of one call of `service` for `request`, up to its response.
fn count_allocations<S>(service: &mut S, request: Request<()>) -> u64
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

fn service(
    extension: bool,
) -> impl Service<Request<()>, Response = Response<()>, Error = Infallible> {
    static RULES: Rules = ratelimit! { "^/limited" => [second = 10] };
    let inner = service_fn(|_: Request<()>| std::future::ready(Ok(Response::new(()))));
    RateLimitLayer::new(RULES, anyone, AdmitAll)
        .limiter_extension(extension)
        .layer(inner)
}

#[test]
fn a_request_no_route_matches_allocates_nothing_but_the_extension() {
    assert_eq!(allocations_of(&mut service(false), "/free"), 0);
    // The extension's box, and the extension map of a request that had none (its box and
    // its table); axum's requests usually have a map already.
    let with_extension = allocations_of(&mut service(true), "/free");
    assert!((1..=3).contains(&with_extension), "{with_extension}");
}

#[test]
fn an_admitted_request_that_waits_allocates_two_boxes() {
    // `anyone` is an `async fn`: the check is boxed, and so is the pipeline's wait in it.
    assert_eq!(allocations_of(&mut service(false), "/limited"), 2);
}

/// Everyone is the same user, known at once.
struct AnyoneNow;

impl Authenticate for AnyoneNow {
    fn authenticate<'a>(
        &'a self,
        head: &'a Parts,
    ) -> impl Future<Output = Result<Identity, AuthError>> + Send + 'a {
        std::future::ready(self.authenticate_now(head.into()).expect("known at once"))
    }

    fn authenticate_now(&self, _: RequestHead<'_>) -> Option<Result<Identity, AuthError>> {
        Some(Ok(Identity::new(String::new())))
    }
}

#[test]
fn a_request_decided_at_once_allocates_nothing() {
    static RULES: Rules = ratelimit! { "^/limited" => [second = 1000, deny @banned] };
    let inner = service_fn(|_: Request<()>| std::future::ready(Ok(Response::new(()))));
    let mut service =
        RateLimitLayer::new(RULES, AnyoneNow, ratelimit::backend::MemoryBackend::new())
            .limiter_extension(false)
            .layer(inner);
    // The first request creates the pool's window; the next ones count in it in place,
    // decided inside `call`: no boxed check, no clone of the inner service.
    allocations_of(&mut service, "/limited");
    assert_eq!(allocations_of(&mut service, "/limited"), 0);
    assert_eq!(allocations_of(&mut service, "/limited?x=1"), 0);
}

#[test]
fn a_built_in_identity_of_up_to_24_bytes_allocates_nothing() {
    static RULES: Rules = ratelimit! { "^/limited" => [second = 1000] };
    let inner = service_fn(|_: Request<()>| std::future::ready(Ok(Response::new(()))));
    // The default options: no extension for a layer with routes.
    let mut service = RateLimitLayer::new(
        RULES,
        ratelimit::auth::HeaderAuth::new(http::HeaderName::from_static("x-user")),
        ratelimit::backend::MemoryBackend::new(),
    )
    .layer(inner);
    let as_user = |user: &str| {
        Request::get("/limited")
            .header("x-user", user)
            .body(())
            .unwrap()
    };
    let long = "x".repeat(25);
    // (user, allocations once its window exists)
    let cases = [
        ("203.0.113.195", 0),
        ("2001:db8::8a2e:370:7334", 0),
        ("an-account-id-24-bytes-x", 0),
        // Longer: the identity's user id on the heap.
        (long.as_str(), 1),
    ];
    for (user, expected) in cases {
        // The first request creates the pool's window.
        allocations_of_request(&mut service, as_user(user));
        assert_eq!(
            allocations_of_request(&mut service, as_user(user)),
            expected,
            "{user} ({} bytes)",
            user.len()
        );
    }
}

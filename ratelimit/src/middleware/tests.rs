//! Tests of the middleware's request semantics (README, "Request semantics") and responses, with a test
//! backend; the shared backend suites run against the real backends elsewhere.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt::{self, Write as _};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::request::Parts;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;
use tower_service::Service;

use super::*;
use crate::auth::{AuthError, Authenticate, Identity, RequestHead};
use crate::backend::{
    Backend, BackendError, Decision, DecisionFuture, DecisionRequest, Denial, DenialCause, Quota,
    Scope,
};
use crate::{Limit, Rules, Unit, ratelimit};

// ---------------------------------------------------------------------------------------------
// Support: an authenticator and a backend that record what they are asked.

/// Reads `x-user` and `x-group`; `x-user: bad` has invalid credentials and
/// `x-user: misconfigured` stands for a misconfigured server. Counts its calls.
#[derive(Clone, Debug, Default)]
struct TestAuth {
    calls: Arc<AtomicUsize>,
}

impl TestAuth {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Authenticate for TestAuth {
    async fn authenticate(&self, head: &Parts) -> Result<Identity, AuthError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::task::yield_now().await;
        let header = |name| head.headers.get(name).and_then(|v| v.to_str().ok());
        match header("x-user") {
            None => Err(AuthError::MissingIdentity("no x-user".into())),
            Some("bad") => Err(AuthError::InvalidCredentials("bad user".into())),
            Some("misconfigured") => Err(AuthError::Misconfigured("no session layer".into())),
            Some(user) => {
                Ok(Identity::new(user).with_group(header("x-group").unwrap_or("").to_owned()))
            }
        }
    }
}

/// One decision the backend was asked for, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    scope: String,
    method: Option<String>,
    user: String,
    limits: Vec<Limit>,
    block_time: Option<Duration>,
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Admits the first `n` requests of each pool, then refuses for 1.5 s.
    AllowFirst(u64),
    /// Refuses every request: the user is blocked for 59.1 s.
    Blocked,
    /// Fails every decision.
    Fail,
}

/// Counts per pool in itself (it is not `Clone`: sharing can only come from the layer), and
/// records every decision in a log the test keeps. Decisions resolve after a yield, as a
/// store's would.
#[derive(Debug)]
struct TestBackend {
    mode: Mode,
    used: Mutex<HashMap<String, u64>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

type SeenLog = Arc<Mutex<Vec<Seen>>>;

fn backend(mode: Mode) -> (TestBackend, SeenLog) {
    let seen = SeenLog::default();
    let backend = TestBackend {
        mode,
        used: Mutex::default(),
        seen: Arc::clone(&seen),
    };
    (backend, seen)
}

fn seen(log: &SeenLog) -> Vec<Seen> {
    log.lock().unwrap().clone()
}

impl Backend for TestBackend {
    fn decide<'a>(&'a self, request: &'a DecisionRequest<'a>) -> DecisionFuture<'a> {
        let scope = match request.pool.scope {
            Scope::Zone(zone) => format!("zone:{zone}"),
            Scope::Path(path) => format!("path:{path}"),
        };
        let seen = Seen {
            scope,
            method: request.pool.method.map(str::to_owned),
            user: request.pool.user.to_owned(),
            limits: request.limits.to_vec(),
            block_time: request.block_time,
        };
        self.seen.lock().unwrap().push(seen.clone());
        let limit = *request.limits.last().unwrap();
        let result = match self.mode {
            Mode::Fail => Err(BackendError::Timeout(Duration::from_millis(20))),
            Mode::Blocked => Ok(Decision::Deny(Denial {
                retry_after: Duration::from_millis(59_100),
                cause: DenialCause::Blocked,
            })),
            Mode::AllowFirst(n) => {
                let key = format!("{}|{:?}|{}", seen.scope, seen.method, seen.user);
                let mut used = self.used.lock().unwrap();
                let used = used.entry(key).or_insert(0);
                if *used < n {
                    *used += 1;
                    Ok(Decision::Allow(Quota {
                        limit,
                        remaining: limit.count() - *used,
                        reset: Duration::from_millis(30_200),
                    }))
                } else {
                    Ok(Decision::Deny(Denial {
                        retry_after: Duration::from_millis(1_500),
                        cause: DenialCause::Limit(limit),
                    }))
                }
            }
        };
        DecisionFuture::boxed(async move {
            tokio::task::yield_now().await;
            result
        })
    }
}

/// The inner service: says "hello", and in `x-limiter` whether the request carried a
/// [`Limiter`] and with which identity.
fn hello() -> impl Service<
    Request<Body>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Future + Send,
> + Clone
+ Send {
    service_fn(|request: Request<Body>| async move {
        let limiter = match request.extensions().get::<Limiter<Body>>() {
            None => "none".to_owned(),
            Some(limiter) => limiter
                .identity()
                .map_or_else(|| "anonymous".to_owned(), |id| id.user().to_owned()),
        };
        let mut response = Response::new(Body::from("hello"));
        response
            .headers_mut()
            .insert("x-limiter", limiter.parse().unwrap());
        Ok::<_, Infallible>(response)
    })
}

fn request(method: &str, uri: &str, user: Option<&str>, group: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(uri);
    if let Some(user) = user {
        builder = builder.header("x-user", user);
    }
    if let Some(group) = group {
        builder = builder.header("x-group", group);
    }
    builder.body(Body::empty()).unwrap()
}

fn get_as(uri: &str, user: &str) -> Request<Body> {
    request("GET", uri, Some(user), None)
}

async fn send<S>(service: &S, request: Request<Body>) -> Response<Body>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    service.clone().oneshot(request).await.unwrap()
}

async fn text(response: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).map(|value| value.to_str().unwrap())
}

/// A `tracing` subscriber that keeps every event as "LEVEL field=value …".
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<String>>>);

impl Logs {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl tracing::Subscriber for Logs {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Line(String);
        impl tracing::field::Visit for Line {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
                let _ = write!(self.0, " {}={value:?}", field.name());
            }
        }
        let mut line = Line(event.metadata().level().to_string());
        event.record(&mut line);
        self.0.lock().unwrap().push(line.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

// ---------------------------------------------------------------------------------------------
// Request semantics.

#[tokio::test]
async fn a_path_no_route_matches_passes_through_unauthenticated() {
    static RULES: Rules = ratelimit! { "^/limited" => [second = 1] };
    let auth = TestAuth::default();
    let (backend, log) = backend(Mode::AllowFirst(0));
    let service = RateLimitLayer::new(RULES, auth.clone(), backend)
        .limiter_extension(true)
        .layer(hello());

    let response = send(&service, request("GET", "/free", None, None)).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        auth.calls(),
        0,
        "no route matches: the authenticator is not called"
    );
    assert!(seen(&log).is_empty());
    assert_eq!(header(response.headers(), "x-limiter"), Some("anonymous"));
    assert_eq!(text(response).await, "hello");
}

#[tokio::test]
async fn authentication_runs_once_when_falling_through_matching_routes() {
    static RULES: Rules = ratelimit! {
        "^/a"   => [second = 1 @admin],
        "^/a/b" => [second = 2 @gold],
        "^/a/"  => [minute = 5],
    };
    let auth = TestAuth::default();
    let (backend, log) = backend(Mode::AllowFirst(10));
    let service = RateLimitLayer::new(RULES, auth.clone(), backend)
        .limiter_extension(true)
        .layer(hello());

    let response = send(&service, get_as("/a/b/c", "alice")).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(auth.calls(), 1, "three routes match, one authentication");
    let seen = seen(&log);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].scope, "path:/a/b/c");
    assert_eq!(seen[0].limits, [Limit::new(Unit::Minute, 5)]);
    assert_eq!(seen[0].user, "alice");
    assert_eq!(header(response.headers(), "x-limiter"), Some("alice"));
}

#[tokio::test]
async fn the_rule_falls_through_to_a_later_route_by_method() {
    static RULES: Rules = ratelimit! {
        "^/upload" => [method = POST minute = 3],
        "^/"       => [second = 10],
    };
    let (backend, log) = backend(Mode::AllowFirst(10));
    let service = RateLimitLayer::new(RULES, TestAuth::default(), backend).layer(hello());

    send(&service, request("GET", "/upload", Some("u"), None)).await;
    send(&service, request("POST", "/upload", Some("u"), None)).await;

    let seen = seen(&log);
    assert_eq!(seen[0].limits, [Limit::new(Unit::Second, 10)]);
    assert_eq!(seen[0].method, None, "the rule takes every method");
    assert_eq!(seen[1].limits, [Limit::new(Unit::Minute, 3)]);
    assert_eq!(seen[1].method.as_deref(), Some("POST"));
}

#[tokio::test]
async fn the_rule_falls_through_by_group_and_none_at_all_means_not_limited() {
    static RULES: Rules = ratelimit! {
        "^/a" => [second = 1 @admin],
        "^/"  => [minute = 1 @gold],
    };
    let auth = TestAuth::default();
    let (backend, log) = backend(Mode::AllowFirst(0));
    let service = RateLimitLayer::new(RULES, auth.clone(), backend).layer(hello());

    let gold = send(&service, request("GET", "/a", Some("g"), Some("gold"))).await;
    assert_eq!(
        gold.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "gold falls to `^/`"
    );
    assert_eq!(seen(&log)[0].limits, [Limit::new(Unit::Minute, 1)]);

    let default = send(&service, get_as("/a", "d")).await;
    assert_eq!(
        default.status(),
        StatusCode::OK,
        "no rule for the default group"
    );
    assert_eq!(seen(&log).len(), 1, "the backend was not asked");
    assert_eq!(auth.calls(), 2);
}

#[tokio::test]
async fn an_unlimited_rule_does_not_consult_the_backend() {
    static RULES: Rules = ratelimit! { "^/a" => [second = 1, unlimited @admin] };
    let (backend, log) = backend(Mode::AllowFirst(0));
    let service = RateLimitLayer::new(RULES, TestAuth::default(), backend)
        .headers(RateLimitHeaders::Ietf)
        .layer(hello());

    for _ in 0..3 {
        let response = send(&service, request("GET", "/a", Some("root"), Some("admin"))).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(!response.headers().contains_key("ratelimit"));
    }
    assert!(seen(&log).is_empty());
}

#[tokio::test]
async fn a_deny_rule_is_a_permanent_403_with_an_empty_body() {
    static RULES: Rules = ratelimit! { "^/banned" => [deny, unlimited @admin] };
    let (backend, log) = backend(Mode::AllowFirst(10));
    let service = RateLimitLayer::new(RULES, TestAuth::default(), backend)
        .headers(RateLimitHeaders::Ietf)
        .layer(hello());

    let response = send(&service, get_as("/banned", "eve")).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(!response.headers().contains_key("retry-after"));
    assert!(!response.headers().contains_key("ratelimit"));
    assert!(seen(&log).is_empty(), "deny does not ask the backend");
    assert_eq!(text(response).await, "");
}

#[tokio::test]
async fn on_blocked_receives_a_permanent_rejection_for_deny() {
    static RULES: Rules = ratelimit! { "^/banned" => [deny @blocked_tier] };
    let (backend, _) = backend(Mode::AllowFirst(10));
    let received = Arc::new(Mutex::new(None));
    let sink = Arc::clone(&received);
    let service = RateLimitLayer::new(RULES, TestAuth::default(), backend)
        .on_blocked(move |rejection: &Rejection| {
            *sink.lock().unwrap() = Some(rejection.clone());
            Response::new(Body::from("go away"))
        })
        .layer(hello());

    let response = send(
        &service,
        request("GET", "/banned", Some("eve"), Some("blocked_tier")),
    )
    .await;

    assert_eq!(text(response).await, "go away");
    let rejection = received.lock().unwrap().clone().unwrap();
    assert!(rejection.is_permanent());
    assert_eq!(rejection.cause(), RejectionCause::Deny);
    assert_eq!(rejection.retry_after(), None);
    assert_eq!(rejection.retry_after_secs(), None);
    assert_eq!(rejection.limit(), None);
    assert_eq!(rejection.group(), "blocked_tier");
    assert_eq!(rejection.identity().user(), "eve");
}

#[tokio::test]
async fn over_the_limit_is_429_with_retry_after_rounded_up_and_an_empty_body() {
    static RULES: Rules = ratelimit! { "^/a" => [minute = 1] };
    let (backend, _) = backend(Mode::AllowFirst(1));
    let service = RateLimitLayer::new(RULES, TestAuth::default(), backend).layer(hello());

    let first = send(&service, get_as("/a", "u")).await;
    assert_eq!(first.status(), StatusCode::OK);
    let second = send(&service, get_as("/a", "u")).await;

    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(second.headers(), "retry-after"), Some("2"), "1.5 s");
    assert!(
        !second.headers().contains_key("ratelimit")
            && !second.headers().contains_key("x-ratelimit-limit"),
        "no rate-limit headers unless asked"
    );
    assert_eq!(text(second).await, "", "the inner service was not called");
}

#[tokio::test]
async fn the_query_string_is_ignored() {
    static RULES: Rules = ratelimit! { "^/q$" => [minute = 1] };
    let (backend, log) = backend(Mode::AllowFirst(1));
    let service = RateLimitLayer::new(RULES, TestAuth::default(), backend).layer(hello());

    assert_eq!(
        send(&service, get_as("/q?page=1", "u")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        send(&service, get_as("/q?page=2", "u")).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "both count in the pool of `/q`"
    );
    assert_eq!(seen(&log)[0].scope, "path:/q");
}

#[tokio::test]
async fn the_method_is_compared_without_case_and_pooled_upper_cased() {
    static RULES: Rules = ratelimit! { "^/m" => [method = POST minute = 1] };
    let (backend, log) = backend(Mode::AllowFirst(1));
    let service = RateLimitLayer::new(RULES, TestAuth::default(), backend).layer(hello());

    send(&service, request("post", "/m", Some("u"), None)).await;
    let second = send(&service, request("Post", "/m", Some("u"), None)).await;

    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    let seen = seen(&log);
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.method.as_deref() == Some("POST")));
}

#[tokio::test]
async fn a_zone_pools_the_routes_that_name_it() {
    static RULES: Rules = ratelimit! {
        "^/message" => [second = 1 zone = "common"],
        r"^/\d+"    => [second = 1 zone = "common" block_time = 5],
    };
    let (backend, log) = backend(Mode::AllowFirst(1));
    let service = RateLimitLayer::new(RULES, TestAuth::default(), backend).layer(hello());

    assert_eq!(
        send(&service, get_as("/10", "u")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        send(&service, get_as("/message", "u")).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let seen = seen(&log);
    assert_eq!(seen[0].scope, "zone:common");
    assert_eq!(seen[0].block_time, Some(Duration::from_secs(5)));
    assert_eq!(seen[1].scope, "zone:common");
    assert_eq!(seen[1].block_time, None);
}

#[tokio::test]
async fn a_websocket_upgrade_is_limited_like_any_request_and_keeps_its_extensions() {
    #[derive(Clone)]
    struct Upgrade;
    static RULES: Rules = ratelimit! { "^/ws" => [minute = 1] };
    let (backend, _) = backend(Mode::AllowFirst(1));
    let inner = service_fn(|request: Request<Body>| async move {
        let kept = request.extensions().get::<Upgrade>().is_some();
        Ok::<_, Infallible>(Response::new(Body::from(kept.to_string())))
    });
    let service = RateLimitLayer::new(RULES, TestAuth::default(), backend).layer(inner);
    let upgrade = || {
        let mut request = Request::get("/ws")
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("x-user", "u")
            .body(Body::empty())
            .unwrap();
        request.extensions_mut().insert(Upgrade);
        request
    };

    let first = send(&service, upgrade()).await;
    assert_eq!(
        text(first).await,
        "true",
        "the extensions reach the inner service"
    );
    let second = send(&service, upgrade()).await;
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
}

// ---------------------------------------------------------------------------------------------
// Rejections, headers and handlers.

#[tokio::test]
async fn on_blocked_receives_the_limit_wait_group_zone_and_user() {
    static RULES: Rules = ratelimit! { "^/z" => [minute = 1 zone = "shared" @gold] };
    let (backend, _) = backend(Mode::AllowFirst(1));
    let received = Arc::new(Mutex::new(None));
    let sink = Arc::clone(&received);
    let service = RateLimitLayer::new(RULES, TestAuth::default(), backend)
        .on_blocked(move |rejection: &Rejection| {
            *sink.lock().unwrap() = Some(rejection.clone());
            let mut response = Response::new(Body::from("custom"));
            *response.status_mut() = StatusCode::IM_A_TEAPOT;
            response
        })
        .layer(hello());
    let gold = || request("GET", "/z", Some("alice"), Some("gold"));

    send(&service, gold()).await;
    let response = send(&service, gold()).await;

    assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
    assert!(
        !response.headers().contains_key("retry-after"),
        "the handler decides"
    );
    assert_eq!(text(response).await, "custom");
    let rejection = received.lock().unwrap().clone().unwrap();
    assert_eq!(rejection.limit(), Some(Limit::new(Unit::Minute, 1)));
    assert_eq!(
        rejection.cause(),
        RejectionCause::Limit(Limit::new(Unit::Minute, 1))
    );
    assert_eq!(rejection.retry_after(), Some(Duration::from_millis(1_500)));
    assert_eq!(rejection.retry_after_secs(), Some(2));
    assert_eq!(rejection.group(), "gold");
    assert_eq!(rejection.zone(), Some("shared"));
    assert_eq!(rejection.identity().user(), "alice");
    assert!(!rejection.is_permanent() && !rejection.is_blocked());
}

#[tokio::test]
async fn a_blocked_user_gets_429_with_the_remaining_block() {
    static RULES: Rules = ratelimit! { "^/login" => [second = 5 block_time = 60] };
    let (backend, _) = backend(Mode::Blocked);
    let received = Arc::new(Mutex::new(None));
    let sink = Arc::clone(&received);
    let service = RateLimitLayer::new(RULES, TestAuth::default(), backend)
        .headers(RateLimitHeaders::Ietf)
        .layer(hello());
    let observed = RateLimitLayer::new(RULES, TestAuth::default(), self::backend(Mode::Blocked).0)
        .on_blocked(move |rejection: &Rejection| {
            *sink.lock().unwrap() = Some(rejection.clone());
            Response::new(Body::empty())
        })
        .layer(hello());

    let response = send(&service, get_as("/login", "u")).await;
    send(&observed, get_as("/login", "u")).await;

    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(response.headers(), "retry-after"), Some("60"));
    assert_eq!(
        header(response.headers(), "ratelimit"),
        Some(r#""second";r=0;t=60"#)
    );
    let rejection = received.lock().unwrap().clone().unwrap();
    assert!(rejection.is_blocked());
    assert_eq!(rejection.cause(), RejectionCause::Blocked);
    assert_eq!(rejection.limit(), None);
    assert_eq!(rejection.retry_after_secs(), Some(60));
}

#[tokio::test]
async fn ietf_headers_are_on_admitted_and_refused_responses() {
    static RULES: Rules = ratelimit! { "^/a" => [second = 10 minute = 100], "^/b" => [unlimited] };
    let (backend, _) = backend(Mode::AllowFirst(1));
    let service = RateLimitLayer::new(RULES, TestAuth::default(), backend)
        .headers(RateLimitHeaders::Ietf)
        .layer(hello());
    let policy = r#""second";q=10;w=1, "minute";q=100;w=60"#;

    let admitted = send(&service, get_as("/a", "u")).await;
    assert_eq!(admitted.status(), StatusCode::OK);
    assert_eq!(header(admitted.headers(), "ratelimit-policy"), Some(policy));
    assert_eq!(
        header(admitted.headers(), "ratelimit"),
        Some(r#""minute";r=99;t=31"#)
    );

    let refused = send(&service, get_as("/a", "u")).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(refused.headers(), "ratelimit-policy"), Some(policy));
    assert_eq!(
        header(refused.headers(), "ratelimit"),
        Some(r#""minute";r=0;t=2"#)
    );
    assert_eq!(header(refused.headers(), "retry-after"), Some("2"));

    for path in ["/b", "/c"] {
        let unlimited = send(&service, get_as(path, "u")).await;
        assert!(!unlimited.headers().contains_key("ratelimit"), "{path}");
        assert!(
            !unlimited.headers().contains_key("ratelimit-policy"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn legacy_headers_are_on_admitted_and_refused_responses() {
    static RULES: Rules = ratelimit! { "^/a" => [second = 10 minute = 100] };
    let (backend, _) = backend(Mode::AllowFirst(1));
    let service = RateLimitLayer::new(RULES, TestAuth::default(), backend)
        .headers(RateLimitHeaders::Legacy)
        .layer(hello());
    let legacy = |response: &Response<Body>| {
        [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
        ]
        .map(|name| header(response.headers(), name).map(str::to_owned))
    };

    let admitted = send(&service, get_as("/a", "u")).await;
    assert_eq!(
        legacy(&admitted),
        [Some("100".into()), Some("99".into()), Some("31".into())]
    );
    assert!(!admitted.headers().contains_key("ratelimit"));

    let refused = send(&service, get_as("/a", "u")).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        legacy(&refused),
        [Some("100".into()), Some("0".into()), Some("2".into())]
    );
}

#[tokio::test]
async fn rate_limit_headers_are_added_to_on_blocked_responses() {
    static RULES: Rules = ratelimit! { "^/a" => [minute = 1] };
    let (backend, _) = backend(Mode::AllowFirst(0));
    let service = RateLimitLayer::new(RULES, TestAuth::default(), backend)
        .headers(RateLimitHeaders::Legacy)
        .on_blocked(|_: &Rejection| Response::new(Body::from("slow down")))
        .layer(hello());

    let response = send(&service, get_as("/a", "u")).await;

    assert_eq!(
        header(response.headers(), "x-ratelimit-remaining"),
        Some("0")
    );
    assert_eq!(text(response).await, "slow down");
}

#[tokio::test]
async fn authentication_failures_default_to_401_401_500_with_empty_bodies() {
    static RULES: Rules = ratelimit! { "^/a" => [minute = 1] };
    let (backend, log) = backend(Mode::AllowFirst(10));
    let service = RateLimitLayer::new(RULES, TestAuth::default(), backend).layer(hello());

    for (user, status) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some("bad"), StatusCode::UNAUTHORIZED),
        (Some("misconfigured"), StatusCode::INTERNAL_SERVER_ERROR),
    ] {
        let response = send(&service, request("GET", "/a", user, None)).await;
        assert_eq!(response.status(), status, "{user:?}");
        assert_eq!(text(response).await, "", "{user:?}");
    }
    assert!(seen(&log).is_empty());
}

#[tokio::test]
async fn on_auth_error_receives_the_typed_error() {
    static RULES: Rules = ratelimit! { "^/a" => [minute = 1] };
    let (backend, _) = backend(Mode::AllowFirst(10));
    let service = RateLimitLayer::new(RULES, TestAuth::default(), backend)
        .on_auth_error(|error: &AuthError| {
            let kind = match error {
                AuthError::MissingIdentity(_) => "missing",
                AuthError::InvalidCredentials(_) => "invalid",
                AuthError::Misconfigured(_) => "misconfigured",
            };
            let mut response = Response::new(Body::from(format!("{kind}: {error}")));
            *response.status_mut() = StatusCode::PROXY_AUTHENTICATION_REQUIRED;
            response
        })
        .layer(hello());

    for (user, expected) in [
        (None, "missing: the request carries no identity: no x-user"),
        (
            Some("bad"),
            "invalid: the request's credentials are not valid: bad user",
        ),
        (
            Some("misconfigured"),
            "misconfigured: the server's authentication is misconfigured: no session layer",
        ),
    ] {
        let response = send(&service, request("GET", "/a", user, None)).await;
        assert_eq!(response.status(), StatusCode::PROXY_AUTHENTICATION_REQUIRED);
        assert_eq!(text(response).await, expected);
    }
}

#[tokio::test]
async fn misconfigured_authentication_is_logged_as_an_error_saying_what_to_fix() {
    static RULES: Rules = ratelimit! { "^/a" => [minute = 1] };
    let logs = Logs::default();
    let _guard = tracing::subscriber::set_default(logs.clone());
    let (backend, _) = backend(Mode::AllowFirst(10));
    let service = RateLimitLayer::new(RULES, TestAuth::default(), backend).layer(hello());

    send(&service, get_as("/a", "misconfigured")).await;

    let lines = logs.lines();
    let errors: Vec<_> = lines.iter().filter(|l| l.starts_with("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{lines:?}");
    assert!(errors[0].contains("no session layer"), "{}", errors[0]);
    assert!(
        errors[0].contains("fix the authenticator's setup"),
        "{}",
        errors[0]
    );
}

#[tokio::test]
async fn a_backend_failure_fails_open_by_default_with_a_warning() {
    static RULES: Rules = ratelimit! { "^/a" => [minute = 1] };
    let logs = Logs::default();
    let _guard = tracing::subscriber::set_default(logs.clone());
    let (backend, log) = backend(Mode::Fail);
    let service = RateLimitLayer::new(RULES, TestAuth::default(), backend)
        .headers(RateLimitHeaders::Ietf)
        .layer(hello());

    let response = send(&service, get_as("/a", "u")).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        !response.headers().contains_key("ratelimit"),
        "nothing counted"
    );
    assert_eq!(text(response).await, "hello");
    assert_eq!(seen(&log).len(), 1);
    let lines = logs.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("WARN") && l.contains("fail open") && l.contains("20ms")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_backend_failure_fails_closed_with_503_when_asked() {
    static RULES: Rules = ratelimit! { "^/a" => [minute = 1] };
    let (backend, _) = backend(Mode::Fail);
    let service = RateLimitLayer::new(RULES, TestAuth::default(), backend)
        .failure_policy(FailurePolicy::Closed)
        .layer(hello());

    let response = send(&service, get_as("/a", "u")).await;

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(text(response).await, "");
}

#[tokio::test]
async fn on_backend_error_fails_closed_with_its_response() {
    static RULES: Rules = ratelimit! { "^/a" => [minute = 1] };
    let (backend, _) = backend(Mode::Fail);
    let service = RateLimitLayer::new(RULES, TestAuth::default(), backend)
        .on_backend_error(|error: &BackendError| {
            let mut response = Response::new(Body::from(error.to_string()));
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            response
        })
        .layer(hello());

    let response = send(&service, get_as("/a", "u")).await;

    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(
        text(response).await,
        "the rate-limit store did not answer within 20ms"
    );
}

// ---------------------------------------------------------------------------------------------
// Sharing, readiness, the limiter extension and handle, axum.

#[tokio::test]
async fn services_and_their_clones_share_one_limiter() {
    static RULES: Rules = ratelimit! { "^/a" => [minute = 2] };
    let (backend, _) = backend(Mode::AllowFirst(2));
    let layer = RateLimitLayer::new(RULES, TestAuth::default(), backend);
    let first = layer.layer(hello());
    let second = layer.clone().layer(hello());
    let third = first.clone();

    assert_eq!(
        send(&first, get_as("/a", "u")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        send(&second, get_as("/a", "u")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        send(&third, get_as("/a", "u")).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn configuring_a_clone_of_the_layer_keeps_the_backend_shared() {
    static RULES: Rules = ratelimit! { "^/a" => [minute = 1] };
    let (backend, _) = backend(Mode::AllowFirst(1));
    let plain = RateLimitLayer::new(RULES, TestAuth::default(), backend);
    let with_headers = plain.clone().headers(RateLimitHeaders::Legacy);

    let response = send(&with_headers.layer(hello()), get_as("/a", "u")).await;
    assert_eq!(
        header(response.headers(), "x-ratelimit-remaining"),
        Some("0")
    );
    let response = send(&plain.layer(hello()), get_as("/a", "u")).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(!response.headers().contains_key("x-ratelimit-limit"));
}

/// Pending until `open`; refuses to be called unless this instance was polled ready (a
/// clone is not ready).
struct Gate {
    open: Arc<Mutex<bool>>,
    polled_ready: bool,
}

impl Clone for Gate {
    fn clone(&self) -> Self {
        Self {
            open: Arc::clone(&self.open),
            polled_ready: false,
        }
    }
}

impl Service<Request<Body>> for Gate {
    type Response = Response<Body>;
    type Error = &'static str;
    type Future = std::future::Ready<Result<Response<Body>, &'static str>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if *self.open.lock().unwrap() {
            self.polled_ready = true;
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    fn call(&mut self, _: Request<Body>) -> Self::Future {
        let readied = std::mem::take(&mut self.polled_ready);
        std::future::ready(if readied {
            Ok(Response::new(Body::from("called")))
        } else {
            Err("called without poll_ready")
        })
    }
}

#[tokio::test]
async fn poll_ready_forwards_to_the_inner_service_and_the_readied_one_is_called() {
    static RULES: Rules = ratelimit! { "^/a" => [minute = 5] };
    let (backend, _) = backend(Mode::AllowFirst(5));
    let open = Arc::new(Mutex::new(false));
    let gate = Gate {
        open: Arc::clone(&open),
        polled_ready: false,
    };
    let mut service = RateLimitLayer::new(RULES, TestAuth::default(), backend).layer(gate);
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);

    assert!(service.poll_ready(&mut cx).is_pending());
    *open.lock().unwrap() = true;
    assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));

    // The limited path moves the readied service into the future (the clone left behind is
    // not ready); the pass-through path calls it in place.
    let limited = service.call(get_as("/a", "u")).await.unwrap();
    assert_eq!(text(limited).await, "called");
    assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    let free = service.call(get_as("/free", "u")).await.unwrap();
    assert_eq!(text(free).await, "called");
}

/// This test binary has no `#[rate_limited]` handler (`handler_attribute`'s contract test
/// covers a program that has some).
#[tokio::test]
async fn without_attribute_handlers_the_extension_is_on_by_default_only_without_routes() {
    assert!(
        !crate::handler::any_registered(),
        "no handler in this binary"
    );
    static RULES: Rules = ratelimit! { "^/a" => [minute = 5] };
    let layer = |rules, extension: Option<bool>| {
        let (backend, _) = backend(Mode::AllowFirst(5));
        let layer = RateLimitLayer::new(rules, TestAuth::default(), backend);
        match extension {
            Some(extension) => layer.limiter_extension(extension),
            None => layer,
        }
        .layer(hello())
    };
    // (rules, the option as set, whether a request finds the limiter)
    let cases = [
        (RULES, None, false),
        (RULES, Some(true), true),
        (Rules::none(), None, true),
        (Rules::none(), Some(false), false),
    ];
    for (rules, extension, found) in cases {
        let service = layer(rules, extension);
        for path in ["/a", "/free"] {
            let response = send(&service, get_as(path, "u")).await;
            let limiter = header(response.headers(), "x-limiter");
            assert_eq!(
                limiter != Some("none"),
                found,
                "{} routes, option {extension:?}, {path}: {limiter:?}",
                rules.routes().len()
            );
        }
    }
}

#[tokio::test]
async fn the_limiter_handle_runs_rules_with_the_layers_backend_and_responses() {
    static RULES: Rules = ratelimit! { "^/a" => [minute = 1] };
    static HANDLER: Rules = ratelimit! { "^/" => [minute = 1, deny @banned] };
    let rules = HANDLER.routes()[0].rules();
    let auth = TestAuth::default();
    let (backend, log) = backend(Mode::AllowFirst(1));
    let layer = RateLimitLayer::new(RULES, auth.clone(), backend)
        .headers(RateLimitHeaders::Legacy)
        .on_auth_error(|_: &AuthError| Response::new(Body::from("who are you?")));
    let limiter = layer.limiter();
    let (head, _) = get_as("/anything", "u").into_parts();
    let scope = Scope::Path("my_crate::handler");

    let allowed = limiter.check(&head, rules, scope).await.unwrap();
    let Outcome::Allowed { quota, .. } = &allowed else {
        panic!("{allowed:?}")
    };
    assert_eq!(quota.remaining, 0);
    let mut headers = HeaderMap::new();
    limiter.add_headers(&allowed, &mut headers);
    assert_eq!(header(&headers, "x-ratelimit-limit"), Some("1"));
    assert_eq!(seen(&log)[0].scope, "path:my_crate::handler");

    let refused = limiter.check(&head, rules, scope).await.unwrap();
    let Outcome::Rejected(rejection) = refused else {
        panic!("{refused:?}")
    };
    let response = limiter.rejection_response(&rejection);
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(response.headers(), "retry-after"), Some("2"));
    assert_eq!(
        header(response.headers(), "x-ratelimit-remaining"),
        Some("0")
    );

    let banned = request("GET", "/", Some("b"), Some("banned"))
        .into_parts()
        .0;
    let denied = limiter.check(&banned, rules, scope).await.unwrap();
    assert!(matches!(&denied, Outcome::Rejected(r) if r.is_permanent()));

    let nobody = request("GET", "/", None, None).into_parts().0;
    let error = limiter.check(&nobody, rules, scope).await.unwrap_err();
    assert!(matches!(
        error,
        CheckError::Auth(AuthError::MissingIdentity(_))
    ));
    assert_eq!(text(limiter.error_response(&error)).await, "who are you?");
    assert_eq!(
        auth.calls(),
        4,
        "no identity cached: one authentication per check"
    );
}

#[tokio::test]
async fn a_handler_finds_the_limiter_and_the_identity_in_its_request() {
    // The middleware authenticates `/towns` (an `unlimited` rule: the backend is not asked)
    // but not `/forests`; the handler's own rule is the only one counted.
    static RULES: Rules = ratelimit! { "^/towns" => [unlimited] };
    static HANDLER: Rules = ratelimit! { "^/" => [minute = 1] };
    async fn handler(request: axum::extract::Request) -> Response<Body> {
        let (head, _) = request.into_parts();
        let limiter = head.extensions.get::<Limiter<Body>>().unwrap();
        let rules = HANDLER.routes()[0].rules();
        match limiter.check(&head, rules, Scope::Path("handler")).await {
            Ok(Outcome::Rejected(rejection)) => limiter.rejection_response(&rejection),
            Ok(_) => Response::new(Body::from("handled")),
            Err(error) => limiter.error_response(&error),
        }
    }
    let auth = TestAuth::default();
    let (backend, log) = backend(Mode::AllowFirst(1));
    let app = Router::new()
        .route("/towns", get(handler))
        .route("/forests", get(handler))
        .layer(RateLimitLayer::new(RULES, auth.clone(), backend).limiter_extension(true));

    let first = app.clone().oneshot(get_as("/towns", "u")).await.unwrap();
    assert_eq!(text(first).await, "handled");
    assert_eq!(
        auth.calls(),
        1,
        "the handler reused the middleware's identity"
    );

    let second = app.clone().oneshot(get_as("/forests", "u")).await.unwrap();
    assert_eq!(
        second.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the handler's pool is shared by both routes"
    );
    assert_eq!(header(second.headers(), "retry-after"), Some("2"));
    assert_eq!(
        auth.calls(),
        2,
        "no route of the middleware matched: the handler authenticated"
    );
    let scopes: Vec<_> = seen(&log).into_iter().map(|s| s.scope).collect();
    assert_eq!(scopes, ["path:handler", "path:handler"]);
}

#[tokio::test]
async fn an_axum_router_layer_limits_its_routes() {
    static RULES: Rules = ratelimit! { "^/towns" => [second = 1, unlimited @admin] };
    let (backend, _) = backend(Mode::AllowFirst(1));
    let app = Router::new()
        .route("/towns", get(|| async { "towns" }))
        .route("/", get(|| async { "home" }))
        .layer(
            RateLimitLayer::new(RULES, TestAuth::default(), backend)
                .headers(RateLimitHeaders::Ietf),
        );

    let first = app.clone().oneshot(get_as("/towns", "u")).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(
        header(first.headers(), "ratelimit"),
        Some(r#""second";r=0;t=31"#)
    );
    assert_eq!(text(first).await, "towns");
    let second = app.clone().oneshot(get_as("/towns", "u")).await.unwrap();
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    let admin = app
        .clone()
        .oneshot(request("GET", "/towns", Some("root"), Some("admin")))
        .await
        .unwrap();
    assert_eq!(admin.status(), StatusCode::OK);
    let home = app.oneshot(request("GET", "/", None, None)).await.unwrap();
    assert_eq!(text(home).await, "home");
}

/// An authenticator and a backend that decide at once (`HeaderAuth`, `MemoryBackend`): the
/// request is decided inside `call`, refusals answered from a ready state, with the same
/// responses, headers and extension as the boxed path.
#[tokio::test]
async fn requests_decided_at_once_get_the_same_answers() {
    use crate::auth::HeaderAuth;
    use crate::backend::MemoryBackend;

    static RULES: Rules = ratelimit! {
        "^/towns" => [second = 1, unlimited @admin, deny @banned],
    };
    let auth = HeaderAuth::new(http::HeaderName::from_static("x-user"))
        .group_header(http::HeaderName::from_static("x-group"));
    let app = Router::new()
        .route(
            "/towns",
            get(|request: Request<Body>| async move {
                let limiter = request.extensions().get::<Limiter<Body>>();
                let user = limiter.and_then(Limiter::identity).map(Identity::user);
                user.unwrap_or("no limiter").to_owned()
            }),
        )
        .layer(
            RateLimitLayer::new(RULES, auth, MemoryBackend::new())
                .headers(RateLimitHeaders::Ietf)
                .limiter_extension(true),
        );

    let first = app.clone().oneshot(get_as("/towns", "u")).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(
        header(first.headers(), "ratelimit"),
        Some(r#""second";r=0;t=1"#)
    );
    assert_eq!(text(first).await, "u");
    let second = app.clone().oneshot(get_as("/towns", "u")).await.unwrap();
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(second.headers(), "retry-after"), Some("1"));
    let admin = request("GET", "/towns", Some("root"), Some("admin"));
    assert_eq!(
        app.clone().oneshot(admin).await.unwrap().status(),
        StatusCode::OK
    );
    let banned = request("GET", "/towns", Some("eve"), Some("banned"));
    assert_eq!(
        app.clone().oneshot(banned).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let anonymous = request("GET", "/towns", None, None);
    assert_eq!(
        app.oneshot(anonymous).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Decided at once, a request gets what the options say and nothing else: the limiter (with
/// its identity) in its extensions only with the extension on, the rate-limit headers only
/// with headers on, each without the other; a rule that admits uncounted (`unlimited`), and
/// a route with no rule for the group, hand the identity on all the same, without headers.
#[tokio::test]
async fn the_options_alone_decide_what_a_request_decided_at_once_gets() {
    use crate::auth::HeaderAuth;
    use crate::backend::MemoryBackend;

    static RULES: Rules = ratelimit! {
        "^/towns" => [minute = 100, unlimited @admin],
        "^/admins" => [minute = 100 @admin],
    };
    for (headers, extension) in [(false, false), (true, false), (false, true), (true, true)] {
        let case = format!("headers {headers}, extension {extension}");
        let auth = HeaderAuth::new(http::HeaderName::from_static("x-user"))
            .group_header(http::HeaderName::from_static("x-group"));
        let mode = if headers {
            RateLimitHeaders::Ietf
        } else {
            RateLimitHeaders::None
        };
        let app = RateLimitLayer::new(RULES, auth, MemoryBackend::new())
            .headers(mode)
            .limiter_extension(extension)
            .layer(hello());
        let handed_on = |user| if extension { user } else { "none" };

        let admitted = send(&app, get_as("/towns", "u")).await;
        assert_eq!(admitted.status(), StatusCode::OK, "{case}");
        assert_eq!(
            header(admitted.headers(), "x-limiter"),
            Some(handed_on("u")),
            "{case}"
        );
        assert_eq!(
            header(admitted.headers(), "ratelimit"),
            headers.then_some(r#""minute";r=99;t=60"#),
            "{case}"
        );
        let admin = send(&app, request("GET", "/towns", Some("root"), Some("admin"))).await;
        assert_eq!(admin.status(), StatusCode::OK, "{case}");
        assert_eq!(
            header(admin.headers(), "x-limiter"),
            Some(handed_on("root")),
            "{case}"
        );
        assert_eq!(header(admin.headers(), "ratelimit"), None, "{case}");
        let no_rule = send(&app, get_as("/admins", "u")).await;
        assert_eq!(no_rule.status(), StatusCode::OK, "{case}");
        assert_eq!(
            header(no_rule.headers(), "x-limiter"),
            Some(handed_on("u")),
            "{case}"
        );
        assert_eq!(header(no_rule.headers(), "ratelimit"), None, "{case}");
    }
}

/// `x-user`, known at once (as `HeaderAuth` is); counts its calls.
#[derive(Clone, Default)]
struct UserNow(Arc<AtomicUsize>);

impl Authenticate for UserNow {
    fn authenticate<'a>(
        &'a self,
        head: &'a Parts,
    ) -> impl Future<Output = Result<Identity, AuthError>> + Send + 'a {
        std::future::ready(self.authenticate_now(head.into()).expect("known at once"))
    }

    fn authenticate_now(&self, head: RequestHead<'_>) -> Option<Result<Identity, AuthError>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let user = head.headers.get("x-user").and_then(|v| v.to_str().ok());
        Some(user.map_or_else(
            || Err(AuthError::MissingIdentity("no x-user".into())),
            |user| Ok(Identity::new(user)),
        ))
    }
}

/// An authenticator that answers at once before a backend that must be awaited: the check is
/// boxed with the identity already found (the authenticator is not asked again), and the
/// request reaches the inner service whole (its body and its extensions), with the limiter
/// and the rate-limit headers.
#[tokio::test]
async fn an_identity_found_at_once_is_kept_for_a_backend_that_must_be_awaited() {
    static RULES: Rules = ratelimit! { "^/towns" => [minute = 5] };
    let auth = UserNow::default();
    let (backend, log) = backend(Mode::AllowFirst(5));
    let inner = service_fn(|request: Request<Body>| async move {
        let limiter = request
            .extensions()
            .get::<Limiter<Body>>()
            .and_then(Limiter::identity)
            .map(|identity| identity.user().to_owned());
        let marker = request.extensions().get::<&'static str>().copied();
        let body = axum::body::to_bytes(request.into_body(), usize::MAX)
            .await
            .unwrap();
        let seen = format!("{limiter:?} {marker:?} {}", String::from_utf8_lossy(&body));
        Ok::<_, Infallible>(Response::new(Body::from(seen)))
    });
    let app = RateLimitLayer::new(RULES, auth.clone(), backend)
        .headers(RateLimitHeaders::Legacy)
        .limiter_extension(true)
        .layer(inner);

    let mut request = Request::post("/towns")
        .header("x-user", "alice")
        .body(Body::from("a body"))
        .unwrap();
    request.extensions_mut().insert("a marker");
    let response = send(&app, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "x-ratelimit-remaining"),
        Some("4")
    );
    assert_eq!(
        text(response).await,
        r#"Some("alice") Some("a marker") a body"#
    );
    assert_eq!(auth.0.load(Ordering::SeqCst), 1, "authenticated once");
    assert_eq!(seen(&log).len(), 1, "decided once, by the backend");
    assert_eq!(seen(&log)[0].user, "alice");
}

// ---------------------------------------------------------------------------------------------
// Allocations: the pass-through path allocates nothing, a limited request decided at once
// nothing, one that waits two boxes.

mod allocations {
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
            RateLimitLayer::new(RULES, AnyoneNow, crate::backend::MemoryBackend::new())
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
            crate::auth::HeaderAuth::new(http::HeaderName::from_static("x-user")),
            crate::backend::MemoryBackend::new(),
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

            fn authenticate_now(
                &self,
                head: RequestHead<'_>,
            ) -> Option<Result<Identity, AuthError>> {
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
}

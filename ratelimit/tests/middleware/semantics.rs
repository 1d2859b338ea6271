//! Request semantics: which routes and rules apply, what the backend is asked, what a refusal is.

use super::*;

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

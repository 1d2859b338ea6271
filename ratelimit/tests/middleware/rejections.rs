//! Rejections, rate-limit headers, and the handlers of refusals and of errors.

use super::*;

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
                // `AuthError` is `#[non_exhaustive]`: outside the crate, a match needs this.
                other => panic!("an error this test does not send: {other}"),
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
    let _capture = logs.capture();
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
    let _capture = logs.capture();
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

#[tokio::test]
async fn headers_name_a_window_of_any_length_and_count_a_cost_in_units() {
    static RULES: Rules = ratelimit! { "^/export" => [10s = 10 5m = 100 cost = 4] };
    let backend = ratelimit::backend::MemoryBackend::builder()
        .clock(ratelimit::backend::ManualClock::new())
        .build();
    let service = RateLimitLayer::new(RULES, TestAuth::default(), backend)
        .headers(RateLimitHeaders::Ietf)
        .layer(hello());
    let policy = r#""10s";q=10;w=10, "5m";q=100;w=300"#;

    let first = send(&service, get_as("/export", "u")).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(header(first.headers(), "ratelimit-policy"), Some(policy));
    assert_eq!(
        header(first.headers(), "ratelimit"),
        Some(r#""10s";r=6;t=10"#),
        "remaining in units: 10 - 4"
    );
    let second = send(&service, get_as("/export", "u")).await;
    assert_eq!(
        header(second.headers(), "ratelimit"),
        Some(r#""10s";r=2;t=10"#)
    );
    let refused = send(&service, get_as("/export", "u")).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(refused.headers(), "retry-after"), Some("10"));
}

//! Sharing, readiness, the limiter extension and handle, axum, and requests decided at once.

use super::*;

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
        ratelimit::handler::HANDLERS.is_empty(),
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
    use ratelimit::auth::HeaderAuth;
    use ratelimit::backend::MemoryBackend;

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
    use ratelimit::auth::HeaderAuth;
    use ratelimit::backend::MemoryBackend;

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

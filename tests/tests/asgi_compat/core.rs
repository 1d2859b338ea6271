//! `tests/test_core.py`, but `test_invalid_init_config` (see [`crate::construction`]).
//!
//! The original runs these on `RedisBackend` (a fixed window); here they run on the harness's
//! backend, for every algorithm: no time passes in them, so only the waits differ, and a
//! case asserts each algorithm's wait where it asserts one.
//!
//! The app authenticates with `test_core.auth_func` ([`test_core_auth`]).

use std::sync::{Arc, Mutex};

use axum::body::Body;
use http::{Method, Response, StatusCode};
use ratelimit::auth::{AuthError, ClientIp};
use ratelimit::{Rules, ratelimit};

use crate::support::{ADMIN, ANONYMOUS, App, Harness, USER, per_algorithm, test_core_auth};

/// `{r"/": [Rule(group="admin")]}`: a rule without limits is `unlimited`.
static ADMIN_UNLIMITED: Rules = ratelimit! { "/" => [unlimited @admin] };

/// `user: test`, `group: default`.
const TEST_USER: &[(&str, &str)] = &[("user", "test"), ("group", "default")];

/// A response with `status` and an empty body.
fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

/// `test_on_auth_error_default`: no `on_auth_error` handler.
///
/// Difference: the original re-raises the authenticator's exception out of the middleware
/// (`EmptyInformation` for a missing user, `AssertionError` for a group that is not
/// `default` or `admin`), a 500 under a real server. Here authentication failures are typed
/// and answered by default: 401 with an empty body for a missing identity and for invalid
/// credentials (and 500 for a misconfigured server: the next case).
pub(crate) async fn test_on_auth_error_default(h: &impl Harness) {
    let app = App::new(ADMIN_UNLIMITED, test_core_auth, h);

    // No rule for the default group: not limited.
    app.get("/", TEST_USER)
        .await
        .assert_hello("user test, group default");

    let anonymous = app.get("/", ANONYMOUS).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{anonymous:?}");
    assert_eq!(anonymous.body, "");

    let bad_group = app.get("/", &[("user", "test"), ("group", "-")]).await;
    assert_eq!(bad_group.status, StatusCode::UNAUTHORIZED, "{bad_group:?}");
    assert_eq!(bad_group.body, "");

    // Difference: one authentication per request (the original: one per matching pattern,
    // which is also one here, as a single pattern matches).
    assert_eq!(app.auth_calls(), 3);
}

/// `test_on_auth_error_default`, the third default: a server-side misconfiguration is a 500
/// with an empty body, not a 401.
///
/// Difference: the original has no typed errors (any exception propagates). The
/// misconfiguration here is a real one: client-IP authentication on a router that is not
/// served with `into_make_service_with_connect_info`, so requests have no peer address.
pub(crate) async fn test_on_auth_error_default_misconfigured_is_500(h: &impl Harness) {
    let app = App::new(ADMIN_UNLIMITED, ClientIp::new(), h);
    let reply = app.get("/", TEST_USER).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{reply:?}");
    assert_eq!(reply.body, "");
    assert_eq!(app.auth_calls(), 1);
}

/// `test_on_auth_error_with_handler`: `on_auth_error` answers 401 with an empty body.
///
/// Difference: the handler receives the typed [`AuthError`] (the original: the exception).
/// As our default is also 401, the test checks that the handler is what answered.
pub(crate) async fn test_on_auth_error_with_handler(h: &impl Harness) {
    let handled = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&handled);
    let app = App::with(ADMIN_UNLIMITED, test_core_auth, h, move |layer| {
        layer.on_auth_error(move |error| {
            let kind = match error {
                AuthError::MissingIdentity(_) => "missing identity",
                AuthError::InvalidCredentials(_) => "invalid credentials",
                AuthError::Misconfigured(_) => "misconfigured",
                _ => "other",
            };
            log.lock().unwrap().push(kind);
            empty(StatusCode::UNAUTHORIZED)
        })
    });

    app.get("/", TEST_USER)
        .await
        .assert_hello("user test, group default");
    assert!(handled.lock().unwrap().is_empty());

    let anonymous = app.get("/", ANONYMOUS).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{anonymous:?}");
    assert_eq!(anonymous.body, "");
    assert_eq!(*handled.lock().unwrap(), ["missing identity"]);
}

/// `test_custom_blocked`: `on_blocked` answers `429 custom 429 page`, with no headers.
///
/// Difference: `on_blocked` receives the rejection (retry-after, the binding limit, group,
/// zone) where the original passes the retry-after alone; both are checked here.
pub(crate) async fn test_custom_blocked(h: &impl Harness) {
    static RULES: Rules = ratelimit! { "/" => [second = 1, unlimited @admin] };
    let rejections = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&rejections);
    let app = App::with(RULES, test_core_auth, h, move |layer| {
        layer.on_blocked(move |rejection| {
            log.lock().unwrap().push((
                rejection.retry_after_secs(),
                rejection.limit().map(|limit| limit.to_string()),
                rejection.group(),
            ));
            let mut response = Response::new(Body::from("custom 429 page"));
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            response
        })
    });

    app.get("/", USER).await.assert_hello("first");
    let blocked = app.get("/", USER).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS, "{blocked:?}");
    assert_eq!(blocked.body, "custom 429 page");
    // The handler's response is sent as it is: it set no Retry-After, so there is none.
    assert_eq!(blocked.retry_after(), None);
    // The time until admission: the rest of the second (two for the sliding window counter).
    let wait = per_algorithm(h, 1, 2, 1);
    assert_eq!(
        *rejections.lock().unwrap(),
        [(Some(wait), Some("second = 1".to_owned()), "default")]
    );
}

/// `test_rule_zone`: `/message` and `/\d+` share the zone `common`, so a request to `/10`
/// uses up the second of `/message`.
pub(crate) async fn test_rule_zone(h: &impl Harness) {
    static RULES: Rules = ratelimit! {
        "/message" => [second = 1 zone = "common"],
        r"/\d+"    => [second = 1 zone = "common"],
    };
    let app = App::new(RULES, test_core_auth, h);
    app.get("/10", USER).await.assert_hello("/10");
    app.get("/message", USER)
        .await
        .assert_limited("/message", Some(per_algorithm(h, 1, 2, 1)));
    // Another user's pool in the zone is their own.
    app.get("/message", &[("user", "other"), ("group", "default")])
        .await
        .assert_hello("/message as another user");
}

/// `test_rule_method`: per-method rules count per method; a rule for every method counts
/// every method in one pool.
///
/// The original writes `method="get"`; the DSL takes it as written and upper-cases it (the
/// original compares methods without case too, but keys counts by the method as written).
pub(crate) async fn test_rule_method(h: &impl Harness) {
    static RULES: Rules = ratelimit! {
        "/message" => [method = "get" minute = 1, method = "post" minute = 2],
        "/towns"   => [minute = 1],
    };
    let app = App::new(RULES, test_core_auth, h);
    // A full minute of count 1 waits the minute (two for the sliding window counter); of
    // count 2, GCRA's spacing is half a minute, the sliding counter's 1.5.
    let minute_of_one = per_algorithm(h, 60, 120, 60);
    let minute_of_two = per_algorithm(h, 60, 90, 30);

    app.get("/message", USER).await.assert_hello("GET 1");
    app.get("/message", USER)
        .await
        .assert_limited("GET 2", Some(minute_of_one));
    app.send(Method::POST, "/message", USER)
        .await
        .assert_hello("POST 1");
    app.send(Method::POST, "/message", USER)
        .await
        .assert_hello("POST 2");
    app.send(Method::POST, "/message", USER)
        .await
        .assert_limited("POST 3", Some(minute_of_two));

    app.get("/towns", USER).await.assert_hello("towns GET 1");
    app.get("/towns", USER)
        .await
        .assert_limited("towns GET 2", Some(minute_of_one));
    app.send(Method::POST, "/towns", USER)
        .await
        .assert_limited("towns POST: the same pool as GET", Some(minute_of_one));
}

/// Difference (no original case: every original config has patterns that never overlap):
/// the original authenticates once per matching pattern it visits, so a request that falls
/// through a first matching pattern without a rule for its group is authenticated twice; we
/// authenticate once per request, lazily. The rules are `test_on_auth_error_default`'s with
/// a limited route under them (the original's way to whitelist a group, issue #22).
pub(crate) async fn authentication_runs_once_per_request_not_per_matching_pattern(
    h: &impl Harness,
) {
    static RULES: Rules = ratelimit! {
        "/"      => [unlimited @admin],
        "/towns" => [second = 1],
    };
    let app = App::new(RULES, test_core_auth, h);

    // `/` matches without a default rule; `/towns` limits: the original authenticates twice.
    app.get("/towns", USER).await.assert_hello("first");
    assert_eq!(app.auth_calls(), 1);
    app.get("/towns", USER).await.assert_limited("second", None);
    assert_eq!(app.auth_calls(), 2);
    // Admins stop at `/`.
    app.get("/towns", ADMIN).await.assert_hello("admin");
    assert_eq!(app.auth_calls(), 3);
    // Only `/` matches `/`, with no default rule: not limited, authenticated once.
    app.get("/", USER).await.assert_hello("/");
    assert_eq!(app.auth_calls(), 4);
}

/// Difference (no original case uses one; issues #56 and #64): the original takes a limit of
/// 0 (`Rule(second=0)`) to refuse every request, with a 429 and a `Retry-After`. A count of 0
/// is a compile error here (see [`crate::construction`]) that says to write `deny`, which
/// refuses with a 403 and no `Retry-After`, as waiting will not help.
pub(crate) async fn a_limit_of_zero_is_written_deny(h: &impl Harness) {
    static RULES: Rules = ratelimit! { "/" => [deny, unlimited @admin] };
    let app = App::new(RULES, test_core_auth, h);
    for attempt in ["first", "second"] {
        let denied = app.get("/", USER).await;
        assert_eq!(
            denied.status,
            StatusCode::FORBIDDEN,
            "{attempt}: {denied:?}"
        );
        assert_eq!(denied.body, "", "{attempt}");
        assert_eq!(denied.retry_after(), None, "{attempt}");
    }
    app.get("/", ADMIN).await.assert_hello("admin");
}

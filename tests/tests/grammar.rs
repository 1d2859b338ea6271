//! Every form of the DSL's grammar, exercised at run time by its behaviour (not only
//! compiled): `month = N`, `block_time` bare and in every unit (`90`, `90s`, `10m`, `2h`,
//! `1d`), string groups (`@"blocked tier"`), lower-case and string methods (`method = get`,
//! `method = "POST"`, `method = "PURGE"`), `zone = "…"`, `deny` and `unlimited`.
//!
//! Each test drives a real `RateLimitLayer` (identity from `X-User`, group from `X-Group`)
//! over the in-memory backend on a `ManualClock`, with `tower::ServiceExt::oneshot`, and
//! checks the statuses and the `Retry-After` the README promises; selection is also checked
//! through `Rules::select` where it names the rule.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::{HeaderName, Request, StatusCode};
use ratelimit::auth::HeaderAuth;
use ratelimit::backend::{ManualClock, MemoryBackend};
use ratelimit::{Policy, RateLimitLayer, Rules, ratelimit};
use tower::ServiceExt;

static RULES: Rules = ratelimit! {
    "^/month$"         => [month = 1],
    "^/block/bare$"    => [second = 1 block_time = 90],
    "^/block/seconds$" => [second = 1 block_time = 90s],
    "^/block/minutes$" => [second = 1 block_time = 10m],
    "^/block/hours$"   => [second = 1 block_time = 2h],
    "^/block/days$"    => [second = 1 block_time = 1d],
    "^/groups$"        => [minute = 1 @"blocked tier", unlimited @"gold tier", minute = 3],
    "^/methods/get$"   => [method = get minute = 1],
    "^/methods/post$"  => [method = "POST" minute = 1],
    "^/methods/purge$" => [method = "PURGE" minute = 1],
    "^/zoned/a$"       => [minute = 2 zone = "shared"],
    "^/zoned/b$"       => [minute = 2 zone = "shared"],
    "^/unzoned/"       => [minute = 2],
    "^/deny$"          => [deny],
    "^/free$"          => [unlimited],
    "^/"               => [hour = 1],
};

/// An app answering 200 on every path, limited by `RULES`, and its clock.
fn app() -> (Router, ManualClock) {
    let clock = ManualClock::new();
    let backend = MemoryBackend::builder().clock(clock.clone()).build();
    let auth = HeaderAuth::new(HeaderName::from_static("x-user"))
        .group_header(HeaderName::from_static("x-group"));
    let app = Router::new()
        .fallback(|| async { "ok" })
        .layer(RateLimitLayer::new(RULES, auth, backend));
    (app, clock)
}

/// The status and `Retry-After` of `method path` as `user` in `group` (none: `default`).
async fn send(
    app: &Router,
    method: &str,
    path: &str,
    user: &str,
    group: Option<&str>,
) -> (StatusCode, Option<u64>) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("x-user", user);
    if let Some(group) = group {
        request = request.header("x-group", group);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let retry_after = response.headers().get("retry-after").map(|value| {
        value
            .to_str()
            .unwrap()
            .parse()
            .expect("Retry-After in seconds")
    });
    (response.status(), retry_after)
}

const OK: (StatusCode, Option<u64>) = (StatusCode::OK, None);

const fn refused(retry_after: u64) -> (StatusCode, Option<u64>) {
    (StatusCode::TOO_MANY_REQUESTS, Some(retry_after))
}

/// The selected rule's group and policy, as text.
fn selected(path: &str, method: &str, group: &str) -> Option<String> {
    RULES.select(path, method, group).map(|selection| {
        let policy = match selection.rule.policy() {
            Policy::Limited(limits) => limits
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            Policy::Unlimited => "unlimited".to_owned(),
            Policy::Deny => "deny".to_owned(),
        };
        format!(
            "{} {policy} @{}",
            selection.route.pattern().source(),
            selection.rule.group()
        )
    })
}

#[tokio::test]
async fn month_is_a_window_of_31_days() {
    let (app, clock) = app();
    assert_eq!(send(&app, "GET", "/month", "u", None).await, OK);
    assert_eq!(
        send(&app, "GET", "/month", "u", None).await,
        refused(31 * 86_400)
    );
    // Still refused a second before the 31 days are over; admitted when they are.
    clock.advance(Duration::from_secs(31 * 86_400 - 1));
    assert_eq!(send(&app, "GET", "/month", "u", None).await, refused(1));
    clock.advance(Duration::from_secs(1));
    assert_eq!(send(&app, "GET", "/month", "u", None).await, OK);
    assert_eq!(
        send(&app, "GET", "/month", "u", None).await,
        refused(31 * 86_400)
    );
}

#[tokio::test]
async fn block_time_blocks_for_its_duration_in_every_unit() {
    let cases = [
        ("/block/bare", 90),
        ("/block/seconds", 90),
        ("/block/minutes", 10 * 60),
        ("/block/hours", 2 * 3_600),
        ("/block/days", 86_400),
    ];
    for (path, block) in cases {
        let (app, clock) = app();
        assert_eq!(send(&app, "GET", path, "u", None).await, OK, "{path}");
        // The second request in the second is refused, and blocks the user for `block`.
        assert_eq!(
            send(&app, "GET", path, "u", None).await,
            refused(block),
            "{path}"
        );
        // Long after the one-second window, the block holds, and is not extended by
        // requests made during it.
        clock.advance(Duration::from_secs(5));
        assert_eq!(
            send(&app, "GET", path, "u", None).await,
            refused(block - 5),
            "{path}"
        );
        clock.advance(Duration::from_secs(block - 5 - 1));
        assert_eq!(
            send(&app, "GET", path, "u", None).await,
            refused(1),
            "{path}"
        );
        clock.advance(Duration::from_secs(1));
        assert_eq!(send(&app, "GET", path, "u", None).await, OK, "{path}");
        // Another user was never blocked.
        assert_eq!(send(&app, "GET", path, "v", None).await, OK, "{path}");
    }
}

#[tokio::test]
async fn a_string_group_selects_by_its_exact_name() {
    assert_eq!(
        selected("/groups", "GET", "blocked tier").as_deref(),
        Some("^/groups$ minute = 1 @blocked tier")
    );
    assert_eq!(
        selected("/groups", "GET", "gold tier").as_deref(),
        Some("^/groups$ unlimited @gold tier")
    );
    // Not the same name: the route has no rule for it, and the request falls through.
    for other in ["blocked", "Blocked Tier", "blocked_tier", "blocked tier "] {
        assert_eq!(
            selected("/groups", "GET", other).as_deref(),
            None,
            "{other:?}"
        );
    }
    let (app, _clock) = app();
    let blocked = Some("blocked tier");
    assert_eq!(send(&app, "GET", "/groups", "u", blocked).await, OK);
    assert_eq!(
        send(&app, "GET", "/groups", "u", blocked).await,
        refused(60)
    );
    for _ in 0..10 {
        assert_eq!(
            send(&app, "GET", "/groups", "g", Some("gold tier")).await,
            OK
        );
    }
    // The default group's rule.
    for _ in 0..3 {
        assert_eq!(send(&app, "GET", "/groups", "d", None).await, OK);
    }
    assert_eq!(send(&app, "GET", "/groups", "d", None).await, refused(60));
}

#[tokio::test]
async fn a_lower_case_method_matches_the_request_method_in_any_case() {
    assert_eq!(
        selected("/methods/get", "GET", "default").as_deref(),
        Some("^/methods/get$ minute = 1 @default")
    );
    // Another method has no rule on the route: it falls through to `^/`.
    assert_eq!(
        selected("/methods/get", "POST", "default").as_deref(),
        Some("^/ hour = 1 @default")
    );
    let (app, _clock) = app();
    assert_eq!(send(&app, "GET", "/methods/get", "u", None).await, OK);
    assert_eq!(
        send(&app, "GET", "/methods/get", "u", None).await,
        refused(60)
    );
    // `HEAD` is taken as `GET`, and counts in its pool.
    assert_eq!(
        send(&app, "HEAD", "/methods/get", "u", None).await,
        refused(60)
    );
    assert_eq!(send(&app, "get", "/methods/get", "v", None).await, OK);
    assert_eq!(
        send(&app, "get", "/methods/get", "v", None).await,
        refused(60)
    );
}

#[tokio::test]
async fn a_string_method_matches_that_method() {
    assert_eq!(
        selected("/methods/post", "post", "default").as_deref(),
        Some("^/methods/post$ minute = 1 @default")
    );
    assert_eq!(
        selected("/methods/purge", "PURGE", "default").as_deref(),
        Some("^/methods/purge$ minute = 1 @default")
    );
    assert_eq!(
        selected("/methods/purge", "GET", "default").as_deref(),
        Some("^/ hour = 1 @default")
    );
    let (app, _clock) = app();
    for (method, path) in [("POST", "/methods/post"), ("PURGE", "/methods/purge")] {
        assert_eq!(send(&app, method, path, "u", None).await, OK, "{method}");
        assert_eq!(
            send(&app, method, path, "u", None).await,
            refused(60),
            "{method}"
        );
    }
    // A lower-case spelling of the request method is the same method.
    assert_eq!(
        send(&app, "purge", "/methods/purge", "u", None).await,
        refused(60)
    );
    // GET is not limited by the POST rule: it falls through to `^/` (hour = 1).
    assert_eq!(send(&app, "GET", "/methods/post", "w", None).await, OK);
    assert_eq!(
        send(&app, "GET", "/methods/post", "w", None).await,
        refused(3_600)
    );
}

#[tokio::test]
async fn a_zone_is_one_pool_for_every_route_that_names_it() {
    let (app, _clock) = app();
    assert_eq!(send(&app, "GET", "/zoned/a", "u", None).await, OK);
    assert_eq!(send(&app, "GET", "/zoned/b", "u", None).await, OK);
    // The zone's two requests are used, whichever path used them.
    assert_eq!(send(&app, "GET", "/zoned/a", "u", None).await, refused(60));
    assert_eq!(send(&app, "GET", "/zoned/b", "u", None).await, refused(60));
    // Without a zone, each path is its own pool.
    for path in ["/unzoned/a", "/unzoned/b"] {
        assert_eq!(send(&app, "GET", path, "u", None).await, OK, "{path}");
        assert_eq!(send(&app, "GET", path, "u", None).await, OK, "{path}");
        assert_eq!(
            send(&app, "GET", path, "u", None).await,
            refused(60),
            "{path}"
        );
    }
}

#[tokio::test]
async fn deny_refuses_every_request_with_403() {
    let (app, clock) = app();
    for _ in 0..3 {
        assert_eq!(
            send(&app, "GET", "/deny", "u", None).await,
            (StatusCode::FORBIDDEN, None)
        );
        clock.advance(Duration::from_secs(86_400));
    }
}

#[tokio::test]
async fn unlimited_admits_every_request_uncounted() {
    let (app, _clock) = app();
    for _ in 0..50 {
        assert_eq!(send(&app, "GET", "/free", "u", None).await, OK);
    }
    // The catch-all that `unlimited` shadows limits to one an hour.
    assert_eq!(send(&app, "GET", "/other", "u", None).await, OK);
    assert_eq!(send(&app, "GET", "/other", "u", None).await, refused(3_600));
}

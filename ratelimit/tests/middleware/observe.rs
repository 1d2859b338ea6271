//! Shadow mode, the metrics and the throttled warnings, through the middleware's public API:
//! each test polls a service on one thread, recording into a local `metrics` recorder
//! (`metrics-util`'s debugging recorder) and its thread's [`Logs`].

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use http::{Request, Response, StatusCode};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};
use ratelimit::auth::HeaderAuth;
use ratelimit::backend::{
    Backend, BackendError, Decision, DecisionFuture, DecisionRequest, ManualClock, MemoryBackend,
};
use ratelimit::middleware::{Outcome, RateLimitLayer};
use ratelimit::{Rules, ratelimit};
use tower::{Layer, Service, ServiceExt, service_fn};

use super::Logs;

static RULES: Rules = ratelimit! {
    "^/towns"  => [second = 1 @default, unlimited @admin],
    "^/trial"  => [minute = 1 shadow],
    "^/closed" => [deny shadow],
    "^/denied" => [deny],
    "^/login"  => [minute = 1 block_time = 60],
    "^/zoned"  => [minute = 1 zone = "shared"],
};

fn ok() -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone {
    service_fn(|_: Request<Body>| async { Ok::<_, Infallible>(Response::new(Body::from("ok"))) })
}

fn auth() -> HeaderAuth {
    HeaderAuth::new(http::HeaderName::from_static("x-user"))
}

fn get(path: &str, user: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(user) = user {
        request = request.header("x-user", user);
    }
    request.body(Body::empty()).unwrap()
}

/// Runs `test` on a current-thread runtime with `recorder` as this thread's recorder.
fn with_metrics<F: Future<Output = ()>>(recorder: &DebuggingRecorder, test: impl FnOnce() -> F) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    metrics::with_local_recorder(recorder, || runtime.block_on(test()));
}

async fn status<S>(service: &S, request: Request<Body>) -> StatusCode
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    service.clone().oneshot(request).await.unwrap().status()
}

/// What was recorded: each metric's key and value (taking a snapshot resets the counters).
type Recorded = Vec<(CompositeKey, DebugValue)>;

fn recorded(snapshotter: &Snapshotter) -> Recorded {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| (key, value))
        .collect()
}

/// The counter `name` with these labels (in the order recorded), or 0.
fn counter(recorded: &Recorded, name: &str, labels: &[(&str, &str)]) -> u64 {
    recorded
        .iter()
        .find_map(|(key, value)| {
            let same = key.kind() == MetricKind::Counter
                && key.key().name() == name
                && key
                    .key()
                    .labels()
                    .map(|label| (label.key(), label.value()))
                    .eq(labels.iter().copied());
            match (same, value) {
                (true, DebugValue::Counter(count)) => Some(*count),
                _ => None,
            }
        })
        .unwrap_or(0)
}

fn requests(recorded: &Recorded, route: &str, zone: &str, outcome: &str) -> u64 {
    let group = if outcome == "unauthenticated" {
        ""
    } else {
        "default"
    };
    counter(
        recorded,
        "ratelimit_requests_total",
        &[
            ("route", route),
            ("group", group),
            ("zone", zone),
            ("outcome", outcome),
        ],
    )
}

/// Every metric key recorded, with its labels: what an exporter would show.
fn keys(recorded: &Recorded) -> Vec<&CompositeKey> {
    recorded.iter().map(|(key, _)| key).collect()
}

#[test]
fn each_outcome_is_counted_by_route_group_and_zone_and_no_user_id_is_a_label() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    with_metrics(&recorder, || async {
        let service = RateLimitLayer::new(RULES, auth(), MemoryBackend::new()).layer(ok());
        let user = Some("alice-7f3a");
        assert_eq!(status(&service, get("/towns", user)).await, StatusCode::OK);
        assert_eq!(status(&service, get("/towns", user)).await, 429);
        assert_eq!(status(&service, get("/towns", None)).await, 401);
        for _ in 0..3 {
            assert_eq!(status(&service, get("/trial", user)).await, StatusCode::OK);
            assert_eq!(status(&service, get("/closed", user)).await, StatusCode::OK);
        }
        assert_eq!(status(&service, get("/denied", user)).await, 403);
        assert_eq!(status(&service, get("/zoned", user)).await, StatusCode::OK);
        assert_eq!(
            status(&service, get("/unruled", user)).await,
            StatusCode::OK
        );
    });
    let recorded = recorded(&snapshotter);
    let count = |route, zone, outcome| requests(&recorded, route, zone, outcome);
    assert_eq!(count("^/towns", "", "admitted"), 1);
    assert_eq!(count("^/towns", "", "limited"), 1);
    assert_eq!(count("^/towns", "", "unauthenticated"), 1);
    assert_eq!(count("^/trial", "", "admitted"), 1);
    assert_eq!(count("^/trial", "", "shadow_limited"), 2);
    assert_eq!(count("^/closed", "", "shadow_denied"), 3);
    assert_eq!(count("^/denied", "", "denied"), 1);
    assert_eq!(count("^/zoned", "shared", "admitted"), 1);
    let keys = format!("{:?}", keys(&recorded));
    assert!(!keys.contains("alice"), "a user id is a label: {keys}");
    assert!(!keys.contains("unruled"), "a raw path is a label: {keys}");
}

#[test]
fn a_refusal_that_starts_a_block_is_counted_once_in_the_blocks() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    with_metrics(&recorder, || async {
        let service = RateLimitLayer::new(RULES, auth(), MemoryBackend::new()).layer(ok());
        let user = Some("bob");
        assert_eq!(status(&service, get("/login", user)).await, StatusCode::OK);
        // The refusal that starts the block, then one refused because blocked.
        assert_eq!(status(&service, get("/login", user)).await, 429);
        assert_eq!(status(&service, get("/login", user)).await, 429);
    });
    let recorded = recorded(&snapshotter);
    let labels = [("route", "^/login"), ("group", "default"), ("zone", "")];
    assert_eq!(counter(&recorded, "ratelimit_blocks_total", &labels), 1);
    assert_eq!(requests(&recorded, "^/login", "", "limited"), 2);
}

/// A backend that fails every decision with `error`.
struct Failing(fn() -> BackendError);

impl Backend for Failing {
    fn decide<'a>(&'a self, _: &'a DecisionRequest<'a>) -> DecisionFuture<'a> {
        DecisionFuture::ready(Err((self.0)()))
    }

    fn decide_now(&self, _: &DecisionRequest<'_>) -> Option<Result<Decision, BackendError>> {
        Some(Err((self.0)()))
    }

    fn name(&self) -> &'static str {
        "failing"
    }
}

#[test]
fn backend_failures_are_counted_and_timed_by_result() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    with_metrics(&recorder, || async {
        let timeout = RateLimitLayer::new(
            RULES,
            auth(),
            Failing(|| BackendError::Timeout(Duration::from_millis(50))),
        )
        .layer(ok());
        let failing = RateLimitLayer::new(
            RULES,
            auth(),
            Failing(|| BackendError::InvalidRequest("broken")),
        )
        .layer(ok());
        assert_eq!(
            status(&timeout, get("/towns", Some("a"))).await,
            StatusCode::OK
        );
        assert_eq!(
            status(&failing, get("/towns", Some("a"))).await,
            StatusCode::OK
        );
        let memory = RateLimitLayer::new(RULES, auth(), MemoryBackend::new()).layer(ok());
        assert_eq!(
            status(&memory, get("/towns", Some("a"))).await,
            StatusCode::OK
        );
    });
    let recorded = recorded(&snapshotter);
    assert_eq!(requests(&recorded, "^/towns", "", "backend_error"), 2);
    let histograms: Vec<Vec<(String, String)>> = keys(&recorded)
        .into_iter()
        .filter(|key| key.key().name() == "ratelimit_backend_seconds")
        .map(|key| {
            key.key()
                .labels()
                .map(|label| (label.key().to_owned(), label.value().to_owned()))
                .collect()
        })
        .collect();
    for expected in [
        ("failing", "timeout"),
        ("failing", "error"),
        ("memory", "ok"),
    ] {
        let labels = vec![
            ("backend".to_owned(), expected.0.to_owned()),
            ("result".to_owned(), expected.1.to_owned()),
        ];
        assert!(
            histograms.contains(&labels),
            "{expected:?} in {histograms:?}"
        );
    }
}

#[test]
fn a_handler_check_is_counted_under_its_scope() {
    static HANDLER: Rules = ratelimit! { "^/" => [minute = 1] };
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    with_metrics(&recorder, || async {
        let layer = RateLimitLayer::<Body>::new(Rules::none(), auth(), MemoryBackend::new());
        let limiter = layer.limiter();
        let (head, _) = get("/report", Some("carol")).into_parts();
        let rules = HANDLER.routes()[0].rules();
        let scope = ratelimit::backend::Scope::Path("reports::handler");
        let first = limiter.check(&head, rules, scope).await.unwrap();
        assert!(matches!(first, Outcome::Allowed { .. }), "{first:?}");
        let second = limiter.check(&head, rules, scope).await.unwrap();
        assert!(matches!(second, Outcome::Rejected(_)), "{second:?}");
    });
    let recorded = recorded(&snapshotter);
    assert_eq!(requests(&recorded, "reports::handler", "", "admitted"), 1);
    assert_eq!(requests(&recorded, "reports::handler", "", "limited"), 1);
}

#[test]
fn a_hundred_would_be_refusals_in_a_row_log_one_line_and_each_decision_a_debug_event() {
    let lines = Logs::default();
    let _capture = lines.capture();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let service = RateLimitLayer::new(RULES, auth(), MemoryBackend::new()).layer(ok());
        for _ in 0..101 {
            assert_eq!(
                status(&service, get("/trial", Some("dave"))).await,
                StatusCode::OK
            );
        }
    });
    let warnings = lines.matching("would have refused");
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(warnings[0].starts_with("WARN"), "{warnings:?}");
    let decisions = lines.matching("ratelimit::decision");
    assert_eq!(decisions.len(), 101);
    assert!(
        decisions[0].contains("outcome=\"admitted\""),
        "{}",
        decisions[0]
    );
    assert!(
        decisions[1].contains("outcome=\"shadow_limited\""),
        "{}",
        decisions[1]
    );
    assert!(
        decisions[1].contains("route=\"^/trial\""),
        "{}",
        decisions[1]
    );
    assert!(
        !decisions.iter().any(|line| line.contains("dave")),
        "a user id in an event"
    );
}

#[test]
fn a_failing_backend_warns_once_per_interval_not_per_request() {
    let lines = Logs::default();
    let _capture = lines.capture();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let backend = Failing(|| BackendError::Timeout(Duration::from_millis(50)));
        let service = RateLimitLayer::new(RULES, auth(), backend).layer(ok());
        for _ in 0..300 {
            assert_eq!(
                status(&service, get("/towns", Some("erin"))).await,
                StatusCode::OK
            );
        }
    });
    assert_eq!(lines.matching("fail open").len(), 1);
}

/// The outcome of a check of `/login`'s rules by `frank` at each of `times` (seconds on the
/// backend's clock), by a layer in shadow or not: `A` admitted, `L` refused (or would be) by
/// the limit, `B` refused (or would be) for a block; lower case for a would-be refusal.
fn login_outcomes(shadow: bool, times: &[u64]) -> String {
    let clock = ManualClock::new();
    let backend = MemoryBackend::builder().clock(clock.clone()).build();
    let limiter = RateLimitLayer::<Body>::new(RULES, auth(), backend)
        .shadow(shadow)
        .limiter();
    let login = RULES
        .routes()
        .iter()
        .find(|route| route.pattern().source() == "^/login")
        .unwrap()
        .rules();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut now = 0;
    let mut outcomes = String::new();
    for &at in times {
        clock.advance(Duration::from_secs(at - now));
        now = at;
        let (head, _) = get("/login", Some("frank")).into_parts();
        let scope = ratelimit::backend::Scope::Path("/login");
        let outcome = runtime
            .block_on(limiter.check(&head, login, scope))
            .unwrap();
        outcomes.push(match outcome {
            Outcome::Allowed { .. } => 'A',
            Outcome::Rejected(rejection) if rejection.is_blocked() => 'B',
            Outcome::Rejected(_) => 'L',
            Outcome::ShadowRejected(rejection) if rejection.is_blocked() => 'b',
            Outcome::ShadowRejected(_) => 'l',
            other => panic!("{other:?}"),
        });
    }
    outcomes
}

#[test]
fn a_layer_in_shadow_counts_and_blocks_exactly_as_if_enforced() {
    // `/login` admits 1 a minute and blocks for 60 s.
    let times = [0, 1, 30, 59, 61, 62, 121, 125, 190];
    let enforced = login_outcomes(false, &times);
    assert!(
        enforced.contains('A') && enforced.contains('L') && enforced.contains('B'),
        "the sequence admits, refuses and blocks: {enforced}"
    );
    assert_eq!(
        login_outcomes(true, &times),
        enforced.to_lowercase().replace('a', "A")
    );
}

#[test]
fn a_layer_in_shadow_admits_what_it_would_refuse_without_rate_limit_headers() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let service = RateLimitLayer::new(RULES, auth(), MemoryBackend::new())
            .shadow(true)
            .headers(ratelimit::middleware::RateLimitHeaders::Ietf)
            .layer(ok());
        let first = service
            .clone()
            .oneshot(get("/towns", Some("gus")))
            .await
            .unwrap();
        assert!(
            first.headers().contains_key("ratelimit"),
            "an admission has its headers"
        );
        for path in ["/towns", "/denied"] {
            let response = service
                .clone()
                .oneshot(get(path, Some("gus")))
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert!(!response.headers().contains_key("ratelimit"), "{path}");
            assert!(!response.headers().contains_key("retry-after"), "{path}");
        }
    });
}

//! The `observe` example serves its contract: real HTTP to the example's own app on a loopback
//! port, its metrics read back from its own `/metrics` in the Prometheus text format.
//!
//! The metrics recorder is global (one per process), so the tests take turns and compare
//! counts before and after what they send.

#[path = "../observe.rs"]
#[allow(dead_code)]
mod example;

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use ratelimit::backend::MemoryBackend;
use ratelimit_tests::logs::Logs;
use ratelimit_tests::net::Server;

/// The process's recorder, installed once.
fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("the first recorder of the process")
        })
        .clone()
}

/// The tests share the recorder: one at a time.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn start() -> Server {
    Server::start(example::app(MemoryBackend::new(), metrics())).await
}

/// The value of `ratelimit_requests_total` for `route` and `outcome` (any group), read from
/// the server's `/metrics`; 0 when absent.
async fn requests(server: &Server, route: &str, outcome: &str) -> u64 {
    let text = server.get("/metrics", &[]).await.text();
    text.lines()
        .filter(|line| {
            line.starts_with("ratelimit_requests_total{")
                && line.contains(&format!("route=\"{route}\""))
                && line.contains(&format!("outcome=\"{outcome}\""))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

const ALICE: (&str, &str) = ("x-user", "alice-5be1");

/// A request (path, headers), its status, and the route and outcome it is counted under.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], u16, &'a str, &'a str);

#[tokio::test]
async fn a_shadow_rule_admits_every_request_and_counts_the_ones_it_would_refuse() {
    let _turn = TURN.lock().await;
    let server = start().await;
    let shadowed = requests(&server, "^/trial", "shadow_limited").await;
    let admitted = requests(&server, "^/trial", "admitted").await;
    for _ in 0..5 {
        let reply = server.get("/trial", &[ALICE]).await;
        assert_eq!((reply.status, reply.text().as_str()), (200, "ok"));
    }
    // `minute = 1`: the first is admitted, the next four would have been refused.
    assert_eq!(requests(&server, "^/trial", "admitted").await - admitted, 1);
    assert_eq!(
        requests(&server, "^/trial", "shadow_limited").await - shadowed,
        4
    );
}

#[tokio::test]
async fn each_outcome_is_counted_per_route_and_metrics_need_no_identity() {
    let _turn = TURN.lock().await;
    let server = start().await;
    let user = ("x-user", "bob-77d0");
    let cases: [Case<'_>; 6] = [
        ("/towns", &[user], 200, "^/towns", "admitted"),
        ("/towns", &[user], 429, "^/towns", "limited"),
        (
            "/towns",
            &[user, ("x-group", "admin")],
            200,
            "^/towns",
            "admitted",
        ),
        ("/towns", &[], 401, "^/towns", "unauthenticated"),
        ("/closed", &[user], 200, "^/closed", "shadow_denied"),
        ("/denied", &[user], 403, "^/denied", "denied"),
    ];
    for (path, headers, status, route, outcome) in cases {
        let before = requests(&server, route, outcome).await;
        assert_eq!(server.get(path, headers).await.status, status, "{path}");
        assert_eq!(
            requests(&server, route, outcome).await - before,
            1,
            "{path} {outcome}"
        );
    }
    let other = server.send("POST", "/anything/else", &[]).await;
    assert_eq!((other.status, other.text().as_str()), (200, "ok"));
    let metrics = server.get("/metrics", &[]).await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.text().contains("ratelimit_backend_seconds"));
}

#[tokio::test]
async fn no_user_id_and_no_raw_path_appear_in_the_metrics() {
    let _turn = TURN.lock().await;
    let server = start().await;
    for path in ["/towns", "/trial", "/closed", "/denied", "/towns/9f1c"] {
        server.get(path, &[("x-user", "carol-0d4e")]).await;
    }
    let text = server.get("/metrics", &[]).await.text();
    assert!(text.contains("ratelimit_requests_total"), "{text}");
    assert!(!text.contains("carol-0d4e"), "{text}");
    assert!(!text.contains("9f1c"), "{text}");
}

// The server runs on this test's one thread, so this thread's logs hold its events.
#[tokio::test(flavor = "current_thread")]
async fn a_hundred_would_be_refusals_in_a_row_log_a_few_lines_not_a_hundred() {
    let _turn = TURN.lock().await;
    let logs = Logs::capture();
    let server = start().await;
    for _ in 0..101 {
        assert_eq!(
            server.get("/trial", &[("x-user", "dave")]).await.status,
            200
        );
    }
    let lines = logs.lines();
    let warnings = lines
        .iter()
        .filter(|line| line.message.contains("would have refused"))
        .count();
    assert!((1..=3).contains(&warnings), "{warnings} lines: {lines:#?}");
}

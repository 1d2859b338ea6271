//! Attacks on the rules themselves, end to end over real HTTP, each of which must fail: a
//! regex-limited path spelled with percent-escapes, a layer inside `Router::nest`, `HEAD` on
//! a `method = GET` rule, pool keys grown by long paths (in memory and in Redis), and a block
//! lifted by churning a full table.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use http::HeaderName;
use ratelimit::auth::HeaderAuth;
use ratelimit::backend::{Backend, ManualClock, MemoryBackend};
use ratelimit::{RateLimitLayer, Rules, ratelimit};
use ratelimit_tests::net::{Client, Raw, Server, panics};
use ratelimit_tests::redis_server::{fresh_prefix, shared_server};

const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

fn memory() -> MemoryBackend<ManualClock> {
    MemoryBackend::builder().clock(ManualClock::new()).build()
}

fn user_auth() -> HeaderAuth {
    HeaderAuth::new(HeaderName::from_static("x-user"))
}

/// The README's rule: a regex narrowing a segment to digits, pooled per path (no zone).
static USER_RULES: Rules = ratelimit! { r"^/user/\d+" => [minute = 2] };

/// `/user/{id}` as `Path<u32>`, counting the handler's runs.
fn user_app(hits: &Arc<AtomicUsize>, backend: impl Backend) -> Router {
    let hits = Arc::clone(hits);
    Router::new()
        .route(
            "/user/{id}",
            get(move |Path(id): Path<u32>| {
                let hits = Arc::clone(&hits);
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    format!("user {id}")
                }
            }),
        )
        .layer(RateLimitLayer::new(USER_RULES, user_auth(), backend))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn percent_spellings_of_a_regex_limited_path_are_authenticated_and_counted() {
    assert_percent_spellings_are_counted(memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn percent_spellings_are_one_pool_in_redis_too() {
    let Some(redis) = shared_server("percent_spellings_are_one_pool_in_redis_too") else {
        return;
    };
    let backend = redis
        .builder()
        .frozen_clock_for_tests()
        .prefix(fresh_prefix("e2e-spellings"))
        .timeout(Duration::from_secs(10))
        .build()
        .await
        .expect("a backend on the test server");
    assert_percent_spellings_are_counted(backend).await;
}

async fn assert_percent_spellings_are_counted(backend: impl Backend) {
    let panics_before = panics();
    let hits = Arc::new(AtomicUsize::new(0));
    let server = Server::start(user_app(&hits, backend)).await;
    let client = server.client(CLIENT_TIMEOUT);

    // Without an identity, every spelling of a limited path is refused: the route applies.
    for path in ["/user/1", "/user/%31", "/user/%31%32", "/user/1%32"] {
        let reply = client.get(path, &[]).await;
        assert_eq!(reply.status, 401, "{path}: {reply:?}");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "no spelling reached the handler"
    );

    // Every spelling of `/user/1` counts in one pool: two admissions in all.
    let alice = [("x-user", "alice")];
    let first = client.get("/user/%31", &alice).await;
    assert_eq!((first.status, first.text().as_str()), (200, "user 1"));
    assert_eq!(client.get("/user/1", &alice).await.status, 200);
    for path in ["/user/%31", "/user/1"] {
        let reply = client.get(path, &alice).await;
        assert_eq!(reply.status, 429, "{path}: {reply:?}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    // Bad escapes decode to nothing a route matches, and nothing a router accepts either:
    // never a panic, never a 5xx, never the handler.
    for path in ["/user/%zz", "/user/%ff", "/user/%", "/user/%3"] {
        let reply = client.get(path, &alice).await;
        assert!(
            (400..500).contains(&reply.status) && reply.status != 429,
            "{path}: {reply:?}"
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    // Another path is another pool, as before.
    assert_eq!(client.get("/user/%32", &alice).await.status, 200);
    assert_eq!(panics(), panics_before, "something panicked");
}

/// Written for the whole path, as the client sends it.
static NESTED_RULES: Rules = ratelimit! { "^/api/users" => [minute = 1] };

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layer_inside_a_nested_router_matches_the_whole_path() {
    let api = Router::new()
        .route("/users", get(|| async { "users" }))
        .layer(RateLimitLayer::new(NESTED_RULES, user_auth(), memory()));
    let app = Router::new()
        .route("/", get(|| async { "home" }))
        .nest("/api", api);
    let server = Server::start(app).await;
    let client = server.client(CLIENT_TIMEOUT);
    let bob = [("x-user", "bob")];

    assert_eq!(client.get("/api/users", &[]).await.status, 401);
    assert_eq!(client.get("/api/users", &bob).await.status, 200);
    let refused = client.get("/api/users", &bob).await;
    assert_eq!(
        (refused.status, refused.header("retry-after")),
        (429, Some("60"))
    );
    // An escape in the path is counted in the same pool, or not routed at all (axum
    // routes the path as written): never through.
    let escaped = client.get("/api/%75sers", &bob).await;
    assert!(matches!(escaped.status, 404 | 429), "{escaped:?}");
}

static HEAD_RULES: Rules = ratelimit! {
    "^/message$" => [method = GET minute = 1],
    "^/own$"     => [method = GET minute = 1, method = HEAD minute = 2],
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_counts_in_the_get_rules_pool_unless_the_route_has_a_head_rule() {
    let hits = Arc::new(AtomicUsize::new(0));
    let handler = {
        let hits = Arc::clone(&hits);
        move || {
            let hits = Arc::clone(&hits);
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                "message"
            }
        }
    };
    let app = Router::new()
        .route("/message", get(handler.clone()))
        .route("/own", get(handler))
        .layer(RateLimitLayer::new(HEAD_RULES, user_auth(), memory()));
    let server = Server::start(app).await;
    let client = server.client(CLIENT_TIMEOUT);
    let head = |path: &'static str, user: &'static str| async move {
        let bytes = format!("HEAD {path} HTTP/1.1\r\nhost: x\r\nx-user: {user}\r\n\r\n");
        match client.raw(bytes.as_bytes(), false).await {
            Raw::Reply(reply) => reply.status,
            Raw::Closed => panic!("no response to HEAD {path}"),
        }
    };

    // HEAD then GET: the GET is refused, the HEAD having taken the one admission.
    assert_eq!(head("/message", "carol").await, 200);
    assert_eq!(
        client.get("/message", &[("x-user", "carol")]).await.status,
        429
    );
    // GET then HEAD: likewise.
    assert_eq!(
        client.get("/message", &[("x-user", "dave")]).await.status,
        200
    );
    assert_eq!(head("/message", "dave").await, 429);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "one run of the handler each"
    );

    // A route with a HEAD rule of its own counts HEAD there, apart from GET.
    assert_eq!(client.get("/own", &[("x-user", "erin")]).await.status, 200);
    assert_eq!(head("/own", "erin").await, 200);
    assert_eq!(head("/own", "erin").await, 200);
    assert_eq!(head("/own", "erin").await, 429);
    assert_eq!(client.get("/own", &[("x-user", "erin")]).await.status, 429);
}

/// Pooled per path, with room for every request of the test.
static FOREST_RULES: Rules = ratelimit! { "^/forests" => [day = 100000] };

const LONG_PATH_REQUESTS: usize = 1_000;
const LONG_PATH_BYTES: usize = 30_000;

/// `count` distinct paths of about `LONG_PATH_BYTES` bytes each under `/forests/`, the first
/// from `seed`.
fn long_paths(seed: usize, count: usize) -> impl Iterator<Item = String> {
    let filler = "x".repeat(LONG_PATH_BYTES);
    (seed..seed + count).map(move |i| format!("/forests/{i}-{filler}"))
}

/// Sends [`LONG_PATH_REQUESTS`] requests with long distinct paths, each admitted.
async fn send_long_paths(client: &Client) {
    for path in long_paths(0, LONG_PATH_REQUESTS) {
        let reply = client.get(&path, &[("x-user", "mallory")]).await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
}

fn forest_app(backend: impl Backend) -> Router {
    Router::new()
        .route("/forests/{*rest}", get(|| async { "forest" }))
        .layer(RateLimitLayer::new(FOREST_RULES, user_auth(), backend))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_paths_are_keyed_in_bounded_redis_keys() {
    let Some(redis) = shared_server("long_paths_are_keyed_in_bounded_redis_keys") else {
        return;
    };
    let prefix = fresh_prefix("e2e-long-paths");
    let backend = redis
        .builder()
        .prefix(prefix.clone())
        .timeout(Duration::from_secs(10))
        .build()
        .await
        .expect("a backend on the test server");
    let server = Server::start(forest_app(backend)).await;
    let client = server.client(CLIENT_TIMEOUT);
    send_long_paths(&client).await;

    // Every key the requests wrote: one per pool, none longer than a bounded size.
    let keys = redis.command(&["KEYS", &format!("{prefix}*")]);
    let names: Vec<&str> = keys
        .lines()
        .filter(|line| line.starts_with(prefix.as_str()))
        .collect();
    assert_eq!(names.len(), LONG_PATH_REQUESTS, "one key per pool");
    let longest = names.iter().map(|name| name.len()).max().unwrap_or(0);
    eprintln!(
        "{LONG_PATH_REQUESTS} requests with {LONG_PATH_BYTES}-byte paths: {} Redis keys, the longest {longest} bytes",
        names.len()
    );
    assert!(
        longest <= prefix.len() + 129 + 64,
        "a key of {longest} bytes holds the path"
    );

    // The same paths again are the same pools (the digest is stable), and counted there.
    let again = long_paths(0, 1).next().expect("a path");
    assert_eq!(
        client.get(&again, &[("x-user", "mallory")]).await.status,
        200
    );
    let keys = redis.command(&["KEYS", &format!("{prefix}*")]);
    assert_eq!(
        keys.lines()
            .filter(|line| line.starts_with(prefix.as_str()))
            .count(),
        LONG_PATH_REQUESTS
    );
}

static LOGIN_RULES: Rules = ratelimit! { "^/login" => [second = 1 block_time = 3600] };

/// With the smallest cap, a blocked user stays blocked however many other users come: a
/// window is never made room for by dropping a live block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_survives_other_users_traffic_in_a_full_table() {
    let clock = ManualClock::new();
    let backend = MemoryBackend::builder()
        .clock(clock.clone())
        .max_pools(1)
        .build();
    let app = Router::new()
        .route("/login", get(|| async { "login" }))
        .layer(RateLimitLayer::new(LOGIN_RULES, user_auth(), backend));
    let server = Server::start(app).await;
    let client = server.client(CLIENT_TIMEOUT);

    assert_eq!(client.get("/login", &[("x-user", "eve")]).await.status, 200);
    let blocked = client.get("/login", &[("x-user", "eve")]).await;
    assert_eq!(
        (blocked.status, blocked.header("retry-after")),
        (429, Some("3600"))
    );
    clock.advance(Duration::from_secs(2));
    for i in 0..300 {
        let user = format!("user-{i}");
        let reply = client.get("/login", &[("x-user", user.as_str())]).await;
        assert_eq!(reply.status, 200, "{user}: {reply:?}");
    }
    // Eve's window is long fresh, and every other user's pool passed through the one-entry
    // table: still blocked, for the rest of the hour.
    let still = client.get("/login", &[("x-user", "eve")]).await;
    assert_eq!(
        (still.status, still.header("retry-after")),
        (429, Some("3598"))
    );
}

//! Rules read at run time and replaced while a layer serves, through the public API: counts
//! that go on across a reload, and reloads under concurrent requests.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::body::Body;
use http::{HeaderName, Request, Response};
use ratelimit::auth::HeaderAuth;
use ratelimit::backend::{Algorithm, ManualClock, MemoryBackend};
use ratelimit::middleware::RateLimitLayer;
use ratelimit::{Rules, ratelimit};
use tower::{Layer, Service, ServiceExt, service_fn};

fn layer(rules: Rules, algorithm: Algorithm, clock: &ManualClock) -> RateLimitLayer<Body> {
    let backend = MemoryBackend::builder()
        .algorithm(algorithm)
        .clock(clock.clone())
        .build();
    RateLimitLayer::new(
        rules,
        HeaderAuth::new(HeaderName::from_static("x-user")),
        backend,
    )
}

fn ok() -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    service_fn(|_: Request<Body>| async { Ok::<_, Infallible>(Response::new(Body::empty())) })
}

async fn status<S>(service: &S, path: &str, user: &str) -> u16
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    let request = Request::get(path)
        .header("x-user", user)
        .body(Body::empty())
        .expect("a request");
    let response = service.clone().oneshot(request).await.expect("infallible");
    response.status().as_u16()
}

#[tokio::test]
async fn counts_go_on_across_a_reload_where_the_pool_and_window_stay() {
    for algorithm in [
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
        Algorithm::Gcra,
    ] {
        let clock = ManualClock::new();
        let before =
            Rules::parse(r#""^/api" => [minute = 2], "^/zoned" => [minute = 2]"#).expect("valid");
        let (layer, handle) = layer(before, algorithm, &clock).reloadable();
        let service = layer.layer(ok());
        for path in ["/api", "/zoned"] {
            assert_eq!(status(&service, path, "alice").await, 200);
            assert_eq!(status(&service, path, "alice").await, 200);
            assert_eq!(status(&service, path, "alice").await, 429, "{algorithm:?}");
        }
        // The same pool and window for `/api` (another window added); a zone is another
        // pool for `/zoned`.
        handle.replace(
            Rules::parse(
                r#"
                "^/elsewhere" => [second = 1],
                "^/api"   => [minute = 2 hour = 10],
                "^/zoned" => [minute = 2 zone = "z"],
            "#,
            )
            .expect("valid"),
        );
        assert_eq!(
            status(&service, "/api", "alice").await,
            429,
            "{algorithm:?}: the minute's two requests still count"
        );
        assert_eq!(status(&service, "/zoned", "alice").await, 200);
        // Raised: the two requests counted, room for two more. (GCRA spaces them: its state
        // is when the two are paid for, so the first fits a quarter minute on.)
        handle.replace(Rules::parse(r#""^/api" => [minute = 4]"#).expect("valid"));
        if algorithm == Algorithm::Gcra {
            clock.advance(std::time::Duration::from_secs(15));
        }
        assert_eq!(
            status(&service, "/api", "alice").await,
            200,
            "{algorithm:?}"
        );
        if algorithm != Algorithm::Gcra {
            assert_eq!(
                status(&service, "/api", "alice").await,
                200,
                "{algorithm:?}"
            );
        }
        assert_eq!(
            status(&service, "/api", "alice").await,
            429,
            "{algorithm:?}"
        );
    }
}

#[tokio::test]
async fn the_macro_s_rules_and_a_file_s_can_replace_each_other() {
    let clock = ManualClock::new();
    let (layer, handle) = layer(
        ratelimit! { "^/a" => [second = 1] },
        Algorithm::FixedWindow,
        &clock,
    )
    .reloadable();
    let service = layer.layer(ok());
    assert_eq!(status(&service, "/a", "u").await, 200);
    assert_eq!(status(&service, "/a", "u").await, 429);
    handle.replace(Rules::parse(r#""^/a" => [unlimited]"#).expect("valid"));
    assert_eq!(status(&service, "/a", "u").await, 200);
    handle.replace(ratelimit! { "^/a" => [deny] });
    assert_eq!(status(&service, "/a", "u").await, 403);
    assert_eq!(handle.rules().routes()[0].pattern().source(), "^/a");
    assert_eq!(layer.rules().routes().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reloads_under_concurrent_requests_lose_none_and_refuse_none_wrongly() {
    const USERS: usize = 8;
    const LIMIT: usize = 200;
    const SENT: usize = 260;
    let clock = ManualClock::new();
    // Every version keeps `/a`'s pool and window (a minute of 200 per user) and changes
    // everything else.
    let versions = [
        Rules::parse(r#""^/a" => [minute = 200]"#).expect("valid"),
        Rules::parse(r#""^/b" => [deny], "^/a" => [minute = 200 hour = 1000]"#).expect("valid"),
        ratelimit! { "^/a" => [minute = 200 day = 5000], "^/" => [deny] },
    ];
    let (layer, handle) = layer(versions[0], Algorithm::FixedWindow, &clock).reloadable();
    let service = layer.layer(ok());
    let done = Arc::new(AtomicBool::new(false));
    let replaced = Arc::new(AtomicUsize::new(0));
    let reloads = {
        let (done, replaced) = (Arc::clone(&done), Arc::clone(&replaced));
        tokio::spawn(async move {
            let mut count = 0_usize;
            while !done.load(Ordering::Relaxed) {
                handle.replace(versions[count % versions.len()]);
                count += 1;
                replaced.store(count, Ordering::Release);
                tokio::task::yield_now().await;
            }
            count
        })
    };
    let clients: Vec<_> = (0..USERS)
        .map(|user| {
            let (service, replaced) = (service.clone(), Arc::clone(&replaced));
            tokio::spawn(async move {
                let user = format!("user-{user}");
                let mut statuses = Vec::with_capacity(SENT);
                for sent in 0..SENT {
                    // Every 20 requests, wait for a reload: the rules change under every
                    // client's requests however the threads are scheduled.
                    if sent % 20 == 0 {
                        let seen = replaced.load(Ordering::Acquire);
                        while replaced.load(Ordering::Acquire) == seen {
                            tokio::task::yield_now().await;
                        }
                    }
                    statuses.push(status(&service, "/a", &user).await);
                }
                statuses
            })
        })
        .collect();
    for client in clients {
        let statuses = client.await.expect("a client");
        assert_eq!(statuses.len(), SENT, "every request answered");
        let admitted = statuses.iter().filter(|&&s| s == 200).count();
        let refused = statuses.iter().filter(|&&s| s == 429).count();
        assert_eq!((admitted, refused), (LIMIT, SENT - LIMIT), "{statuses:?}");
        // Admitted until the limit, refused after: never a refusal before it.
        assert!(statuses[..LIMIT].iter().all(|&s| s == 200));
    }
    done.store(true, Ordering::Relaxed);
    let reloads = reloads.await.expect("the reloads");
    assert!(
        reloads >= SENT / 20,
        "only {reloads} reloads happened during the requests"
    );
}

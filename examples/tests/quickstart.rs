//! The `quickstart` example serves its contract: real HTTP to the example's own app on a
//! loopback port, identified by client IP.

#[path = "../quickstart.rs"]
#[allow(dead_code)]
mod example;

use ratelimit::auth::Cidr;
use ratelimit::backend::{ManualClock, MemoryBackend};
use ratelimit_tests::net::Server;

async fn start(trusted: Vec<Cidr>) -> Server {
    let backend = MemoryBackend::builder().clock(ManualClock::new()).build();
    Server::start(example::app(trusted, backend)).await
}

#[tokio::test]
async fn towns_and_forests_are_limited_per_client_ip() {
    let server = start(Vec::new()).await;
    assert_eq!(server.get("/towns", &[]).await.status, 200);
    let refused = server.get("/towns", &[]).await;
    assert_eq!(
        (refused.status, refused.header("retry-after")),
        (429, Some("1"))
    );
    assert_eq!(server.get("/forests", &[]).await.status, 200);
    let refused = server.get("/forests", &[]).await;
    assert_eq!(
        (refused.status, refused.header("retry-after")),
        (429, Some("60"))
    );
    let other = server.send("POST", "/anything", &[]).await;
    assert_eq!((other.status, other.text().as_str()), (200, "ok"));
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_change_nothing() {
    let server = start(Vec::new()).await;
    assert_eq!(
        server
            .get("/towns", &[("x-forwarded-for", "1.1.1.1")])
            .await
            .status,
        200
    );
    let forged = server
        .get("/towns", &[("x-forwarded-for", "2.2.2.2")])
        .await;
    assert_eq!(
        forged.status, 429,
        "a forged X-Forwarded-For must not change the identity"
    );
}

#[tokio::test]
async fn a_trusted_proxy_forwards_the_client_address() {
    let server = start(vec!["127.0.0.1/32".parse().expect("a CIDR")]).await;
    assert_eq!(
        server
            .get("/towns", &[("x-forwarded-for", "1.1.1.1")])
            .await
            .status,
        200
    );
    assert_eq!(
        server
            .get("/towns", &[("x-forwarded-for", "2.2.2.2")])
            .await
            .status,
        200
    );
    assert_eq!(
        server
            .get("/towns", &[("x-forwarded-for", "1.1.1.1")])
            .await
            .status,
        429
    );
}

/// One client sending long distinct paths to a route pooled per path (`^/forests`): 1 500
/// requests of 30 KB paths grow the server's heap by a few MB at most, because a pool's key
/// holds at most 129 bytes of path (it held all 30 KB of each: 45 MB), and one client holds
/// at most 1 000 pools.
///
/// Server and client run on one current-thread runtime, so that every allocation is this
/// thread's and `allocation-counter` (this binary's global allocator) counts what the server
/// holds at the end.
#[test]
fn long_paths_grow_the_servers_memory_by_a_few_mb_at_most() {
    const REQUESTS: usize = 1_500;
    const PATH_BYTES: usize = 30_000;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let filler = "x".repeat(PATH_BYTES);
    let mut server = None;
    let info = allocation_counter::measure(|| {
        runtime.block_on(async {
            let started = start(Vec::new()).await;
            for i in 0..REQUESTS {
                let reply = started.get(&format!("/forests/{i}-{filler}"), &[]).await;
                assert_eq!(reply.status, 200, "{reply:?}");
            }
            // Still counted: the same long path is refused for the rest of the minute (the
            // latest: the backend keeps a client's 1 000 most recent pools).
            let last = REQUESTS - 1;
            let again = started.get(&format!("/forests/{last}-{filler}"), &[]).await;
            assert_eq!(again.status, 429, "{again:?}");
            server = Some(started);
        });
    });
    let held = info.bytes_current;
    eprintln!(
        "{REQUESTS} requests with {PATH_BYTES}-byte paths: the server holds {held} more bytes of heap ({} a request)",
        held / i64::try_from(REQUESTS).expect("small")
    );
    assert!(
        held < 4 * 1_024 * 1_024,
        "{held} bytes held after {REQUESTS} long paths"
    );
    drop(server);
}

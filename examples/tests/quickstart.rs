//! The `quickstart` example serves its contract: real HTTP to the example's own app on a
//! loopback port, identified by client IP.

mod support;

#[path = "../quickstart.rs"]
#[allow(dead_code)]
mod example;

use ratelimit::auth::Cidr;
use ratelimit::backend::{ManualClock, MemoryBackend};
use support::Server;

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

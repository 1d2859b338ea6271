//! The `session` example serves its contract: real HTTP with a session cookie.

#[path = "../session.rs"]
#[allow(dead_code)]
mod example;

use ratelimit::backend::{ManualClock, MemoryBackend};
use ratelimit_tests::net::Server;

#[tokio::test]
async fn the_session_user_is_limited_until_logout() {
    let backend = MemoryBackend::builder().clock(ManualClock::new()).build();
    let server = Server::start(example::app(backend)).await;
    assert_eq!(server.get("/towns", &[]).await.status, 401);

    let login = server.send("POST", "/login?user=alice", &[]).await;
    assert_eq!(
        (login.status, login.text().as_str()),
        (200, "logged in as alice")
    );
    let cookie = login
        .header("set-cookie")
        .and_then(|cookie| cookie.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let with_cookie = [("cookie", cookie.as_str())];
    assert_eq!(server.get("/towns", &with_cookie).await.status, 200);
    let refused = server.get("/towns", &with_cookie).await;
    assert_eq!(
        (refused.status, refused.header("retry-after")),
        (429, Some("1"))
    );

    assert_eq!(
        server.send("POST", "/logout", &with_cookie).await.status,
        200
    );
    assert_eq!(server.get("/towns", &with_cookie).await.status, 401);
}

#[tokio::test]
async fn an_admin_session_is_not_limited() {
    let backend = MemoryBackend::builder().clock(ManualClock::new()).build();
    let server = Server::start(example::app(backend)).await;
    let login = server
        .send("POST", "/login?user=root&group=admin", &[])
        .await;
    let cookie = login
        .header("set-cookie")
        .and_then(|cookie| cookie.split(';').next())
        .expect("a session cookie")
        .to_owned();
    for _ in 0..3 {
        assert_eq!(
            server.get("/towns", &[("cookie", &cookie)]).await.status,
            200
        );
    }
}

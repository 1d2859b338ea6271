//! The `jwt` example serves its contract: real HTTP with real HS256 tokens.

#[path = "../jwt.rs"]
#[allow(dead_code)]
mod example;

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header};
use ratelimit::backend::{ManualClock, MemoryBackend};
use ratelimit_tests::net::Server;

const SECRET: &[u8] = b"a secret of at least 32 bytes, please!";

async fn start() -> Server {
    let backend = MemoryBackend::builder().clock(ManualClock::new()).build();
    Server::start(example::app(SECRET, backend).expect("a valid secret")).await
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn token(claims: &serde_json::Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret).expect("a key"),
    )
    .expect("a token")
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn a_valid_token_is_limited_per_user_claim() {
    let server = start().await;
    let alice = bearer(&token(&serde_json::json!({"user": "alice"}), SECRET));
    assert_eq!(
        server
            .get("/towns", &[("authorization", &alice)])
            .await
            .status,
        200
    );
    let refused = server.get("/towns", &[("authorization", &alice)]).await;
    assert_eq!(
        (refused.status, refused.header("retry-after")),
        (429, Some("1"))
    );
    // A numeric user id is its decimal string; another user has their own pool.
    let bob = bearer(&token(
        &serde_json::json!({"user": 42, "exp": now() + 60}),
        SECRET,
    ));
    assert_eq!(
        server
            .get("/towns", &[("authorization", &bob)])
            .await
            .status,
        200
    );
    let admin = bearer(&token(
        &serde_json::json!({"user": "root", "group": "admin"}),
        SECRET,
    ));
    for _ in 0..3 {
        assert_eq!(
            server
                .get("/towns", &[("authorization", &admin)])
                .await
                .status,
            200
        );
    }
}

#[tokio::test]
async fn missing_and_bad_tokens_are_401() {
    let server = start().await;
    assert_eq!(server.get("/towns", &[]).await.status, 401);
    let other_key = bearer(&token(
        &serde_json::json!({"user": "alice"}),
        b"another secret of at least 32 bytes!!",
    ));
    assert_eq!(
        server
            .get("/towns", &[("authorization", &other_key)])
            .await
            .status,
        401
    );
    let expired = bearer(&token(
        &serde_json::json!({"user": "alice", "exp": now() - 3_600}),
        SECRET,
    ));
    assert_eq!(
        server
            .get("/towns", &[("authorization", &expired)])
            .await
            .status,
        401
    );
    assert_eq!(
        server
            .get("/towns", &[("authorization", "Bearer not.a.token")])
            .await
            .status,
        401
    );
    // Unlimited paths need no token.
    let free = server.get("/elsewhere", &[]).await;
    assert_eq!((free.status, free.text().as_str()), (200, "ok"));
}

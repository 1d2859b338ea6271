//! Building a backend: bad configuration and unreachable servers are errors, in bounded time.

use std::time::Instant;

use ratelimit::Unit::{Minute, Second};
use ratelimit::backend::redis::{RedisBackend, RedisSetupError};
use ratelimit_tests::redis_server::{RedisServer, free_port};

use crate::*;

#[tokio::test]
async fn a_prefix_with_braces_is_refused() {
    let error = RedisBackend::builder("redis://127.0.0.1:1/")
        .prefix("app{1}")
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, RedisSetupError::InvalidPrefix(prefix) if prefix == "app{1}"),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_invalid_url_is_a_configuration_error() {
    let error = RedisBackend::builder("http://127.0.0.1/")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(error, RedisSetupError::Config(_)), "{error:?}");
}

/// Redis down at start-up is not an error: the backend is built within the connect timeout,
/// and the policy answers.
#[tokio::test]
async fn nothing_listening_still_builds_and_the_policy_answers() {
    let start = Instant::now();
    let backend = RedisBackend::builder(format!("redis://127.0.0.1:{}/", free_port()))
        .connect_timeout(millis(300))
        .timeout(millis(100))
        .build()
        .await
        .expect("built without redis");
    assert!(start.elapsed() < secs(2), "took {:?}", start.elapsed());
    let limits = [limit(Second, 1)];
    let result = backend
        .decide(&request("/down", "user", &limits, None))
        .await;
    assert!(result.is_err(), "a failure, never a decision: {result:?}");
}

#[tokio::test]
async fn a_frozen_server_does_not_hold_the_build_up() {
    let Some(server) = RedisServer::start_or_skip("a_frozen_server_does_not_hold_the_build_up")
    else {
        return;
    };
    server.pause();
    let start = Instant::now();
    let backend = server.builder().connect_timeout(millis(300)).build().await;
    assert!(backend.is_ok(), "{backend:?}");
    assert!(start.elapsed() < secs(2), "took {:?}", start.elapsed());
    server.resume();
}

/// The start-up: the service starts before its Redis, answers by the policy, and
/// limits within seconds of Redis coming up (the script loaded then).
#[tokio::test]
async fn a_backend_built_while_redis_is_down_limits_once_it_comes_up() {
    let Some(mut server) =
        RedisServer::start_or_skip("a_backend_built_while_redis_is_down_limits_once_it_comes_up")
    else {
        return;
    };
    server.stop();
    let backend = server
        .builder()
        .connect_timeout(millis(300))
        .timeout(millis(200))
        .recheck_interval(millis(100))
        .build()
        .await
        .expect("built without redis");
    let limits = [limit(Minute, 2)];
    let r = request("/late", "user", &limits, None);
    for _ in 0..10 {
        assert!(backend.decide(&r).await.is_err());
    }
    server.restart();
    let up = Instant::now();
    let first = loop {
        match backend.decide(&r).await {
            Ok(decision) => break decision,
            Err(_) => {
                assert!(up.elapsed() < secs(10), "never limited");
                tokio::time::sleep(millis(20)).await;
            }
        }
    };
    println!("limiting {:?} after redis came up", up.elapsed());
    assert!(up.elapsed() < secs(5), "took {:?}", up.elapsed());
    assert_eq!(allowed(first).remaining, 1);
    assert_eq!(allowed(decide(&backend, &r).await).remaining, 0);
    denied(decide(&backend, &r).await);
}

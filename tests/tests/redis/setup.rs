//! Building a backend: bad configuration and unreachable servers are errors, in bounded time.

use std::time::Instant;

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

#[tokio::test]
async fn nothing_listening_is_a_connection_error() {
    let start = Instant::now();
    let error = RedisBackend::builder(format!("redis://127.0.0.1:{}/", free_port()))
        .connect_timeout(secs(2))
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            RedisSetupError::Connect(_) | RedisSetupError::Timeout(_)
        ),
        "{error:?}"
    );
    assert!(start.elapsed() < secs(3), "took {:?}", start.elapsed());
}

#[tokio::test]
async fn a_frozen_server_times_the_build_out() {
    let Some(server) = RedisServer::start_or_skip("a_frozen_server_times_the_build_out") else {
        return;
    };
    server.pause();
    let start = Instant::now();
    let error = server
        .builder()
        .connect_timeout(millis(300))
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(error, RedisSetupError::Timeout(timeout) if timeout == millis(300))
            || matches!(error, RedisSetupError::Connect(_)),
        "{error:?}"
    );
    assert!(start.elapsed() < secs(2), "took {:?}", start.elapsed());
    server.resume();
}

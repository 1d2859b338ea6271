//! Real HTTP against a real axum server on loopback: the end-to-end suite's server and raw
//! HTTP/1.1 client (`tests/tests/e2e/net.rs`), with the two calls the contract tests make.

use std::time::Duration;

#[path = "../../../tests/tests/e2e/net.rs"]
#[allow(dead_code)]
mod net;

pub(crate) use net::{Raw, Reply, Server};

/// How long one request of a contract test may take before the test fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl Server {
    /// Sends `method path` with `headers`, and reads the whole response.
    pub(crate) async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.client(REQUEST_TIMEOUT)
            .send(method, path, headers)
            .await
    }

    /// `HEAD path` with `headers`: the response's status (a `HEAD` response has a length
    /// but no body, which `send` would wait for).
    #[allow(dead_code, reason = "not every contract test sends a HEAD")]
    pub(crate) async fn head(&self, path: &str, headers: &[(&str, &str)]) -> u16 {
        let mut bytes = format!("HEAD {path} HTTP/1.1\r\nhost: localhost\r\n");
        for (name, value) in headers {
            bytes.push_str(&format!("{name}: {value}\r\n"));
        }
        bytes.push_str("\r\n");
        match self
            .client(REQUEST_TIMEOUT)
            .raw(bytes.as_bytes(), false)
            .await
        {
            Raw::Reply(reply) => reply.status,
            Raw::Closed => panic!("no response to HEAD {path}"),
        }
    }

    /// `GET path` with `headers`.
    pub(crate) async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send("GET", path, headers).await
    }
}

//! Real HTTP over loopback: an axum server on a free port (on the test's multi-threaded
//! runtime), and a minimal HTTP/1.1 client over raw TCP, so that a test can send anything,
//! bytes that no HTTP library would write included.
//!
//! Every client call is bounded by a client-side timeout, and says so when it runs out: no
//! test can hang on a request.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Once, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// A server running an app on a free loopback port; stopped on drop.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    /// Serves `app` on `127.0.0.1`, with the peer address in each request's extensions (as
    /// `axum::serve` with `into_make_service_with_connect_info` does).
    pub async fn start(app: Router) -> Self {
        watch_panics();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let task = tokio::spawn(async move {
            let service = app.into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, service).await.expect("serve");
        });
        Self { addr, task }
    }

    /// The server's address.
    pub const fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A client of this server from `127.0.0.1`, whose calls time out after `timeout`.
    pub const fn client(&self, timeout: Duration) -> Client {
        Client {
            server: self.addr,
            source: None,
            timeout,
        }
    }
}

/// How long one request of [`Server::send`], [`Server::get`] and [`Server::head`] may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl Server {
    /// Sends `method path` with `headers` from a client of its own (timing out after
    /// [`REQUEST_TIMEOUT`]), and reads the whole response.
    pub async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.client(REQUEST_TIMEOUT)
            .send(method, path, headers)
            .await
    }

    /// `GET path` with `headers`, as [`Server::send`].
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send("GET", path, headers).await
    }

    /// `HEAD path` with `headers`: the response's status (a `HEAD` response has a length
    /// but no body, which `send` would wait for).
    pub async fn head(&self, path: &str, headers: &[(&str, &str)]) -> u16 {
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
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sends requests to one server, one connection per request unless [`Client::connect`]ed.
#[derive(Clone, Copy, Debug)]
pub struct Client {
    server: SocketAddr,
    source: Option<IpAddr>,
    timeout: Duration,
}

/// One response, read in full.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The headers, as (name, value), in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// How long the request took, from connecting to the last byte.
    pub took: Duration,
}

impl Reply {
    /// The value of the header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What a raw exchange gave: a response, or the connection closed without one.
#[derive(Debug)]
pub enum Raw {
    /// A complete response.
    Reply(Reply),
    /// The server closed the connection without writing a byte.
    Closed,
}

impl Client {
    /// The same client, connecting from `source` (a loopback address such as `127.0.0.7`:
    /// Linux routes all of `127.0.0.0/8` to the loopback interface).
    pub const fn from(self, source: IpAddr) -> Self {
        Self {
            source: Some(source),
            ..self
        }
    }

    /// The client-side timeout of each call.
    pub const fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A new connection to the server (not yet used).
    pub async fn connect(&self) -> Connection {
        let stream = self.bounded("connecting", self.open()).await;
        Connection {
            stream,
            client: *self,
            buffer: Vec::new(),
        }
    }

    async fn open(&self) -> TcpStream {
        match self.source {
            None => TcpStream::connect(self.server).await.expect("connect"),
            Some(source) => {
                let socket = TcpSocket::new_v4().expect("a socket");
                socket
                    .bind(SocketAddr::new(source, 0))
                    .expect("bind the source address");
                socket.connect(self.server).await.expect("connect")
            }
        }
    }

    /// `method path` with `headers`, on a connection of its own; the whole response.
    pub async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut connection = self.connect().await;
        connection.send(method, path, headers).await
    }

    /// `GET path` with `headers`, on a connection of its own.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send("GET", path, headers).await
    }

    /// Writes `bytes` as they are on a new connection, then reads one response (or the
    /// connection closing without one), within the timeout. With `half_close`, the client
    /// then shuts its side down, so that the server sees the request end there.
    pub async fn raw(&self, bytes: &[u8], half_close: bool) -> Raw {
        let start = Instant::now();
        // The response to a `HEAD` has a length but no body.
        let head = bytes.starts_with(b"HEAD ");
        let exchange = async {
            let mut stream = self.open().await;
            // The server may answer and close before reading everything: a failed write is
            // not the test's concern, the answer is.
            let _ = stream.write_all(bytes).await;
            if half_close {
                let _ = stream.shutdown().await;
            }
            let mut raw = Vec::new();
            let mut chunk = [0; 16 * 1024];
            loop {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => raw.extend_from_slice(&chunk[..n]),
                }
                if let Some(reply) = parse(&raw, start.elapsed(), false, head) {
                    return Some(reply);
                }
            }
            parse(&raw, start.elapsed(), true, head)
        };
        match self.bounded("a raw exchange", exchange).await {
            Some(reply) => Raw::Reply(reply),
            None => Raw::Closed,
        }
    }

    async fn bounded<T>(&self, what: &str, future: impl Future<Output = T>) -> T {
        match tokio::time::timeout(self.timeout, future).await {
            Ok(value) => value,
            Err(_) => panic!(
                "{what} with {} took longer than the client timeout of {:?}: a request hung",
                self.server, self.timeout
            ),
        }
    }
}

/// A kept-alive connection: requests one after the other.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    client: Client,
    buffer: Vec<u8>,
}

impl Connection {
    /// Sends `method path` with `headers` and reads its response, within the client's
    /// timeout. The connection stays open unless the server closes it.
    pub async fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\ncontent-length: 0\r\n",
            self.client.server
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        let client = self.client;
        client
            .bounded("a request", self.exchange(request.as_bytes()))
            .await
    }

    async fn exchange(&mut self, request: &[u8]) -> Reply {
        let start = Instant::now();
        self.stream.write_all(request).await.expect("write");
        let mut chunk = [0; 16 * 1024];
        loop {
            if let Some((reply, used)) = parse_prefix(&self.buffer, start.elapsed(), false) {
                self.buffer.drain(..used);
                return reply;
            }
            let n = self.stream.read(&mut chunk).await.expect("read");
            assert!(
                n > 0,
                "the server closed the connection before a complete response: {:?}",
                String::from_utf8_lossy(&self.buffer)
            );
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }
}

/// A complete response at the start of `raw` and its length, if there is one: the head,
/// then `content-length` bytes of body (0 when absent, as for every response here, and for
/// the response to a `HEAD`).
fn parse_prefix(raw: &[u8], took: Duration, head_request: bool) -> Option<(Reply, usize)> {
    let end = raw.windows(4).position(|window| window == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {head:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    assert!(
        !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("transfer-encoding")),
        "chunked responses are not expected here: {head:?}"
    );
    let length: usize = if head_request {
        0
    } else {
        headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, value)| value.parse().expect("a content length"))
    };
    let body_start = end + 4;
    let body = raw.get(body_start..body_start + length)?.to_vec();
    Some((
        Reply {
            status,
            headers,
            body,
            took,
        },
        body_start + length,
    ))
}

/// The response in `raw`; at the end of the stream (`eof`), one without a length is
/// whatever came.
fn parse(raw: &[u8], took: Duration, eof: bool, head_request: bool) -> Option<Reply> {
    if raw.is_empty() {
        return None;
    }
    if let Some((reply, _)) = parse_prefix(raw, took, head_request) {
        return Some(reply);
    }
    assert!(
        !eof,
        "the server sent an incomplete response: {:?}",
        String::from_utf8_lossy(raw)
    );
    None
}

/// Panics seen in this process since it started (server tasks included: tokio catches a
/// task's panic, so the test would only see a dropped connection).
pub fn panics() -> usize {
    PANICS.load(Ordering::SeqCst)
}

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts every panic of the process (the default hook still prints it).
pub fn watch_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

/// Latencies, for percentiles.
#[derive(Debug, Default)]
pub struct Latencies {
    samples: std::sync::Mutex<Vec<Duration>>,
}

impl Latencies {
    /// Records one.
    pub fn record(&self, took: Duration) {
        self.samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(took);
    }

    /// (count, p50, p99, max).
    pub fn summary(&self) -> (usize, Duration, Duration, Duration) {
        let mut samples = self
            .samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        samples.sort_unstable();
        let at = |q: f64| {
            if samples.is_empty() {
                return Duration::ZERO;
            }
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss,
                reason = "an index into a vector, rounded"
            )]
            let index = ((samples.len() - 1) as f64 * q).round() as usize;
            samples[index]
        };
        (
            samples.len(),
            at(0.5),
            at(0.99),
            samples.last().copied().unwrap_or_default(),
        )
    }
}

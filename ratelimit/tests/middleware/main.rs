//! The middleware's request semantics (README, "Request semantics") and responses, through its
//! public API and without a server: a test authenticator and a test backend that record what
//! they are asked (the shared backend suites run against the real backends in `tests/`), and
//! the allocations of its hot paths (this binary counts them: `allocation-counter` replaces
//! its global allocator); with the `metrics` feature, shadow mode, the metrics and the
//! throttled warnings (`observe`).
//!
//! `cargo test -p ratelimit --test middleware`

mod allocations;
mod debug;
#[cfg(feature = "metrics")]
mod observe;
mod rejections;
mod semantics;
mod sharing;

use std::cell::RefCell;
use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt::{self, Write as _};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::request::Parts;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;
use tower_service::Service;
use tracing::subscriber::Interest;

use ratelimit::auth::{AuthError, Authenticate, Identity, RequestHead};
use ratelimit::backend::{
    Backend, BackendError, Decision, DecisionFuture, DecisionRequest, Denial, DenialCause, Quota,
    Scope,
};
use ratelimit::middleware::*;
use ratelimit::{Limit, Rules, Unit, ratelimit};
// ---------------------------------------------------------------------------------------------
// Support: an authenticator and a backend that record what they are asked.

/// Reads `x-user` and `x-group`; `x-user: bad` has invalid credentials and
/// `x-user: misconfigured` stands for a misconfigured server. Counts its calls.
#[derive(Clone, Debug, Default)]
struct TestAuth {
    calls: Arc<AtomicUsize>,
}

impl TestAuth {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Authenticate for TestAuth {
    async fn authenticate(&self, head: &Parts) -> Result<Identity, AuthError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::task::yield_now().await;
        let header = |name| head.headers.get(name).and_then(|v| v.to_str().ok());
        match header("x-user") {
            None => Err(AuthError::MissingIdentity("no x-user".into())),
            Some("bad") => Err(AuthError::InvalidCredentials("bad user".into())),
            Some("misconfigured") => Err(AuthError::Misconfigured("no session layer".into())),
            Some(user) => {
                Ok(Identity::new(user).with_group(header("x-group").unwrap_or("").to_owned()))
            }
        }
    }
}

/// One decision the backend was asked for, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    scope: String,
    method: Option<String>,
    user: String,
    limits: Vec<Limit>,
    block_time: Option<Duration>,
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Admits the first `n` requests of each pool, then refuses for 1.5 s.
    AllowFirst(u64),
    /// Refuses every request: the user is blocked for 59.1 s.
    Blocked,
    /// Fails every decision.
    Fail,
}

/// Counts per pool in itself (it is not `Clone`: sharing can only come from the layer), and
/// records every decision in a log the test keeps. Decisions resolve after a yield, as a
/// store's would.
#[derive(Debug)]
struct TestBackend {
    mode: Mode,
    used: Mutex<HashMap<String, u64>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

type SeenLog = Arc<Mutex<Vec<Seen>>>;

fn backend(mode: Mode) -> (TestBackend, SeenLog) {
    let seen = SeenLog::default();
    let backend = TestBackend {
        mode,
        used: Mutex::default(),
        seen: Arc::clone(&seen),
    };
    (backend, seen)
}

fn seen(log: &SeenLog) -> Vec<Seen> {
    log.lock().unwrap().clone()
}

impl Backend for TestBackend {
    fn decide<'a>(&'a self, request: &'a DecisionRequest<'a>) -> DecisionFuture<'a> {
        let scope = match request.pool.scope {
            Scope::Zone(zone) => format!("zone:{zone}"),
            Scope::Path(path) => format!("path:{path}"),
        };
        let seen = Seen {
            scope,
            method: request.pool.method.map(str::to_owned),
            user: request.pool.user.to_owned(),
            limits: request.limits.to_vec(),
            block_time: request.block_time,
        };
        self.seen.lock().unwrap().push(seen.clone());
        let limit = *request.limits.last().unwrap();
        let result = match self.mode {
            Mode::Fail => Err(BackendError::Timeout(Duration::from_millis(20))),
            Mode::Blocked => Ok(Decision::Deny(Denial {
                retry_after: Duration::from_millis(59_100),
                cause: DenialCause::Blocked,
            })),
            Mode::AllowFirst(n) => {
                let key = format!("{}|{:?}|{}", seen.scope, seen.method, seen.user);
                let mut used = self.used.lock().unwrap();
                let used = used.entry(key).or_insert(0);
                if *used < n {
                    *used += 1;
                    Ok(Decision::Allow(Quota {
                        limit,
                        remaining: limit.count() - *used,
                        reset: Duration::from_millis(30_200),
                        counted_at: 0,
                    }))
                } else {
                    Ok(Decision::Deny(Denial {
                        retry_after: Duration::from_millis(1_500),
                        cause: DenialCause::Limit(limit),
                    }))
                }
            }
        };
        DecisionFuture::boxed(async move {
            tokio::task::yield_now().await;
            result
        })
    }
}

/// The inner service: says "hello", and in `x-limiter` whether the request carried a
/// [`Limiter`] and with which identity.
fn hello() -> impl Service<
    Request<Body>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Future + Send,
> + Clone
+ Send {
    service_fn(|request: Request<Body>| async move {
        let limiter = match request.extensions().get::<Limiter<Body>>() {
            None => "none".to_owned(),
            Some(limiter) => limiter
                .identity()
                .map_or_else(|| "anonymous".to_owned(), |id| id.user().to_owned()),
        };
        let mut response = Response::new(Body::from("hello"));
        response
            .headers_mut()
            .insert("x-limiter", limiter.parse().unwrap());
        Ok::<_, Infallible>(response)
    })
}

fn request(method: &str, uri: &str, user: Option<&str>, group: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(uri);
    if let Some(user) = user {
        builder = builder.header("x-user", user);
    }
    if let Some(group) = group {
        builder = builder.header("x-group", group);
    }
    builder.body(Body::empty()).unwrap()
}

fn get_as(uri: &str, user: &str) -> Request<Body> {
    request("GET", uri, Some(user), None)
}

async fn send<S>(service: &S, request: Request<Body>) -> Response<Body>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    service.clone().oneshot(request).await.unwrap()
}

async fn text(response: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).map(|value| value.to_str().unwrap())
}

/// The lines a test's thread logs through `tracing`, each "LEVEL target field=value …".
///
/// One global subscriber hands each event to the `Logs` of the thread that writes it, if that
/// thread is capturing. A scoped subscriber per test (`set_default`) would be simpler, but
/// tracing caches for all threads whether a callsite is enabled, and a test setting or dropping
/// its own while another test's event registers can leave an event unrecorded (one run in 25
/// did). This subscriber is asked per event instead (`Interest::sometimes`).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<String>>>);

thread_local! {
    static CAPTURING: RefCell<Option<Logs>> = const { RefCell::new(None) };
}

impl Logs {
    /// Captures what this thread logs until the guard drops.
    fn capture(&self) -> Capturing {
        static INSTALLED: Once = Once::new();
        INSTALLED.call_once(|| {
            tracing::subscriber::set_global_default(ToTheThreadsLogs)
                .expect("the only global subscriber of this binary");
        });
        // A callsite that registered before the subscriber was installed is asked again.
        tracing::callsite::rebuild_interest_cache();
        CAPTURING.with(|capturing| *capturing.borrow_mut() = Some(self.clone()));
        Capturing
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    #[cfg(feature = "metrics")]
    fn matching(&self, text: &str) -> Vec<String> {
        let mut lines = self.lines();
        lines.retain(|line| line.contains(text));
        lines
    }
}

/// Stops the capture of [`Logs::capture`] when dropped.
struct Capturing;

impl Drop for Capturing {
    fn drop(&mut self) {
        CAPTURING.with(|capturing| capturing.borrow_mut().take());
    }
}

/// The global subscriber of [`Logs`].
struct ToTheThreadsLogs;

impl tracing::Subscriber for ToTheThreadsLogs {
    fn register_callsite(&self, _: &'static tracing::Metadata<'static>) -> Interest {
        Interest::sometimes()
    }
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        CAPTURING.with(|capturing| capturing.borrow().is_some())
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Line(String);
        impl tracing::field::Visit for Line {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
                let _ = write!(self.0, " {}={value:?}", field.name());
            }
        }
        let metadata = event.metadata();
        let mut line = Line(format!("{} {}", metadata.level(), metadata.target()));
        event.record(&mut line);
        CAPTURING.with(|capturing| {
            if let Some(logs) = &*capturing.borrow() {
                logs.0.lock().unwrap().push(line.0);
            }
        });
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

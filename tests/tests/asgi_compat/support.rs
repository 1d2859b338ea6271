//! What the ported cases share: the backend under test and its time ([`Harness`]), the
//! original's `hello_world` app and `auth_func`s, and an axum app driven with
//! `tower::ServiceExt::oneshot`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::routing::any;
use http::request::Parts;
use http::{HeaderMap, HeaderName, Method, Request, StatusCode};
use ratelimit::auth::{AuthError, Authenticate, HeaderAuth, Identity};
use ratelimit::backend::{Algorithm, Backend, DecisionFuture, DecisionRequest};
use ratelimit::{RateLimitLayer, Rules};
use tower::ServiceExt;

/// A backend under test, with control over its time: the conformance suite's harness
/// (`ratelimit_tests::harness`), so that any backend that joins that suite can run the
/// ported cases too. Each test makes a fresh harness: a backend with no counts.
pub(crate) use ratelimit_tests::harness::{Harness, ms, per_algorithm, secs};

/// The expected value for a case that runs on the fixed window and GCRA only (see
/// [`crate::ported_suite`]).
pub(crate) fn one_window_refill<T>(h: &impl Harness, fixed: T, gcra: T) -> T {
    match h.algorithm() {
        Algorithm::FixedWindow => fixed,
        Algorithm::Gcra => gcra,
        other => panic!("this case does not run on {other:?}"),
    }
}

/// A harness's backend as a [`Backend`] the layer can own.
struct SharedBackend(Arc<dyn Backend>);

impl Backend for SharedBackend {
    fn decide<'a>(&'a self, request: &'a DecisionRequest<'a>) -> DecisionFuture<'a> {
        self.0.decide(request)
    }
}

// ---------------------------------------------------------------------------------------------
// The original's authenticators, counting their calls.

/// An authenticator that counts how often the middleware calls it.
#[derive(Clone, Debug)]
pub(crate) struct Counted<A> {
    inner: A,
    calls: Arc<AtomicUsize>,
}

impl<A: Authenticate> Authenticate for Counted<A> {
    fn authenticate<'a>(
        &'a self,
        head: &'a Parts,
    ) -> impl Future<Output = Result<Identity, AuthError>> + Send + 'a {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.authenticate(head)
    }
}

/// `backend_utils.auth_func`: the user from the `user` header (none: no identity), the group
/// from `group` (`"default"` when missing or empty). The built-in [`HeaderAuth`] does
/// exactly that.
pub(crate) fn backend_utils_auth() -> HeaderAuth {
    HeaderAuth::new(HeaderName::from_static("user")).group_header(HeaderName::from_static("group"))
}

/// `test_core.auth_func`: as [`backend_utils_auth`], but the group must be `default` or
/// `admin` (the original's `assert group in ["default", "admin"], "Invalid group"`, checked
/// after the user). The original's failed assertion is a generic exception; here a group
/// the client may not claim is [`AuthError::InvalidCredentials`].
pub(crate) async fn test_core_auth(head: &Parts) -> Result<Identity, AuthError> {
    let header = |name: &str| head.headers.get(name).and_then(|v| v.to_str().ok());
    let user = header("user").ok_or(AuthError::MissingIdentity("no `user` header".into()))?;
    let group = header("group");
    match group {
        Some(group @ ("default" | "admin")) => Ok(Identity::new(user).with_group(group.to_owned())),
        _ => Err(AuthError::InvalidCredentials("Invalid group".into())),
    }
}

// ---------------------------------------------------------------------------------------------
// The app and its requests.

/// The headers of the original's default user (`base_test_cases`, and every `test_core`
/// request that has headers).
pub(crate) const USER: &[(&str, &str)] = &[("user", "user"), ("group", "default")];
/// The headers of the original's admin.
pub(crate) const ADMIN: &[(&str, &str)] = &[("user", "admin-user"), ("group", "admin")];
/// No headers at all.
pub(crate) const ANONYMOUS: &[(&str, &str)] = &[];

/// The original's `hello_world` app behind the rate-limit layer: every path and method
/// answers `200 Hello world!` (text/plain), through real axum routing.
#[derive(Clone, Debug)]
pub(crate) struct App {
    router: Router,
    auth_calls: Arc<AtomicUsize>,
}

/// The original's `hello_world` ASGI app.
async fn hello_world() -> &'static str {
    "Hello world!"
}

impl App {
    /// The app limited by `rules`, authenticating with `auth` and counting in the harness's
    /// backend, with the layer's options set by `configure`.
    pub(crate) fn with(
        rules: Rules,
        auth: impl Authenticate,
        h: &impl Harness,
        configure: impl FnOnce(RateLimitLayer<Body>) -> RateLimitLayer<Body>,
    ) -> Self {
        let auth_calls = Arc::new(AtomicUsize::new(0));
        let auth = Counted {
            inner: auth,
            calls: Arc::clone(&auth_calls),
        };
        let layer = configure(RateLimitLayer::new(rules, auth, SharedBackend(h.backend())));
        let router = Router::new()
            .route("/", any(hello_world))
            .route("/{*path}", any(hello_world))
            .layer(layer);
        Self { router, auth_calls }
    }

    /// The app with the layer's default options.
    pub(crate) fn new(rules: Rules, auth: impl Authenticate, h: &impl Harness) -> Self {
        Self::with(rules, auth, h, |layer| layer)
    }

    /// How many times the middleware has called the authenticator.
    pub(crate) fn auth_calls(&self) -> usize {
        self.auth_calls.load(Ordering::SeqCst)
    }

    /// Sends `method path` with `headers`.
    pub(crate) async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        for &(name, value) in headers {
            request = request.header(name, value);
        }
        let request = request.body(Body::empty()).expect("a valid request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("axum routers are infallible");
        let (parts, body) = response.into_parts();
        let body = to_bytes(body, 1 << 16).await.expect("a readable body");
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8(body.to_vec()).expect("a UTF-8 body"),
        }
    }

    /// Sends `GET path` with `headers`.
    pub(crate) async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(Method::GET, path, headers).await
    }
}

/// A response, read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Reply {
    /// The `Retry-After` header, if any.
    pub(crate) fn retry_after(&self) -> Option<&str> {
        self.headers
            .get(http::header::RETRY_AFTER)
            .map(|value| value.to_str().expect("an ASCII Retry-After"))
    }

    /// Asserts the request reached `hello_world`: `200 Hello world!`.
    #[track_caller]
    pub(crate) fn assert_hello(&self, step: &str) {
        assert_eq!(self.status, StatusCode::OK, "{step}: {self:?}");
        assert_eq!(self.body, "Hello world!", "{step}: {self:?}");
    }

    /// Asserts the default refusal: `429`, an empty body (the original's), and a
    /// `Retry-After` of at least 1 second, equal to `retry_after` when given.
    ///
    /// Never 0 is our behaviour: the original signals "allowed" with a retry-after of 0 and so
    /// can never send `Retry-After: 0`, but its memory backend admits over-limit requests when
    /// the wait rounds to 0 (README, "Request semantics"; the original's behaviour reference, §9.1).
    #[track_caller]
    pub(crate) fn assert_limited(&self, step: &str, retry_after: Option<u64>) {
        assert_eq!(
            self.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{step}: {self:?}"
        );
        assert_eq!(self.body, "", "{step}: {self:?}");
        let sent = self
            .retry_after()
            .unwrap_or_else(|| panic!("{step}: no Retry-After: {self:?}"));
        let sent: u64 = sent
            .parse()
            .unwrap_or_else(|_| panic!("{step}: Retry-After {sent:?} is not whole seconds"));
        assert!(sent >= 1, "{step}: Retry-After {sent}: never 0");
        if let Some(expected) = retry_after {
            assert_eq!(sent, expected, "{step}: Retry-After");
        }
    }
}

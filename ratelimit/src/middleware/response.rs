//! The responses the middleware gives instead of calling the inner service, and the options
//! that choose them.

use std::fmt;
use std::sync::Arc;

use http::header::RETRY_AFTER;
use http::{HeaderValue, Response, StatusCode};

use super::headers::RateLimitHeaders;
use super::rejection::Rejection;
use crate::auth::AuthError;
use crate::backend::BackendError;

/// What the middleware does when the backend fails to decide (a store that is down or slow).
///
/// A failure is never taken for "over the limit". See the [module docs](super) for an
/// example.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailurePolicy {
    /// Admit the request, uncounted, and log the failure with `tracing::warn!`, at most once
    /// per 10 s per layer with a count of the others (the default, and the industry's: a
    /// limiter outage should not become a service outage).
    #[default]
    Open,
    /// Refuse the request: `503 Service Unavailable` with an empty body, or the response of
    /// [`on_backend_error`](super::RateLimitLayer::on_backend_error). The failure is logged
    /// with `tracing::error!`, at most once per 10 s per layer with a count of the others.
    Closed,
}

pub(crate) type OnBlocked<ResBody> = Arc<dyn Fn(&Rejection) -> Response<ResBody> + Send + Sync>;
pub(crate) type OnAuthError<ResBody> = Arc<dyn Fn(&AuthError) -> Response<ResBody> + Send + Sync>;
pub(crate) type OnBackendError<ResBody> =
    Arc<dyn Fn(&BackendError) -> Response<ResBody> + Send + Sync>;

/// The layer's options; cheap to clone.
#[derive(Default)]
pub(crate) struct Options<ResBody> {
    pub(crate) headers: RateLimitHeaders,
    pub(crate) failure: FailurePolicy,
    pub(crate) extension: bool,
    /// Every rule runs in shadow.
    pub(crate) shadow: bool,
    pub(crate) on_blocked: Option<OnBlocked<ResBody>>,
    pub(crate) on_auth_error: Option<OnAuthError<ResBody>>,
    pub(crate) on_backend_error: Option<OnBackendError<ResBody>>,
}

impl<ResBody> Options<ResBody> {
    /// Whether an admitted request gets nothing from the middleware: no limiter in its
    /// extensions, no headers on its response.
    #[inline]
    pub(crate) fn adds_nothing(&self) -> bool {
        !self.extension && self.headers == RateLimitHeaders::None
    }
}

impl<ResBody> Clone for Options<ResBody> {
    fn clone(&self) -> Self {
        Self {
            headers: self.headers,
            failure: self.failure,
            extension: self.extension,
            shadow: self.shadow,
            on_blocked: self.on_blocked.clone(),
            on_auth_error: self.on_auth_error.clone(),
            on_backend_error: self.on_backend_error.clone(),
        }
    }
}

impl<ResBody> fmt::Debug for Options<ResBody> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("headers", &self.headers)
            .field("failure", &self.failure)
            .field("extension", &self.extension)
            .field("shadow", &self.shadow)
            .field("on_blocked", &self.on_blocked.as_ref().map(|_| "<fn>"))
            .field(
                "on_auth_error",
                &self.on_auth_error.as_ref().map(|_| "<fn>"),
            )
            .field(
                "on_backend_error",
                &self.on_backend_error.as_ref().map(|_| "<fn>"),
            )
            .finish()
    }
}

/// A response with `status` and an empty body.
pub(crate) fn empty<ResBody: Default>(status: StatusCode) -> Response<ResBody> {
    let mut response = Response::new(ResBody::default());
    *response.status_mut() = status;
    response
}

/// The default refusal: `429 Too Many Requests` with `Retry-After`, or `403 Forbidden` for a
/// `deny` rule; an empty body either way.
pub(crate) fn default_rejection<ResBody: Default>(rejection: &Rejection) -> Response<ResBody> {
    match rejection.retry_after_secs() {
        Some(secs) => {
            let mut response = empty(StatusCode::TOO_MANY_REQUESTS);
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
            response
        }
        None => empty(StatusCode::FORBIDDEN),
    }
}

/// The default answer to an authentication failure: `401 Unauthorized` when the client can
/// fix it, `500 Internal Server Error` when the server is misconfigured.
pub(crate) fn default_auth_error<ResBody: Default>(error: &AuthError) -> Response<ResBody> {
    empty(match error {
        AuthError::MissingIdentity(_) | AuthError::InvalidCredentials(_) => {
            StatusCode::UNAUTHORIZED
        }
        AuthError::Misconfigured(_) => StatusCode::INTERNAL_SERVER_ERROR,
    })
}

/// Logs an authentication failure: a misconfiguration is an error the operator must fix, a
/// client's missing or bad credentials only a debug line.
pub(crate) fn log_auth_error(error: &AuthError) {
    match error {
        AuthError::Misconfigured(_) => tracing::error!(
            %error,
            "rate limiting cannot identify requests, so they are refused with 500: fix the \
             authenticator's setup (for client-IP authentication, serve with \
             `into_make_service_with_connect_info::<SocketAddr>()` or configure the trusted \
             proxies; for sessions, add the session layer outside the rate-limit layer)"
        ),
        AuthError::MissingIdentity(_) | AuthError::InvalidCredentials(_) => {
            tracing::debug!(%error, "rate limiting could not authenticate a request");
        }
    }
}

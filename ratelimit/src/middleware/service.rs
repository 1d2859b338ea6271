//! [`RateLimit`]: the middleware's tower [`Service`].

use std::fmt;
use std::hint::cold_path;
use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::future::ResponseFuture;
use super::layer::RateLimitLayer;
use super::limiter::{Conclusion, Limiter, Shared, Waiting};
use super::live::Source;
use crate::auth::Authenticate;
use crate::backend::Backend;
use crate::rules::Rules;

/// Applies rate limits to the requests of an inner service.
///
/// A refusal is a response (429, 403, 401, …), never an error: the error type is the inner
/// service's. `poll_ready` only asks the inner service. See the [module docs](super) for an
/// example.
pub struct RateLimit<S, ResBody> {
    inner: S,
    source: Source<ResBody>,
}

impl<S, ResBody> RateLimit<S, ResBody> {
    /// Limits the requests of `inner` as `layer` says, sharing its limiter.
    #[must_use]
    pub fn new(inner: S, layer: &RateLimitLayer<ResBody>) -> Self {
        tower_layer::Layer::layer(layer, inner)
    }

    pub(crate) const fn from_source(inner: S, source: Source<ResBody>) -> Self {
        Self { inner, source }
    }

    /// A layer limiting requests by `rules`; see [`RateLimitLayer::new`].
    #[must_use]
    pub fn layer<A: Authenticate, B: Backend>(
        rules: Rules,
        authenticator: A,
        backend: B,
    ) -> RateLimitLayer<ResBody>
    where
        ResBody: Default + 'static,
    {
        RateLimitLayer::new(rules, authenticator, backend)
    }

    /// A handle on the limiter, sharing its backend (and on the rules in force now).
    #[must_use]
    pub fn limiter(&self) -> Limiter<ResBody> {
        Limiter::new(self.source.current())
    }

    /// The inner service.
    pub const fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub const fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming the middleware.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RateLimit<S, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: Default + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // A reloadable layer's state in force is loaded once, and the whole check runs on it.
        let live;
        let shared = match &self.source {
            Source::Fixed(shared) => shared,
            Source::Live(swap) => {
                live = swap.load();
                &*live
            }
        };
        match shared.check_now(&mut request) {
            Ok(Conclusion::Proceed(headers)) => {
                ResponseFuture::call(self.inner.call(request), headers)
            }
            Ok(Conclusion::Respond(response)) => {
                cold_path();
                ResponseFuture::respond(response)
            }
            Err(waiting) => {
                cold_path();
                check_later(&mut self.inner, Arc::clone(shared), request, waiting)
            }
        }
    }
}

/// The check of a request that must wait for the authenticator or the backend (`waiting`
/// says which): boxed, owning the request's head and the state it is checked on, with the
/// readied inner service (taken from `inner`) and the body kept for when it ends.
#[inline(never)]
fn check_later<S, ReqBody, ResBody>(
    inner: &mut S,
    shared: Arc<Shared<ResBody>>,
    request: Request<ReqBody>,
    waiting: Waiting,
) -> ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: Default + 'static,
{
    let (head, body) = request.into_parts();
    let clone = inner.clone();
    let inner = mem::replace(inner, clone);
    let check = shared.check_later(head, waiting);
    ResponseFuture::check(check, inner, body)
}

impl<S: Clone, ResBody> Clone for RateLimit<S, ResBody> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            source: self.source.clone(),
        }
    }
}

impl<S: fmt::Debug, ResBody> fmt::Debug for RateLimit<S, ResBody> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .field("limiter", &self.source.current())
            .finish()
    }
}

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
use super::limiter::{Conclusion, Limiter, Shared};
use super::pipeline::Ran;
use crate::auth::{Authenticate, RequestHead};
use crate::backend::Backend;
use crate::path::routed_path;
use crate::rules::Rules;

/// Applies rate limits to the requests of an inner service.
///
/// A refusal is a response (429, 403, 401, …), never an error: the error type is the inner
/// service's. `poll_ready` only asks the inner service. See the [module docs](super) for an
/// example.
pub struct RateLimit<S, ResBody> {
    inner: S,
    shared: Arc<Shared<ResBody>>,
}

impl<S, ResBody> RateLimit<S, ResBody> {
    /// Limits the requests of `inner` as `layer` says, sharing its limiter.
    #[must_use]
    pub fn new(inner: S, layer: &RateLimitLayer<ResBody>) -> Self {
        tower_layer::Layer::layer(layer, inner)
    }

    pub(crate) const fn from_shared(inner: S, shared: Arc<Shared<ResBody>>) -> Self {
        Self { inner, shared }
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

    /// A handle on the limiter, sharing its backend.
    #[must_use]
    pub fn limiter(&self) -> Limiter<ResBody> {
        Limiter::new(Arc::clone(&self.shared))
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
        let path = routed_path(request.uri(), request.extensions());
        let Some(first) = self.shared.first_match(path) else {
            let headers = self.shared.admit(request.extensions_mut(), None, None);
            return ResponseFuture::call(self.inner.call(request), headers);
        };
        let checked = match self.shared.run(RequestHead::from(&request), path, first) {
            Ran::Done(checked) => checked,
            ran => {
                cold_path();
                return self.check_later(request, first, ran);
            }
        };
        match self.shared.conclude(checked, request.extensions_mut()) {
            Conclusion::Proceed(headers) => ResponseFuture::call(self.inner.call(request), headers),
            Conclusion::Respond(response) => {
                cold_path();
                ResponseFuture::respond(response)
            }
        }
    }
}

impl<S, ResBody> RateLimit<S, ResBody>
where
    S: Clone,
    ResBody: Default + 'static,
{
    /// The check of a request that must wait for the authenticator or the backend (`ran`
    /// says which): boxed, owning the request's head, with the readied inner service and
    /// the body kept for when it ends.
    #[inline(never)]
    fn check_later<ReqBody>(
        &mut self,
        request: Request<ReqBody>,
        first: usize,
        ran: Ran,
    ) -> ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    {
        let (head, body) = request.into_parts();
        let clone = self.inner.clone();
        let inner = mem::replace(&mut self.inner, clone);
        let check = Arc::clone(&self.shared).check_later(head, first, ran);
        ResponseFuture::check(check, inner, body)
    }
}

impl<S: Clone, ResBody> Clone for RateLimit<S, ResBody> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug, ResBody> fmt::Debug for RateLimit<S, ResBody> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .field("limiter", &self.shared)
            .finish()
    }
}

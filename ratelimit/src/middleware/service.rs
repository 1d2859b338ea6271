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
use super::limiter::{Limiter, Now, Shared};
use crate::auth::{Authenticate, Identity, RequestHead};
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
        let headers = match self.shared.first_match(path) {
            // No route matches: not limited, not authenticated, nothing boxed (but what a
            // `#[rate_limited]` handler needs, when the options say so).
            None => self.shared.admit(request.extensions_mut(), None, None),
            // An in-process authenticator and backend decide here and now, from the request
            // as it is: nothing is boxed, and the readied inner service is called at once.
            Some(first) => match self.shared.core.check_now(
                &self.shared,
                RequestHead::from(&request),
                path,
                first,
            ) {
                Now::Untouched => None,
                Now::Admit(identity, headers) => {
                    self.shared
                        .admit(request.extensions_mut(), Some(identity), headers)
                }
                // A refusal, and a check that must wait for I/O, are laid out off the path
                // of a request admitted at once. A wait is every request of an `async fn`
                // authenticator or of the Redis backend, but there the I/O dwarfs a jump.
                Now::Respond(response) => {
                    cold_path();
                    return ResponseFuture::respond(response);
                }
                Now::Later(identity) => {
                    cold_path();
                    return self.check_later(request, first, identity);
                }
            },
        };
        ResponseFuture::call(self.inner.call(request), headers)
    }
}

impl<S, ResBody> RateLimit<S, ResBody>
where
    S: Clone,
    ResBody: Default + 'static,
{
    /// The boxed check of a request that the authenticator or the backend must be awaited
    /// for (`identity`, when the authenticator already answered), with the readied inner
    /// service to call once the check admits the request.
    #[inline(never)]
    fn check_later<ReqBody>(
        &mut self,
        request: Request<ReqBody>,
        first: usize,
        identity: Option<Identity>,
    ) -> ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    {
        let (parts, body) = request.into_parts();
        // The readied service goes into the future; this one (a clone) must be readied again
        // before its next call.
        let clone = self.inner.clone();
        let inner = mem::replace(&mut self.inner, clone);
        let check = Arc::clone(&self.shared.core).check_request(
            Arc::clone(&self.shared),
            parts,
            first,
            identity,
        );
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

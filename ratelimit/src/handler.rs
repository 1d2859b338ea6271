//! The run time of `#[rate_limited(…)]`: the extractor the attribute adds to a handler.
//!
//! The attribute adds one leading parameter to the handler, a [`RateLimitGuard`]. axum
//! extracts it first: it finds the router's [`Limiter`] in the request's extensions (put
//! there by [`RateLimitLayer`](crate::RateLimitLayer)) and runs the handler's rules with it:
//! the same authentication (done at most once per request, shared with the layer), backend,
//! failure policy and responses as the layer's own routes. A refused request gets the
//! layer's rejection response and never reaches the handler's other extractors (its body is
//! not read). When the layer sends rate-limit headers, an admitted request's response
//! carries the handler's rule's (in place of a route rule's, when one also admitted it: the
//! handler's is the more specific).
//!
//! The handler's pool is its path, `module_path!()::name`, unless its rule names a `zone`
//! (shared with every rule, of attributes or of `ratelimit!` routes, that names it). A
//! handler pool cannot collide with a route's: request paths start with `/`.
//!
//! Every `#[rate_limited]` handler registers its pool at link time ([`HANDLERS`]), so a layer
//! knows when it is built whether the program has any: a layer puts its limiter in the
//! extensions of the requests it passes on by default exactly when some handler may need it.
//! A router without a limiter answers 500 to the handler's requests, and logs how to fix it.

use std::marker::PhantomData;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::Response;
use http::StatusCode;
use http::request::Parts;
use ratelimit_core::Rule;

use crate::backend::Scope;
use crate::middleware::{Limiter, Outcome};

/// The pool of every `#[rate_limited]` handler linked into the program, gathered by the
/// linker (`linkme`): what the attribute's expansion adds a static to.
#[linkme::distributed_slice]
pub static HANDLERS: [&'static str];

/// Whether the program has any `#[rate_limited]` handler; reads a linker-made slice, no
/// work.
pub(crate) fn any_registered() -> bool {
    !HANDLERS.is_empty()
}

/// The pool of every `#[rate_limited]` handler with a `count_if` rule, gathered by the
/// linker: a layer in a program that has one leaves a place, in the limiter it hands on,
/// for the handler's check to say what to give back once the response is known.
#[linkme::distributed_slice]
pub static COUNT_IF_HANDLERS: [&'static str];

/// Whether the program has a `#[rate_limited]` handler with a `count_if` rule.
pub(crate) fn any_count_if() -> bool {
    !COUNT_IF_HANDLERS.is_empty()
}

/// The rules of one `#[rate_limited]` handler; implemented by the attribute's expansion.
pub trait HandlerRules: Send + Sync + 'static {
    /// The handler's pool: `module_path!()::name`.
    const POOL: &'static str;

    /// The handler's rules, checked at compile time.
    fn rules() -> &'static [Rule];
}

/// The extractor `#[rate_limited]` adds to a handler: admits the request, or refuses it with
/// the router's limiter's response. See the [module docs](self).
pub struct RateLimitGuard<R> {
    outcome: Outcome,
    rules: PhantomData<fn() -> R>,
}

impl<R> RateLimitGuard<R> {
    /// What the check decided for the admitted request.
    #[must_use]
    pub const fn outcome(&self) -> &Outcome {
        &self.outcome
    }
}

impl<R> std::fmt::Debug for RateLimitGuard<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitGuard")
            .field("outcome", &self.outcome)
            .finish()
    }
}

impl<R, S> FromRequestParts<S> for RateLimitGuard<R>
where
    R: HandlerRules,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        let Some(limiter) = parts.extensions.get::<Limiter<Body>>().cloned() else {
            tracing::error!(
                handler = R::POOL,
                "`#[rate_limited]` handler `{}` has no rate limiter: add `RateLimitLayer` to \
                 its router, outside the routes it limits \
                 (`.layer(RateLimitLayer::new(Rules::none(), authenticator, backend))` when only \
                 handlers are limited), and do not turn its `limiter_extension` off",
                R::POOL
            );
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            return Err(response);
        };
        match limiter.check(parts, R::rules(), Scope::Path(R::POOL)).await {
            Ok(Outcome::Rejected(rejection)) => Err(limiter.rejection_response(&rejection)),
            Ok(outcome) => {
                limiter.record_headers(&outcome);
                Ok(Self {
                    outcome,
                    rules: PhantomData,
                })
            }
            Err(error) => Err(limiter.error_response(&error)),
        }
    }
}

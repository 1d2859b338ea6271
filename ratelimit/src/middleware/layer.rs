//! [`RateLimitLayer`]: the middleware's configuration, and its tower [`Layer`].

use std::fmt;
use std::sync::Arc;

use http::Response;
use tower_layer::Layer;

use arc_swap::ArcSwap;

use super::headers::RateLimitHeaders;
use super::limiter::{Limiter, Shared};
use super::live::{RulesHandle, Source};
use super::rejection::Rejection;
use super::response::{FailurePolicy, Options};
use super::service::RateLimit;
use crate::auth::{AuthError, Authenticate};
use crate::backend::{Backend, BackendError};
use crate::rules::Rules;

/// Applies rate limits to requests: a tower [`Layer`] producing [`RateLimit`] services.
///
/// Built from the rules, an authenticator and a backend; the options are `#[must_use]`
/// builder methods. The layer, every service it produces and every clone of them share one
/// limiter (one backend) through an `Arc`. `ResBody` is the inner service's response body
/// type (`axum::body::Body` in axum); it is inferred where the layer is used.
///
/// See the [module docs](super) for an example.
pub struct RateLimitLayer<ResBody> {
    source: Source<ResBody>,
}

impl<ResBody: Default + 'static> RateLimitLayer<ResBody> {
    /// A layer limiting requests by `rules`, identifying them with `authenticator` and counting
    /// them in `backend`, with the default options: no rate-limit headers, the default
    /// responses, failing open, and a [`Limiter`] in the requests' extensions when `rules`
    /// has no routes or the program has `#[rate_limited]` handlers (see
    /// [`limiter_extension`](Self::limiter_extension)).
    #[must_use]
    pub fn new<A: Authenticate, B: Backend>(rules: Rules, authenticator: A, backend: B) -> Self {
        Self {
            source: Source::Fixed(Arc::new(Shared::new(rules, authenticator, backend))),
        }
    }

    /// Makes the layer's rules replaceable while it serves, through the [`RulesHandle`]
    /// returned with it (a [`RulesWatcher`](crate::rules_file::RulesWatcher), feature
    /// `rules-file`, reloads a file through it).
    ///
    /// Each request is checked wholly on the rules in force when it arrived: the old rules
    /// or the new ones, never a mix. Replacing rules takes no lock a request waits on, and
    /// keeps the backend, so the counts of every pool and window the new rules keep go on.
    /// A reloadable layer costs each request one atomic load more (`arc-swap`); a layer
    /// never made reloadable costs nothing more.
    ///
    /// The layer's clones and services made from now on share the rules; options set on the
    /// layer afterwards apply to all of them. Calling it again returns another handle on the
    /// same rules.
    #[must_use]
    pub fn reloadable(mut self) -> (Self, RulesHandle) {
        let live = match &self.source {
            Source::Live(live) => Arc::clone(live),
            Source::Fixed(shared) => {
                let live = Arc::new(ArcSwap::new(Arc::clone(shared)));
                self.source = Source::Live(Arc::clone(&live));
                live
            }
        };
        (self, RulesHandle::new(live))
    }
}

impl<ResBody> RateLimitLayer<ResBody> {
    /// Answers refused requests with `on_blocked`'s response instead of the default one
    /// (`429 Too Many Requests` with `Retry-After`, or `403 Forbidden` for a `deny` rule, and
    /// an empty body).
    ///
    /// The [`Rejection`] says why and for how long. The response should carry `Retry-After`
    /// ([`Rejection::retry_after_secs`]) unless the rejection is permanent; the rate-limit
    /// headers, if enabled, are added to it.
    #[must_use]
    pub fn on_blocked<F>(self, on_blocked: F) -> Self
    where
        F: Fn(&Rejection) -> Response<ResBody> + Send + Sync + 'static,
    {
        self.update_options(|options| options.on_blocked = Some(Arc::new(on_blocked)))
    }

    /// Answers requests that cannot be authenticated with `on_auth_error`'s response instead
    /// of the default one (401 for [`AuthError::MissingIdentity`] and
    /// [`AuthError::InvalidCredentials`], 500 for [`AuthError::Misconfigured`], with an
    /// empty body).
    ///
    /// The failure is logged either way: a misconfiguration with `tracing::error!`, the
    /// client's errors with `tracing::debug!`.
    #[must_use]
    pub fn on_auth_error<F>(self, on_auth_error: F) -> Self
    where
        F: Fn(&AuthError) -> Response<ResBody> + Send + Sync + 'static,
    {
        self.update_options(|options| options.on_auth_error = Some(Arc::new(on_auth_error)))
    }

    /// Adds rate-limit headers to every response of a limited rule; none by default.
    #[must_use]
    pub fn headers(self, headers: RateLimitHeaders) -> Self {
        self.update_options(|options| options.headers = headers)
    }

    /// What to do when the backend fails to decide; [`FailurePolicy::Open`] by default.
    #[must_use]
    pub fn failure_policy(self, policy: FailurePolicy) -> Self {
        self.update_options(|options| options.failure = policy)
    }

    /// Fails closed ([`FailurePolicy::Closed`]), answering with `on_backend_error`'s response
    /// instead of `503 Service Unavailable` with an empty body.
    #[must_use]
    pub fn on_backend_error<F>(self, on_backend_error: F) -> Self
    where
        F: Fn(&BackendError) -> Response<ResBody> + Send + Sync + 'static,
    {
        self.update_options(|options| {
            options.failure = FailurePolicy::Closed;
            options.on_backend_error = Some(Arc::new(on_backend_error));
        })
    }

    /// Whether to put a [`Limiter`] in the extensions of every request passed to the inner
    /// service, where `#[rate_limited]` handlers (and your own code) find the router's
    /// limiter.
    ///
    /// On by default when some handler may need it: for a layer without routes of its own
    /// (`Rules::none()`, installed for `#[rate_limited]` handlers alone), and for every layer
    /// of a program that has a `#[rate_limited]` handler (each registers itself at link
    /// time). Off by default otherwise, which spares a program without attribute handlers
    /// the extension's cost on each request: a box, an `Arc` clone and a map insertion (and,
    /// with [`headers`](Self::headers) on, the slot where an attribute's admission leaves its
    /// headers). Turned off, attribute handlers behind the layer answer 500 and log why.
    #[must_use]
    pub fn limiter_extension(self, insert: bool) -> Self {
        self.update_options(|options| options.extension = insert)
    }

    /// Runs every rule in shadow, as if each had `shadow` in the DSL: each request is
    /// decided and counted exactly as if the rules were enforced, but one they would refuse
    /// is admitted, without rate-limit headers, and the would-be refusal is logged at warn
    /// level (at most once per 10 s, with a count) and counted in the metrics
    /// (`shadow_limited`, `shadow_denied`). Off by default. Try a set of rules on live traffic
    /// with it before enforcing them.
    ///
    /// A would-be refusal by a rule with `block_time` blocks the user as a refusal would: the
    /// user's later requests are would-be refusals of every rule in shadow, and refusals of
    /// any rule enforced.
    #[must_use]
    pub fn shadow(self, shadow: bool) -> Self {
        self.update_options(|options| options.shadow = shadow)
    }

    /// A handle on this layer's limiter, sharing its backend (and, for a
    /// [`reloadable`](Self::reloadable) layer, on the rules in force now).
    #[must_use]
    pub fn limiter(&self) -> Limiter<ResBody> {
        Limiter::new(self.source.current())
    }

    /// The rules (in force now, for a [`reloadable`](Self::reloadable) layer).
    #[must_use]
    pub fn rules(&self) -> Rules {
        self.source.current().rules
    }

    /// The layer with its options changed: copied first if another clone of the layer or a
    /// service shares them (the authenticator and the backend stay shared); of a reloadable
    /// layer, for all its clones.
    fn update_options(mut self, update: impl FnOnce(&mut Options<ResBody>)) -> Self {
        match &mut self.source {
            Source::Fixed(shared) => update(&mut Arc::make_mut(shared).options),
            Source::Live(live) => {
                let mut next = Shared::clone(&live.load());
                update(&mut next.options);
                live.store(Arc::new(next));
            }
        }
        self
    }
}

impl<S, ResBody> Layer<S> for RateLimitLayer<ResBody> {
    type Service = RateLimit<S, ResBody>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit::from_source(inner, self.source.clone())
    }
}

impl<ResBody> Clone for RateLimitLayer<ResBody> {
    fn clone(&self) -> Self {
        Self {
            source: self.source.clone(),
        }
    }
}

impl<ResBody> fmt::Debug for RateLimitLayer<ResBody> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("limiter", &self.source.current())
            .finish()
    }
}

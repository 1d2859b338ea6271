//! [`Limiter`]: the type-erased limiter (rules, authenticator, backend, options) that the
//! middleware runs and puts in every request's extensions, and what one check decides.

use std::fmt;
use std::future::Future;
use std::hint::cold_path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use http::request::Parts;
use http::{Extensions, HeaderMap, Request, Response, StatusCode};
use ratelimit_core::{Route, Rule};

use super::give_back::GiveBackTicket;
use super::headers::{HandlerHeaders, Policies, RateHeaders, RateLimitHeaders, ResponseHeaders};
use super::observe::{self, LogThrottle, Recorder, Site, Verdict};
use super::pipeline::{Checked, Core, Engine, Ran, Step, Target};
use super::rejection::Rejection;
use super::response::{
    FailurePolicy, Options, default_auth_error, default_rejection, empty, log_auth_error,
};
use crate::auth::{AuthError, Authenticate, Identity, RequestHead};
use crate::backend::{Backend, BackendError, Quota, Scope};
use crate::path::routed_path;
use crate::rules::Rules;

/// A handle on a rate limiter: its rules, authenticator, backend and options, with the
/// authenticator's and backend's types erased. Cheap to clone (an `Arc`).
///
/// The middleware puts one in the extensions of every request it passes to the inner service
/// (when [`limiter_extension`](super::RateLimitLayer::limiter_extension) says so), so that
/// code further in (the `#[rate_limited]` attribute, or a handler of your own) runs its rules
/// with the router's limiter: the same backend, authentication and responses. It carries the
/// request's [`Identity`] when the middleware authenticated the request, so that
/// [`check`](Self::check) does not authenticate it again. `ResBody` is the body type of the
/// service's responses: in axum, `axum::body::Body`.
///
/// ```
/// use axum::{body::Body, extract::Request, response::Response};
/// use ratelimit::backend::Scope;
/// use ratelimit::{Rules, ratelimit};
/// use ratelimit::middleware::{Limiter, Outcome};
///
/// static HANDLER_RULES: Rules = ratelimit! { "^/" => [minute = 10, unlimited @admin] };
///
/// async fn handler(request: Request) -> Response {
///     let (head, _body) = request.into_parts();
///     let Some(limiter) = head.extensions.get::<Limiter<Body>>() else {
///         return Response::new(Body::from("no rate limiter is installed"));
///     };
///     let rules = HANDLER_RULES.routes()[0].rules();
///     match limiter.check(&head, rules, Scope::Path("my_crate::handler")).await {
///         Ok(Outcome::Rejected(rejection)) => limiter.rejection_response(&rejection),
///         Err(error) => limiter.error_response(&error),
///         Ok(outcome) => {
///             let mut response = Response::new(Body::from("hello"));
///             limiter.add_headers(&outcome, response.headers_mut());
///             response
///         }
///     }
/// }
/// # let _ = handler;
/// ```
pub struct Limiter<ResBody> {
    shared: Arc<Shared<ResBody>>,
    identity: Option<Identity>,
    /// Where [`record_headers`](Self::record_headers) leaves the headers of an admission for
    /// the middleware to add to the response; `None` for a handle not made for one request,
    /// or when the layer sends no headers.
    handler_headers: Option<HandlerHeaders>,
}

impl<ResBody> Limiter<ResBody> {
    /// A handle that is not one request's.
    pub(crate) const fn new(shared: Arc<Shared<ResBody>>) -> Self {
        Self {
            shared,
            identity: None,
            handler_headers: None,
        }
    }

    /// The request's identity, when the middleware authenticated the request (some route of
    /// its rules matched the path). Under [`FirstOf`](crate::auth::FirstOf) its user id
    /// carries the tag of the authenticator that found it (`1-203.0.113.9`).
    #[must_use]
    pub const fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// The middleware's rules.
    #[must_use]
    pub fn rules(&self) -> Rules {
        self.shared.rules
    }

    /// Runs `rules` (the rules of one route: a `#[rate_limited]` attribute's, say) for the
    /// request whose head is `head`, as the middleware runs a route's.
    ///
    /// 1. The identity is the one the middleware found for this request, or else the
    ///    authenticator's (called at most once here).
    /// 2. The rule is the first of `rules` for the identity's group and the request's method
    ///    (compared without case). None: [`Outcome::NotLimited`].
    /// 3. `unlimited` is [`Outcome::Unlimited`] and `deny` a permanent
    ///    [`Outcome::Rejected`], without asking the backend. A limited rule is decided by the
    ///    backend on the pool (the rule's zone, or else `scope`; the rule's method; the
    ///    user; no user for a `global` rule). A backend failure is [`Outcome::FailedOpen`] or
    ///    [`CheckError::Backend`], by the [`FailurePolicy`].
    /// 4. A refusal by a rule in shadow (or by any rule of a layer in
    ///    [`shadow`](super::RateLimitLayer::shadow)) is [`Outcome::ShadowRejected`]: admit the
    ///    request.
    /// 5. A rule with `count_if` counts the request as any rule does; the layer gives it back
    ///    when the response it passes back has a status the rule does not list. That needs
    ///    a place in this limiter, which the layer makes when it sends rate-limit headers or
    ///    when a `#[rate_limited]` handler of the program has `count_if`; otherwise every
    ///    response counts.
    ///
    /// The decision is recorded (a `tracing` event; with the `metrics` feature, counters)
    /// under the route label of `scope`. Turn the result into a response with [`rejection_response`](Self::rejection_response),
    /// [`error_response`](Self::error_response) and [`add_headers`](Self::add_headers).
    ///
    /// # Errors
    ///
    /// [`CheckError::Auth`] when the request cannot be authenticated, and
    /// [`CheckError::Backend`] when the backend fails and the policy is to fail closed. A
    /// refusal is not an error: it is [`Outcome::Rejected`].
    pub async fn check(
        &self,
        head: &Parts,
        rules: &'static [Rule],
        scope: Scope<'_>,
    ) -> Result<Outcome, CheckError> {
        let core = &self.shared.core;
        let target = Target::Rules { rules, scope };
        let checked = match core.run(head.into(), target, self.identity.clone()) {
            Ran::Done(checked) => checked,
            ran => core.resolve(head, target, ran).await,
        };
        let site = match scope {
            Scope::Path(scope) | Scope::Zone(scope) => Site::Check(scope),
        };
        let (_, outcome, give_back) = self.shared.outcome(checked, site);
        if let (Some(ticket), Some(slot)) = (give_back, &self.handler_headers) {
            crate::lock(&slot.give_back).push(ticket);
        }
        outcome
    }

    /// Adds the rate-limit headers (if the layer sends any) of an admitted request to the
    /// headers of its response. Only [`Outcome::Allowed`] has any; a refusal's are in its
    /// [`rejection_response`](Self::rejection_response).
    pub fn add_headers(&self, outcome: &Outcome, headers: &mut HeaderMap) {
        if let Some(rate_headers) = self.shared.rate_headers(outcome) {
            rate_headers.apply(headers);
        }
    }

    /// Has the middleware add the rate-limit headers (if the layer sends any) of an admitted
    /// request to its response, in place of its route rule's: what a `#[rate_limited]`
    /// handler's check does. Only the first call for a request counts, and only
    /// [`Outcome::Allowed`] has any headers.
    pub(crate) fn record_headers(&self, outcome: &Outcome) {
        if let Some(slot) = &self.handler_headers
            && let Some(rate_headers) = self.shared.rate_headers(outcome)
        {
            // A second admission of the same request keeps the first one's headers.
            let _ = slot.headers.set(rate_headers);
        }
    }
}

impl<ResBody: Default> Limiter<ResBody> {
    /// The response to a refused request: the layer's
    /// [`on_blocked`](super::RateLimitLayer::on_blocked) handler's, or by default
    /// `429 Too Many Requests` with `Retry-After` (`403 Forbidden` for a `deny` rule) and an
    /// empty body; with the rate-limit headers, if the layer sends any.
    #[must_use]
    pub fn rejection_response(&self, rejection: &Rejection) -> Response<ResBody> {
        self.shared.rejection_response(rejection)
    }

    /// The response to a failed check: the layer's
    /// [`on_auth_error`](super::RateLimitLayer::on_auth_error) or
    /// [`on_backend_error`](super::RateLimitLayer::on_backend_error) handler's, or by default
    /// 401 (missing identity, invalid credentials), 500 (misconfigured authentication) or 503
    /// (backend), with an empty body.
    #[must_use]
    pub fn error_response(&self, error: &CheckError) -> Response<ResBody> {
        self.shared.error_response(error)
    }
}

impl<ResBody> Clone for Limiter<ResBody> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            identity: self.identity.clone(),
            handler_headers: self.handler_headers.clone(),
        }
    }
}

impl<ResBody> fmt::Debug for Limiter<ResBody> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("shared", &self.shared)
            .field("identity", &self.identity)
            .finish()
    }
}

/// What a check decided for a request that was not refused for a failure.
///
/// See [`Limiter::check`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// No rule applies to the request's group and method: it is not limited.
    NotLimited,
    /// The rule is `unlimited`: admitted, and the backend was not asked.
    Unlimited {
        /// The rule.
        rule: &'static Rule,
    },
    /// A limited rule admitted the request, and the backend counted it.
    Allowed {
        /// The rule.
        rule: &'static Rule,
        /// The tightest limit's state after the request.
        quota: Quota,
    },
    /// The backend failed and the policy is to fail open: admitted, uncounted. The failure
    /// has been logged.
    FailedOpen {
        /// The rule.
        rule: &'static Rule,
        /// What failed.
        error: BackendError,
    },
    /// Refused: rate limited, blocked, or denied by a `deny` rule.
    Rejected(Rejection),
    /// A rule in shadow (`shadow` in the DSL, or the layer's
    /// [`shadow`](super::RateLimitLayer::shadow) option) would have refused the request: it is
    /// admitted, without rate-limit headers. The backend counted nothing for it, as for a
    /// refusal, and recorded the block a refusal would have started; the would-be refusal is
    /// logged at warn level (at most once per 10 s, with a count) and counted in the metrics.
    ShadowRejected(Rejection),
}

/// A check failed: nothing was decided. A refusal is not a failure (it is
/// [`Outcome::Rejected`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// The request could not be authenticated.
    #[error("could not authenticate the request")]
    Auth(#[source] AuthError),
    /// The backend failed and the policy is to fail closed.
    #[error("the rate-limit backend failed")]
    Backend(#[source] BackendError),
}

/// What the middleware does with a checked request.
#[allow(
    clippy::large_enum_variant,
    reason = "made once per request and matched at once by the caller"
)]
pub(crate) enum Conclusion<Res> {
    /// Call the inner service (the request admitted: the limiter in its extensions when the
    /// options say so), then add these headers to its response.
    Proceed(Option<Box<ResponseHeaders>>),
    /// Answer with this response; the inner service is not called.
    Respond(Res),
}

/// Where the middleware's check of a request stopped to wait for the authenticator or the
/// backend: its first matching route, and what the pipeline must await.
pub(crate) struct Waiting {
    first: usize,
    ran: Ran,
}

/// The future of a check that waits for the authenticator or the backend: the request's
/// head back, and what to do with it.
pub(crate) type CheckFuture<Res> = Pin<Box<dyn Future<Output = (Parts, Conclusion<Res>)> + Send>>;

/// The state every clone of a layer, its services and the [`Limiter`]s they hand out share.
pub(crate) struct Shared<ResBody> {
    pub(crate) rules: Rules,
    pub(crate) core: Arc<dyn Core>,
    pub(crate) options: Options<ResBody>,
    /// The `RateLimit-Policy` values of the routes' rules.
    pub(crate) policies: Policies,
    /// The warnings a flood could repeat, each written at most once per interval.
    warnings: Arc<Warnings>,
    /// Where decisions are recorded (`tracing`, metrics).
    recorder: Arc<Recorder>,
}

/// The throttles of the warnings a flood could repeat.
#[derive(Debug, Default)]
struct Warnings {
    /// Would-be refusals of rules in shadow.
    shadow: LogThrottle,
    /// Backend failures (admitted or refused by the failure policy).
    backend_failed: LogThrottle,
}

impl<ResBody> Clone for Shared<ResBody> {
    fn clone(&self) -> Self {
        Self {
            rules: self.rules,
            core: Arc::clone(&self.core),
            options: self.options.clone(),
            policies: self.policies.clone(),
            warnings: Arc::clone(&self.warnings),
            recorder: Arc::clone(&self.recorder),
        }
    }
}

impl<ResBody> fmt::Debug for Shared<ResBody> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("rules", &self.rules)
            .field("core", &self.core.type_names())
            .field("options", &self.options)
            .finish()
    }
}

impl<ResBody> Shared<ResBody> {
    pub(crate) fn new<A: Authenticate, B: Backend>(
        rules: Rules,
        authenticator: A,
        backend: B,
    ) -> Self
    where
        ResBody: Default + 'static,
    {
        Self {
            rules,
            core: Arc::new(Engine {
                authenticator,
                backend,
                #[cfg(feature = "metrics")]
                timings: observe::BackendTimings::default(),
            }),
            options: Options {
                // A layer without routes is there for `#[rate_limited]` handlers, and any
                // layer may have some behind it when the program has any.
                extension: rules.routes().is_empty() || crate::handler::any_registered(),
                ..Options::default()
            },
            policies: Policies::of(rules),
            warnings: Arc::default(),
            recorder: Arc::new(Recorder::new(rules)),
        }
    }

    /// The same layer with `rules`: what depends on the rules made anew, the rest shared
    /// (the authenticator, the backend and so its counts, the warnings' throttles) or copied
    /// (the options).
    pub(crate) fn with_rules(&self, rules: Rules) -> Self {
        Self {
            rules,
            policies: Policies::of(rules),
            recorder: Arc::new(Recorder::new(rules)),
            ..self.clone()
        }
    }

    /// The index of the first route whose pattern matches `path` (which has no query) as
    /// written or percent-decoded ([`Rules::matching`]). A path without `%` is matched once,
    /// as written, and so is any path whose first route matches it as written.
    #[inline]
    pub(crate) fn first_match(&self, path: &str) -> Option<usize> {
        let routes = self.rules.routes();
        let head = ratelimit_core::__private::path_head(path);
        let raw = routes
            .iter()
            .position(|route| route.pattern().is_match_with_head(path, head));
        if raw == Some(0) || !crate::path::has_escape(path) {
            return raw;
        }
        cold_path();
        first_decoded_match(routes, path, raw)
    }

    /// What a check decided: the failure policy and shadow mode applied to what the pipeline
    /// said, the decision recorded ([`Recorder`]) as made at `site`. The identity comes back
    /// when the request was authenticated, and, when a rule with `count_if` admitted it,
    /// what to give back unless its response counts.
    fn outcome(
        &self,
        checked: Checked,
        site: Site<'_>,
    ) -> (
        Option<Identity>,
        Result<Outcome, CheckError>,
        Option<GiveBackTicket>,
    ) {
        let rule = checked.rule();
        let mut give_back = None;
        let (identity, result) = match checked {
            Checked::Allowed(identity, rule, quota) => {
                (Some(identity), Ok(Outcome::Allowed { rule, quota }))
            }
            Checked::Decided(identity, Step::Counted(rule, quota, counted)) => {
                give_back = Some(GiveBackTicket {
                    core: Arc::clone(&self.core),
                    rule,
                    counted,
                    counted_at: quota.counted_at,
                });
                (Some(identity), Ok(Outcome::Allowed { rule, quota }))
            }
            Checked::Decided(identity, step) => {
                let result = self.refusal_or_pass(step, &identity);
                (Some(identity), result)
            }
            Checked::Unauthenticated(error) => {
                log_auth_error(&error);
                (None, Err(CheckError::Auth(error)))
            }
        };
        if let Some((verdict, blocked)) = verdict(&result) {
            self.recorder.decision(site, rule, verdict, blocked);
        }
        (identity, result, give_back)
    }

    /// [`outcome`](Self::outcome) for a request a limited rule did not simply admit.
    fn refusal_or_pass(&self, step: Step, identity: &Identity) -> Result<Outcome, CheckError> {
        Ok(match step {
            Step::NoRule => Outcome::NotLimited,
            // Taken apart by `outcome`, which keeps what to give back.
            Step::Counted(rule, quota, _) => Outcome::Allowed { rule, quota },
            Step::Unlimited(rule) => Outcome::Unlimited { rule },
            Step::Deny(rule) => self.refuse(Rejection::deny(rule, identity.clone())),
            Step::Refused(rule, denial) => {
                self.refuse(Rejection::limited(rule, identity.clone(), denial))
            }
            Step::Failed(rule, error) => match self.options.failure {
                FailurePolicy::Open => {
                    if let Some(held) = self.warnings.backend_failed.admit(Instant::now()) {
                        tracing::warn!(
                            error = &error as &dyn std::error::Error,
                            held_back = held,
                            "the rate-limit backend failed; admitting the request uncounted \
                             (fail open); the same warning is written at most once per 10 s, \
                             `held_back` counting the ones not written since"
                        );
                    }
                    Outcome::FailedOpen { rule, error }
                }
                FailurePolicy::Closed => {
                    if let Some(held) = self.warnings.backend_failed.admit(Instant::now()) {
                        tracing::error!(
                            error = &error as &dyn std::error::Error,
                            held_back = held,
                            "the rate-limit backend failed; refusing the request (fail closed); \
                             the same error is written at most once per 10 s, `held_back` \
                             counting the ones not written since"
                        );
                    }
                    return Err(CheckError::Backend(error));
                }
            },
        })
    }

    /// A refusal, or, by a rule in shadow, a would-be refusal (logged, at most once per
    /// interval).
    fn refuse(&self, rejection: Rejection) -> Outcome {
        if !(rejection.rule().shadow() || self.options.shadow) {
            return Outcome::Rejected(rejection);
        }
        if let Some(held) = self.warnings.shadow.admit(Instant::now()) {
            tracing::warn!(
                group = rejection.group(),
                zone = rejection.zone().unwrap_or(""),
                cause = ?rejection.cause(),
                held_back = held,
                "a rule in shadow would have refused a request; admitted; the same warning is \
                 written at most once per 10 s, `held_back` counting the ones not written since"
            );
        }
        Outcome::ShadowRejected(rejection)
    }

    #[inline]
    fn rate_headers(&self, outcome: &Outcome) -> Option<RateHeaders> {
        match outcome {
            Outcome::Allowed { rule, quota } => {
                RateHeaders::admitted(self.options.headers, &self.policies, rule, quota)
            }
            Outcome::NotLimited
            | Outcome::Unlimited { .. }
            | Outcome::FailedOpen { .. }
            | Outcome::Rejected(_)
            | Outcome::ShadowRejected(_) => None,
        }
    }
}

impl<ResBody: Default> Shared<ResBody> {
    fn rejection_response(&self, rejection: &Rejection) -> Response<ResBody> {
        let mut response = match &self.options.on_blocked {
            Some(on_blocked) => on_blocked(rejection),
            None => default_rejection(rejection),
        };
        if let Some(rate_headers) =
            RateHeaders::refused(self.options.headers, &self.policies, rejection)
        {
            rate_headers.apply(response.headers_mut());
        }
        response
    }

    fn error_response(&self, error: &CheckError) -> Response<ResBody> {
        match error {
            CheckError::Auth(error) => match &self.options.on_auth_error {
                Some(on_auth_error) => on_auth_error(error),
                None => default_auth_error(error),
            },
            CheckError::Backend(error) => match &self.options.on_backend_error {
                Some(on_backend_error) => on_backend_error(error),
                None => empty(StatusCode::SERVICE_UNAVAILABLE),
            },
        }
    }
}

impl<ResBody: Default + 'static> Shared<ResBody> {
    /// The middleware's check of `request`, as far as it goes at once: the first route that
    /// matches its path ([`first_match`](Self::first_match)), the pipeline run from its head
    /// borrowed as it is (taking the request apart and back together would copy it twice),
    /// and the conclusion; or, when the pipeline must wait, where it stopped.
    #[inline]
    pub(crate) fn check_now<B>(
        self: &Arc<Self>,
        request: &mut Request<B>,
    ) -> Result<Conclusion<Response<ResBody>>, Waiting> {
        let path = routed_path(request.uri(), request.extensions());
        let Some(first) = self.first_match(path) else {
            // No route: not authenticated, not limited.
            return Ok(Conclusion::Proceed(self.admit(
                request.extensions_mut(),
                None,
                None,
                None,
            )));
        };
        let target = Target::Routes {
            routes: self.rules.routes(),
            first,
            path,
        };
        let ran = self.core.run(RequestHead::from(&*request), target, None);
        // The common case is told apart where `run` left its result, which is then dropped
        // there: moving the result (an identity and a quota) to conclude costs a copy.
        if matches!(ran, Ran::Done(Checked::Allowed(..))) && self.admits_quietly() {
            return Ok(Conclusion::Proceed(None));
        }
        match ran {
            Ran::Done(checked) => Ok(self.conclude_any(checked, first, request.extensions_mut())),
            ran => {
                cold_path();
                Err(Waiting { first, ran })
            }
        }
    }

    /// The rest of the check of a request that [`check_now`](Self::check_now) left
    /// `waiting`: boxed, with the request's head, which it hands back with the conclusion.
    pub(crate) fn check_later(
        self: Arc<Self>,
        mut head: Parts,
        Waiting { first, ran }: Waiting,
    ) -> CheckFuture<Response<ResBody>> {
        Box::pin(async move {
            let checked = {
                let path = routed_path(&head.uri, &head.extensions);
                let target = Target::Routes {
                    routes: self.rules.routes(),
                    first,
                    path,
                };
                self.core.resolve(&head, target, ran).await
            };
            let conclusion = self.conclude(checked, first, &mut head.extensions);
            (head, conclusion)
        })
    }

    /// The middleware's last step for a request whose first matching route is
    /// `routes[first]`: admits the request (see [`admit`](Self::admit)), with the headers its
    /// rule adds, or builds the response that refuses it.
    #[inline(always)]
    pub(crate) fn conclude(
        self: &Arc<Self>,
        checked: Checked,
        first: usize,
        extensions: &mut Extensions,
    ) -> Conclusion<Response<ResBody>> {
        if matches!(checked, Checked::Allowed(..)) && self.admits_quietly() {
            return Conclusion::Proceed(None);
        }
        self.conclude_any(checked, first, extensions)
    }

    /// Whether a request a limited rule simply admitted goes on with nothing to do: the
    /// default options (nothing to hand on, nothing to add to the response, nothing to build)
    /// and nothing listening for the decision.
    #[inline(always)]
    fn admits_quietly(&self) -> bool {
        self.options.adds_nothing() && !observe::enabled()
    }

    /// [`conclude`](Self::conclude) when the options add something, the decision is
    /// recorded, or the request was not simply admitted. Out of line: the common case's code
    /// stays small.
    #[inline(never)]
    fn conclude_any(
        self: &Arc<Self>,
        checked: Checked,
        first: usize,
        extensions: &mut Extensions,
    ) -> Conclusion<Response<ResBody>> {
        let (identity, outcome, give_back) = match self.outcome(checked, Site::Layer { first }) {
            (_, Ok(Outcome::Rejected(rejection)), _) => {
                return Conclusion::Respond(self.rejection_response(&rejection));
            }
            (_, Err(error), _) => return Conclusion::Respond(self.error_response(&error)),
            (identity, Ok(outcome), give_back) => (identity, outcome, give_back),
        };
        let headers = self.rate_headers(&outcome);
        Conclusion::Proceed(self.admit(extensions, identity, headers, give_back))
    }

    /// Lets a request go on: the limiter goes in its extensions (with the identity, if the
    /// request was authenticated) when the options say so, and what to do to its response
    /// comes back, boxed (most responses get nothing, and the response future stays small):
    /// add `headers`, the route rule's, settle `give_back` (a `count_if` rule's), and do what
    /// a `#[rate_limited]` handler's check leaves in the limiter (its headers, its rule's
    /// give-back).
    #[inline]
    pub(crate) fn admit(
        self: &Arc<Self>,
        extensions: &mut Extensions,
        identity: Option<Identity>,
        headers: Option<RateHeaders>,
        give_back: Option<GiveBackTicket>,
    ) -> Option<Box<ResponseHeaders>> {
        if !self.options.extension {
            return ResponseHeaders::new(headers, None, give_back);
        }
        // A place for the handler's check to leave its headers (when the layer sends any)
        // and what its `count_if` rule gives back (when a handler of the program has one).
        let handler = (self.options.headers != RateLimitHeaders::None
            || crate::handler::any_count_if())
        .then(HandlerHeaders::default);
        extensions.insert(Limiter {
            shared: Arc::clone(self),
            identity,
            handler_headers: handler.clone(),
        });
        ResponseHeaders::new(headers, handler, give_back)
    }
}

/// The first route before `routes[raw]` (or of all the routes, when none matches `path` as
/// written) whose pattern matches `path` decoded, or else `raw`.
#[inline(never)]
fn first_decoded_match(routes: &[Route], path: &str, raw: Option<usize>) -> Option<usize> {
    let Some(decoded) = crate::path::decoded(path) else {
        return raw;
    };
    let earlier = routes.get(..raw.unwrap_or(routes.len())).unwrap_or(routes);
    earlier
        .iter()
        .position(|route| route.pattern().is_match(&decoded))
        .or(raw)
}

/// The outcome label of what a check concluded, and whether it started a block; `None` for a
/// request no rule applies to (not recorded).
fn verdict(result: &Result<Outcome, CheckError>) -> Option<(Verdict, bool)> {
    Some(match result {
        Ok(Outcome::NotLimited) => return None,
        Ok(Outcome::Unlimited { .. } | Outcome::Allowed { .. }) => (Verdict::Admitted, false),
        Ok(Outcome::FailedOpen { .. }) | Err(CheckError::Backend(_)) => {
            (Verdict::BackendError, false)
        }
        Ok(Outcome::Rejected(rejection)) => {
            let verdict = if rejection.is_permanent() {
                Verdict::Denied
            } else {
                Verdict::Limited
            };
            (verdict, starts_block(rejection))
        }
        Ok(Outcome::ShadowRejected(rejection)) => {
            let verdict = if rejection.is_permanent() {
                Verdict::ShadowDenied
            } else {
                Verdict::ShadowLimited
            };
            (verdict, starts_block(rejection))
        }
        Err(CheckError::Auth(_)) => (Verdict::Unauthenticated, false),
    })
}

/// Whether `rejection` started a block: a limit's refusal by a rule with `block_time` (a
/// refusal of a user already blocked does not start another).
fn starts_block(rejection: &Rejection) -> bool {
    rejection.limit().is_some() && rejection.rule().block_time().is_some()
}

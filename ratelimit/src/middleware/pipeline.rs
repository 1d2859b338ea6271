//! The request pipeline, written once for every entry point: authenticate → select the rule
//! → decide. [`Core::run`] runs it as far as it goes without waiting (inside
//! `Service::call`, with no allocation when the authenticator and the backend answer at
//! once); [`Core::resolve`] awaits what `run` stopped at and runs on. The middleware and
//! [`Limiter::check`](super::Limiter::check) both run a request this way, then turn the
//! [`Checked`] result into a response or an [`Outcome`](super::Outcome) (`limiter.rs`).
//!
//! Data flows one way: the layer's state calls the pipeline, and the pipeline knows nothing
//! of the layer's options or responses.

use std::borrow::Cow;
use std::future::Future;
use std::hint::cold_path;
use std::pin::Pin;

use http::request::Parts;
use ratelimit_core::{Limit, Policy, Route, Rule, RuleMethod};

#[cfg(feature = "metrics")]
use super::observe;
use crate::auth::{AuthError, Authenticate, Identity, RequestHead};
use crate::backend::{
    Backend, BackendError, Decision, DecisionRequest, Denial, GiveBack, Pool, Quota, Scope,
};
use crate::path::pool_path;
use crate::rules::Rules;

/// What a request is checked against.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target<'a> {
    /// The layer's routes, of which `routes[first]` is the first that matches `path` (the
    /// routed path: [`routed_path`](crate::path::routed_path)); a rule's pool is its zone or
    /// else the path.
    Routes {
        routes: &'static [Route],
        first: usize,
        path: &'a str,
    },
    /// One route's rules (a `#[rate_limited]` handler's); a rule's pool is its zone or else
    /// `scope`.
    Rules {
        rules: &'static [Rule],
        scope: Scope<'a>,
    },
}

impl<'a> Target<'a> {
    /// The rule for a request of `group` with `method`: for routes, the first rule for them
    /// of `routes[first]`, or else of the later routes that match the path.
    #[inline]
    fn select(self, method: &str, group: &str) -> Option<&'static Rule> {
        match self {
            Self::Routes {
                routes,
                first,
                path,
            } => {
                // Most requests stop at their first route's rules: looked at here, inline.
                match routes.get(first)?.rule_for(group, method) {
                    Some(rule) => Some(rule),
                    None => fall_through(routes.get(first + 1..)?, path, method, group),
                }
            }
            Self::Rules { rules, .. } => ratelimit_core::rule_for(rules, group, method),
        }
    }

    /// The scope a request under `rule` is counted in: the rule's zone, or else the
    /// target's (a path is keyed by [`pool_path`]).
    #[inline]
    fn scope_of(self, rule: &'static Rule) -> ScopeKey<'a> {
        match (rule.zone(), self) {
            (Some(zone), _) => ScopeKey::Given(Scope::Zone(zone)),
            (None, Self::Routes { path, .. }) => ScopeKey::Path(pool_path(path)),
            (None, Self::Rules { scope, .. }) => ScopeKey::Given(scope),
        }
    }
}

/// A pool's scope, owning the path key it was made from when it had to make one.
enum ScopeKey<'a> {
    Given(Scope<'a>),
    Path(Cow<'a, str>),
}

impl ScopeKey<'_> {
    #[inline]
    fn scope(&self) -> Scope<'_> {
        match self {
            Self::Given(scope) => *scope,
            Self::Path(key) => Scope::Path(key),
        }
    }
}

/// The end of the pipeline: who the request is and what its rule said (before the layer's
/// failure policy applies), or why it could not be authenticated.
#[derive(Debug)]
pub(crate) enum Checked {
    /// A limited rule admitted the request and the backend counted it: the common case,
    /// kept flat so that it is told apart at one comparison.
    Allowed(Identity, &'static Rule, Quota),
    /// Any other answer: no rule, `unlimited`, `deny`, a refusal or a failure.
    Decided(Identity, Step),
    /// The authenticator refused or failed.
    Unauthenticated(AuthError),
}

/// What the rule said of a request that a limited rule did not simply admit.
#[derive(Debug)]
pub(crate) enum Step {
    /// No rule applies to the request's group and method.
    NoRule,
    /// A rule with `count_if` admitted the request and the backend counted it: given back
    /// unless its response's status is in the set.
    Counted(&'static Rule, Quota, Box<Counted>),
    Unlimited(&'static Rule),
    Deny(&'static Rule),
    /// The backend refused the request.
    Refused(&'static Rule, Denial),
    /// The backend failed.
    Failed(&'static Rule, BackendError),
}

impl Step {
    /// The rule that decided, if one applied.
    pub(crate) const fn rule(&self) -> Option<&'static Rule> {
        match self {
            Self::NoRule => None,
            Self::Unlimited(rule)
            | Self::Deny(rule)
            | Self::Counted(rule, ..)
            | Self::Refused(rule, _)
            | Self::Failed(rule, _) => Some(rule),
        }
    }
}

impl Checked {
    /// The rule that decided, if one applied.
    pub(crate) fn rule(&self) -> Option<&'static Rule> {
        match self {
            Self::Allowed(_, rule, _) => Some(rule),
            Self::Decided(_, step) => step.rule(),
            Self::Unauthenticated(_) => None,
        }
    }

    /// The end of a limited rule's check: the backend's answer, and, for a rule with
    /// `count_if` that admitted the request, where it was counted.
    #[inline]
    fn decided(
        identity: Identity,
        rule: &'static Rule,
        counted: Option<Box<Counted>>,
        decided: Result<Decision, BackendError>,
    ) -> Self {
        match (decided, counted) {
            (Ok(Decision::Allow(quota)), Some(counted)) => {
                Self::Decided(identity, Step::Counted(rule, quota, counted))
            }
            (Ok(Decision::Allow(quota)), None) => Self::Allowed(identity, rule, quota),
            (Ok(Decision::Deny(denial)), _) => Self::Decided(identity, Step::Refused(rule, denial)),
            (Err(error), _) => Self::Decided(identity, Step::Failed(rule, error)),
        }
    }
}

/// The pool a request of a rule with `count_if` was counted in, owned, to give it back
/// once its response is known.
#[derive(Debug)]
pub(crate) struct Counted {
    zone: bool,
    scope: Box<str>,
    user: Box<str>,
}

impl Counted {
    /// Where `request` was counted, when `rule` has a `count_if` and `decided` admitted it.
    #[inline]
    fn of_admitted(
        rule: &Rule,
        request: &DecisionRequest<'_>,
        decided: &Result<Decision, BackendError>,
    ) -> Option<Box<Self>> {
        if rule.count_if().is_none() || !matches!(decided, Ok(Decision::Allow(_))) {
            return None;
        }
        cold_path();
        Some(Box::new(Self::of(request)))
    }

    fn of(request: &DecisionRequest<'_>) -> Self {
        let (zone, scope) = match request.pool.scope {
            Scope::Zone(zone) => (true, zone),
            Scope::Path(path) => (false, path),
        };
        Self {
            zone,
            scope: scope.into(),
            user: request.pool.user.into(),
        }
    }

    /// The request `rule` counted in this pool.
    pub(crate) fn request(&self, rule: &'static Rule) -> DecisionRequest<'_> {
        DecisionRequest {
            pool: Pool {
                scope: if self.zone {
                    Scope::Zone(&self.scope)
                } else {
                    Scope::Path(&self.scope)
                },
                method: rule.method().map(RuleMethod::as_str),
                user: &self.user,
            },
            limits: rule.limits(),
            block_time: rule.block_time(),
            cost: rule.cost(),
        }
    }
}

/// Where [`Core::run`] stopped.
#[derive(Debug)]
pub(crate) enum Ran {
    /// At the end.
    Done(Checked),
    /// The authenticator must be awaited.
    AwaitIdentity,
    /// The backend must be awaited, for this identity under this limited rule.
    AwaitDecision(Identity, &'static Rule, &'static [Limit]),
}

/// A pipeline's future: what [`Core::resolve`] returns.
pub(crate) type Resolving<'a> = Pin<Box<dyn Future<Output = Checked> + Send + 'a>>;

/// The authenticator and the backend, behind a trait object: the only code generic over
/// their types.
pub(crate) trait Core: Send + Sync {
    /// Runs the pipeline for the request whose head is `head` against `target`, as far as it
    /// goes without waiting. `identity`, when known, is not looked for again.
    fn run(&self, head: RequestHead<'_>, target: Target<'_>, identity: Option<Identity>) -> Ran;

    /// Awaits what [`run`](Self::run) stopped at (`ran`), and runs on to the end.
    fn resolve<'a>(&'a self, head: &'a Parts, target: Target<'a>, ran: Ran) -> Resolving<'a>;

    /// Gives back `request`, counted at `counted_at` (see [`Backend::give_back`]).
    fn give_back(&self, request: &DecisionRequest<'_>, counted_at: u64) -> GiveBack;

    /// The authenticator's and backend's type names, for `Debug`.
    fn type_names(&self) -> (&'static str, &'static str);
}

/// The [`Core`] of an authenticator and a backend.
pub(crate) struct Engine<A, B> {
    pub(crate) authenticator: A,
    pub(crate) backend: B,
    /// How long the backend's decisions take (the `metrics` feature).
    #[cfg(feature = "metrics")]
    pub(crate) timings: observe::BackendTimings,
}

impl<A: Authenticate, B: Backend> Core for Engine<A, B> {
    #[inline]
    fn run(&self, head: RequestHead<'_>, target: Target<'_>, identity: Option<Identity>) -> Ran {
        let identity = match identity {
            Some(identity) => identity,
            None => match self.authenticator.authenticate_now(head) {
                Some(Ok(identity)) => identity,
                Some(Err(error)) => {
                    cold_path();
                    return Ran::Done(Checked::Unauthenticated(error));
                }
                None => return Ran::AwaitIdentity,
            },
        };
        let Some(rule) = target.select(head.method.as_str(), identity.group()) else {
            return Ran::Done(Checked::Decided(identity, Step::NoRule));
        };
        let limits = match rule.policy() {
            Policy::Limited(limits) => limits,
            Policy::Unlimited => {
                return Ran::Done(Checked::Decided(identity, Step::Unlimited(rule)));
            }
            Policy::Deny => {
                cold_path();
                return Ran::Done(Checked::Decided(identity, Step::Deny(rule)));
            }
        };
        let scope = target.scope_of(rule);
        let request = request(rule, limits, scope.scope(), &identity);
        #[cfg(feature = "metrics")]
        let started = std::time::Instant::now();
        let decided = self.backend.decide_now(&request);
        #[cfg(feature = "metrics")]
        if let Some(decided) = &decided {
            self.timings
                .record(self.backend.name(), decided, started.elapsed());
        }
        match decided {
            // The common case, built at once: a rule without `count_if` admitted.
            Some(Ok(Decision::Allow(quota))) if rule.count_if().is_none() => {
                Ran::Done(Checked::Allowed(identity, rule, quota))
            }
            Some(decided) => {
                let counted = Counted::of_admitted(rule, &request, &decided);
                Ran::Done(Checked::decided(identity, rule, counted, decided))
            }
            None => Ran::AwaitDecision(identity, rule, limits),
        }
    }

    fn resolve<'a>(&'a self, head: &'a Parts, target: Target<'a>, mut ran: Ran) -> Resolving<'a> {
        Box::pin(async move {
            loop {
                ran = match ran {
                    Ran::Done(checked) => return checked,
                    Ran::AwaitIdentity => match self.authenticator.authenticate(head).await {
                        Ok(identity) => self.run(head.into(), target, Some(identity)),
                        Err(error) => Ran::Done(Checked::Unauthenticated(error)),
                    },
                    Ran::AwaitDecision(identity, rule, limits) => {
                        let scope = target.scope_of(rule);
                        let request = request(rule, limits, scope.scope(), &identity);
                        #[cfg(feature = "metrics")]
                        let started = std::time::Instant::now();
                        let decided = self.backend.decide(&request).await;
                        #[cfg(feature = "metrics")]
                        self.timings
                            .record(self.backend.name(), &decided, started.elapsed());
                        let counted = Counted::of_admitted(rule, &request, &decided);
                        Ran::Done(Checked::decided(identity, rule, counted, decided))
                    }
                };
            }
        })
    }

    fn give_back(&self, request: &DecisionRequest<'_>, counted_at: u64) -> GiveBack {
        self.backend.give_back(request, counted_at)
    }

    fn type_names(&self) -> (&'static str, &'static str) {
        (std::any::type_name::<A>(), std::any::type_name::<B>())
    }
}

/// The user of a `global` rule's pool: none, the empty id (which no built-in authenticator
/// gives an identity).
pub(crate) const GLOBAL_USER: &str = "";

/// What the backend is asked for a request of `identity` under `rule` (whose limits are
/// `limits`), counted in `scope`: the pool of the identity's user, or, for a `global` rule,
/// the pool of no user ([`GLOBAL_USER`]).
#[inline]
fn request<'r>(
    rule: &'static Rule,
    limits: &'static [Limit],
    scope: Scope<'r>,
    identity: &'r Identity,
) -> DecisionRequest<'r> {
    let user = if rule.global() {
        GLOBAL_USER
    } else {
        identity.user()
    };
    DecisionRequest {
        pool: Pool {
            scope,
            method: rule.method().map(RuleMethod::as_str),
            user,
        },
        limits,
        block_time: rule.block_time(),
        cost: rule.cost(),
    }
}

/// The first rule for `group` and `method` of the routes of `rest` that match `path`.
#[inline(never)]
fn fall_through(
    rest: &'static [Route],
    path: &str,
    method: &str,
    group: &str,
) -> Option<&'static Rule> {
    Rules::from_static(rest)
        .matching(path)
        .select(method, group)
        .map(|selection| selection.rule)
}

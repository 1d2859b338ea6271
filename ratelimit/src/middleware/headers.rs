//! Rate-limit response headers: the IETF draft's list form, or the legacy `X-RateLimit-*`.

use std::fmt::Write as _;
use std::ptr;
use std::sync::{Arc, Mutex, OnceLock};

use foldhash::fast::FixedState;
use hashbrown::HashMap;
use http::{HeaderMap, HeaderName, HeaderValue, Response};
use ratelimit_core::{Limit, Route, Rule};

use super::give_back::GiveBackTicket;
use super::rejection::{Rejection, RejectionCause};
use crate::backend::Quota;
use crate::backend::ceil_secs;
use crate::rules::Rules;

/// Which rate-limit headers the middleware adds to every response of a limited rule, admitted
/// or refused (not to `unlimited` or `deny` rules, nor to requests no rule applies to).
///
/// Each limit of a rule is a policy named after its unit (`"second"`, `"minute"`, `"hour"`,
/// `"day"`, `"month"`: one rule has at most one limit per unit). The remaining quota and the
/// reset time are the tightest limit's: the one with the fewest requests left, or the one that
/// refused the request. Times are delay-seconds, rounded up; on a refusal they equal
/// `Retry-After`.
///
/// See the [module docs](super) for an example.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RateLimitHeaders {
    /// No rate-limit headers (the default). A refusal still carries `Retry-After`.
    #[default]
    None,
    /// `draft-ietf-httpapi-ratelimit-headers` (revisions 08 to 10), list form: every limit of
    /// the rule in `RateLimit-Policy`, the tightest one in `RateLimit` (`r` always present):
    ///
    /// ```text
    /// RateLimit-Policy: "second";q=10;w=1, "minute";q=200;w=60
    /// RateLimit: "minute";r=12;t=41
    /// ```
    ///
    /// They are appended, so the lists of nested limiters combine. Integers are capped at
    /// 999 999 999 999 999, the largest a structured field can carry.
    Ietf,
    /// The de-facto `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`
    /// (seconds until the reset, not a timestamp) of the tightest limit:
    ///
    /// ```text
    /// X-RateLimit-Limit: 200
    /// X-RateLimit-Remaining: 12
    /// X-RateLimit-Reset: 41
    /// ```
    ///
    /// A header a nested limiter already set is left as it is.
    Legacy,
}

/// `RateLimit-Policy`.
pub(crate) const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`.
pub(crate) const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// `X-RateLimit-Limit`.
pub(crate) const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining`.
pub(crate) const X_RATELIMIT_REMAINING: HeaderName =
    HeaderName::from_static("x-ratelimit-remaining");
/// `X-RateLimit-Reset`.
pub(crate) const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// The largest Integer a structured field (RFC 9651) can carry.
const SF_INTEGER_MAX: u64 = 999_999_999_999_999;

/// The rate-limit headers of one response, computed before the inner service runs.
#[derive(Clone, Debug)]
pub(crate) enum RateHeaders {
    Ietf {
        policy: HeaderValue,
        limit: HeaderValue,
    },
    Legacy {
        limit: HeaderValue,
        remaining: HeaderValue,
        reset: HeaderValue,
    },
}

/// Where a `#[rate_limited]` handler's check leaves what the middleware does with its
/// response: the headers of its admission, and, for a rule with `count_if`, what to give back
/// unless the response counts. Shared by the request's [`Limiter`](super::Limiter) and the
/// middleware's response future.
pub(crate) type HandlerHeaders = Arc<HandlerSlot>;

/// See [`HandlerHeaders`].
#[derive(Debug, Default)]
pub(crate) struct HandlerSlot {
    pub(crate) headers: OnceLock<RateHeaders>,
    pub(crate) give_back: Mutex<Vec<GiveBackTicket>>,
}

/// What the middleware does to the response of a request it let through: adds its route
/// rule's headers, or those a `#[rate_limited]` handler's check left, which win when both are
/// there (the handler's rule is the more specific, and a response carries one set); and
/// settles what rules with `count_if` counted (see [`GiveBackTicket`]). Boxed in the response
/// future, and only made when there is something to do.
#[derive(Debug)]
pub(crate) struct ResponseHeaders {
    route: Option<RateHeaders>,
    handler: Option<HandlerHeaders>,
    give_back: Option<GiveBackTicket>,
}

impl ResponseHeaders {
    /// `None` when there is nothing to do.
    #[inline]
    pub(crate) fn new(
        route: Option<RateHeaders>,
        handler: Option<HandlerHeaders>,
        give_back: Option<GiveBackTicket>,
    ) -> Option<Box<Self>> {
        if route.is_none() && handler.is_none() && give_back.is_none() {
            return None;
        }
        Some(Box::new(Self {
            route,
            handler,
            give_back,
        }))
    }

    /// Adds the headers to `response`, and settles what `count_if` rules counted by its
    /// status.
    pub(crate) fn apply<B>(self, response: &mut Response<B>) {
        let status = response.status();
        if let Some(ticket) = self.give_back {
            ticket.settle(status);
        }
        let from_handler = self.handler.and_then(|slot| {
            for ticket in std::mem::take(&mut *crate::lock(&slot.give_back)) {
                ticket.settle(status);
            }
            match Arc::try_unwrap(slot) {
                Ok(slot) => slot.headers.into_inner(),
                // Someone still holds the request's `Limiter`.
                Err(slot) => slot.headers.get().cloned(),
            }
        });
        if let Some(chosen) = from_handler.or(self.route) {
            chosen.apply(response.headers_mut());
        }
    }
}

/// The `RateLimit-Policy` values of the limited rules of a layer's routes, made when the layer
/// is built: a rule's policy never changes, so a request formats only its `RateLimit` value
/// (formatting the policy per request cost nearly as much as the rest of the layer's work:
/// `BENCHMARKS.md`).
/// A rule from elsewhere (a `#[rate_limited]` handler's) has its policy formatted per request.
///
/// Rules are known by their address: the middleware's rules are `'static`, never moved nor
/// freed, so an address names one rule for the life of the program.
#[derive(Clone, Debug, Default)]
pub(crate) struct Policies(HashMap<usize, HeaderValue, FixedState>);

impl Policies {
    /// The policies of the limited rules of `rules`' routes.
    pub(crate) fn of(rules: Rules) -> Self {
        let policies = rules
            .routes()
            .iter()
            .flat_map(Route::rules)
            .filter_map(|rule| Some((address(rule), policy(rule)?)))
            .collect();
        Self(policies)
    }

    /// `rule`'s policy: the one made for it, or else made now.
    fn of_rule(&self, rule: &Rule) -> Option<HeaderValue> {
        match self.0.get(&address(rule)) {
            Some(policy) => Some(policy.clone()),
            None => policy(rule),
        }
    }
}

fn address(rule: &Rule) -> usize {
    ptr::from_ref(rule).addr()
}

/// `RateLimit-Policy` for `rule`: each of its limits, shortest window first; none for a rule
/// without limits.
fn policy(rule: &Rule) -> Option<HeaderValue> {
    if rule.limits().is_empty() {
        return None;
    }
    let mut policy = String::with_capacity(24 * rule.limits().len());
    for (i, each) in rule.limits().iter().enumerate() {
        let separator = if i == 0 { "" } else { ", " };
        let _ = write!(
            policy,
            "{separator}\"{}\";q={};w={}",
            each.window_name(),
            each.count().min(SF_INTEGER_MAX),
            each.window_seconds(),
        );
    }
    HeaderValue::try_from(policy).ok()
}

/// The `RateLimit` value `"NAME";r=REMAINING;t=RESET`, written into a buffer on the stack
/// without the formatting machinery, which cost a third of a response's rate-limit headers
/// (`BENCHMARKS.md`); `None` if it does not fit (a window's name and two integers of at most
/// 15 digits always do).
fn limit_value(name: &str, remaining: u64, reset: u64) -> Option<HeaderValue> {
    let (mut remaining_digits, mut reset_digits) = (itoa::Buffer::new(), itoa::Buffer::new());
    let parts = [
        "\"",
        name,
        "\";r=",
        remaining_digits.format(remaining),
        ";t=",
        reset_digits.format(reset),
    ];
    let mut bytes = [0_u8; 64];
    let mut len = 0;
    for part in parts {
        let end = len + part.len();
        bytes.get_mut(len..end)?.copy_from_slice(part.as_bytes());
        len = end;
    }
    HeaderValue::from_bytes(bytes.get(..len)?).ok()
}

impl RateHeaders {
    /// The headers of a request `rule` admitted, leaving `quota`.
    #[inline]
    pub(crate) fn admitted(
        mode: RateLimitHeaders,
        policies: &Policies,
        rule: &Rule,
        quota: &Quota,
    ) -> Option<Self> {
        // Without headers (the default), nothing to compute on the hot path.
        if mode == RateLimitHeaders::None {
            return None;
        }
        Self::new(
            mode,
            policies,
            rule,
            quota.limit,
            quota.remaining,
            ceil_secs(quota.reset),
        )
    }

    /// The headers of a refused request; none for a `deny` rule.
    pub(crate) fn refused(
        mode: RateLimitHeaders,
        policies: &Policies,
        rejection: &Rejection,
    ) -> Option<Self> {
        let limit = match rejection.cause() {
            RejectionCause::Limit(limit) => limit,
            // A block has no limit of its own: report the rule's first (shortest) one, with no
            // room left until the block ends.
            RejectionCause::Blocked => *rejection.rule().limits().first()?,
            RejectionCause::Deny => return None,
        };
        let reset = rejection.retry_after_secs()?;
        Self::new(mode, policies, rejection.rule(), limit, 0, reset)
    }

    #[inline(never)]
    fn new(
        mode: RateLimitHeaders,
        policies: &Policies,
        rule: &Rule,
        limit: Limit,
        remaining: u64,
        reset: u64,
    ) -> Option<Self> {
        match mode {
            RateLimitHeaders::None => None,
            RateLimitHeaders::Ietf => {
                let window;
                let name = match limit.unit() {
                    Some(unit) => unit.name(),
                    None => {
                        window = limit.window_name().to_string();
                        &window
                    }
                };
                Some(Self::Ietf {
                    policy: policies.of_rule(rule)?,
                    limit: limit_value(
                        name,
                        remaining.min(SF_INTEGER_MAX),
                        reset.min(SF_INTEGER_MAX),
                    )?,
                })
            }
            RateLimitHeaders::Legacy => Some(Self::Legacy {
                limit: HeaderValue::from(limit.count()),
                remaining: HeaderValue::from(remaining),
                reset: HeaderValue::from(reset),
            }),
        }
    }

    /// Adds the headers to `headers`.
    pub(crate) fn apply(self, headers: &mut HeaderMap) {
        match self {
            Self::Ietf { policy, limit } => {
                headers.append(RATELIMIT_POLICY, policy);
                headers.append(RATELIMIT, limit);
            }
            Self::Legacy {
                limit,
                remaining,
                reset,
            } => {
                for (name, value) in [
                    (X_RATELIMIT_LIMIT, limit),
                    (X_RATELIMIT_REMAINING, remaining),
                    (X_RATELIMIT_RESET, reset),
                ] {
                    if let http::header::Entry::Vacant(entry) = headers.entry(name) {
                        entry.insert(value);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ratelimit_core::Unit;

    use super::*;

    #[test]
    fn a_written_value_is_what_formatting_would_give() {
        let numbers = [
            0,
            1,
            9,
            10,
            99,
            100,
            123_456_789,
            SF_INTEGER_MAX,
            u64::MAX / 10,
            u64::MAX - 1,
            u64::MAX,
        ];
        for unit in [
            Unit::Second,
            Unit::Minute,
            Unit::Hour,
            Unit::Day,
            Unit::Month,
        ] {
            for (remaining, reset) in numbers.iter().zip(numbers.iter().rev()) {
                let value = limit_value(unit.name(), *remaining, *reset);
                let expected = format!("\"{unit}\";r={remaining};t={reset}");
                assert_eq!(value.unwrap(), expected.as_str());
            }
        }
    }

    #[test]
    fn a_value_that_does_not_fit_is_none_not_a_panic() {
        // 8 bytes around the name, 40 of digits: a 16-byte name fills the 64 bytes.
        let value = limit_value(&"n".repeat(16), u64::MAX, u64::MAX);
        assert_eq!(value.unwrap().len(), 64);
        assert_eq!(limit_value(&"n".repeat(17), u64::MAX, u64::MAX), None);
    }

    #[cfg(feature = "macros")]
    #[test]
    fn a_routes_rule_has_its_policy_made_once_and_any_other_rule_now() {
        static ROUTES: Rules = crate::ratelimit! {
            "^/a" => [second = 10 minute = 200, unlimited @admin],
            "^/b" => [hour = 5],
        };
        static ELSEWHERE: Rules = crate::ratelimit! { "^/c" => [day = 7] };
        let policies = Policies::of(ROUTES);
        // The two limited rules; `unlimited` has no policy.
        assert_eq!(policies.0.len(), 2);
        let policy_of = |rules: Rules, route: usize, rule: usize| {
            policies.of_rule(&rules.routes()[route].rules()[rule])
        };
        assert_eq!(
            policy_of(ROUTES, 0, 0).unwrap(),
            r#""second";q=10;w=1, "minute";q=200;w=60"#
        );
        assert_eq!(policy_of(ROUTES, 1, 0).unwrap(), r#""hour";q=5;w=3600"#);
        assert_eq!(policy_of(ELSEWHERE, 0, 0).unwrap(), r#""day";q=7;w=86400"#);
    }
}

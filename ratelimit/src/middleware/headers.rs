//! Rate-limit response headers: the IETF draft's list form, or the legacy `X-RateLimit-*`.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use http::{HeaderMap, HeaderName, HeaderValue};
use ratelimit_core::{Limit, Rule};

use super::rejection::{Rejection, RejectionCause};
use crate::backend::Quota;
use crate::backend::ceil_secs;

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

/// Where a `#[rate_limited]` handler's check leaves the headers of its admission, for the
/// middleware to add to the handler's response: shared by the request's
/// [`Limiter`](super::Limiter) and the middleware's response future.
pub(crate) type HandlerHeaders = Arc<OnceLock<RateHeaders>>;

/// What the middleware adds to the response of a request it let through: its route rule's
/// headers, and those a `#[rate_limited]` handler's check left, which win when both are
/// there (the handler's rule is the more specific, and a response carries one set). Boxed
/// in the response future, and only made when there is something to add.
#[derive(Debug)]
pub(crate) struct ResponseHeaders {
    route: Option<RateHeaders>,
    handler: Option<HandlerHeaders>,
}

impl ResponseHeaders {
    /// `None` when there is nothing to add.
    #[inline]
    pub(crate) fn new(
        route: Option<RateHeaders>,
        handler: Option<HandlerHeaders>,
    ) -> Option<Box<Self>> {
        if route.is_none() && handler.is_none() {
            return None;
        }
        Some(Box::new(Self { route, handler }))
    }

    /// Adds the headers to `headers`.
    pub(crate) fn apply(self, headers: &mut HeaderMap) {
        let from_handler = self.handler.and_then(|slot| match Arc::try_unwrap(slot) {
            Ok(slot) => slot.into_inner(),
            // Someone still holds the request's `Limiter`.
            Err(slot) => slot.get().cloned(),
        });
        if let Some(chosen) = from_handler.or(self.route) {
            chosen.apply(headers);
        }
    }
}

impl RateHeaders {
    /// The headers of a request `rule` admitted, leaving `quota`.
    #[inline]
    pub(crate) fn admitted(mode: RateLimitHeaders, rule: &Rule, quota: &Quota) -> Option<Self> {
        // Without headers (the default), nothing to compute on the hot path.
        if mode == RateLimitHeaders::None {
            return None;
        }
        Self::new(
            mode,
            rule,
            quota.limit,
            quota.remaining,
            ceil_secs(quota.reset),
        )
    }

    /// The headers of a refused request; none for a `deny` rule.
    pub(crate) fn refused(mode: RateLimitHeaders, rejection: &Rejection) -> Option<Self> {
        let limit = match rejection.cause() {
            RejectionCause::Limit(limit) => limit,
            // A block has no limit of its own: report the rule's first (shortest) one, with no
            // room left until the block ends.
            RejectionCause::Blocked => *rejection.rule().limits().first()?,
            RejectionCause::Deny => return None,
        };
        let reset = rejection.retry_after_secs()?;
        Self::new(mode, rejection.rule(), limit, 0, reset)
    }

    #[inline(never)]
    fn new(
        mode: RateLimitHeaders,
        rule: &Rule,
        limit: Limit,
        remaining: u64,
        reset: u64,
    ) -> Option<Self> {
        match mode {
            RateLimitHeaders::None => None,
            RateLimitHeaders::Ietf => {
                let mut policy = String::with_capacity(24 * rule.limits().len());
                for (i, each) in rule.limits().iter().enumerate() {
                    let separator = if i == 0 { "" } else { ", " };
                    let _ = write!(
                        policy,
                        "{separator}\"{}\";q={};w={}",
                        each.unit(),
                        each.count().min(SF_INTEGER_MAX),
                        each.unit().seconds(),
                    );
                }
                let state = format!(
                    "\"{}\";r={};t={}",
                    limit.unit(),
                    remaining.min(SF_INTEGER_MAX),
                    reset.min(SF_INTEGER_MAX),
                );
                Some(Self::Ietf {
                    policy: HeaderValue::try_from(policy).ok()?,
                    limit: HeaderValue::try_from(state).ok()?,
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

//! [`Rejection`]: why the middleware refused a request, for `on_blocked`.

use std::time::Duration;

use ratelimit_core::{Limit, Rule};

use crate::auth::Identity;
use crate::backend::{Denial, DenialCause};

/// A request the limiter refused: rate limited, blocked, or denied by a `deny` rule.
///
/// This is what [`on_blocked`](super::RateLimitLayer::on_blocked) receives. A rejection is a
/// normal outcome, never a failure: failures (authentication, backend) are
/// [`CheckError`](super::CheckError)s. See the [module docs](super) for an example.
#[derive(Clone, Debug)]
pub struct Rejection {
    cause: RejectionCause,
    retry_after: Option<Duration>,
    rule: &'static Rule,
    identity: Identity,
}

/// What refused a request; see [`Rejection::cause`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectionCause {
    /// This limit of the rule has no room left (the one that frees up last, when several are
    /// exhausted).
    Limit(Limit),
    /// The user is blocked by an earlier denial of a rule with `block_time`.
    Blocked,
    /// The rule is `deny`: waiting will not help.
    Deny,
}

impl Rejection {
    /// A refusal by a `deny` rule.
    pub(crate) const fn deny(rule: &'static Rule, identity: Identity) -> Self {
        Self {
            cause: RejectionCause::Deny,
            retry_after: None,
            rule,
            identity,
        }
    }

    /// A refusal by the backend, for a limited rule.
    pub(crate) fn limited(rule: &'static Rule, identity: Identity, denial: Denial) -> Self {
        let cause = match denial.cause {
            DenialCause::Limit(limit) => RejectionCause::Limit(limit),
            DenialCause::Blocked => RejectionCause::Blocked,
        };
        Self {
            cause,
            // A backend never answers a zero wait, but a denial must never say "retry now".
            retry_after: Some(denial.retry_after.max(Duration::from_nanos(1))),
            rule,
            identity,
        }
    }

    /// What refused the request.
    #[must_use]
    pub const fn cause(&self) -> RejectionCause {
        self.cause
    }

    /// Whether waiting will not help: the rule is `deny`.
    #[must_use]
    pub const fn is_permanent(&self) -> bool {
        matches!(self.cause, RejectionCause::Deny)
    }

    /// Whether the user is blocked by an earlier denial of a rule with `block_time`.
    #[must_use]
    pub const fn is_blocked(&self) -> bool {
        matches!(self.cause, RejectionCause::Blocked)
    }

    /// The limit that refused the request, when it is one (not a block, not `deny`).
    #[must_use]
    pub const fn limit(&self) -> Option<Limit> {
        match self.cause {
            RejectionCause::Limit(limit) => Some(limit),
            RejectionCause::Blocked | RejectionCause::Deny => None,
        }
    }

    /// The time until the same request would be admitted; `None` when the rejection is
    /// permanent.
    #[must_use]
    pub const fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The `Retry-After` value: [`retry_after`](Self::retry_after) in whole seconds, rounded
    /// up, at least 1; `None` when the rejection is permanent.
    #[must_use]
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after.map(crate::backend::retry_after_secs)
    }

    /// The rule that refused the request.
    #[must_use]
    pub const fn rule(&self) -> &'static Rule {
        self.rule
    }

    /// The rule's group (the identity's group).
    #[must_use]
    pub fn group(&self) -> &'static str {
        self.rule.group()
    }

    /// The rule's zone, if it counts in one.
    #[must_use]
    pub fn zone(&self) -> Option<&'static str> {
        self.rule.zone()
    }

    /// Who made the request (under [`FirstOf`](crate::auth::FirstOf), with the tag of the
    /// authenticator that found it in its user id: `0-alice`).
    #[must_use]
    pub const fn identity(&self) -> &Identity {
        &self.identity
    }
}

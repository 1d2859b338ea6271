//! Authentication: who a request is, for counting.
//!
//! An [`Authenticate`] turns the head of a request into an [`Identity`] (a user id and a
//! group) or a typed [`AuthError`]. The middleware calls it at most once per request, and
//! only when some route matches the request's path.
//!
//! Any `async fn` from the request head to a result is an authenticator:
//!
//! ```
//! use http::request::Parts;
//! use ratelimit::auth::{AuthError, Authenticate, Identity};
//!
//! async fn from_headers(head: &Parts) -> Result<Identity, AuthError> {
//!     let user = head
//!         .headers
//!         .get("x-user")
//!         .and_then(|value| value.to_str().ok())
//!         .filter(|user| !user.is_empty())
//!         .ok_or(AuthError::MissingIdentity("no `X-User` header".into()))?;
//!     Ok(Identity::new(user))
//! }
//!
//! fn assert_authenticator(_: impl Authenticate) {}
//! assert_authenticator(from_headers);
//! ```
//!
//! # Built-in authenticators
//!
//! | authenticator | identity | feature |
//! |---|---|---|
//! | [`ClientIp`] | the client's IP address (trusted proxies' headers honoured) | always |
//! | `JwtAuth` | claims of a verified `Authorization: Bearer` JSON Web Token | `jwt` |
//! | `SessionAuth` | `user` and `group` of a `tower-sessions` session | `session` |
//! | [`HeaderAuth`] | a header's value, unverified (an API key, a gateway's user header) | always |
//! | [`FirstOf`], [`Authenticate::or`] | the first of several that finds an identity, each in its own namespace of user ids | always |
//! | [`FirstOfShared`] | the same, in one namespace | always |
//!
//! Each answers [`AuthError::MissingIdentity`] when the request carries nothing for it,
//! [`AuthError::InvalidCredentials`] when what it carries is wrong, and
//! [`AuthError::Misconfigured`] only for server mistakes (a missing layer); none panics on
//! any input.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;

use compact_str::CompactString;
use http::request::Parts;

use ratelimit_core::DEFAULT_GROUP;

mod cidr;
mod client_ip;
mod first_of;
mod forwarded;
mod header;
#[cfg(feature = "jwt")]
mod jwt;
mod request_head;
#[cfg(feature = "session")]
mod session;

pub use cidr::{Cidr, CidrParseError};
pub use client_ip::{ClientIp, ProxyHeader};
pub use first_of::{FirstOf, FirstOfShared};
pub use header::HeaderAuth;
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
// What a user names to build a `JwtAuth` (`DecodingKey`, `Algorithm`) and to match a
// `JwtConfigError` (`AlgorithmFamily`); for the rest (encoding tokens, say) depend on
// `jsonwebtoken` directly.
pub use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
#[cfg(feature = "jwt")]
pub use jwt::{JwtAuth, JwtConfigError};
pub use request_head::RequestHead;
#[cfg(feature = "session")]
pub use session::SessionAuth;

/// Implements [`Authenticate`] for authenticators that read only the request head, through
/// their `identify(&self, RequestHead<'_>) -> Result<Identity, AuthError>`: the answer is
/// known at once.
macro_rules! authenticate_from_head {
    ($($authenticator:ty),+ $(,)?) => {$(
        impl Authenticate for $authenticator {
            fn authenticate<'a>(
                &'a self,
                head: &'a Parts,
            ) -> impl Future<Output = Result<Identity, AuthError>> + Send + 'a {
                std::future::ready(self.identify(head.into()))
            }

            #[inline]
            fn authenticate_now(
                &self,
                head: RequestHead<'_>,
            ) -> Option<Result<Identity, AuthError>> {
                Some(self.identify(head))
            }
        }
    )+};
}

authenticate_from_head!(HeaderAuth, ClientIp);
#[cfg(feature = "jwt")]
authenticate_from_head!(JwtAuth);

/// Who a request is: a user id, and the group whose rules apply to it.
///
/// A user id of up to 24 bytes (an IP address, most account ids and token subjects) is kept
/// inline, so the built-in authenticators identify most requests without an allocation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    user: CompactString,
    group: Cow<'static, str>,
}

impl Identity {
    /// A user of the `"default"` group.
    #[must_use]
    pub fn new(user: impl Into<String>) -> Self {
        Self::of(CompactString::from(user.into()))
    }

    /// A user of the `"default"` group, from an id already in its inline form (no
    /// allocation when it is short).
    pub(crate) const fn of(user: CompactString) -> Self {
        Self {
            user,
            group: Cow::Borrowed(DEFAULT_GROUP),
        }
    }

    /// The same user and group, with `tag` before the user id (no allocation when the
    /// result fits inline).
    fn tagged(self, tag: &str) -> Self {
        let mut user = CompactString::with_capacity(tag.len() + self.user.len());
        user.push_str(tag);
        user.push_str(&self.user);
        Self {
            user,
            group: self.group,
        }
    }

    /// The same user, in `group`; an empty group is `"default"`.
    #[must_use]
    pub fn with_group(mut self, group: impl Into<Cow<'static, str>>) -> Self {
        let group = group.into();
        self.group = if group.is_empty() {
            Cow::Borrowed(DEFAULT_GROUP)
        } else {
            group
        };
        self
    }

    /// The user id.
    #[inline]
    #[must_use]
    pub fn user(&self) -> &str {
        self.user.as_str()
    }

    /// The group.
    #[inline]
    #[must_use]
    pub fn group(&self) -> &str {
        &self.group
    }
}

/// Why a request could not be authenticated.
///
/// By default the middleware answers 401 to the first two and 500 to the third; its
/// `on_auth_error` option decides otherwise.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carries no identity (no token, no session, no header).
    #[error("the request carries no identity: {0}")]
    MissingIdentity(Cow<'static, str>),
    /// The request carries an identity that is not valid (bad signature, expired token, …).
    #[error("the request's credentials are not valid: {0}")]
    InvalidCredentials(Cow<'static, str>),
    /// The server is set up wrongly: nothing the client can fix (a missing layer, say).
    #[error("the server's authentication is misconfigured: {0}")]
    Misconfigured(Cow<'static, str>),
}

impl AuthError {
    /// [`AuthError::MissingIdentity`] saying `message`.
    #[cold]
    #[inline(never)]
    pub(crate) fn missing(message: fmt::Arguments<'_>) -> Self {
        Self::MissingIdentity(message_of(message))
    }

    /// [`AuthError::InvalidCredentials`] saying `message`.
    #[cold]
    #[inline(never)]
    pub(crate) fn invalid(message: fmt::Arguments<'_>) -> Self {
        Self::InvalidCredentials(message_of(message))
    }
}

/// The built-in authenticators' error messages are formatted through these (out of line and
/// marked cold, so that the formatting does not sit in the code every request runs), and a
/// message without arguments is not copied.
fn message_of(message: fmt::Arguments<'_>) -> Cow<'static, str> {
    message
        .as_str()
        .map_or_else(|| Cow::Owned(message.to_string()), Cow::Borrowed)
}

/// The user of a JSON value (a token's claim, a session's value): a non-empty string, or an
/// integer in decimal. `field` names the value in the error of another type, `absent` says
/// that it is missing.
#[cfg(any(feature = "jwt", feature = "session"))]
fn json_user(
    value: Option<&serde_json::Value>,
    field: fmt::Arguments<'_>,
    absent: fmt::Arguments<'_>,
) -> Result<Identity, AuthError> {
    use serde_json::Value;
    let user = match value {
        None | Some(Value::Null) => None,
        Some(Value::String(user)) => Some(user.clone()),
        Some(Value::Number(user)) if user.is_i64() || user.is_u64() => Some(user.to_string()),
        Some(_) => {
            return Err(AuthError::invalid(format_args!(
                "{field} is not a string or an integer"
            )));
        }
    };
    user.filter(|user| !user.is_empty())
        .map(Identity::new)
        .ok_or_else(|| AuthError::missing(absent))
}

/// `identity` in the group of a JSON value (a token's claim, a session's value): a string,
/// or nothing (the default group). `field` names the value in the error of another type.
#[cfg(any(feature = "jwt", feature = "session"))]
fn with_json_group(
    identity: Identity,
    value: Option<&serde_json::Value>,
    field: fmt::Arguments<'_>,
) -> Result<Identity, AuthError> {
    use serde_json::Value;
    match value {
        None | Some(Value::Null) => Ok(identity),
        Some(Value::String(group)) => Ok(identity.with_group(group.clone())),
        Some(_) => Err(AuthError::invalid(format_args!("{field} is not a string"))),
    }
}

/// Turns the head of a request into an [`Identity`]; see the [module docs](self).
pub trait Authenticate: Send + Sync + 'static {
    /// Authenticates the request whose head is `head`.
    fn authenticate<'a>(
        &'a self,
        head: &'a Parts,
    ) -> impl Future<Output = Result<Identity, AuthError>> + Send + 'a;

    /// The same result as [`authenticate`](Self::authenticate), when it is known at once
    /// (from the request head alone, with no I/O); `None` (the default) otherwise.
    ///
    /// The middleware asks this first: when it answers, and the backend decides in process
    /// too (the in-memory backend does), the request is decided inside `Service::call`,
    /// without boxing a future, and without taking the request apart (`head` is borrowed
    /// from the request as it is: [`RequestHead::from`] a `&Parts` gives the same view). The
    /// built-in authenticators that read only the head ([`HeaderAuth`], [`ClientIp`],
    /// `JwtAuth`) answer; an `async fn` does not (it is simply awaited). An implementation
    /// must not do anything `authenticate` would not: the middleware may call `authenticate`
    /// after it when the backend cannot decide at once.
    fn authenticate_now(&self, head: RequestHead<'_>) -> Option<Result<Identity, AuthError>> {
        let _ = head;
        None
    }

    /// `self`, or `other` when `self` finds no identity ([`AuthError::MissingIdentity`]
    /// only): see [`FirstOf`], which tags each one's user ids (`0-…` from `self`, `1-…` from
    /// `other`) so that they never meet.
    fn or<B: Authenticate>(self, other: B) -> FirstOf<(Self, B)>
    where
        Self: Sized,
    {
        FirstOf((self, other))
    }
}

/// An `async fn(&Parts) -> Result<Identity, AuthError>`, for any lifetime of the head.
///
/// This helper trait names the future's type per lifetime, which `Fn` bounds alone cannot;
/// it is implemented for every such function and never needs naming.
pub trait AuthFn<'a>: Send + Sync + 'static {
    /// The function's future.
    type Future: Future<Output = Result<Identity, AuthError>> + Send + 'a;

    /// Calls the function.
    fn call(&'a self, head: &'a Parts) -> Self::Future;
}

impl<'a, F, Fut> AuthFn<'a> for F
where
    F: Fn(&'a Parts) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Identity, AuthError>> + Send + 'a,
{
    type Future = Fut;

    fn call(&'a self, head: &'a Parts) -> Fut {
        self(head)
    }
}

impl<F> Authenticate for F
where
    F: for<'a> AuthFn<'a>,
{
    fn authenticate<'a>(
        &'a self,
        head: &'a Parts,
    ) -> impl Future<Output = Result<Identity, AuthError>> + Send + 'a {
        self.call(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_group_is_the_default_group() {
        let identity = Identity::new("alice").with_group("");
        assert_eq!(identity.group(), "default");
        assert_eq!(identity.with_group("admin").group(), "admin");
    }
}

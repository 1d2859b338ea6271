//! [`FirstOf`]: the first authenticator that finds an identity; [`FirstOfShared`], the same
//! with one namespace of user ids for all.

use std::borrow::Cow;
use std::future::Future;

use http::request::Parts;

use super::{AuthError, Authenticate, Identity, RequestHead};

/// Tries authenticators in order and takes the first identity found: `FirstOf((a, b))`,
/// or `a.or(b)` ([`Authenticate::or`]). Tuples of two to eight authenticators work.
///
/// The most asked for: limit by user when the request carries a token, else by IP.
///
/// ```
/// # #[cfg(feature = "jwt")] {
/// use ratelimit::auth::{Algorithm, Authenticate, ClientIp, FirstOf, JwtAuth};
///
/// let jwt = JwtAuth::from_secret(b"a secret of at least thirty-two bytes", [Algorithm::HS256])?;
/// let auth = jwt.or(ClientIp::new());
/// // The same:
/// # let jwt = JwtAuth::from_secret(b"a secret of at least thirty-two bytes", [Algorithm::HS256])?;
/// let auth = FirstOf((jwt, ClientIp::new()));
/// # let _ = auth;
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Only a missing identity falls through
///
/// The next authenticator is tried only when one answers
/// [`AuthError::MissingIdentity`] (no token, no session, no header). Any other error ends
/// the search and is the result:
///
/// - [`AuthError::InvalidCredentials`]: the request presented credentials, and they are
///   wrong (a forged, expired or malformed token). Falling back would turn every bad token
///   into an anonymous request: the client would never learn that its token is rejected,
///   and when a later authenticator trusts something weaker (a header, a session) than an
///   earlier one, an attacker could pick the weaker one by sending a broken token.
/// - [`AuthError::Misconfigured`]: a server bug, which must show rather than quietly
///   change how requests are counted.
///
/// When every authenticator misses, the error is a `MissingIdentity` listing each one's
/// reason.
///
/// # Each authenticator has its own namespace of user ids
///
/// The user id of an identity found by the authenticator at position `i` of the tuple
/// (counted from 0) is that authenticator's user id after the tag `"{i}-"`: under
/// `jwt.or(ClientIp::new())`, a token whose user is `alice` is `0-alice`, and the anonymous
/// client at `203.0.113.9` is `1-203.0.113.9`. So a token whose user is `203.0.113.9`
/// (`0-203.0.113.9`) neither counts in nor is blocked in the pools of the client at that
/// address: pool keys are made of the user id, in every backend. The group is kept as the
/// authenticator gave it.
///
/// Every tag is one digit and a `-`, so the position can be read back from the first two
/// bytes, and no user id of one position equals one of another, whatever the
/// authenticators' own ids contain. Nesting tags again, outermost first:
/// `a.or(b).or(c)` is `FirstOf((FirstOf((a, b)), c))`, whose user ids are `0-0-…` (from
/// `a`), `0-1-…` (from `b`) and `1-…` (from `c`); `FirstOf((a, b, c))` gives `0-…`, `1-…`
/// and `2-…`.
///
/// ```
/// use http::HeaderName;
/// use ratelimit::auth::{Authenticate, ClientIp, HeaderAuth, RequestHead};
///
/// let auth = HeaderAuth::new(HeaderName::from_static("x-user")).or(ClientIp::new());
/// let request = http::Request::get("/").header("x-user", "203.0.113.9").body(())?;
/// let identity = auth.authenticate_now(RequestHead::from(&request)).expect("at once")?;
/// assert_eq!(identity.user(), "0-203.0.113.9");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// This user id is what the middleware counts with, and what it shows: in the rejection's
/// identity (`on_blocked`) and in the handlers' `Limiter::identity`. A handler that wants the
/// authenticator's own id strips the tag (`user.get(2..)`, once per level).
///
/// A tag is two bytes, a digit and `-`, so identities stay compact: a user id of up to 24
/// bytes with its tags is kept inline (no allocation), and a tagged IPv4 address of up to 14
/// characters still fits the in-memory backend's compact table keys (up to 16 characters of
/// letters, digits, `.` and `-`, where a `:` would have sent most addresses to the heap).
///
/// Where the authenticators really name the same users (two ways of presenting the same
/// account id, say), [`shared_namespace`](Self::shared_namespace) gives them one namespace.
#[derive(Clone, Copy, Debug, Default)]
pub struct FirstOf<T>(pub T);

impl<T> FirstOf<T> {
    /// The same authenticators, with their user ids in one namespace: see [`FirstOfShared`].
    ///
    /// ```
    /// use http::HeaderName;
    /// use ratelimit::auth::{Authenticate, FirstOfShared, HeaderAuth};
    ///
    /// // The same account, by its header on one path and its API key's header on another.
    /// let auth = HeaderAuth::new(HeaderName::from_static("x-account"))
    ///     .or(HeaderAuth::new(HeaderName::from_static("x-api-account")))
    ///     .shared_namespace();
    /// let _: FirstOfShared<(HeaderAuth, HeaderAuth)> = auth;
    /// ```
    #[must_use]
    pub fn shared_namespace(self) -> FirstOfShared<T> {
        FirstOfShared(self.0)
    }
}

/// [`FirstOf`] with one namespace for all its authenticators: the user id is each
/// authenticator's own, untagged, so a user id found by one is the same user, counted in the
/// same pools, as the same user id found by any other. Otherwise the same as [`FirstOf`]
/// (only a missing identity falls through, tuples of two to eight).
///
/// Made with `FirstOfShared((a, b))` or `a.or(b).shared_namespace()`
/// ([`FirstOf::shared_namespace`]).
///
/// Use it only when the authenticators name the same users and no client can choose what
/// one of them finds: under `jwt.or(ClientIp::new())` sharing lets a token whose user is
/// `203.0.113.9` count in, and get blocked in, the anonymous client's pools at that address.
///
/// It shares one level: `a.or(b).or(c).shared_namespace()` is
/// `FirstOfShared((FirstOf((a, b)), c))`, whose inner `FirstOf` still tags `a`'s and `b`'s
/// user ids (`0-…`, `1-…`); for one namespace of all three, write
/// `FirstOfShared((a, b, c))`.
#[derive(Clone, Copy, Debug, Default)]
pub struct FirstOfShared<T>(pub T);

/// The tag of each position (see [`FirstOf`]).
const TAGS: [&str; 8] = ["0-", "1-", "2-", "3-", "4-", "5-", "6-", "7-"];

/// `FirstOf`'s result: the identity found at `position`, in its namespace.
#[inline]
fn tagged(result: Result<Identity, AuthError>, position: usize) -> Result<Identity, AuthError> {
    result.map(|identity| identity.tagged(TAGS[position]))
}

#[cold]
#[inline(never)]
fn missing(reasons: &[Cow<'static, str>]) -> AuthError {
    AuthError::MissingIdentity(reasons.join("; ").into())
}

macro_rules! first_of {
    ($($name:ident . $index:tt),+) => {
        first_of!(@impl FirstOf, tagged, $($name . $index),+);
        first_of!(@impl FirstOfShared, shared, $($name . $index),+);
    };
    // The result of the authenticator at `$index`: tagged for `FirstOf`, as it was found for
    // `FirstOfShared`.
    (@result tagged, $result:expr, $index:tt) => {
        tagged($result, $index)
    };
    (@result shared, $result:expr, $index:tt) => {
        $result
    };
    (@unset $index:tt) => {
        Cow::Borrowed("")
    };
    (@impl $type:ident, $kind:ident, $($name:ident . $index:tt),+) => {
        impl<$($name: Authenticate),+> Authenticate for $type<($($name,)+)> {
            fn authenticate<'a>(
                &'a self,
                head: &'a Parts,
            ) -> impl Future<Output = Result<Identity, AuthError>> + Send + 'a {
                async move {
                    // An array, not a `Vec`: a miss that falls through allocates nothing.
                    let mut reasons = [$(first_of!(@unset $index)),+];
                    $(
                        match (self.0).$index.authenticate(head).await {
                            Err(AuthError::MissingIdentity(reason)) => reasons[$index] = reason,
                            result => return first_of!(@result $kind, result, $index),
                        }
                    )+
                    Err(missing(&reasons))
                }
            }

            /// Asks each authenticator's `authenticate_now` in order, with the same rules as
            /// `authenticate`; `None` as soon as one cannot answer at once.
            fn authenticate_now(
                &self,
                head: RequestHead<'_>,
            ) -> Option<Result<Identity, AuthError>> {
                let mut reasons = [$(first_of!(@unset $index)),+];
                $(
                    match (self.0).$index.authenticate_now(head)? {
                        Err(AuthError::MissingIdentity(reason)) => reasons[$index] = reason,
                        result => return Some(first_of!(@result $kind, result, $index)),
                    }
                )+
                Some(Err(missing(&reasons)))
            }
        }
    };
}

first_of!(A.0, B.1);
first_of!(A.0, B.1, C.2);
first_of!(A.0, B.1, C.2, D.3);
first_of!(A.0, B.1, C.2, D.3, E.4);
first_of!(A.0, B.1, C.2, D.3, E.4, F.5);
first_of!(A.0, B.1, C.2, D.3, E.4, F.5, G.6);
first_of!(A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_keeps_a_short_id_inline_and_the_group() {
        let identity = Identity::new("203.0.113.9").with_group("gold");
        let tagged = tagged(Ok(identity), 1).expect("an identity");
        assert_eq!((tagged.user(), tagged.group()), ("1-203.0.113.9", "gold"));
        assert!(!tagged.user.is_heap_allocated());
        let long = "a".repeat(22);
        let tagged = Identity::new(long.clone()).tagged(TAGS[7]);
        assert_eq!(tagged.user(), format!("7-{long}"));
        assert!(!tagged.user.is_heap_allocated(), "24 bytes fit inline");
        assert_eq!(TAGS.iter().map(|tag| tag.len()).collect::<Vec<_>>(), [2; 8]);
    }
}

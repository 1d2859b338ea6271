//! [`FirstOf`]: the first authenticator that finds an identity.

use std::future::Future;

use http::request::Parts;

use super::{AuthError, Authenticate, Identity};

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
/// The user ids of different authenticators share one namespace: if they can collide (a
/// user id that looks like an IP address), make them distinct, for instance with a
/// prefix in a wrapping `async fn`.
#[derive(Clone, Copy, Debug, Default)]
pub struct FirstOf<T>(pub T);

fn missing(reasons: &[std::borrow::Cow<'static, str>]) -> AuthError {
    AuthError::MissingIdentity(reasons.join("; ").into())
}

macro_rules! first_of {
    ($($name:ident . $index:tt),+) => {
        impl<$($name: Authenticate),+> Authenticate for FirstOf<($($name,)+)> {
            fn authenticate<'a>(
                &'a self,
                head: &'a Parts,
            ) -> impl Future<Output = Result<Identity, AuthError>> + Send + 'a {
                async move {
                    let mut reasons = Vec::new();
                    $(
                        match (self.0).$index.authenticate(head).await {
                            Err(AuthError::MissingIdentity(reason)) => reasons.push(reason),
                            result => return result,
                        }
                    )+
                    Err(missing(&reasons))
                }
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

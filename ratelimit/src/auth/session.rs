//! [`SessionAuth`]: the identity from a `tower-sessions` session (`session` feature).

use std::borrow::Cow;
use std::future::Future;

use http::request::Parts;
use serde_json::Value;
use tower_sessions::Session;

use super::{AuthError, Authenticate, Identity, json_user, with_json_group};

/// Identifies a request by the `user` and `group` keys of its
/// [`tower_sessions::Session`].
///
/// The user is a string, or an integer as its decimal string; the group a string,
/// `"default"` when absent, `null` or empty. The key names can be changed with
/// [`user_key`](Self::user_key) and [`group_key`](Self::group_key).
///
/// | the request | result |
/// |---|---|
/// | no session in its extensions: the `SessionManagerLayer` does not run before the rate limiter | [`AuthError::Misconfigured`] |
/// | no user in the session (or a `null` or empty one): not logged in | [`AuthError::MissingIdentity`] |
/// | a user that is not a string or an integer, or a group that is not a string | [`AuthError::InvalidCredentials`] |
/// | the session store fails (a database down, a record that does not decode) | [`AuthError::Misconfigured`], with the store's message |
///
/// A store failure is reported as `Misconfigured` (a 500 by default) because it is the
/// server's fault and nothing the client can fix; it must not look like a missing
/// identity, or a fallback ([`FirstOf`](super::FirstOf)) would count the request
/// elsewhere while the store is down. Tell it apart from a missing layer by its message,
/// which starts with "the session store failed".
///
/// The session layer must wrap the rate limiter, so that it runs first: in axum, add it
/// with `.layer(…)` *after* the rate limit layer.
///
/// ```
/// use ratelimit::auth::SessionAuth;
///
/// let auth = SessionAuth::new();
/// // With other keys:
/// let auth = SessionAuth::new().user_key("user_id").group_key("plan");
/// # let _ = auth;
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "session")))]
#[derive(Clone, Debug)]
pub struct SessionAuth {
    user_key: Cow<'static, str>,
    group_key: Cow<'static, str>,
}

impl SessionAuth {
    /// The `user` and `group` keys.
    #[must_use]
    pub fn new() -> Self {
        Self {
            user_key: Cow::Borrowed("user"),
            group_key: Cow::Borrowed("group"),
        }
    }

    /// The session key holding the user id (default `"user"`).
    #[must_use]
    pub fn user_key(mut self, key: impl Into<Cow<'static, str>>) -> Self {
        self.user_key = key.into();
        self
    }

    /// The session key holding the group (default `"group"`).
    #[must_use]
    pub fn group_key(mut self, key: impl Into<Cow<'static, str>>) -> Self {
        self.group_key = key.into();
        self
    }

    async fn identify(&self, session: Option<Session>) -> Result<Identity, AuthError> {
        let session = session.ok_or(AuthError::Misconfigured(NO_SESSION.into()))?;
        let user = get(&session, &self.user_key).await?;
        let identity = json_user(
            user.as_ref(),
            format_args!("the session's `{}`", self.user_key),
            format_args!("the session has no `{}`", self.user_key),
        )?;
        let group = get(&session, &self.group_key).await?;
        with_json_group(
            identity,
            group.as_ref(),
            format_args!("the session's `{}`", self.group_key),
        )
    }
}

impl Default for SessionAuth {
    fn default() -> Self {
        Self::new()
    }
}

async fn get(session: &Session, key: &str) -> Result<Option<Value>, AuthError> {
    session.get_value(key).await.map_err(|error| {
        AuthError::Misconfigured(format!("the session store failed: {error}").into())
    })
}

const NO_SESSION: &str = "the request has no session: add `tower_sessions::SessionManagerLayer` \
     so that it runs before the rate limiter (in axum, `.layer(session_layer)` after the rate \
     limit layer)";

impl Authenticate for SessionAuth {
    fn authenticate<'a>(
        &'a self,
        head: &'a Parts,
    ) -> impl Future<Output = Result<Identity, AuthError>> + Send + 'a {
        // `Session` is an `Arc` inside: clone it out of the extensions.
        self.identify(head.extensions.get::<Session>().cloned())
    }
}

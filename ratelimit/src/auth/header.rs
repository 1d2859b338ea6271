//! [`HeaderAuth`]: the identity from request headers (an API key, a gateway's user header).

use compact_str::CompactString;
use http::{HeaderMap, HeaderName};

use super::{AuthError, Identity, RequestHead};

/// Identifies a request by the value of a header (an API key, or the user header of an
/// authenticating gateway such as `X-Forwarded-User`), with an optional group header.
///
/// **The values are taken as they are, unverified.** Use it only where the header can be
/// trusted: set by a gateway that authenticates requests and strips the client's own
/// header, or as the key of a limit whose cost to the client is nothing but its own
/// requests (any client can send any value, so a per-key limit alone does not stop one
/// client from using many keys). A group header in particular lets any client that can
/// set it pick its own limits (`X-Group: admin`). To check API keys, or to avoid storing
/// them as rate-limit keys, write an `async fn` that looks the key up (see the
/// [module docs](super)).
///
/// | the header | result |
/// |---|---|
/// | absent, or empty | [`AuthError::MissingIdentity`] |
/// | sent more than once | [`AuthError::InvalidCredentials`] (ambiguous) |
/// | not UTF-8, or longer than [`max_len`](Self::max_len) | [`AuthError::InvalidCredentials`] |
/// | otherwise | the user id (surrounding whitespace trimmed) |
///
/// The group header follows the same rules, except that absent or empty is the
/// `"default"` group.
///
/// ```
/// use http::HeaderName;
/// use ratelimit::auth::{Authenticate, HeaderAuth};
///
/// let auth = HeaderAuth::new(HeaderName::from_static("x-api-key"))
///     .group_header(HeaderName::from_static("x-api-tier"));
///
/// let (head, ()) = http::Request::get("/")
///     .header("x-api-key", "k-123")
///     .header("x-api-tier", "gold")
///     .body(())?
///     .into_parts();
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let identity = auth.authenticate(&head).await?;
/// assert_eq!((identity.user(), identity.group()), ("k-123", "gold"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct HeaderAuth {
    user: HeaderName,
    group: Option<HeaderName>,
    max_len: usize,
}

impl HeaderAuth {
    /// The default [`max_len`](Self::max_len): 256 bytes.
    pub const DEFAULT_MAX_LEN: usize = 256;

    /// The user id from the header `user`; every request in the `"default"` group.
    #[must_use]
    pub fn new(user: HeaderName) -> Self {
        Self {
            user,
            group: None,
            max_len: Self::DEFAULT_MAX_LEN,
        }
    }

    /// The group from the header `group` (`"default"` when absent or empty).
    #[must_use]
    pub fn group_header(mut self, group: HeaderName) -> Self {
        self.group = Some(group);
        self
    }

    /// The longest value accepted, in bytes, for the user and the group.
    #[must_use]
    pub fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    #[inline]
    pub(super) fn identify(&self, head: RequestHead<'_>) -> Result<Identity, AuthError> {
        let user = self
            .value(head.headers, &self.user)?
            .ok_or_else(|| AuthError::missing(format_args!("no `{}` header", self.user)))?;
        let identity = Identity::of(CompactString::new(user));
        Ok(match &self.group {
            Some(group) => match self.value(head.headers, group)? {
                Some(group) => identity.with_group(group.to_owned()),
                None => identity,
            },
            None => identity,
        })
    }

    /// The trimmed value of `name`: `None` if absent or empty.
    fn value<'h>(
        &self,
        headers: &'h HeaderMap,
        name: &HeaderName,
    ) -> Result<Option<&'h str>, AuthError> {
        let mut values = headers.get_all(name).iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(AuthError::invalid(format_args!(
                "the `{name}` header is sent more than once"
            )));
        }
        if value.len() > self.max_len {
            return Err(AuthError::invalid(format_args!(
                "the `{name}` header is longer than {} bytes",
                self.max_len
            )));
        }
        // Visible ASCII (what ids and group names nearly always are) is checked in one pass
        // by `to_str`, which is cheaper than `from_utf8` for short values; anything else
        // must be UTF-8.
        let value = match value.to_str() {
            Ok(value) => value,
            Err(_) => std::str::from_utf8(value.as_bytes()).map_err(|_| {
                AuthError::invalid(format_args!("the `{name}` header is not UTF-8"))
            })?,
        };
        let blank = |byte: u8| byte == b' ' || byte == b'\t';
        let value = match value.as_bytes() {
            [first, .., last] if !blank(*first) && !blank(*last) => value,
            _ => value.trim_matches([' ', '\t']),
        };
        Ok((!value.is_empty()).then_some(value))
    }
}

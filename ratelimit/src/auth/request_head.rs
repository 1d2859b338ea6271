//! [`RequestHead`]: a borrowed view of a request's head.

use http::request::Parts;
use http::{Extensions, HeaderMap, Method, Request, Uri, Version};

/// The head of a request, borrowed: what an authenticator that answers at once
/// ([`Authenticate::authenticate_now`](super::Authenticate::authenticate_now)) reads.
///
/// It has the fields of [`Parts`] (by reference, but the version, which is copied), and is
/// made with `From`, from a `&Parts` or a `&Request<B>` alike (it is `#[non_exhaustive]`, so
/// that fields can be added as `Parts` gains them). The middleware lends it straight from
/// the request it is given, so that deciding a request at once does not take the request
/// apart and put it back together (each a copy of a few hundred bytes).
///
/// ```
/// use ratelimit::auth::RequestHead;
///
/// let request = http::Request::get("/").header("x-api-key", "k-123").body(())?;
/// let head = RequestHead::from(&request);
/// assert_eq!(head.headers["x-api-key"], "k-123");
/// assert_eq!(head.uri.path(), "/");
/// # Ok::<(), http::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct RequestHead<'a> {
    /// The request's method.
    pub method: &'a Method,
    /// The request's URI.
    pub uri: &'a Uri,
    /// The request's HTTP version.
    pub version: Version,
    /// The request's headers.
    pub headers: &'a HeaderMap,
    /// The request's extensions (where axum's `ConnectInfo` and a session layer's session
    /// are).
    pub extensions: &'a Extensions,
}

impl<'a> From<&'a Parts> for RequestHead<'a> {
    #[inline]
    fn from(head: &'a Parts) -> Self {
        Self {
            method: &head.method,
            uri: &head.uri,
            version: head.version,
            headers: &head.headers,
            extensions: &head.extensions,
        }
    }
}

impl<'a, B> From<&'a Request<B>> for RequestHead<'a> {
    #[inline]
    fn from(request: &'a Request<B>) -> Self {
        Self {
            method: request.method(),
            uri: request.uri(),
            version: request.version(),
            headers: request.headers(),
            extensions: request.extensions(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_and_its_parts_give_the_same_head() {
        let mut request = Request::post("/upload?x=1")
            .version(Version::HTTP_2)
            .header("x-user", "alice")
            .body(())
            .expect("a valid request");
        request.extensions_mut().insert(7_u8);
        let from_request = format!("{:?}", RequestHead::from(&request));
        let (parts, ()) = request.into_parts();
        let head = RequestHead::from(&parts);
        assert_eq!(format!("{head:?}"), from_request);
        assert_eq!(head.method, Method::POST);
        assert_eq!(head.uri.path(), "/upload");
        assert_eq!(head.version, Version::HTTP_2);
        assert_eq!(head.headers["x-user"], "alice");
        assert_eq!(head.extensions.get::<u8>(), Some(&7));
    }
}

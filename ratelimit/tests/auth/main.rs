//! The built-in authenticators, called on request heads.

mod client_ip;
mod first_of;
mod header;
// It checks `JwtAuth` alongside the others.
#[cfg(feature = "jwt")]
mod hostile_headers;
#[cfg(feature = "jwt")]
mod jwt;
#[cfg(feature = "session")]
mod session;

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use http::request::Parts;
use ratelimit::auth::{AuthError, Authenticate, ClientIp, HeaderAuth, Identity, RequestHead};

/// Request headers, as raw bytes (not all are UTF-8).
pub(crate) type Headers<'a> = &'a [(&'a str, &'a [u8])];

/// A request head with `headers` (raw bytes: not all are UTF-8) and, if given, a peer.
pub(crate) fn head(peer: Option<&str>, headers: Headers<'_>) -> Parts {
    let mut request = http::Request::get("/api");
    for (name, value) in headers {
        request = request.header(*name, http::HeaderValue::from_bytes(value).unwrap());
    }
    let (mut head, ()) = request.body(()).unwrap().into_parts();
    if let Some(peer) = peer {
        let peer: SocketAddr = peer.parse().unwrap();
        head.extensions.insert(ConnectInfo(peer));
    }
    head
}

/// What an authenticator answered, in a form tables can compare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// `(user, group)`.
    Ok(String, String),
    Missing,
    Invalid,
    Misconfigured,
}

pub(crate) fn ok(user: &str, group: &str) -> Outcome {
    Outcome::Ok(user.to_owned(), group.to_owned())
}

impl From<Result<Identity, AuthError>> for Outcome {
    fn from(result: Result<Identity, AuthError>) -> Self {
        match result {
            Ok(identity) => Self::Ok(identity.user().to_owned(), identity.group().to_owned()),
            Err(AuthError::MissingIdentity(_)) => Self::Missing,
            Err(AuthError::InvalidCredentials(_)) => Self::Invalid,
            Err(AuthError::Misconfigured(_)) => Self::Misconfigured,
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
}

/// Runs `auth` on `head` to completion. An authenticator that also answers at once
/// (`authenticate_now`, given the same head as a `RequestHead`) must answer the same, to the
/// error's message: the middleware asks that first.
pub(crate) fn run(auth: &impl Authenticate, head: &Parts) -> Result<Identity, AuthError> {
    let result = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(auth.authenticate(head));
    if let Some(now) = auth.authenticate_now(RequestHead::from(head)) {
        assert_eq!(
            format!("{now:?}"),
            format!("{result:?}"),
            "`authenticate_now` and `authenticate` disagree"
        );
    }
    result
}

pub(crate) fn outcome(auth: &impl Authenticate, head: &Parts) -> Outcome {
    run(auth, head).into()
}

/// The authenticators that read only the head answer at once, from a request as it is
/// (which is how the middleware asks them), without taking it apart.
#[test]
fn head_only_authenticators_answer_at_once_from_a_request() {
    let mut request = http::Request::get("/api")
        .header("x-user", "alice")
        .body(())
        .unwrap();
    let peer: SocketAddr = "192.0.2.7:4000".parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    let head = RequestHead::from(&request);
    let user = HeaderAuth::new(http::HeaderName::from_static("x-user"));
    let answers = [
        user.authenticate_now(head).map(Outcome::from),
        ClientIp::new().authenticate_now(head).map(Outcome::from),
    ];
    assert_eq!(
        answers,
        [
            Some(ok("alice", "default")),
            Some(ok("192.0.2.7", "default"))
        ]
    );
    assert_eq!(
        ClientIp::new().client_addr(&request).unwrap(),
        peer.ip(),
        "`client_addr` takes a request as well as its parts"
    );
}

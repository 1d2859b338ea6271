//! The built-in authenticators, called on request heads.

mod client_ip;
mod first_of;
mod header;
#[cfg(feature = "jwt")]
mod jwt;
#[cfg(feature = "session")]
mod session;

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use http::request::Parts;
use ratelimit::auth::{AuthError, Authenticate, Identity};

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
#[derive(Debug, PartialEq, Eq)]
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

/// Runs `auth` on `head` to completion.
pub(crate) fn run(auth: &impl Authenticate, head: &Parts) -> Result<Identity, AuthError> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(auth.authenticate(head))
}

pub(crate) fn outcome(auth: &impl Authenticate, head: &Parts) -> Outcome {
    run(auth, head).into()
}

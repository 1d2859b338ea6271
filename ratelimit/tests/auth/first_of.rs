use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::HeaderName;
use http::request::Parts;
use ratelimit::auth::{AuthError, Authenticate, ClientIp, FirstOf, HeaderAuth, Identity};

use crate::{Outcome, head, ok, outcome, run};

async fn missing(_: &Parts) -> Result<Identity, AuthError> {
    Err(AuthError::MissingIdentity("nothing here".into()))
}

async fn invalid(_: &Parts) -> Result<Identity, AuthError> {
    Err(AuthError::InvalidCredentials("bad token".into()))
}

async fn misconfigured(_: &Parts) -> Result<Identity, AuthError> {
    Err(AuthError::Misconfigured("no layer".into()))
}

async fn alice(_: &Parts) -> Result<Identity, AuthError> {
    Ok(Identity::new("alice").with_group("admin"))
}

/// Counts its calls, and finds no identity.
#[derive(Clone, Default)]
struct Counter(Arc<AtomicUsize>);

impl Authenticate for Counter {
    fn authenticate<'a>(
        &'a self,
        _: &'a Parts,
    ) -> impl Future<Output = Result<Identity, AuthError>> + Send + 'a {
        self.0.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Err(AuthError::MissingIdentity("counted".into())))
    }
}

#[test]
fn only_a_missing_identity_falls_through() {
    let head = head(Some("198.51.100.1:1"), &[]);
    assert_eq!(
        outcome(&FirstOf((alice, missing)), &head),
        ok("alice", "admin")
    );
    assert_eq!(
        outcome(&FirstOf((missing, alice)), &head),
        ok("alice", "admin")
    );
    assert_eq!(
        outcome(&FirstOf((missing, missing, alice)), &head),
        ok("alice", "admin")
    );
    assert_eq!(outcome(&FirstOf((invalid, alice)), &head), Outcome::Invalid);
    assert_eq!(
        outcome(&FirstOf((misconfigured, alice)), &head),
        Outcome::Misconfigured
    );
    assert_eq!(
        outcome(&FirstOf((missing, invalid, alice)), &head),
        Outcome::Invalid
    );
    assert_eq!(
        outcome(
            &FirstOf((
                missing, missing, missing, missing, missing, missing, missing, alice
            )),
            &head
        ),
        ok("alice", "admin")
    );
    assert_eq!(
        outcome(&missing.or(ClientIp::new()), &head),
        ok("198.51.100.1", "default")
    );
    assert_eq!(
        outcome(&missing.or(missing).or(alice), &head),
        ok("alice", "admin")
    );
}

#[test]
fn all_missing_lists_every_reason() {
    let head = head(None, &[]);
    let api_key = HeaderAuth::new(HeaderName::from_static("x-api-key"));
    let error = run(&FirstOf((missing, api_key)), &head).unwrap_err();
    let AuthError::MissingIdentity(reason) = error else {
        panic!("{error:?}")
    };
    assert_eq!(reason, "nothing here; no `x-api-key` header");
}

#[test]
fn later_authenticators_are_not_called_after_a_result() {
    let counter = Counter::default();
    let head = head(None, &[]);
    assert_eq!(
        outcome(&FirstOf((alice, counter.clone())), &head),
        ok("alice", "admin")
    );
    assert_eq!(
        outcome(&FirstOf((invalid, counter.clone())), &head),
        Outcome::Invalid
    );
    assert_eq!(counter.0.load(Ordering::SeqCst), 0);
    assert_eq!(
        outcome(&FirstOf((counter.clone(), counter.clone())), &head),
        Outcome::Missing
    );
    assert_eq!(counter.0.load(Ordering::SeqCst), 2);
}

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::HeaderName;
use http::request::Parts;
use ratelimit::auth::{
    AuthError, Authenticate, ClientIp, FirstOf, FirstOfShared, HeaderAuth, Identity, RequestHead,
};

use crate::{Headers, Outcome, head, ok, outcome, run};

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

/// Answers the same, at once and awaited.
#[derive(Clone, Copy)]
struct AtOnce(fn() -> Result<Identity, AuthError>);

impl Authenticate for AtOnce {
    fn authenticate<'a>(
        &'a self,
        _: &'a Parts,
    ) -> impl Future<Output = Result<Identity, AuthError>> + Send + 'a {
        std::future::ready((self.0)())
    }

    fn authenticate_now(&self, _: RequestHead<'_>) -> Option<Result<Identity, AuthError>> {
        Some((self.0)())
    }
}

const AT_ONCE_MISSING: AtOnce = AtOnce(|| Err(AuthError::MissingIdentity("none now".into())));
const AT_ONCE_INVALID: AtOnce = AtOnce(|| Err(AuthError::InvalidCredentials("bad now".into())));
const AT_ONCE_MISCONFIGURED: AtOnce = AtOnce(|| Err(AuthError::Misconfigured("no layer".into())));
const AT_ONCE_BOB: AtOnce = AtOnce(|| Ok(Identity::new("bob").with_group("gold")));

/// `HeaderAuth` on `x-<name>`, with its group in `x-group`.
fn header(name: &str) -> HeaderAuth {
    HeaderAuth::new(HeaderName::try_from(format!("x-{name}")).unwrap())
        .group_header(HeaderName::from_static("x-group"))
}

/// What `auth` answers at once, if it does.
fn now(auth: &impl Authenticate, head: &Parts) -> Option<Outcome> {
    auth.authenticate_now(RequestHead::from(head))
        .map(Outcome::from)
}

/// The user id `auth` finds (`run` also checks that `authenticate_now` agrees, when it
/// answers).
fn user(auth: &impl Authenticate, head: &Parts) -> String {
    run(auth, head).unwrap().user().to_owned()
}

#[test]
fn only_a_missing_identity_falls_through() {
    let head = head(Some("198.51.100.1:1"), &[]);
    assert_eq!(
        outcome(&FirstOf((alice, missing)), &head),
        ok("0-alice", "admin")
    );
    assert_eq!(
        outcome(&FirstOf((missing, alice)), &head),
        ok("1-alice", "admin")
    );
    assert_eq!(
        outcome(&FirstOf((missing, missing, alice)), &head),
        ok("2-alice", "admin")
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
        ok("7-alice", "admin")
    );
    assert_eq!(
        outcome(&missing.or(ClientIp::new()), &head),
        ok("1-198.51.100.1", "default")
    );
    assert_eq!(
        outcome(&missing.or(missing).or(alice), &head),
        ok("1-alice", "admin")
    );
}

#[test]
fn all_missing_lists_every_reason() {
    let head = head(None, &[]);
    let api_key = HeaderAuth::new(HeaderName::from_static("x-api-key"));
    let error = run(&FirstOf((missing, api_key.clone())), &head).unwrap_err();
    let AuthError::MissingIdentity(reason) = error else {
        panic!("{error:?}")
    };
    assert_eq!(reason, "nothing here; no `x-api-key` header");
    // The same at once, when every authenticator answers at once.
    let auth = FirstOf((AT_ONCE_MISSING, api_key));
    let Some(Err(AuthError::MissingIdentity(reason))) =
        auth.authenticate_now(RequestHead::from(&head))
    else {
        panic!("not a missing identity at once")
    };
    assert_eq!(reason, "none now; no `x-api-key` header");
    // And the same awaited (`run` compares it with the answer at once).
    assert_eq!(outcome(&auth, &head), Outcome::Missing);
}

#[test]
fn later_authenticators_are_not_called_after_a_result() {
    let counter = Counter::default();
    let head = head(None, &[]);
    assert_eq!(
        outcome(&FirstOf((alice, counter.clone())), &head),
        ok("0-alice", "admin")
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

/// A JWT whose user is an IP address is not the anonymous client at that address.
#[cfg(feature = "jwt")]
#[test]
fn a_jwt_user_named_like_an_ip_address_is_not_that_address() {
    use crate::jwt::{hmac_auth, hs256};
    use serde_json::json;

    let token = format!("Bearer {}", hs256(&json!({"user": "203.0.113.9"})));
    let with_token = head(
        Some("198.51.100.1:1"),
        &[("authorization", token.as_bytes())],
    );
    let anonymous = head(Some("203.0.113.9:1"), &[]);
    let auth = hmac_auth().or(ClientIp::new());
    assert_eq!(outcome(&auth, &with_token), ok("0-203.0.113.9", "default"));
    assert_eq!(outcome(&auth, &anonymous), ok("1-203.0.113.9", "default"));
    // Both answer at once (the fast path), tagged the same.
    assert_eq!(
        now(&auth, &with_token),
        Some(ok("0-203.0.113.9", "default"))
    );
    assert_eq!(now(&auth, &anonymous), Some(ok("1-203.0.113.9", "default")));
    // Shared on request: the same user id.
    let shared = hmac_auth().or(ClientIp::new()).shared_namespace();
    assert_eq!(user(&shared, &with_token), "203.0.113.9");
    assert_eq!(user(&shared, &anonymous), "203.0.113.9");
    // A bad token still ends the search, at once as awaited.
    let forged = head(Some("203.0.113.9:1"), &[("authorization", b"Bearer a.b.c")]);
    assert_eq!(outcome(&auth, &forged), Outcome::Invalid);
    assert_eq!(now(&auth, &forged), Some(Outcome::Invalid));
}

/// Ids chosen to collide if the tags were ambiguous: tag-like, separator-like, short.
const TRICKY: &[&str] = &[
    "u", "0", "0-", "0-u", "1-u", "0-0-u", "-", "--u", "7-", "%{}",
];

/// The head of a request that only the authenticator on header `x-<name>` identifies, as
/// `user`.
fn only(name: &str, user: &str) -> Parts {
    let header = format!("x-{name}");
    let headers: Headers<'_> = &[(header.as_str(), user.as_bytes())];
    head(None, headers)
}

/// `auth`'s user id for each of `TRICKY` found by each of `names`: no two are equal.
fn assert_no_collisions(auth: &impl Authenticate, names: &[&str], what: &str) {
    let mut seen = std::collections::BTreeMap::new();
    for name in names {
        for id in TRICKY {
            let found = user(auth, &only(name, id));
            if let Some(other) = seen.insert(found.clone(), (*name, *id)) {
                panic!("{what}: {found:?} from both {other:?} and {:?}", (name, id));
            }
        }
    }
}

#[test]
fn positions_never_share_a_user_id() {
    let auth = FirstOf((header("a"), header("b"), header("c")));
    assert_eq!(user(&auth, &only("a", "u")), "0-u");
    assert_eq!(user(&auth, &only("b", "u")), "1-u");
    assert_eq!(user(&auth, &only("c", "u")), "2-u");
    assert_eq!(user(&auth, &only("c", "0-u")), "2-0-u");
    assert_no_collisions(&auth, &["a", "b", "c"], "FirstOf((a, b, c))");
    let eight = FirstOf((
        header("a"),
        header("b"),
        header("c"),
        header("d"),
        header("e"),
        header("f"),
        header("g"),
        header("h"),
    ));
    assert_eq!(user(&eight, &only("h", "u")), "7-u");
    assert_no_collisions(&eight, &["a", "b", "c", "d", "e", "f", "g", "h"], "eight");
}

#[test]
fn nested_or_tags_each_level_outermost_first() {
    let auth = header("a").or(header("b")).or(header("c"));
    assert_eq!(user(&auth, &only("a", "u")), "0-0-u");
    assert_eq!(user(&auth, &only("b", "u")), "0-1-u");
    assert_eq!(user(&auth, &only("c", "u")), "1-u");
    // `c`'s id that spells `a`'s tagged id is still apart.
    assert_eq!(user(&auth, &only("c", "0-u")), "1-0-u");
    assert_no_collisions(&auth, &["a", "b", "c"], "a.or(b).or(c)");
    let right = FirstOf((header("a"), header("b").or(header("c"))));
    assert_eq!(user(&right, &only("a", "u")), "0-u");
    assert_eq!(user(&right, &only("b", "u")), "1-0-u");
    assert_eq!(user(&right, &only("c", "u")), "1-1-u");
    assert_no_collisions(&right, &["a", "b", "c"], "FirstOf((a, b.or(c)))");
}

#[test]
fn a_shared_namespace_gives_equal_user_ids() {
    let auth = header("a").or(header("b")).shared_namespace();
    assert_eq!(user(&auth, &only("a", "u")), "u");
    assert_eq!(user(&auth, &only("b", "u")), "u");
    let three = FirstOfShared((header("a"), header("b"), header("c")));
    for name in ["a", "b", "c"] {
        assert_eq!(user(&three, &only(name, "0-u")), "0-u", "{name}");
    }
    // One level only: the inner `FirstOf` still tags.
    let outer = header("a")
        .or(header("b"))
        .or(header("c"))
        .shared_namespace();
    assert_eq!(user(&outer, &only("a", "u")), "0-u");
    assert_eq!(user(&outer, &only("b", "u")), "1-u");
    assert_eq!(user(&outer, &only("c", "u")), "u");
    // And inside a `FirstOf`, the shared pair is one position.
    let inner = header("a")
        .or(header("b"))
        .shared_namespace()
        .or(header("c"));
    assert_eq!(user(&inner, &only("a", "u")), "0-u");
    assert_eq!(user(&inner, &only("b", "u")), "0-u");
    assert_eq!(user(&inner, &only("c", "u")), "1-u");
    // Only a missing identity falls through there too.
    assert_eq!(
        outcome(&FirstOfShared((invalid, alice)), &head(None, &[])),
        Outcome::Invalid
    );
    assert_eq!(
        outcome(&FirstOfShared((missing, alice)), &head(None, &[])),
        ok("alice", "admin")
    );
}

#[test]
fn the_group_is_kept() {
    let grouped = |name: &str, user: &str, group: &str| {
        let header = format!("x-{name}");
        head(
            None,
            &[
                (header.as_str(), user.as_bytes()),
                ("x-group", group.as_bytes()),
            ],
        )
    };
    let auth = header("a").or(header("b")).or(header("c"));
    assert_eq!(
        outcome(&auth, &grouped("b", "u", "gold")),
        ok("0-1-u", "gold")
    );
    assert_eq!(
        outcome(&auth, &grouped("c", "u", "admin")),
        ok("1-u", "admin")
    );
    assert_eq!(outcome(&auth, &only("a", "u")), ok("0-0-u", "default"));
    assert_eq!(
        outcome(&auth.clone().shared_namespace(), &grouped("c", "u", "gold")),
        ok("u", "gold")
    );
    assert_eq!(
        outcome(&FirstOf((AT_ONCE_MISSING, AT_ONCE_BOB)), &head(None, &[])),
        ok("1-bob", "gold")
    );
    // A long id (on the heap) keeps its group too.
    let long = "x".repeat(100);
    assert_eq!(
        outcome(&auth, &grouped("a", &long, "silver")),
        ok(&format!("0-0-{long}"), "silver")
    );
}

/// Every kind of answer, at once and awaited: `run` checks that they agree (to the error's
/// message); here, also when the answer comes at once and when it does not.
#[test]
fn authenticate_now_agrees_with_authenticate() {
    let empty = head(Some("192.0.2.7:1"), &[]);
    let no_peer = head(None, &[]);
    let with_a = only("a", "u");
    let a = header("a");

    // Present.
    let auth = FirstOf((a.clone(), ClientIp::new()));
    assert_eq!(now(&auth, &with_a), Some(ok("0-u", "default")));
    assert_eq!(outcome(&auth, &with_a), ok("0-u", "default"));
    assert_eq!(now(&auth, &empty), Some(ok("1-192.0.2.7", "default")));
    assert_eq!(outcome(&auth, &empty), ok("1-192.0.2.7", "default"));
    let shared = auth.clone().shared_namespace();
    assert_eq!(now(&shared, &empty), Some(ok("192.0.2.7", "default")));
    assert_eq!(outcome(&shared, &empty), ok("192.0.2.7", "default"));

    // Missing everywhere.
    let auth = FirstOf((a.clone(), AT_ONCE_MISSING, header("b")));
    assert_eq!(now(&auth, &empty), Some(Outcome::Missing));
    assert_eq!(outcome(&auth, &empty), Outcome::Missing);

    // Invalid, misconfigured: the end, later ones not asked.
    for (auth, want) in [
        (FirstOf((a.clone(), AT_ONCE_INVALID)), Outcome::Invalid),
        (
            FirstOf((a.clone(), AT_ONCE_MISCONFIGURED)),
            Outcome::Misconfigured,
        ),
    ] {
        let auth = auth.or(AT_ONCE_BOB);
        assert_eq!(now(&auth, &empty), Some(want.clone()));
        assert_eq!(outcome(&auth, &empty), want);
    }
    // `ClientIp` without `ConnectInfo` is misconfigured.
    let auth = FirstOf((a.clone(), ClientIp::new(), AT_ONCE_BOB));
    assert_eq!(now(&auth, &no_peer), Some(Outcome::Misconfigured));
    assert_eq!(outcome(&auth, &no_peer), Outcome::Misconfigured);

    // An `async fn` reached: no answer at once, and the awaited answer.
    let auth = FirstOf((a.clone(), alice));
    assert_eq!(now(&auth, &empty), None);
    assert_eq!(outcome(&auth, &empty), ok("1-alice", "admin"));
    let auth = FirstOf((missing, a.clone()));
    assert_eq!(now(&auth, &with_a), None);
    assert_eq!(outcome(&auth, &with_a), ok("1-u", "default"));
    let auth = FirstOf((a.clone(), AT_ONCE_MISSING, invalid));
    assert_eq!(now(&auth, &empty), None);
    assert_eq!(outcome(&auth, &empty), Outcome::Invalid);
    // An `async fn` not reached: an answer at once.
    let auth = FirstOf((a.clone(), alice));
    assert_eq!(now(&auth, &with_a), Some(ok("0-u", "default")));
    let auth = FirstOf((AT_ONCE_INVALID, alice));
    assert_eq!(now(&auth, &empty), Some(Outcome::Invalid));
    // Nested: the inner one answers at once, or not.
    let auth = a.clone().or(header("b")).or(ClientIp::new());
    assert_eq!(now(&auth, &only("b", "u")), Some(ok("0-1-u", "default")));
    assert_eq!(now(&auth, &empty), Some(ok("1-192.0.2.7", "default")));
    let auth = a.or(missing).or(ClientIp::new());
    assert_eq!(now(&auth, &empty), None);
    assert_eq!(outcome(&auth, &empty), ok("1-192.0.2.7", "default"));
}

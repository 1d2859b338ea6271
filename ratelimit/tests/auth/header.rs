use http::HeaderName;
use ratelimit::auth::HeaderAuth;

use crate::{Headers, Outcome, head, ok, outcome};

#[test]
fn user_and_group_headers() {
    let auth = HeaderAuth::new(HeaderName::from_static("user"))
        .group_header(HeaderName::from_static("group"));
    let long = vec![b'a'; 257];
    let cases: &[(Headers<'_>, Outcome)] = &[
        // The original's test helper.
        (
            &[("user", b"user"), ("group", b"default")],
            ok("user", "default"),
        ),
        (
            &[("user", b"admin-user"), ("group", b"admin")],
            ok("admin-user", "admin"),
        ),
        (&[("user", b"user")], ok("user", "default")),
        (&[("user", b"user"), ("group", b"")], ok("user", "default")),
        (&[("user", b"  padded\t")], ok("padded", "default")),
        (&[("user", "José".as_bytes())], ok("José", "default")),
        (&[], Outcome::Missing),
        (&[("user", b"")], Outcome::Missing),
        (&[("user", b"   ")], Outcome::Missing),
        (&[("group", b"admin")], Outcome::Missing),
        (&[("user", b"a"), ("user", b"b")], Outcome::Invalid),
        (
            &[("user", b"a"), ("group", b"x"), ("group", b"y")],
            Outcome::Invalid,
        ),
        (&[("user", b"\xff\xfe")], Outcome::Invalid),
        (&[("user", b"a"), ("group", b"\xff")], Outcome::Invalid),
        (&[("user", &long)], Outcome::Invalid),
        (&[("user", b"a"), ("group", &long)], Outcome::Invalid),
    ];
    for (headers, want) in cases {
        assert_eq!(&outcome(&auth, &head(None, headers)), want, "{headers:?}");
    }
}

#[test]
fn without_a_group_header_the_group_is_default() {
    let auth = HeaderAuth::new(HeaderName::from_static("x-api-key")).max_len(4);
    let cases: &[(Headers<'_>, Outcome)] = &[
        (
            &[("x-api-key", b"k1"), ("group", b"admin")],
            ok("k1", "default"),
        ),
        (&[("x-api-key", b"k1234")], Outcome::Invalid),
    ];
    for (headers, want) in cases {
        assert_eq!(&outcome(&auth, &head(None, headers)), want, "{headers:?}");
    }
}

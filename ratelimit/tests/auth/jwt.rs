use std::time::Duration;

use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
use ratelimit::auth::{Algorithm, AuthError, JwtAuth, JwtConfigError};
use serde_json::{Value, json};

use crate::{Outcome, head, ok, outcome, run};

const SECRET: &[u8] = b"test-key, long enough for HS512: 64 bytes of HMAC secret........";
const OTHER_SECRET: &[u8] = b"another key, long enough for HS512: 64 bytes of HMAC secret.....";
const RSA_PRIVATE: &[u8] = include_bytes!("../fixtures/rsa_private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("../fixtures/rsa_public.pem");
const RSA2_PRIVATE: &[u8] = include_bytes!("../fixtures/rsa2_private.pem");
const EC_PRIVATE: &[u8] = include_bytes!("../fixtures/ec_private.pem");
const EC_PUBLIC: &[u8] = include_bytes!("../fixtures/ec_public.pem");
const EC384_PRIVATE: &[u8] = include_bytes!("../fixtures/ec384_private.pem");
const EC384_PUBLIC: &[u8] = include_bytes!("../fixtures/ec384_public.pem");
const ED_PRIVATE: &[u8] = include_bytes!("../fixtures/ed_private.pem");
const ED_PUBLIC: &[u8] = include_bytes!("../fixtures/ed_public.pem");

fn now() -> i64 {
    i64::try_from(get_current_timestamp()).unwrap()
}

fn hmac(secret: &[u8], alg: Algorithm, claims: &Value) -> String {
    encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret).unwrap(),
    )
    .unwrap()
}

pub(crate) fn hs256(claims: &Value) -> String {
    hmac(SECRET, Algorithm::HS256, claims)
}

fn signed(alg: Algorithm, private_pem: &[u8], claims: &Value) -> String {
    let key = match alg {
        Algorithm::RS256 | Algorithm::PS256 => EncodingKey::from_rsa_pem(private_pem),
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(private_pem),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(private_pem),
        _ => unreachable!(),
    };
    encode(&Header::new(alg), claims, &key.unwrap()).unwrap()
}

/// A head with `Authorization: <value>`.
fn authorization(value: &[u8]) -> http::request::Parts {
    head(None, &[("authorization", value)])
}

fn bearer(token: &str) -> http::request::Parts {
    authorization(format!("Bearer {token}").as_bytes())
}

/// The original's authenticator: `create_jwt_auth("test-key", ["HS256", "HS512"])`.
pub(crate) fn hmac_auth() -> JwtAuth {
    JwtAuth::from_secret(SECRET, [Algorithm::HS256, Algorithm::HS512]).unwrap()
}

#[test]
fn the_originals_cases() {
    let auth = hmac_auth();
    let cases: &[(String, Outcome)] = &[
        (
            hs256(&json!({"user": "user", "group": "group"})),
            ok("user", "group"),
        ),
        (
            hmac(
                SECRET,
                Algorithm::HS512,
                &json!({"user": "user", "group": "group"}),
            ),
            ok("user", "group"),
        ),
        (hs256(&json!({"user": "user"})), ok("user", "default")),
        (hs256(&json!({"username": "user"})), Outcome::Missing),
    ];
    for (token, want) in cases {
        assert_eq!(&outcome(&auth, &bearer(token)), want, "{token}");
    }
    let other_key = hmac_auth().user_claim("user_id");
    let token = hs256(&json!({"user_id": "user"}));
    assert_eq!(outcome(&other_key, &bearer(&token)), ok("user", "default"));
    // No header, or the token under another header name.
    assert_eq!(outcome(&auth, &head(None, &[])), Outcome::Missing);
    let token = hs256(&json!({"user": "user"}));
    let wrong = head(None, &[("wrongkey", format!("Bearer {token}").as_bytes())]);
    assert_eq!(outcome(&auth, &wrong), Outcome::Missing);
}

#[test]
fn claims_to_identity() {
    let auth = hmac_auth();
    let cases: &[(Value, Outcome)] = &[
        (json!({"user": 123}), ok("123", "default")),
        (json!({"user": -5, "group": "g"}), ok("-5", "g")),
        (
            json!({"user": 18446744073709551615_u64}),
            ok("18446744073709551615", "default"),
        ),
        (json!({"user": "u", "group": null}), ok("u", "default")),
        (json!({"user": "u", "group": ""}), ok("u", "default")),
        (json!({"user": 123, "group": null}), ok("123", "default")),
        (json!({"user": null}), Outcome::Missing),
        (json!({"user": ""}), Outcome::Missing),
        (json!({}), Outcome::Missing),
        (json!({"user": 1.5}), Outcome::Invalid),
        (json!({"user": true}), Outcome::Invalid),
        (json!({"user": ["a"]}), Outcome::Invalid),
        (json!({"user": {"id": 1}}), Outcome::Invalid),
        (json!({"user": "u", "group": 5}), Outcome::Invalid),
        (json!({"user": "u", "group": ["admin"]}), Outcome::Invalid),
    ];
    for (claims, want) in cases {
        assert_eq!(&outcome(&auth, &bearer(&hs256(claims))), want, "{claims}");
    }
    let renamed = hmac_auth().user_claim("sub").group_claim("tier");
    let token = hs256(&json!({"sub": "alice", "tier": "gold", "user": "x", "group": "y"}));
    assert_eq!(outcome(&renamed, &bearer(&token)), ok("alice", "gold"));
}

#[test]
fn time_claims() {
    let auth = hmac_auth();
    let strict = hmac_auth().leeway(Duration::ZERO);
    let requires_exp = hmac_auth().require_exp(true);
    let now = now();
    let user = |extra: Value| {
        let mut claims = json!({"user": "u"});
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        hs256(&claims)
    };
    let cases: &[(&JwtAuth, String, Outcome)] = &[
        (&auth, user(json!({"exp": now + 600})), ok("u", "default")),
        (&auth, user(json!({"exp": now - 30})), ok("u", "default")),
        (&auth, user(json!({"exp": now - 120})), Outcome::Invalid),
        (&strict, user(json!({"exp": now + 30})), ok("u", "default")),
        (&strict, user(json!({"exp": now - 5})), Outcome::Invalid),
        (&auth, user(json!({"exp": 0})), Outcome::Invalid),
        // `nbf` is checked whenever present (jsonwebtoken does not by default).
        (&auth, user(json!({"nbf": now + 3600})), Outcome::Invalid),
        (&auth, user(json!({"nbf": now + 30})), ok("u", "default")),
        (&strict, user(json!({"nbf": now + 30})), Outcome::Invalid),
        (
            &auth,
            user(json!({"nbf": now - 10, "exp": now + 600})),
            ok("u", "default"),
        ),
        // Wrongly typed time claims are rejected, never skipped (CVE-2026-25537).
        (&auth, user(json!({"exp": "99999999999"})), Outcome::Invalid),
        (&auth, user(json!({"exp": "0"})), Outcome::Invalid),
        (&auth, user(json!({"nbf": "99999999999"})), Outcome::Invalid),
        (&auth, user(json!({"exp": null})), Outcome::Invalid),
        (&auth, user(json!({"exp": -1})), Outcome::Invalid),
        (&auth, user(json!({"exp": 1e300})), Outcome::Invalid),
        (&auth, user(json!({"exp": [now + 600]})), Outcome::Invalid),
        // `exp` is optional unless required.
        (&auth, user(json!({})), ok("u", "default")),
        (&requires_exp, user(json!({})), Outcome::Invalid),
        (
            &requires_exp,
            user(json!({"exp": now + 600})),
            ok("u", "default"),
        ),
        (
            &requires_exp.clone().require_exp(false),
            user(json!({})),
            ok("u", "default"),
        ),
    ];
    for (auth, token, want) in cases {
        assert_eq!(&outcome(*auth, &bearer(token)), want, "{token}");
    }
    // A huge leeway is clamped, not an overflow.
    let lenient = hmac_auth().leeway(Duration::from_secs(u64::MAX));
    assert_eq!(
        outcome(&lenient, &bearer(&user(json!({"exp": now - 3600})))),
        ok("u", "default")
    );
}

#[test]
fn audience_and_issuer() {
    let open = hmac_auth();
    let api = hmac_auth()
        .audience(["api"])
        .issuer(["https://issuer.example"]);
    let good = json!({"user": "u", "aud": "api", "iss": "https://issuer.example"});
    let cases: &[(&JwtAuth, Value, Outcome)] = &[
        (&api, good.clone(), ok("u", "default")),
        (
            &api,
            json!({"user": "u", "aud": ["x", "api"], "iss": "https://issuer.example"}),
            ok("u", "default"),
        ),
        (
            &api,
            json!({"user": "u", "aud": "other", "iss": "https://issuer.example"}),
            Outcome::Invalid,
        ),
        (
            &api,
            json!({"user": "u", "aud": "api", "iss": "https://evil.example"}),
            Outcome::Invalid,
        ),
        (
            &api,
            json!({"user": "u", "iss": "https://issuer.example"}),
            Outcome::Invalid,
        ),
        (&api, json!({"user": "u", "aud": "api"}), Outcome::Invalid),
        (
            &api,
            json!({"user": "u", "aud": 5, "iss": "https://issuer.example"}),
            Outcome::Invalid,
        ),
        // Without an audience set, a token meant for some audience is rejected.
        (&open, good.clone(), Outcome::Invalid),
        (
            &open,
            json!({"user": "u", "iss": "anyone"}),
            ok("u", "default"),
        ),
    ];
    for (auth, claims, want) in cases {
        assert_eq!(&outcome(*auth, &bearer(&hs256(claims))), want, "{claims}");
    }
}

#[test]
fn signatures_and_algorithms() {
    let claims = json!({"user": "u", "group": "g"});
    let rsa = JwtAuth::from_rsa_pem(RSA_PUBLIC, [Algorithm::RS256, Algorithm::PS256]).unwrap();
    let ec = JwtAuth::from_ec_pem(EC_PUBLIC, [Algorithm::ES256]).unwrap();
    let ec384 = JwtAuth::from_ec_pem(EC384_PUBLIC, [Algorithm::ES384]).unwrap();
    let ed = JwtAuth::from_ed_pem(ED_PUBLIC, [Algorithm::EdDSA]).unwrap();
    let hs256_only = JwtAuth::from_secret(SECRET, [Algorithm::HS256]).unwrap();
    let hs = hmac_auth();

    let good = hs256(&claims);
    let (header, rest) = good.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let _ = header;
    // {"alg":"none","typ":"JWT"} and {"alg":"HS256","typ":"JWT","crit":["exp"]}
    let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
    // The payload of another token, under the first one's signature.
    let tampered_payload = hs256(&json!({"user": "admin", "group": "admin"}));
    let tampered_payload = tampered_payload.split('.').nth(1).unwrap();
    let mut crit = Header::new(Algorithm::HS256);
    crit.crit = Some(vec!["exp".to_owned()]);
    let crit = encode(&crit, &claims, &EncodingKey::from_secret(SECRET).unwrap()).unwrap();

    let cases: Vec<(&JwtAuth, String, Outcome, &str)> = vec![
        (
            &rsa,
            signed(Algorithm::RS256, RSA_PRIVATE, &claims),
            ok("u", "g"),
            "RS256",
        ),
        (
            &rsa,
            signed(Algorithm::PS256, RSA_PRIVATE, &claims),
            ok("u", "g"),
            "PS256",
        ),
        (
            &ec,
            signed(Algorithm::ES256, EC_PRIVATE, &claims),
            ok("u", "g"),
            "ES256",
        ),
        (
            &ec384,
            signed(Algorithm::ES384, EC384_PRIVATE, &claims),
            ok("u", "g"),
            "ES384",
        ),
        (
            &ed,
            signed(Algorithm::EdDSA, ED_PRIVATE, &claims),
            ok("u", "g"),
            "EdDSA",
        ),
        // Signed with another key.
        (
            &rsa,
            signed(Algorithm::RS256, RSA2_PRIVATE, &claims),
            Outcome::Invalid,
            "other RSA key",
        ),
        (
            &hs,
            hmac_token(OTHER_SECRET, &claims),
            Outcome::Invalid,
            "other secret",
        ),
        (
            &ec,
            signed(Algorithm::ES384, EC384_PRIVATE, &claims),
            Outcome::Invalid,
            "other curve",
        ),
        // Algorithm confusion: HS256 signed with the RSA public key as the secret.
        (
            &rsa,
            hmac(RSA_PUBLIC, Algorithm::HS256, &claims),
            Outcome::Invalid,
            "HS256 with RSA public key",
        ),
        // An algorithm of the right family that is not listed.
        (
            &hs256_only,
            hmac(SECRET, Algorithm::HS512, &claims),
            Outcome::Invalid,
            "HS512 not listed",
        ),
        (
            &hs,
            hmac(SECRET, Algorithm::HS384, &claims),
            Outcome::Invalid,
            "HS384 not listed",
        ),
        // Tokens of another family than the key.
        (
            &hs,
            signed(Algorithm::RS256, RSA_PRIVATE, &claims),
            Outcome::Invalid,
            "RS256 at HMAC",
        ),
        (
            &ed,
            signed(Algorithm::ES256, EC_PRIVATE, &claims),
            Outcome::Invalid,
            "ES256 at EdDSA",
        ),
        // `alg: none`, signed or not.
        (
            &hs,
            format!("{none_header}.{payload}."),
            Outcome::Invalid,
            "alg none",
        ),
        (
            &hs,
            format!("{none_header}.{payload}.{signature}"),
            Outcome::Invalid,
            "alg none, signature",
        ),
        // Tampering.
        (
            &hs,
            format!("{header}.{tampered_payload}.{signature}"),
            Outcome::Invalid,
            "tampered payload",
        ),
        (
            &hs,
            format!("{header}.{payload}."),
            Outcome::Invalid,
            "no signature",
        ),
        (
            &hs,
            format!("{header}.{payload}"),
            Outcome::Invalid,
            "two parts",
        ),
        (
            &hs,
            format!("{good}.{signature}"),
            Outcome::Invalid,
            "four parts",
        ),
        (&hs, "not-a-token".to_owned(), Outcome::Invalid, "garbage"),
        (&hs, "a.b.c".to_owned(), Outcome::Invalid, "bad base64"),
        (&hs, "..".to_owned(), Outcome::Invalid, "empty parts"),
        (&hs, crit, Outcome::Invalid, "unknown crit"),
    ];
    for (auth, token, want, what) in cases {
        assert_eq!(outcome(auth, &bearer(&token)), want, "{what}: {token}");
    }
}

fn hmac_token(secret: &[u8], claims: &Value) -> String {
    hmac(secret, Algorithm::HS256, claims)
}

#[test]
fn the_authorization_header() {
    let auth = hmac_auth();
    let token = hs256(&json!({"user": "u"}));
    let huge = format!("Bearer {}", "a".repeat(9000));
    let oversized_token = hs256(&json!({"user": "u", "pad": "x".repeat(9000)}));
    let cases: Vec<(Vec<Vec<u8>>, Outcome, &str)> = vec![
        (
            vec![format!("Bearer {token}").into_bytes()],
            ok("u", "default"),
            "Bearer",
        ),
        (
            vec![format!("bearer {token}").into_bytes()],
            ok("u", "default"),
            "bearer",
        ),
        (
            vec![format!("BEARER {token}").into_bytes()],
            ok("u", "default"),
            "BEARER",
        ),
        (
            vec![format!("Bearer   {token} ").into_bytes()],
            ok("u", "default"),
            "spaces",
        ),
        (vec![b"".to_vec()], Outcome::Missing, "empty"),
        (vec![b"   ".to_vec()], Outcome::Missing, "blank"),
        (
            vec![b"Basic dXNlcjpwYXNz".to_vec()],
            Outcome::Missing,
            "Basic",
        ),
        (
            vec![token.clone().into_bytes()],
            Outcome::Missing,
            "no scheme",
        ),
        (vec![b"Bearer".to_vec()], Outcome::Invalid, "no token"),
        (
            vec![b"Bearer    ".to_vec()],
            Outcome::Invalid,
            "blank token",
        ),
        (vec![b"Bearer a b".to_vec()], Outcome::Invalid, "two tokens"),
        (
            vec![b"Bearer \xff\xfe.\x80.\x81".to_vec()],
            Outcome::Invalid,
            "not UTF-8",
        ),
        (
            vec![format!("Bearer {token}\u{e9}").into_bytes()],
            Outcome::Invalid,
            "not ASCII",
        ),
        (
            vec![huge.clone().into_bytes()],
            Outcome::Invalid,
            "oversized header",
        ),
        (
            vec![format!("Bearer {oversized_token}").into_bytes()],
            Outcome::Invalid,
            "oversized token",
        ),
        (
            vec![
                format!("Bearer {token}").into_bytes(),
                format!("Bearer {token}").into_bytes(),
            ],
            Outcome::Invalid,
            "two headers",
        ),
    ];
    for (values, want, what) in cases {
        let headers: Vec<(&str, &[u8])> = values
            .iter()
            .map(|value| ("authorization", value.as_slice()))
            .collect();
        assert_eq!(outcome(&auth, &head(None, &headers)), want, "{what}");
    }
    // A larger limit admits the larger token.
    let roomy = hmac_auth().max_token_len(64 * 1024);
    assert_eq!(
        outcome(&roomy, &bearer(&oversized_token)),
        ok("u", "default")
    );
    // Never Misconfigured, whatever the token.
    let error = run(&auth, &authorization(b"Bearer x.y.z")).unwrap_err();
    assert!(
        matches!(error, AuthError::InvalidCredentials(_)),
        "{error:?}"
    );
}

#[test]
fn configuration_errors() {
    use JwtConfigError as E;
    let check = |result: Result<JwtAuth, JwtConfigError>, want: fn(&JwtConfigError) -> bool| {
        let error = result.unwrap_err();
        assert!(want(&error), "{error:?}");
        // Every error says something.
        assert!(!error.to_string().is_empty());
    };
    check(JwtAuth::from_secret(SECRET, []), |e| {
        matches!(e, E::NoAlgorithm)
    });
    check(JwtAuth::from_secret(b"test-key", [Algorithm::HS256]), |e| {
        matches!(
            e,
            E::SecretTooShort {
                len: 8,
                min: 32,
                ..
            }
        )
    });
    check(
        JwtAuth::from_secret(&SECRET[..40], [Algorithm::HS256, Algorithm::HS512]),
        |e| {
            matches!(
                e,
                E::SecretTooShort {
                    algorithm: Algorithm::HS512,
                    len: 40,
                    min: 64
                }
            )
        },
    );
    check(JwtAuth::from_secret(RSA_PUBLIC, [Algorithm::RS256]), |e| {
        matches!(
            e,
            E::AlgorithmNotOfKeyFamily {
                algorithm: Algorithm::RS256,
                ..
            }
        )
    });
    check(
        JwtAuth::from_rsa_pem(RSA_PUBLIC, [Algorithm::RS256, Algorithm::HS256]),
        |e| {
            matches!(
                e,
                E::AlgorithmNotOfKeyFamily {
                    algorithm: Algorithm::HS256,
                    ..
                }
            )
        },
    );
    check(JwtAuth::from_rsa_pem(RSA_PUBLIC, []), |e| {
        matches!(e, E::NoAlgorithm)
    });
    check(
        JwtAuth::from_rsa_pem(b"not a pem", [Algorithm::RS256]),
        |e| matches!(e, E::InvalidKey(_)),
    );
    check(JwtAuth::from_rsa_pem(EC_PUBLIC, [Algorithm::RS256]), |e| {
        matches!(e, E::InvalidKey(_))
    });
    check(JwtAuth::from_ec_pem(RSA_PUBLIC, [Algorithm::ES256]), |e| {
        matches!(e, E::InvalidKey(_))
    });
    check(JwtAuth::from_ed_pem(EC_PUBLIC, [Algorithm::EdDSA]), |e| {
        matches!(e, E::InvalidKey(_))
    });
    check(JwtAuth::from_ec_pem(EC_PUBLIC, [Algorithm::EdDSA]), |e| {
        matches!(e, E::AlgorithmNotOfKeyFamily { .. })
    });
    // A P-256 key cannot verify ES384: found when built, not per request.
    check(
        JwtAuth::from_ec_pem(EC_PUBLIC, [Algorithm::ES256, Algorithm::ES384]),
        |e| matches!(e, E::InvalidKey(_)),
    );
    // The general constructor takes short legacy secrets.
    let key = ratelimit::auth::DecodingKey::from_secret(b"test-key").unwrap();
    let legacy = JwtAuth::new(key, [Algorithm::HS256, Algorithm::HS512]).unwrap();
    assert_eq!(legacy.algorithms(), [Algorithm::HS256, Algorithm::HS512]);
    let token = hmac(
        b"test-key",
        Algorithm::HS256,
        &json!({"user": "user", "group": "group"}),
    );
    assert_eq!(outcome(&legacy, &bearer(&token)), ok("user", "group"));
    // Debug does not show the key.
    let debug = format!("{:?}", hmac_auth());
    assert!(!debug.contains("test-key"), "{debug}");
}

/// Random tokens (and `Authorization` values) over the token alphabet: never a panic, never
/// anything but a missing identity or invalid credentials.
#[test]
fn arbitrary_tokens_are_invalid_credentials() {
    const ALPHABET: &[u8] = b"eyJhbGciOiJIUzI1NiJ9.-_ABCxyz0123456789=+/ \tBearer";
    let auth = hmac_auth();
    let good = hs256(&json!({"user": "u"}));
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..5_000 {
        let mut value: Vec<u8> = if round % 2 == 0 {
            b"Bearer ".to_vec()
        } else {
            // Start from a valid token and corrupt it.
            format!("Bearer {good}").into_bytes()
        };
        for _ in 0..(next() % 12) {
            let byte = ALPHABET[usize::try_from(next() % ALPHABET.len() as u64).unwrap()];
            if round % 2 == 0 || value.len() <= 8 {
                value.push(byte);
            } else {
                let at = 7 + usize::try_from(next() % (value.len() as u64 - 7)).unwrap();
                value[at] = byte;
            }
        }
        let Ok(header) = http::HeaderValue::from_bytes(&value) else {
            continue;
        };
        let head = head(None, &[("authorization", header.as_bytes())]);
        match run(&auth, &head) {
            Ok(identity) => assert_eq!(identity.user(), "u", "{value:?}"),
            Err(AuthError::MissingIdentity(_) | AuthError::InvalidCredentials(_)) => {}
            Err(other) => panic!("{other:?} for {value:?}"),
        }
    }
}

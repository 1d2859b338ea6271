//! [`JwtAuth`]: the identity from a verified JSON Web Token (`jwt` feature).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use http::header::AUTHORIZATION;
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::{AuthError, Identity, RequestHead, json_user, with_json_group};

/// Identifies a request by the claims of the JSON Web Token in its
/// `Authorization: Bearer <token>` header, after verifying it.
///
/// # What is checked
///
/// - The token's signature, always, with the server's key.
/// - Its algorithm (`alg`) against the list given with the key, never trusting the token:
///   `alg: none`, an algorithm not listed, and an algorithm of another family than the key
///   (the RSA public key used as an HMAC secret) are all rejected. All listed algorithms
///   must belong to the key's family.
/// - `exp` and `nbf` whenever present, with a [`leeway`](Self::leeway) of 60 seconds by
///   default. A claim of the wrong type (`"exp": "99999999999"`) is rejected, not skipped.
///   `exp` is optional unless [`require_exp`](Self::require_exp) is set.
/// - `aud` and `iss` when [`audience`](Self::audience) and [`issuer`](Self::issuer) are
///   set; a token that has an `aud` claim is rejected when no audience is set (as in
///   `jsonwebtoken`).
///
/// Following `jsonwebtoken`, `exp` is compared as "expired when `exp` < now − leeway", so
/// with no leeway a token is still accepted during the second of its `exp` (RFC 7519
/// says "on or after": one second stricter).
///
/// # The identity
///
/// The user id is the [`user_claim`](Self::user_claim) (`"user"` by default): a string,
/// or an integer as its decimal string. The group is the
/// [`group_claim`](Self::group_claim) (`"group"`), `"default"` when it is missing, `null`
/// or empty.
///
/// | the request | result |
/// |---|---|
/// | no `Authorization` header, an empty one, or another scheme (`Basic …`) | [`AuthError::MissingIdentity`] |
/// | a valid token without a user claim (or a `null` or empty one) | [`AuthError::MissingIdentity`] |
/// | anything wrong with the token or the header: signature, algorithm, expiry, format, size, a user that is not a string or an integer, a group that is not a string, several `Authorization` headers | [`AuthError::InvalidCredentials`] |
///
/// It never answers [`AuthError::Misconfigured`]: key problems are found when it is built.
/// The scheme is matched case-insensitively (`bearer`, `BEARER`).
///
/// # Example
///
/// ```
/// use ratelimit::auth::{Algorithm, JwtAuth};
///
/// // HMAC: a secret at least as long as the hash (32 bytes for HS256).
/// let auth = JwtAuth::from_secret(b"a secret of at least thirty-two bytes", [Algorithm::HS256])?
///     .user_claim("sub")
///     .group_claim("tier")
///     .require_exp(true);
///
/// // RSA, EC or Ed25519: the public key in PEM.
/// # let pem = include_bytes!("../../tests/fixtures/rsa_public.pem");
/// let auth = JwtAuth::from_rsa_pem(pem, [Algorithm::RS256])?
///     .audience(["my-api"])
///     .leeway(std::time::Duration::from_secs(5));
/// # let _ = auth;
/// # Ok::<(), ratelimit::auth::JwtConfigError>(())
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
#[derive(Clone)]
pub struct JwtAuth {
    key: DecodingKey,
    validation: Validation,
    user_claim: Cow<'static, str>,
    group_claim: Cow<'static, str>,
    max_token_len: usize,
}

/// Why a [`JwtAuth`] cannot be built.
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwtConfigError {
    /// No algorithm was given.
    #[error("no algorithm given: list the algorithms that tokens are signed with")]
    NoAlgorithm,
    /// An algorithm does not belong to the key's family (an RSA algorithm with an HMAC
    /// secret, say).
    #[error("{algorithm:?} cannot be verified with a {family:?} key")]
    AlgorithmNotOfKeyFamily {
        /// The algorithm.
        algorithm: Algorithm,
        /// The key's family.
        family: AlgorithmFamily,
    },
    /// An HMAC secret shorter than the hash's output, which RFC 7518 §3.2 forbids.
    #[error(
        "an HMAC secret for {algorithm:?} needs at least {min} bytes, and this one has {len} \
         (RFC 7518 §3.2)"
    )]
    SecretTooShort {
        /// The algorithm.
        algorithm: Algorithm,
        /// The secret's length in bytes.
        len: usize,
        /// The least length for `algorithm`.
        min: usize,
    },
    /// The key could not be read (bad PEM, wrong key type or curve).
    #[error("invalid key")]
    InvalidKey(#[source] jsonwebtoken::errors::Error),
    /// `jsonwebtoken` has no crypto provider: both of its `aws_lc_rs` and `rust_crypto`
    /// features are enabled in the build (by another crate), and none was installed.
    #[error(
        "`jsonwebtoken` has no crypto provider (both its `aws_lc_rs` and `rust_crypto` \
         features are on): install one with `CryptoProvider::install_default` first"
    )]
    NoCryptoProvider,
}

impl JwtAuth {
    /// The default [`max_token_len`](Self::max_token_len): 8 KiB.
    pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;
    /// The longest [`leeway`](Self::leeway): a day.
    pub const MAX_LEEWAY: Duration = Duration::from_secs(24 * 60 * 60);

    /// Verifies tokens signed with any of `algorithms`, all of `key`'s family.
    ///
    /// This is the general constructor (keys from JWKs, DER, base64 secrets): it does not
    /// check the length of HMAC secrets, which [`from_secret`](Self::from_secret) does.
    ///
    /// # Errors
    ///
    /// [`JwtConfigError::NoAlgorithm`], [`JwtConfigError::AlgorithmNotOfKeyFamily`],
    /// [`JwtConfigError::InvalidKey`] when the key does not load for an algorithm, and
    /// [`JwtConfigError::NoCryptoProvider`].
    pub fn new(
        key: DecodingKey,
        algorithms: impl IntoIterator<Item = Algorithm>,
    ) -> Result<Self, JwtConfigError> {
        let mut list: Vec<Algorithm> = Vec::new();
        for algorithm in algorithms {
            if !list.contains(&algorithm) {
                list.push(algorithm);
            }
        }
        if list.is_empty() {
            return Err(JwtConfigError::NoAlgorithm);
        }
        let family = key.family();
        if let Some(&algorithm) = list.iter().find(|algorithm| algorithm.family() != family) {
            return Err(JwtConfigError::AlgorithmNotOfKeyFamily { algorithm, family });
        }
        // `decode` panics without a provider: make that an error here, once.
        let provider = CryptoProvider::try_get_default().ok_or(JwtConfigError::NoCryptoProvider)?;
        for algorithm in &list {
            (provider.verifier_factory)(algorithm, &key).map_err(JwtConfigError::InvalidKey)?;
        }

        let mut validation = Validation::new(list[0]);
        validation.algorithms = list;
        validation.required_spec_claims.clear();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = 60;
        Ok(Self {
            key,
            validation,
            user_claim: Cow::Borrowed("user"),
            group_claim: Cow::Borrowed("group"),
            max_token_len: Self::DEFAULT_MAX_TOKEN_LEN,
        })
    }

    /// Verifies tokens signed with an HMAC `secret` (`HS256`, `HS384`, `HS512`).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), and [`JwtConfigError::SecretTooShort`] when the secret is
    /// shorter than the output of an algorithm's hash (32, 48 and 64 bytes).
    pub fn from_secret(
        secret: impl AsRef<[u8]>,
        algorithms: impl IntoIterator<Item = Algorithm>,
    ) -> Result<Self, JwtConfigError> {
        let secret = secret.as_ref();
        let algorithms: Vec<Algorithm> = algorithms.into_iter().collect();
        for &algorithm in &algorithms {
            let min = match algorithm {
                Algorithm::HS256 => 32,
                Algorithm::HS384 => 48,
                Algorithm::HS512 => 64,
                _ => {
                    return Err(JwtConfigError::AlgorithmNotOfKeyFamily {
                        algorithm,
                        family: AlgorithmFamily::Hmac,
                    });
                }
            };
            if secret.len() < min {
                return Err(JwtConfigError::SecretTooShort {
                    algorithm,
                    len: secret.len(),
                    min,
                });
            }
        }
        let key = DecodingKey::from_secret(secret).map_err(JwtConfigError::InvalidKey)?;
        Self::new(key, algorithms)
    }

    /// Verifies tokens signed with the RSA key whose public key is `pem` (`RS*`, `PS*`):
    /// `PUBLIC KEY` (SPKI), `RSA PUBLIC KEY` (PKCS#1) or a `CERTIFICATE`.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn from_rsa_pem(
        pem: impl AsRef<[u8]>,
        algorithms: impl IntoIterator<Item = Algorithm>,
    ) -> Result<Self, JwtConfigError> {
        let key = DecodingKey::from_rsa_pem(pem.as_ref()).map_err(JwtConfigError::InvalidKey)?;
        Self::new(key, algorithms)
    }

    /// Verifies tokens signed with the elliptic-curve key whose public key is `pem`
    /// (`ES256` with P-256, `ES384` with P-384): `PUBLIC KEY` or a `CERTIFICATE`.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn from_ec_pem(
        pem: impl AsRef<[u8]>,
        algorithms: impl IntoIterator<Item = Algorithm>,
    ) -> Result<Self, JwtConfigError> {
        let key = DecodingKey::from_ec_pem(pem.as_ref()).map_err(JwtConfigError::InvalidKey)?;
        Self::new(key, algorithms)
    }

    /// Verifies tokens signed with the Ed25519 key whose public key is `pem` (`EdDSA`).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn from_ed_pem(
        pem: impl AsRef<[u8]>,
        algorithms: impl IntoIterator<Item = Algorithm>,
    ) -> Result<Self, JwtConfigError> {
        let key = DecodingKey::from_ed_pem(pem.as_ref()).map_err(JwtConfigError::InvalidKey)?;
        Self::new(key, algorithms)
    }

    /// The claim holding the user id (default `"user"`; `"sub"` is the registered one).
    #[must_use]
    pub fn user_claim(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.user_claim = name.into();
        self
    }

    /// The claim holding the group (default `"group"`).
    #[must_use]
    pub fn group_claim(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.group_claim = name.into();
        self
    }

    /// Whether a token without `exp` is rejected (default: no; `exp` is checked whenever
    /// present).
    #[must_use]
    pub fn require_exp(mut self, required: bool) -> Self {
        if required {
            self.validation
                .required_spec_claims
                .insert("exp".to_owned());
        } else {
            self.validation.required_spec_claims.remove("exp");
        }
        self
    }

    /// The clock skew allowed on `exp` and `nbf`, in whole seconds (default 60 s; at most
    /// [`MAX_LEEWAY`](Self::MAX_LEEWAY), longer is clamped).
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.validation.leeway = leeway.min(Self::MAX_LEEWAY).as_secs();
        self
    }

    /// Accepts only tokens whose `aud` names one of `audience`, and requires `aud`.
    #[must_use]
    pub fn audience<S: AsRef<str>>(mut self, audience: impl IntoIterator<Item = S>) -> Self {
        self.validation.aud = Some(
            audience
                .into_iter()
                .map(|aud| aud.as_ref().to_owned())
                .collect(),
        );
        self.validation
            .required_spec_claims
            .insert("aud".to_owned());
        self
    }

    /// Accepts only tokens whose `iss` is one of `issuers`, and requires `iss`.
    #[must_use]
    pub fn issuer<S: AsRef<str>>(mut self, issuers: impl IntoIterator<Item = S>) -> Self {
        self.validation.iss = Some(
            issuers
                .into_iter()
                .map(|iss| iss.as_ref().to_owned())
                .collect(),
        );
        self.validation
            .required_spec_claims
            .insert("iss".to_owned());
        self
    }

    /// The longest token accepted, in bytes (default
    /// [`DEFAULT_MAX_TOKEN_LEN`](Self::DEFAULT_MAX_TOKEN_LEN)); longer ones are
    /// [`AuthError::InvalidCredentials`] before any decoding.
    #[must_use]
    pub fn max_token_len(mut self, max_token_len: usize) -> Self {
        self.max_token_len = max_token_len;
        self
    }

    /// The algorithms accepted.
    #[must_use]
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.validation.algorithms
    }

    pub(super) fn identify(&self, head: RequestHead<'_>) -> Result<Identity, AuthError> {
        let token = bearer_token(head, self.max_token_len)?;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.validation)
            .map_err(|error| {
                AuthError::invalid(format_args!("the bearer token is not valid: {error}"))
            })?
            .claims;
        let identity = json_user(
            claims.get(&*self.user_claim),
            format_args!("the token's `{}` claim", self.user_claim),
            format_args!("the token has no `{}` claim", self.user_claim),
        )?;
        with_json_group(
            identity,
            claims.get(&*self.group_claim),
            format_args!("the token's `{}` claim", self.group_claim),
        )
    }
}

/// The token of the request's `Authorization: Bearer <token>` header.
fn bearer_token(head: RequestHead<'_>, max_token_len: usize) -> Result<&str, AuthError> {
    let mut values = head.headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(AuthError::MissingIdentity(
            "no `Authorization` header".into(),
        ));
    };
    if values.next().is_some() {
        return Err(AuthError::invalid(format_args!(
            "the `Authorization` header is sent more than once"
        )));
    }
    // Room for the scheme and spaces; the token itself is measured below.
    if value.len() > max_token_len.saturating_add(64) {
        return Err(AuthError::invalid(format_args!(
            "the bearer token is longer than {max_token_len} bytes"
        )));
    }
    let value = value
        .to_str()
        .map_err(|_| {
            AuthError::invalid(format_args!(
                "the `Authorization` header is not visible ASCII"
            ))
        })?
        .trim_matches([' ', '\t']);
    if value.is_empty() {
        return Err(AuthError::MissingIdentity(
            "the `Authorization` header is empty".into(),
        ));
    }
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MissingIdentity(
            "the `Authorization` header holds no bearer token".into(),
        ));
    }
    let token = token.trim_start_matches(' ');
    if token.is_empty() {
        return Err(AuthError::invalid(format_args!(
            "the bearer token is empty"
        )));
    }
    if token.len() > max_token_len {
        return Err(AuthError::invalid(format_args!(
            "the bearer token is longer than {max_token_len} bytes"
        )));
    }
    if token.contains([' ', '\t']) {
        return Err(AuthError::invalid(format_args!(
            "the bearer token contains spaces"
        )));
    }
    Ok(token)
}

impl fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuth")
            .field("key", &self.key.family())
            .field("algorithms", &self.validation.algorithms)
            .field("user_claim", &self.user_claim)
            .field("group_claim", &self.group_claim)
            .field("required_claims", &self.validation.required_spec_claims)
            .field("leeway", &self.validation.leeway)
            .field("audience", &self.validation.aud)
            .field("issuer", &self.validation.iss)
            .field("max_token_len", &self.max_token_len)
            .finish()
    }
}

//! A JSON Web Token [`Authenticator`] (feature `jwt`).
//!
//! The algorithm is pinned when the authenticator is built: a token whose
//! header names another algorithm (including `none`) is refused, so a key
//! meant for RS256 can never be used as an HMAC secret. `exp` is required
//! and enforced (60 s leeway by default); `iss` and `aud` are checked when
//! configured. The user id is the `sub` claim and the display name the
//! optional `name` claim.
//!
//! ```
//! use ui_flow_server::jwt::JwtAuthenticator;
//!
//! let auth = JwtAuthenticator::hs256(b"a long random secret").with_issuer("https://auth.example");
//! # let _ = auth;
//! ```

use async_trait::async_trait;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::Deserialize;

use crate::auth::{AuthError, AuthRequest, Authenticator, Identity};

/// The claims read from a token.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    name: Option<String>,
}

/// A key could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid key: {0}")]
pub struct KeyError(String);

/// Verifies JWTs signed with one pinned algorithm and key.
pub struct JwtAuthenticator {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuthenticator")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl JwtAuthenticator {
    fn new(key: DecodingKey, algorithm: Algorithm) -> Self {
        let mut validation = Validation::new(algorithm);
        validation.algorithms = vec![algorithm];
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        JwtAuthenticator { key, validation }
    }

    /// HMAC-SHA256 with a shared secret.
    pub fn hs256(secret: &[u8]) -> Self {
        Self::new(DecodingKey::from_secret(secret), Algorithm::HS256)
    }

    /// RSA-SHA256 with a PEM public key.
    pub fn rs256_pem(public_key: &[u8]) -> Result<Self, KeyError> {
        let key = DecodingKey::from_rsa_pem(public_key).map_err(|e| KeyError(e.to_string()))?;
        Ok(Self::new(key, Algorithm::RS256))
    }

    /// ECDSA P-256 with a PEM public key.
    pub fn es256_pem(public_key: &[u8]) -> Result<Self, KeyError> {
        let key = DecodingKey::from_ec_pem(public_key).map_err(|e| KeyError(e.to_string()))?;
        Ok(Self::new(key, Algorithm::ES256))
    }

    /// Requires `iss` to equal `issuer`.
    pub fn with_issuer(mut self, issuer: &str) -> Self {
        self.validation.set_issuer(&[issuer]);
        self
    }

    /// Requires `aud` to contain `audience`.
    pub fn with_audience(mut self, audience: &str) -> Self {
        self.validation.set_audience(&[audience]);
        self
    }

    /// Clock skew tolerated on `exp` and `nbf`, in seconds (default 60).
    pub fn with_leeway(mut self, seconds: u64) -> Self {
        self.validation.leeway = seconds;
        self
    }

    /// Checks a token and returns who it names.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        match decode::<Claims>(token, &self.key, &self.validation) {
            Ok(data) if !data.claims.sub.is_empty() => Ok(Identity {
                user_id: data.claims.sub,
                name: data.claims.name,
            }),
            Ok(_) => Err(AuthError::Invalid("empty sub claim".into())),
            Err(e) => match e.kind() {
                ErrorKind::ExpiredSignature => Err(AuthError::Expired),
                kind => Err(AuthError::Invalid(format!("{kind:?}"))),
            },
        }
    }
}

#[async_trait]
impl Authenticator for JwtAuthenticator {
    async fn authenticate(&self, request: AuthRequest<'_>) -> Result<Identity, AuthError> {
        self.verify(request.token.ok_or(AuthError::Missing)?)
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde::Serialize;

    use super::*;

    #[derive(Serialize)]
    struct Out<'a> {
        sub: &'a str,
        exp: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        iss: Option<&'a str>,
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    fn token(alg: Algorithm, secret: &[u8], exp: u64, iss: Option<&str>) -> String {
        let claims = Out {
            sub: "alice",
            exp,
            iss,
        };
        encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .expect("sign")
    }

    #[test]
    fn valid_expired_wrong_key_wrong_algorithm() {
        let auth = JwtAuthenticator::hs256(b"secret").with_issuer("me");
        let ok = token(Algorithm::HS256, b"secret", now() + 600, Some("me"));
        assert_eq!(auth.verify(&ok).map(|i| i.user_id), Ok("alice".into()));
        let expired = token(Algorithm::HS256, b"secret", now() - 3600, Some("me"));
        assert_eq!(auth.verify(&expired), Err(AuthError::Expired));
        let forged = token(Algorithm::HS256, b"other", now() + 600, Some("me"));
        assert!(matches!(auth.verify(&forged), Err(AuthError::Invalid(_))));
        let other_alg = token(Algorithm::HS512, b"secret", now() + 600, Some("me"));
        assert!(matches!(
            auth.verify(&other_alg),
            Err(AuthError::Invalid(_))
        ));
        let wrong_iss = token(Algorithm::HS256, b"secret", now() + 600, Some("you"));
        assert!(matches!(
            auth.verify(&wrong_iss),
            Err(AuthError::Invalid(_))
        ));
        assert!(matches!(
            auth.verify("not.a.jwt"),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn a_token_without_exp_is_refused() {
        #[derive(Serialize)]
        struct NoExp {
            sub: &'static str,
        }
        let t = encode(
            &Header::new(Algorithm::HS256),
            &NoExp { sub: "alice" },
            &EncodingKey::from_secret(b"secret"),
        )
        .expect("sign");
        assert!(matches!(
            JwtAuthenticator::hs256(b"secret").verify(&t),
            Err(AuthError::Invalid(_))
        ));
    }
}

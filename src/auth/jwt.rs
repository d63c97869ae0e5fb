//! HS256 JSON Web Tokens: `sub` (user id), `iat`, `exp`.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The claims of every token this server issues.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
}

/// The signing and verification keys, built once from the configured secret.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("JwtKeys").field("ttl", &self.ttl).finish()
    }
}

impl JwtKeys {
    /// Keys for this secret, issuing tokens that live `ttl`.
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// A random 256-bit secret, for when none is configured.
    pub fn random_secret() -> Vec<u8> {
        use rand::RngCore;
        let mut secret = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        secret
    }

    /// Issues a token for `user_id`.
    pub fn issue(&self, user_id: Uuid) -> Result<String, jsonwebtoken::errors::Error> {
        let iat = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: user_id,
            iat,
            exp: iat.saturating_add(ttl),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Verifies signature, algorithm and expiry; returns the claims.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
    }

    /// Signs arbitrary claims (tests use this to make expired tokens).
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_carry_the_user() {
        let keys = JwtKeys::new(b"secret", Duration::from_secs(60));
        let user = Uuid::new_v4();
        let claims = keys
            .verify(&keys.issue(user).expect("issue"))
            .expect("verify");
        assert_eq!(claims.sub, user);
        assert_eq!(claims.exp - claims.iat, 60);
    }

    #[test]
    fn expired_wrongly_signed_and_garbage_tokens_fail() {
        let keys = JwtKeys::new(b"secret", Duration::from_secs(60));
        let now = chrono::Utc::now().timestamp();
        let expired = keys
            .sign(&Claims {
                sub: Uuid::new_v4(),
                iat: now - 120,
                exp: now - 60,
            })
            .expect("sign");
        assert!(keys.verify(&expired).is_err());
        let other = JwtKeys::new(b"other", Duration::from_secs(60));
        assert!(keys
            .verify(&other.issue(Uuid::new_v4()).expect("issue"))
            .is_err());
        assert!(keys.verify("not.a.token").is_err());
    }
}

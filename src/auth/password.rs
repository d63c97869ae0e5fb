//! Argon2id password hashing, run on the blocking pool (tens of milliseconds of
//! CPU and ~19 MiB of memory per call must not hold an async thread).

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};

use crate::error::AppError;

/// A valid Argon2id hash of a random password, verified against when the email
/// is unknown so that a login takes as long whether or not the account exists.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2n6Dt1DvUPsoqHzH8oX5m2j9rEzA9mTAsWkO8dCxl5k";

/// Hashes a password with Argon2id (default parameters: m=19 MiB, t=2, p=1).
pub async fn hash_password(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|err| AppError::Internal(format!("password hashing failed: {err}")))
    })
    .await?
}

/// Checks a password against a stored hash; `None` (unknown account) still costs
/// one verification and always answers `false`.
pub async fn verify_password(password: String, hash: Option<String>) -> Result<bool, AppError> {
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let parsed = PasswordHash::new(&hash)
            .map_err(|err| AppError::Internal(format!("stored password hash unreadable: {err}")))?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hash = hash_password("correct horse".into()).await.expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse".into(), Some(hash.clone()))
            .await
            .expect("verify"));
        assert!(!verify_password("wrong horse".into(), Some(hash))
            .await
            .expect("verify"));
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        assert!(!verify_password("anything".into(), None)
            .await
            .expect("dummy hash parses"));
    }
}

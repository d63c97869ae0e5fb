//! Argon2id password hashing, run on the blocking pool (tens of milliseconds of
//! CPU and ~19 MiB of memory per call must not hold an async thread), at most
//! one hash per core at a time: each call needs a [`HashingSlot`], and when
//! none is free the caller is refused at once rather than queued.

use std::{num::NonZeroUsize, sync::Arc};

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::AppError;

/// Seconds a client refused for want of a hashing slot is told to wait: a
/// hash takes tens of milliseconds, so slots free up within one.
pub const HASHING_RETRY_AFTER_SECS: u64 = 1;

/// The cap on password hashes running at once. More hashes than cores gain
/// no throughput, and waiting ones would queue on the blocking pool without
/// bound (each holding its request, and its ~19 MiB once it runs).
#[derive(Debug, Clone)]
pub struct HashingSlots {
    permits: Arc<Semaphore>,
}

/// The right to run one hash; freed when the hash is done (even if the
/// request that took it is gone by then).
#[derive(Debug)]
pub struct HashingSlot(#[expect(dead_code, reason = "held for its Drop")] OwnedSemaphorePermit);

/// Every hashing slot is taken: answered `503` with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("every password hashing slot is busy")]
pub struct HashingBusy;

impl From<HashingBusy> for AppError {
    fn from(_: HashingBusy) -> Self {
        Self::Busy(
            "every password hashing slot is busy",
            HASHING_RETRY_AFTER_SECS,
        )
    }
}

impl HashingSlots {
    /// `slots` hashes at once.
    pub fn new(slots: NonZeroUsize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(slots.get())),
        }
    }

    /// One slot per core (one when the core count is unknown).
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN))
    }

    /// A free slot, or [`HashingBusy`] at once when all are taken.
    pub fn try_take(&self) -> Result<HashingSlot, HashingBusy> {
        Arc::clone(&self.permits)
            .try_acquire_owned()
            .map(HashingSlot)
            .map_err(|_| HashingBusy)
    }
}

/// A valid Argon2id hash of a random password, verified against when the email
/// is unknown so that a login takes as long whether or not the account exists.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2n6Dt1DvUPsoqHzH8oX5m2j9rEzA9mTAsWkO8dCxl5k";

/// Hashes a password with Argon2id (default parameters: m=19 MiB, t=2, p=1)
/// in `slot`.
pub async fn hash_password(slot: HashingSlot, password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|err| AppError::Internal(format!("password hashing failed: {err}")))
    })
    .await?
}

/// Checks a password against a stored hash; `None` (unknown account) still costs
/// one verification and always answers `false`. Runs in `slot`.
pub async fn verify_password(
    slot: HashingSlot,
    password: String,
    hash: Option<String>,
) -> Result<bool, AppError> {
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
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

    fn slot() -> HashingSlot {
        HashingSlots::per_core().try_take().expect("a fresh slot")
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hash = hash_password(slot(), "correct horse".into())
            .await
            .expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password(slot(), "correct horse".into(), Some(hash.clone()))
                .await
                .expect("verify")
        );
        assert!(!verify_password(slot(), "wrong horse".into(), Some(hash))
            .await
            .expect("verify"));
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        assert!(!verify_password(slot(), "anything".into(), None)
            .await
            .expect("dummy hash parses"));
    }

    #[test]
    fn past_the_cap_hashing_is_refused_at_once_with_503_and_retry_after() {
        let slots = HashingSlots::new(NonZeroUsize::MIN);
        let held = slots.try_take().expect("the one slot");
        let refused = slots.try_take().expect_err("the cap is one");
        assert_eq!(AppError::from(refused).code(), "service_unavailable");
        let response = axum::response::IntoResponse::into_response(AppError::from(refused));
        assert_eq!(
            response.status(),
            axum::http::StatusCode::SERVICE_UNAVAILABLE
        );
        let retry_after = response.headers().get(axum::http::header::RETRY_AFTER);
        assert_eq!(retry_after.and_then(|value| value.to_str().ok()), Some("1"));
        drop(held);
        assert!(slots.try_take().is_ok(), "a freed slot is taken again");
    }

    #[tokio::test]
    async fn a_slot_is_held_until_its_hash_is_done() {
        let slots = HashingSlots::new(NonZeroUsize::MIN);
        let hashing = hash_password(slots.try_take().expect("slot"), "password".into());
        // The slot moved into the hash: none is free until it completes.
        assert_eq!(slots.try_take().err(), Some(HashingBusy));
        hashing.await.expect("hash");
        assert!(slots.try_take().is_ok());
    }
}

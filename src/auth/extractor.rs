//! The [`AuthUser`] extractor: a request's verified user.

use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts, HeaderMap},
};
use uuid::Uuid;

use super::JwtKeys;
use crate::{db::Db, error::AppError};

/// What verifying a caller needs from the application's state (which
/// implements it): the token keys and the accounts.
pub trait AuthContext: Send + Sync {
    /// The keys tokens are signed with.
    fn jwt_keys(&self) -> &JwtKeys;
    /// The database holding the accounts.
    fn db(&self) -> &Db;
}

/// The authenticated caller of a request, from `Authorization: Bearer <jwt>`.
///
/// Rejects with 401 when the header is missing or malformed, the token does not
/// verify or has expired, or its account no longer exists.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    /// The caller's user id.
    pub id: Uuid,
}

impl<S: AuthContext> FromRequestParts<S> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let token =
            bearer_token(&parts.headers)?.ok_or(AppError::Unauthorized("missing bearer token"))?;
        authenticate_token(state, token).await
    }
}

/// The token of an `Authorization: Bearer` header: `Ok(None)` when there is no
/// such header, 401 when there is one that is not a bearer token.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, AppError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| AppError::Unauthorized("malformed authorization header"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or(AppError::Unauthorized("malformed authorization header"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AppError::Unauthorized("malformed authorization header"));
    }
    Ok(Some(token.trim()))
}

/// Verifies a token's signature and expiry (no database): the account id it
/// names. Whether that account still exists is [`authenticate_token`]'s job.
pub fn verify_token(state: &impl AuthContext, token: &str) -> Result<Uuid, AppError> {
    state
        .jwt_keys()
        .verify(token)
        .map(|claims| claims.sub)
        .map_err(|_| AppError::Unauthorized("invalid or expired token"))
}

/// Verifies a token and checks that its account still exists.
pub async fn authenticate_token(
    state: &impl AuthContext,
    token: &str,
) -> Result<AuthUser, AppError> {
    account_exists(state, verify_token(state, token)?).await
}

/// The account a verified token names, unless it was deleted since (401).
pub async fn account_exists(state: &impl AuthContext, user_id: Uuid) -> Result<AuthUser, AppError> {
    match state.db().find_user(user_id).await? {
        Some(user) => Ok(AuthUser { id: user.id }),
        None => Err(AppError::Unauthorized("invalid or expired token")),
    }
}

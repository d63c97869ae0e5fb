//! `POST /auth/register` and `POST /auth/login`.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, State},
    http::{HeaderMap, StatusCode},
    Json as JsonResponse,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::users::UserResponse;
use crate::{
    app::AppState,
    auth::{hash_password, verify_password},
    db::DbError,
    error::{AppError, ErrorBody},
    extract::Json,
    validate,
};

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// Login email; NFKC-normalized, trimmed and lowercased; invisible and
    /// control characters are refused.
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// At least 8 characters.
    #[schema(example = "correct horse battery", min_length = 8)]
    pub password: String,
    /// Name shown to other users; defaults to the part of the email before `@`.
    #[schema(example = "Ada")]
    pub display_name: Option<String>,
}

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Login email (case, surrounding spaces and compatibility forms such as
    /// full-width letters do not matter).
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// The account's password.
    pub password: String,
}

/// A token and the account it belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthResponse {
    /// Bearer token (HS256 JWT) for `Authorization: Bearer …` or `?token=` on the sync socket.
    pub token: String,
    /// The account.
    pub user: UserResponse,
}

/// Creates an account and returns a token for it.
#[utoipa::path(
    post,
    path = "/auth/register",
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = AuthResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 409, description = "Email already registered", body = ErrorBody),
        (status = 422, description = "Invalid email, password or display name", body = ErrorBody),
        (status = 429, description = "Too many attempts from this client IP (RATE_LOGIN_PER_MIN); see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Every password hashing slot is busy (one per core); see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(request): Json<RegisterRequest>,
) -> Result<(StatusCode, JsonResponse<AuthResponse>), AppError> {
    check_attempt_rate(&state, peer, &headers)?;
    let email = validate::email(&request.email)?;
    validate::password(&request.password)?;
    let display_name = match request.display_name {
        Some(name) => validate::display_name(&name)?,
        None => email.split('@').next().unwrap_or_default().to_owned(),
    };
    let slot = state.hashing.try_take()?;
    let hash = hash_password(slot, request.password).await?;
    let user = state
        .db
        .create_user(email, display_name, hash)
        .await
        .map_err(|err| match err {
            DbError::Conflict => AppError::Conflict("an account with this email already exists"),
            other => other.into(),
        })?;
    tracing::info!(user.id = %user.id, "account registered");
    let token = issue_token(&state, &user)?;
    Ok((
        StatusCode::CREATED,
        JsonResponse(AuthResponse {
            token,
            user: user.into(),
        }),
    ))
}

/// Exchanges email and password for a token.
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = AuthResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Wrong email or password (the same answer for both)", body = ErrorBody),
        (status = 422, description = "Missing fields", body = ErrorBody),
        (status = 429, description = "Too many attempts from this client IP (RATE_LOGIN_PER_MIN); see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Every password hashing slot is busy (one per core); see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(request): Json<LoginRequest>,
) -> Result<JsonResponse<AuthResponse>, AppError> {
    check_attempt_rate(&state, peer, &headers)?;
    let email = validate::normalize_email(&request.email);
    let user = state.db.find_user_by_email(email).await?;
    let hash = user.as_ref().map(|user| user.password_hash.clone());
    let slot = state.hashing.try_take()?;
    let verified = verify_password(slot, request.password, hash).await?;
    match user {
        Some(user) if verified => {
            let token = issue_token(&state, &user)?;
            Ok(JsonResponse(AuthResponse {
                token,
                user: user.into(),
            }))
        }
        _ => Err(AppError::Unauthorized("wrong email or password")),
    }
}

/// Counts a login or register attempt against the client IP's allowance.
fn check_attempt_rate(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<(), AppError> {
    let Some(limiter) = &state.login_limiter else {
        return Ok(());
    };
    let ip = state.client_ip(peer, headers);
    limiter.check(ip).map_err(|retry_after| {
        crate::metrics::rate_limited("login");
        tracing::info!(client.ip = %ip, "login/register attempts over the limit");
        AppError::TooManyRequests(retry_after.as_secs())
    })
}

fn issue_token(state: &AppState, user: &crate::db::User) -> Result<String, AppError> {
    state
        .jwt
        .issue(user.id)
        .map_err(|err| AppError::Internal(format!("token signing failed: {err}")))
}

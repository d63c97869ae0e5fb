//! `GET /me` and `DELETE /me`.

use axum::{extract::State, http::StatusCode, Json};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    app::AppState,
    auth::AuthUser,
    db::User,
    error::{AppError, ErrorBody},
};

/// An account's public fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    /// User id.
    pub id: Uuid,
    /// Login email (lowercase).
    pub email: String,
    /// Name shown to other users.
    pub display_name: String,
    /// When the account was created (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserResponse {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            display_name: user.display_name,
            created_at: user.created_at,
        }
    }
}

/// The caller's account.
#[utoipa::path(
    get,
    path = "/me",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's account", body = UserResponse),
        (status = 401, description = "Missing, malformed, expired or wrongly signed token", body = ErrorBody),
    )
)]
pub async fn get_me(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<UserResponse>, AppError> {
    let user = state
        .db
        .find_user(user.id)
        .await?
        .ok_or(AppError::Unauthorized("invalid or expired token"))?;
    Ok(Json(user.into()))
}

/// Deletes the caller's account, the boards it owns (with their content, members
/// and audit rows) and its memberships of other boards.
#[utoipa::path(
    delete,
    path = "/me",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Account deleted"),
        (status = 401, description = "Missing, malformed, expired or wrongly signed token", body = ErrorBody),
    )
)]
pub async fn delete_me(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<StatusCode, AppError> {
    let owned_boards = state.db.delete_user(user.id).await?;
    tracing::info!(user.id = %user.id, boards = owned_boards.len(), "account deleted");
    state.boards.boards_deleted(&owned_boards);
    state.boards.user_removed_everywhere(user.id);
    Ok(StatusCode::NO_CONTENT)
}

//! `/boards/{id}/members`: list, add or change, remove.

use axum::{extract::State, http::StatusCode, Json as JsonResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::access::BoardAccess;
use crate::{
    app::AppState,
    auth::AuthUser,
    db::{Member, PutMember, RemoveMember, Role},
    error::{AppError, ErrorBody},
    extract::{Json, Path},
    validate,
};

/// A member of a board.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberResponse {
    /// The member's user id.
    pub user_id: Uuid,
    /// The member's email.
    pub email: String,
    /// The member's display name.
    pub display_name: String,
    /// `owner`, `editor` or `viewer`.
    pub role: Role,
}

impl From<Member> for MemberResponse {
    fn from(member: Member) -> Self {
        Self {
            user_id: member.user_id,
            email: member.email,
            display_name: member.display_name,
            role: member.role,
        }
    }
}

/// A board's members.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    /// Every member, the owner first.
    pub items: Vec<MemberResponse>,
}

/// Share a board with an account, or change its role.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PutMemberRequest {
    /// The account's email (case, surrounding spaces and compatibility forms
    /// such as full-width letters do not matter).
    #[schema(example = "grace@example.com")]
    pub email: String,
    /// `editor` or `viewer`.
    #[schema(example = "editor")]
    pub role: String,
}

/// Lists a board's members, the owner included.
#[utoipa::path(
    get,
    path = "/boards/{id}/members",
    tag = "members",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Board id")),
    responses(
        (status = 200, description = "The members", body = MemberList),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such board, or not shared with the caller", body = ErrorBody),
    )
)]
pub async fn list_members(
    State(state): State<AppState>,
    user: AuthUser,
    Path(board_id): Path<Uuid>,
) -> Result<JsonResponse<MemberList>, AppError> {
    BoardAccess::check(&state, board_id, user).await?;
    let members = state.db.list_members(board_id).await?;
    Ok(JsonResponse(MemberList {
        items: members.into_iter().map(Into::into).collect(),
    }))
}

/// Adds an account to a board as editor or viewer, or changes its role (owner only).
#[utoipa::path(
    put,
    path = "/boards/{id}/members",
    tag = "members",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Board id")),
    request_body = PutMemberRequest,
    responses(
        (status = 200, description = "The member as now stored", body = MemberResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller is not the owner", body = ErrorBody),
        (status = 404, description = "No such board (or not shared with the caller), or no account with that email", body = ErrorBody),
        (status = 422, description = "Role is not `editor`/`viewer`, or the email is the owner's", body = ErrorBody),
        (status = 429, description = "Too many member additions by this user (RATE_MEMBER_ADDS_PER_MIN); see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn put_member(
    State(state): State<AppState>,
    user: AuthUser,
    Path(board_id): Path<Uuid>,
    Json(request): Json<PutMemberRequest>,
) -> Result<JsonResponse<MemberResponse>, AppError> {
    check_member_add_rate(&state, user)?;
    BoardAccess::check(&state, board_id, user)
        .await?
        .require_owner()?;
    let role = match Role::parse(request.role.trim()) {
        Some(role @ (Role::Editor | Role::Viewer)) => role,
        _ => return Err(AppError::validation("role: must be `editor` or `viewer`")),
    };
    let email = validate::normalize_email(&request.email);
    match state.db.put_member(board_id, user.id, email, role).await? {
        PutMember::Added(member) | PutMember::Updated(member) => {
            tracing::info!(board.id = %board_id, member.id = %member.user_id, role = role.as_str(), "member set");
            // A demoted editor's open sockets must stop being able to write.
            state.boards.role_changed(board_id, member.user_id, role);
            Ok(JsonResponse(member.into()))
        }
        PutMember::IsOwner => Err(AppError::validation(
            "email: the owner's role cannot be changed",
        )),
        PutMember::UnknownEmail => Err(AppError::NotFound("no account with this email")),
    }
}

/// Counts a member addition against the caller's allowance: each answer says
/// whether an email has an account, so an unlimited series of them would
/// enumerate the accounts.
fn check_member_add_rate(state: &AppState, user: AuthUser) -> Result<(), AppError> {
    let Some(limiter) = &state.member_add_limiter else {
        return Ok(());
    };
    limiter.check(user.id).map_err(|retry_after| {
        crate::metrics::rate_limited("member_add");
        tracing::info!(user.id = %user.id, "member additions over the limit");
        AppError::TooManyRequests(retry_after.as_secs())
    })
}

/// Removes a member from a board (owner only). That user's live sockets on the
/// board are closed with code 4403.
#[utoipa::path(
    delete,
    path = "/boards/{id}/members/{user_id}",
    tag = "members",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Board id"),
        ("user_id" = Uuid, Path, description = "The member's user id"),
    ),
    responses(
        (status = 204, description = "Member removed"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller is not the owner", body = ErrorBody),
        (status = 404, description = "No such board (or not shared with the caller), or that user is not a member", body = ErrorBody),
        (status = 422, description = "The user is the owner, who cannot be removed", body = ErrorBody),
    )
)]
pub async fn remove_member(
    State(state): State<AppState>,
    user: AuthUser,
    Path((board_id, member_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, AppError> {
    BoardAccess::check(&state, board_id, user)
        .await?
        .require_owner()?;
    match state.db.remove_member(board_id, user.id, member_id).await? {
        RemoveMember::Removed => {
            tracing::info!(board.id = %board_id, member.id = %member_id, "member removed");
            state.boards.member_removed(board_id, member_id);
            Ok(StatusCode::NO_CONTENT)
        }
        RemoveMember::IsOwner => Err(AppError::validation(
            "user_id: the owner cannot be removed from their board",
        )),
        RemoveMember::NotMember => Err(AppError::NotFound("that user is not a member")),
    }
}

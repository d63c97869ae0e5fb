//! `/boards` and `/boards/{id}`: create, list, read, rename, delete.

use axum::{extract::State, http::StatusCode, Json as JsonResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::access::BoardAccess;
use crate::{
    app::AppState,
    auth::AuthUser,
    db::{Board, Role},
    error::{AppError, ErrorBody},
    extract::{Json, Path, Query},
    validate,
};

/// A board as the caller sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct BoardResponse {
    /// Board id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// The owner's user id.
    pub owner_id: Uuid,
    /// The caller's role on this board.
    pub role: Role,
    /// When it was created (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
    /// When its name or content last changed (RFC 3339, UTC).
    pub updated_at: DateTime<Utc>,
}

impl From<Board> for BoardResponse {
    fn from(board: Board) -> Self {
        Self {
            id: board.id,
            name: board.name,
            owner_id: board.owner_id,
            role: board.role,
            created_at: board.created_at,
            updated_at: board.updated_at,
        }
    }
}

/// A page of the caller's boards.
#[derive(Debug, Serialize, ToSchema)]
pub struct BoardList {
    /// Boards on this page, newest `updated_at` first.
    pub items: Vec<BoardResponse>,
    /// How many boards the caller owns or shares in all.
    pub total: i64,
}

/// A board's name.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BoardNameRequest {
    /// 1–200 characters after trimming.
    #[schema(example = "Sprint planning", min_length = 1, max_length = 200)]
    pub name: String,
}

/// Paging parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// Creates a board owned by the caller.
#[utoipa::path(
    post,
    path = "/boards",
    tag = "boards",
    security(("bearer" = [])),
    request_body = BoardNameRequest,
    responses(
        (status = 201, description = "Board created; the caller is its owner", body = BoardResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "Name empty or longer than 200 characters", body = ErrorBody),
    )
)]
pub async fn create_board(
    State(state): State<AppState>,
    user: AuthUser,
    Json(request): Json<BoardNameRequest>,
) -> Result<(StatusCode, JsonResponse<BoardResponse>), AppError> {
    let name = validate::board_name(&request.name)?;
    let board = state.db.create_board(user.id, name).await?;
    tracing::info!(board.id = %board.id, user.id = %user.id, "board created");
    Ok((StatusCode::CREATED, JsonResponse(board.into())))
}

/// Lists the boards the caller owns or is a member of.
#[utoipa::path(
    get,
    path = "/boards",
    tag = "boards",
    security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "A page of boards, newest `updated_at` first", body = BoardList),
        (status = 400, description = "Unparsable query string", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "limit or offset out of range", body = ErrorBody),
    )
)]
pub async fn list_boards(
    State(state): State<AppState>,
    user: AuthUser,
    Query(params): Query<PageParams>,
) -> Result<JsonResponse<BoardList>, AppError> {
    let (limit, offset) = validate::page(params.limit, params.offset)?;
    let page = state.db.list_boards(user.id, limit, offset).await?;
    Ok(JsonResponse(BoardList {
        items: page.items.into_iter().map(Into::into).collect(),
        total: page.total,
    }))
}

/// A board the caller is a member of.
#[utoipa::path(
    get,
    path = "/boards/{id}",
    tag = "boards",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Board id")),
    responses(
        (status = 200, description = "The board, with the caller's role", body = BoardResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such board, or not shared with the caller", body = ErrorBody),
    )
)]
pub async fn get_board(
    State(state): State<AppState>,
    user: AuthUser,
    Path(board_id): Path<Uuid>,
) -> Result<JsonResponse<BoardResponse>, AppError> {
    let access = BoardAccess::check(&state, board_id, user).await?;
    Ok(JsonResponse(access.board.into()))
}

/// Renames a board (owner or editor).
#[utoipa::path(
    patch,
    path = "/boards/{id}",
    tag = "boards",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Board id")),
    request_body = BoardNameRequest,
    responses(
        (status = 200, description = "The renamed board", body = BoardResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller is a viewer", body = ErrorBody),
        (status = 404, description = "No such board, or not shared with the caller", body = ErrorBody),
        (status = 422, description = "Name empty or longer than 200 characters", body = ErrorBody),
    )
)]
pub async fn rename_board(
    State(state): State<AppState>,
    user: AuthUser,
    Path(board_id): Path<Uuid>,
    Json(request): Json<BoardNameRequest>,
) -> Result<JsonResponse<BoardResponse>, AppError> {
    BoardAccess::check(&state, board_id, user)
        .await?
        .require_editor()?;
    let name = validate::board_name(&request.name)?;
    let board = state.db.rename_board(board_id, user.id, name).await?;
    Ok(JsonResponse(board.into()))
}

/// Deletes a board with its content, members and audit log (owner only). Live
/// sockets on it are closed with code 4404.
#[utoipa::path(
    delete,
    path = "/boards/{id}",
    tag = "boards",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Board id")),
    responses(
        (status = 204, description = "Board deleted"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller is not the owner", body = ErrorBody),
        (status = 404, description = "No such board, or not shared with the caller", body = ErrorBody),
    )
)]
pub async fn delete_board(
    State(state): State<AppState>,
    user: AuthUser,
    Path(board_id): Path<Uuid>,
) -> Result<StatusCode, AppError> {
    BoardAccess::check(&state, board_id, user)
        .await?
        .require_owner()?;
    state.db.delete_board(board_id, user.id).await?;
    tracing::info!(board.id = %board_id, user.id = %user.id, "board deleted");
    state.boards.boards_deleted(&[board_id]);
    Ok(StatusCode::NO_CONTENT)
}

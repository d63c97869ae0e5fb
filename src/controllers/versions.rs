//! `/boards/{id}/versions…`: a board's kept versions (automatic, manual and
//! pre-restore), their content, and restoring one.

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json as JsonResponse,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    access::BoardAccess,
    boards::PageParams,
    content::{content_response, ContentParams, ContentResponse},
};
use crate::{
    app::AppState,
    auth::AuthUser,
    board_service::{content_json, session::RestoreError},
    db::{BoardVersion, NewVersion, VersionAuthor, VersionKind},
    error::{AppError, ErrorBody},
    extract::{Path, Query},
    validate,
};

/// Longest version label, in characters.
const MAX_LABEL_CHARS: usize = 200;

/// A user whose edits went into a version.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionAuthorResponse {
    /// The user's id.
    pub user_id: Uuid,
    /// The user's display name (as it is now).
    pub display_name: String,
}

/// A kept version of a board (without its content).
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionResponse {
    /// Version id.
    pub id: Uuid,
    /// The board it belongs to.
    pub board_id: Uuid,
    /// `auto` (after a quiet time, or under continuous editing), `manual`, or
    /// `pre_restore` (the state a restore replaced).
    pub kind: VersionKind,
    /// The label given when it was made.
    pub label: Option<String>,
    /// When it was made (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
    /// Who made it; `null` for automatic versions and deleted accounts.
    pub created_by: Option<Uuid>,
    /// The users whose edits went in since the previous version.
    pub authors: Vec<VersionAuthorResponse>,
    /// Size of the stored state (a compacted Yjs v1 update).
    pub size_bytes: i64,
}

impl From<VersionAuthor> for VersionAuthorResponse {
    fn from(author: VersionAuthor) -> Self {
        Self {
            user_id: author.user_id,
            display_name: author.display_name,
        }
    }
}

impl From<BoardVersion> for VersionResponse {
    fn from(version: BoardVersion) -> Self {
        Self {
            id: version.id,
            board_id: version.board_id,
            kind: version.kind,
            label: version.label,
            created_at: version.created_at,
            created_by: version.created_by,
            authors: version.authors.into_iter().map(Into::into).collect(),
            size_bytes: version.size_bytes,
        }
    }
}

/// A page of a board's versions.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionList {
    /// Versions on this page, newest first.
    pub items: Vec<VersionResponse>,
    /// How many versions the board has in all.
    pub total: i64,
}

/// The body of `POST /boards/{id}/versions` (an empty body is allowed too).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CreateVersionRequest {
    /// Up to 200 characters, trimmed; empty means none.
    pub label: Option<String>,
}

/// What a restore did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RestoreResponse {
    /// The version whose content the board now has.
    pub restored: VersionResponse,
    /// The `pre_restore` version holding the content it replaced (restore it
    /// to undo).
    pub backup: VersionResponse,
}

/// A board's versions, newest first (any member).
#[utoipa::path(
    get,
    path = "/boards/{id}/versions",
    tag = "versions",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Board id"), PageParams),
    responses(
        (status = 200, description = "A page of versions, newest first", body = VersionList),
        (status = 400, description = "Unparsable query string", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such board, or not shared with the caller", body = ErrorBody),
        (status = 422, description = "limit or offset out of range", body = ErrorBody),
    )
)]
pub async fn list_versions(
    State(state): State<AppState>,
    user: AuthUser,
    Path(board_id): Path<Uuid>,
    Query(params): Query<PageParams>,
) -> Result<JsonResponse<VersionList>, AppError> {
    BoardAccess::check(&state, board_id, user).await?;
    let (limit, offset) = validate::page(params.limit, params.offset)?;
    let (items, total) = state.db.list_versions(board_id, limit, offset).await?;
    Ok(JsonResponse(VersionList {
        items: items.into_iter().map(Into::into).collect(),
        total,
    }))
}

/// Keeps the board's current live state as a manual version (owner, editor).
#[utoipa::path(
    post,
    path = "/boards/{id}/versions",
    tag = "versions",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Board id")),
    request_body(content = CreateVersionRequest, description = "Optional: an empty body makes a version without a label"),
    responses(
        (status = 201, description = "Version made; its authors are the users whose saved edits went in since the previous version", body = VersionResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller is a viewer", body = ErrorBody),
        (status = 404, description = "No such board, or not shared with the caller", body = ErrorBody),
        (status = 422, description = "Label longer than 200 characters", body = ErrorBody),
    )
)]
pub async fn create_version(
    State(state): State<AppState>,
    user: AuthUser,
    Path(board_id): Path<Uuid>,
    body: Bytes,
) -> Result<(StatusCode, JsonResponse<VersionResponse>), AppError> {
    BoardAccess::check(&state, board_id, user)
        .await?
        .require_editor()?;
    let request = parse_create_request(&body)?;
    let label = label(request.label)?;
    let version = keep_current_state(&state, board_id, user.id, VersionKind::Manual, label).await?;
    tracing::info!(board.id = %board_id, version.id = %version.id, user.id = %user.id, "version made");
    Ok((StatusCode::CREATED, JsonResponse(version.into())))
}

/// One version of a board (any member).
#[utoipa::path(
    get,
    path = "/boards/{id}/versions/{vid}",
    tag = "versions",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Board id"),
        ("vid" = Uuid, Path, description = "Version id"),
    ),
    responses(
        (status = 200, description = "The version", body = VersionResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such board or version, or the board is not shared with the caller", body = ErrorBody),
    )
)]
pub async fn get_version(
    State(state): State<AppState>,
    user: AuthUser,
    Path((board_id, version_id)): Path<(Uuid, Uuid)>,
) -> Result<JsonResponse<VersionResponse>, AppError> {
    BoardAccess::check(&state, board_id, user).await?;
    let version = state
        .db
        .get_version(board_id, version_id)
        .await
        .map_err(version_not_found)?;
    Ok(JsonResponse(version.into()))
}

/// Deletes a version (owner).
#[utoipa::path(
    delete,
    path = "/boards/{id}/versions/{vid}",
    tag = "versions",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Board id"),
        ("vid" = Uuid, Path, description = "Version id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller is not the board's owner", body = ErrorBody),
        (status = 404, description = "No such board or version, or the board is not shared with the caller", body = ErrorBody),
    )
)]
pub async fn delete_version(
    State(state): State<AppState>,
    user: AuthUser,
    Path((board_id, version_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, AppError> {
    BoardAccess::check(&state, board_id, user)
        .await?
        .require_owner()?;
    state
        .db
        .delete_version(board_id, version_id, user.id)
        .await
        .map_err(version_not_found)?;
    tracing::info!(board.id = %board_id, version.id = %version_id, user.id = %user.id, "version deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// A version's content as one Yjs v1 update (any member).
#[utoipa::path(
    get,
    path = "/boards/{id}/versions/{vid}/state",
    tag = "versions",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Board id"),
        ("vid" = Uuid, Path, description = "Version id"),
    ),
    responses(
        (status = 200, description = "Yjs v1 update holding the whole document as it was", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such board or version, or the board is not shared with the caller", body = ErrorBody),
    )
)]
pub async fn get_version_state(
    State(state): State<AppState>,
    user: AuthUser,
    Path((board_id, version_id)): Path<(Uuid, Uuid)>,
) -> Result<Response, AppError> {
    BoardAccess::check(&state, board_id, user).await?;
    let bytes = state
        .db
        .version_state(board_id, version_id)
        .await
        .map_err(version_not_found)?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// A version's content as JSON, like `GET /boards/{id}/content` (any member).
#[utoipa::path(
    get,
    path = "/boards/{id}/versions/{vid}/content",
    tag = "versions",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Board id"),
        ("vid" = Uuid, Path, description = "Version id"),
        ContentParams,
    ),
    responses(
        (status = 200, description = "The version's content as JSON", body = ContentResponse),
        (status = 400, description = "Unparsable query string", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such board or version, or the board is not shared with the caller", body = ErrorBody),
        (status = 422, description = "`types` is not a list of name:kind with kinds map, array, text or xml", body = ErrorBody),
    )
)]
pub async fn get_version_content(
    State(state): State<AppState>,
    user: AuthUser,
    Path((board_id, version_id)): Path<(Uuid, Uuid)>,
    Query(params): Query<ContentParams>,
) -> Result<JsonResponse<ContentResponse>, AppError> {
    BoardAccess::check(&state, board_id, user).await?;
    let overrides = params.overrides()?;
    let bytes = state
        .db
        .version_state(board_id, version_id)
        .await
        .map_err(version_not_found)?;
    let rendered =
        tokio::task::spawn_blocking(move || content_json::render_update(&bytes, &overrides))
            .await?
            .map_err(|err| match err {
                content_json::ContentError::TooDeep => AppError::Validation(err.to_string()),
                other => AppError::Internal(format!("stored version unreadable: {other}")),
            })?;
    Ok(JsonResponse(content_response(rendered)))
}

/// Makes the live board's content equal to the version's (owner, editor).
/// The current content is first kept as a `pre_restore` version (restore it
/// to undo); the change is then applied as ordinary Yjs updates, so live
/// clients converge without reloading. Answered once the change is durable.
#[utoipa::path(
    post,
    path = "/boards/{id}/versions/{vid}/restore",
    tag = "versions",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Board id"),
        ("vid" = Uuid, Path, description = "Version id"),
    ),
    responses(
        (status = 200, description = "Restored", body = RestoreResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller is a viewer", body = ErrorBody),
        (status = 404, description = "No such board or version, or the board is not shared with the caller", body = ErrorBody),
        (status = 503, description = "Shutting down, or the change could not be made durable now (retrying is safe)", body = ErrorBody),
    )
)]
pub async fn restore_version(
    State(state): State<AppState>,
    user: AuthUser,
    Path((board_id, version_id)): Path<(Uuid, Uuid)>,
) -> Result<JsonResponse<RestoreResponse>, AppError> {
    BoardAccess::check(&state, board_id, user)
        .await?
        .require_editor()?;
    let restored = state
        .db
        .get_version(board_id, version_id)
        .await
        .map_err(version_not_found)?;
    let content = state
        .db
        .version_state(board_id, version_id)
        .await
        .map_err(version_not_found)?;
    let backup =
        keep_current_state(&state, board_id, user.id, VersionKind::PreRestore, None).await?;
    let changed = state
        .boards
        .restore_content(board_id, content, user.id)
        .await
        .map_err(|err| match err {
            RestoreError::Open(err) => err.into(),
            RestoreError::Content(err @ content_json::ContentError::TooDeep) => {
                AppError::Validation(err.to_string())
            }
            RestoreError::Apply(err) => match err {
                crate::board_service::session::ExternalUpdateError::Open(err) => err.into(),
                crate::board_service::session::ExternalUpdateError::NotDurable(err) => err.into(),
                other => AppError::Internal(other.to_string()),
            },
            other => AppError::Internal(other.to_string()),
        })?;
    crate::metrics::version_restored(changed);
    state
        .db
        .record_restore(board_id, version_id, backup.id, user.id)
        .await?;
    tracing::info!(board.id = %board_id, version.id = %version_id, backup.id = %backup.id,
        user.id = %user.id, changed, "version restored");
    Ok(JsonResponse(RestoreResponse {
        restored: restored.into(),
        backup: backup.into(),
    }))
}

/// Keeps the board's current (live) state as a version of `kind`.
async fn keep_current_state(
    state: &AppState,
    board_id: Uuid,
    user_id: Uuid,
    kind: VersionKind,
    label: Option<String>,
) -> Result<BoardVersion, AppError> {
    let content = state.boards.current_state(board_id).await?;
    let version = state
        .db
        .create_version(
            NewVersion {
                board_id,
                kind,
                label,
                state: content,
                created_by: Some(user_id),
            },
            state.config.version_keep,
        )
        .await?;
    crate::metrics::version_created(kind.as_str());
    Ok(version)
}

fn parse_create_request(body: &[u8]) -> Result<CreateVersionRequest, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(CreateVersionRequest::default());
    }
    serde_json::from_slice::<CreateVersionRequest>(body).map_err(|err| {
        if err.is_data() {
            AppError::Validation("label must be a string or null".to_owned())
        } else {
            AppError::BadRequest(format!("the body is not valid JSON: {err}"))
        }
    })
}

/// The label, trimmed (empty: none), or 422 when longer than 200 characters.
fn label(raw: Option<String>) -> Result<Option<String>, AppError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let label = raw.trim();
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(AppError::Validation(format!(
            "label must be at most {MAX_LABEL_CHARS} characters"
        )));
    }
    Ok((!label.is_empty()).then(|| label.to_owned()))
}

fn version_not_found(err: crate::db::DbError) -> AppError {
    match err {
        crate::db::DbError::NotFound => AppError::NotFound("version not found"),
        other => other.into(),
    }
}

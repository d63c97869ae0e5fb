//! `GET /boards/{id}/audit`.

use axum::{extract::State, Json as JsonResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{access::BoardAccess, boards::PageParams};
use crate::{
    app::AppState,
    auth::AuthUser,
    db::AuditEntry,
    error::{AppError, ErrorBody},
    extract::{Path, Query},
    validate,
};

/// One recorded change to a board.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryResponse {
    /// Entry id.
    pub id: Uuid,
    /// Who made the change; `null` once that account is deleted, and for what
    /// the server did by itself (automatic versions).
    pub actor_id: Option<Uuid>,
    /// `board.created`, `board.renamed`, `member.added`, `member.role_changed`, `member.removed`,
    /// `version.created` (no actor for automatic versions), `version.restored` or `version.deleted`.
    #[schema(example = "board.renamed")]
    pub action: String,
    /// Action-specific details, e.g. `{"from": "Old", "to": "New"}` for a rename.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// When (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
}

impl From<AuditEntry> for AuditEntryResponse {
    fn from(entry: AuditEntry) -> Self {
        Self {
            id: entry.id,
            actor_id: entry.actor_id,
            action: entry.action,
            detail: entry.detail,
            created_at: entry.created_at,
        }
    }
}

/// A page of a board's audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    /// Entries on this page, newest first.
    pub items: Vec<AuditEntryResponse>,
    /// How many entries the board has in all.
    pub total: i64,
}

/// A board's audit log (any member).
#[utoipa::path(
    get,
    path = "/boards/{id}/audit",
    tag = "audit",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Board id"), PageParams),
    responses(
        (status = 200, description = "A page of audit entries, newest first", body = AuditList),
        (status = 400, description = "Unparsable query string", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such board, or not shared with the caller", body = ErrorBody),
        (status = 422, description = "limit or offset out of range", body = ErrorBody),
    )
)]
pub async fn list_audit(
    State(state): State<AppState>,
    user: AuthUser,
    Path(board_id): Path<Uuid>,
    Query(params): Query<PageParams>,
) -> Result<JsonResponse<AuditList>, AppError> {
    BoardAccess::check(&state, board_id, user).await?;
    let (limit, offset) = validate::page(params.limit, params.offset)?;
    let (items, total) = state.db.list_audit(board_id, limit, offset).await?;
    Ok(JsonResponse(AuditList {
        items: items.into_iter().map(Into::into).collect(),
        total,
    }))
}

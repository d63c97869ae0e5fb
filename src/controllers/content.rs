//! `GET /boards/{id}/state`, `POST /boards/{id}/updates` and
//! `GET /boards/{id}/content`: a board's Yjs content over plain HTTP, and as
//! JSON.

use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json as JsonResponse,
};
use bytes::Bytes;
use http_body_util::BodyExt;
use uuid::Uuid;

use super::access::BoardAccess;
use crate::{
    app::AppState,
    auth::AuthUser,
    board_service::{
        content_json::{self, KindOverrides},
        session::{ContentReadError, ExternalUpdateError},
    },
    body_budget::{BodyBudget, BodyShare},
    error::{AppError, ErrorBody},
    extract::{Path, Query},
};

const OCTET_STREAM: &str = "application/octet-stream";

/// The board's full content as one Yjs v1 update (the live state if the board
/// is open, else the saved snapshot).
#[utoipa::path(
    get,
    path = "/boards/{id}/state",
    tag = "content",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Board id")),
    responses(
        (status = 200, description = "Yjs v1 update holding the whole document", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such board, or not shared with the caller", body = ErrorBody),
    )
)]
pub async fn get_board_state(
    State(state): State<AppState>,
    user: AuthUser,
    Path(board_id): Path<Uuid>,
) -> Result<Response, AppError> {
    BoardAccess::check(&state, board_id, user).await?;
    let bytes = state.boards.current_state(board_id).await?;
    Ok(([(header::CONTENT_TYPE, OCTET_STREAM)], bytes).into_response())
}

/// Applies a Yjs v1 update to the board, relays it to the board's live sockets
/// and saves it like any edit (owner or editor). Answered `204` only once the
/// update is committed to the board's journal: it then survives a crash.
#[utoipa::path(
    post,
    path = "/boards/{id}/updates",
    tag = "content",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Board id")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "A Yjs v1 update"),
    responses(
        (status = 204, description = "Applied"),
        (status = 400, description = "The body is not a valid Yjs v1 update", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "The caller is a viewer", body = ErrorBody),
        (status = 404, description = "No such board, or not shared with the caller", body = ErrorBody),
        (status = 413, description = "Body larger than MAX_MESSAGE_BYTES", body = ErrorBody),
        (status = 503, description = "Shutting down, too many large bodies are being received at once (see Retry-After), or the update could not be committed to the journal (the database is down or backed up; sending it again is safe)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait, when too many large bodies are being received"))),
    )
)]
pub async fn apply_board_update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(board_id): Path<Uuid>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, AppError> {
    BoardAccess::check(&state, board_id, user)
        .await?
        .require_editor()?;
    let (update, _share) = read_limited(
        &headers,
        body,
        state.config.max_message_bytes,
        &state.body_budget,
    )
    .await?;
    state
        .boards
        .apply_authored_update(board_id, update, Some(user.id))
        .await
        .map_err(|err| match err {
            err @ (ExternalUpdateError::Invalid | ExternalUpdateError::TooDeep) => {
                AppError::BadRequest(err.to_string())
            }
            ExternalUpdateError::Open(err) => err.into(),
            ExternalUpdateError::NotDurable(err) => err.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `types` query parameter of the JSON content routes.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContentParams {
    /// Root kinds that override the inference, `name:kind` separated by
    /// commas; kinds `map`, `array`, `text`, `xml` (e.g. `shapes:map,title:text`).
    pub types: Option<String>,
}

/// The board as JSON: `{roots: {NAME: JSON}}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ContentResponse {
    /// Each root type by name. A map is an object, an array an array, a text
    /// its plain string, an XML fragment its XML string, binary content a
    /// base64 string; nested shared types the same way, recursively. Roots
    /// with no content are left out.
    #[schema(value_type = Object)]
    pub roots: serde_json::Value,
}

impl ContentParams {
    /// The overrides named, or 422 with what is wrong.
    pub fn overrides(&self) -> Result<KindOverrides, AppError> {
        match &self.types {
            Some(list) => content_json::parse_types(list)
                .map_err(|err| AppError::Validation(format!("invalid types: {err}"))),
            None => Ok(KindOverrides::new()),
        }
    }
}

/// Wraps rendered content as the response.
pub fn content_response(mut rendered: serde_json::Value) -> ContentResponse {
    ContentResponse {
        roots: rendered
            .get_mut("roots")
            .map(serde_json::Value::take)
            .unwrap_or_default(),
    }
}

/// The board as JSON: every root type, its kind inferred from its content
/// (map, array, text, XML) unless `types` names it.
#[utoipa::path(
    get,
    path = "/boards/{id}/content",
    tag = "content",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Board id"), ContentParams),
    responses(
        (status = 200, description = "The board's current content as JSON (the live state if the board is open)", body = ContentResponse),
        (status = 400, description = "Unparsable query string", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such board, or not shared with the caller", body = ErrorBody),
        (status = 422, description = "`types` is not a list of name:kind with kinds map, array, text or xml", body = ErrorBody),
    )
)]
pub async fn get_board_content(
    State(state): State<AppState>,
    user: AuthUser,
    Path(board_id): Path<Uuid>,
    Query(params): Query<ContentParams>,
) -> Result<JsonResponse<ContentResponse>, AppError> {
    BoardAccess::check(&state, board_id, user).await?;
    let overrides = params.overrides()?;
    let rendered = state
        .boards
        .content_json(board_id, overrides)
        .await
        .map_err(|err| match err {
            ContentReadError::Open(err) => err.into(),
            ContentReadError::Content(err @ content_json::ContentError::TooDeep) => {
                AppError::Validation(err.to_string())
            }
            other => AppError::Internal(other.to_string()),
        })?;
    Ok(JsonResponse(content_response(rendered)))
}

/// Reads a body of at most `limit` bytes, refusing a larger one (by its
/// declared length when there is one) before buffering it. A large body takes
/// its size from the shared budget as it arrives (see `crate::body_budget`):
/// the returned share holds it until the update is applied.
async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    budget: &BodyBudget,
) -> Result<(Bytes, BodyShare), AppError> {
    let too_large =
        || AppError::PayloadTooLarge(format!("body is larger than the limit of {limit} bytes"));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let busy = || AppError::Busy("too many large bodies are being received", 1);
    if let Some(len) = declared.and_then(|len| usize::try_from(len).ok()) {
        if !budget.has_room_for(len) {
            tracing::info!(bytes = len, "large request body refused before reading it");
            return Err(busy());
        }
    }
    let mut share = budget.share();
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut received = 0usize;
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|err| AppError::BadRequest(format!("could not read the body: {err}")))?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        received = received.saturating_add(chunk.len());
        if received > limit {
            return Err(too_large());
        }
        share.grow_to(received).map_err(|err| {
            tracing::info!(bytes = received, "large request body refused: {err}");
            busy()
        })?;
        chunks.push(chunk);
    }
    let bytes = match chunks.len() {
        1 => chunks.swap_remove(0),
        _ => Bytes::from(chunks.concat()),
    };
    Ok((bytes, share))
}

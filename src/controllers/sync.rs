//! `GET /api/v1/boards/{id}/sync`: the y-websocket endpoint.
//!
//! Everything is checked before the upgrade (token, membership, the board
//! loads), so a refused client gets a plain HTTP error and no socket; the
//! upgraded socket joins its board's [`Session`], and [`crate::sync_socket`] runs it.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, State},
    http::HeaderMap,
    response::Response,
};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::{
    app::AppState,
    auth::{account_exists, bearer_token, verify_token},
    board_service::{session::Session, CloseReason},
    db::Role,
    error::{AppError, ErrorBody},
    extract::{Path, Query},
    metrics,
    sync_socket::{self, SocketSettings},
    websocket::{UpgradeRejection, WebSocketUpgrade},
};

/// Query parameters of the sync route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncParams {
    /// The bearer token, for browsers, which cannot set headers on a WebSocket.
    pub token: Option<String>,
}

/// Opens a live sync socket on a board (y-websocket protocol, binary frames).
///
/// Use the stock `y-websocket` `WebsocketProvider` with `serverUrl =
/// ws://HOST/api/v1/boards`, `roomname = <id>/sync`, `params = {token}`. Close codes:
/// 1001 server shutting down, 1002 WebSocket protocol error (RFC 6455), 1003
/// text message (the protocol is binary), 1007 undecodable frame, rejected
/// update or a close reason that is not UTF-8, 1008 policy violation, 1009
/// message over `MAX_MESSAGE_BYTES`, 1013 client too slow (reconnect to
/// resync), 4403 membership removed, 4404 board deleted. Viewers
/// receive everything but their edits are answered with an auth permission-denied
/// message `read-only`.
#[utoipa::path(
    get,
    path = "/boards/{id}/sync",
    tag = "sync",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Board id"), SyncParams),
    responses(
        (status = 101, description = "Switching to the WebSocket sync protocol"),
        (status = 400, description = "Not a WebSocket upgrade request, or its Sec-WebSocket-Key is not 16 bytes in base64", body = ErrorBody),
        (status = 401, description = "Missing, malformed, expired or wrongly signed token", body = ErrorBody),
        (status = 404, description = "No such board, or not shared with the caller", body = ErrorBody),
        (status = 426, description = "Sec-WebSocket-Version is not 13 (code `upgrade_required`)", body = ErrorBody,
            headers(("Sec-WebSocket-Version" = String, description = "`13`, the only version spoken"))),
        (status = 429, description = "Too many upgrades from this client IP (RATE_WS_CONNECT_PER_MIN); see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Shutting down, or the board cannot be loaded now", body = ErrorBody),
    )
)]
pub async fn sync_board(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(board_id): Path<Uuid>,
    Query(params): Query<SyncParams>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, UpgradeRejection>,
) -> Result<Response, AppError> {
    if let Some(limiter) = &state.ws_connect_limiter {
        let ip = state.client_ip(peer, &headers);
        if let Err(retry_after) = limiter.check(ip) {
            metrics::rate_limited("ws_connect");
            tracing::info!(client.ip = %ip, "WebSocket upgrades over the limit");
            return Err(AppError::TooManyRequests(retry_after.as_secs()));
        }
    }
    let token = match bearer_token(&headers)? {
        Some(token) => token,
        None => params
            .token
            .as_deref()
            .ok_or(AppError::Unauthorized("missing token"))?,
    };
    // Read before access is checked: see `recheck_access` below.
    let access_epoch = state.boards.access_epoch();
    let user_id = verify_token(&state, token)?;
    // One query on the common path: a membership implies its account exists
    // (memberships are deleted with their account). Only a refusal has to say
    // which it is: 401 for a deleted account, 404 otherwise.
    let role = match state.db.find_board_for(board_id, user_id).await? {
        Some(board) => board.role,
        None => {
            account_exists(&state, user_id).await?;
            return Err(AppError::NotFound("board not found"));
        }
    };
    let upgrade = upgrade.map_err(|err| match err {
        UpgradeRejection::UnsupportedVersion => AppError::UnsupportedWebSocketVersion,
        err => AppError::BadRequest(format!("expected a WebSocket upgrade: {err}")),
    })?;
    let lease = state.boards.open(board_id).await?;
    let thread = state.board_threads.for_board(board_id).clone();
    Ok(upgrade
        .max_message_size(state.config.max_message_bytes)
        .on_thread(thread)
        .on_upgrade(move |socket| {
            state.boards.clone().track_socket(async move {
                tracing::debug!(board.id = %board_id, user.id = %user_id, "socket opened");
                let session = Session::start(&state.boards, lease, user_id, role).await;
                if state.boards.access_epoch() != access_epoch {
                    // Boxed (in its own statement, or the temporary keeps its
                    // room): a database call's future is larger than the whole
                    // socket loop, and this future keeps room for its largest part.
                    let recheck = Box::pin(recheck_access(&state, &session, board_id, role));
                    recheck.await;
                }
                let settings = SocketSettings {
                    idle_timeout: state.config.ws_idle_timeout,
                    ping_interval: state.config.ws_ping_interval,
                    messages_per_sec: state.config.rate_ws_msgs_per_sec,
                };
                sync_socket::run(socket, session, settings).await;
            })
        }))
}

/// Membership may have changed between the check before the upgrade and the
/// socket joining its board (the board service heard of an access change
/// meanwhile): look once more; a later change reaches the socket itself.
async fn recheck_access(state: &AppState, session: &Session, board_id: Uuid, role: Role) {
    let user_id = session.peer().user_id;
    match state.db.find_board_for(board_id, user_id).await {
        Ok(Some(board)) if board.role != role => session.peer().set_role(board.role),
        Ok(Some(_)) | Err(_) => {}
        Ok(None) => {
            let reason = match state.db.board_exists(board_id).await {
                Ok(false) => CloseReason::BoardDeleted,
                _ => CloseReason::MemberRemoved,
            };
            session.peer().close(reason);
        }
    }
}

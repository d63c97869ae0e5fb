//! `GET /healthz`: liveness.

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    app::AppState,
    error::{AppError, ErrorBody},
};

/// Liveness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    /// Always `ok` while the process serves.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Answers 200 while the process runs (liveness; no dependency is checked).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process is alive", body = HealthResponse))
)]
pub async fn healthz() -> Json<HealthResponse> {
    Json(HealthResponse { status: "ok" })
}

/// Readiness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyResponse {
    /// `ready` when the server can serve.
    #[schema(example = "ready")]
    pub status: &'static str,
}

/// Answers 200 when the database (and Redis, when `REDIS_URL` is set) answers
/// and the server is not shutting down, else 503 (for load balancers: take the
/// instance out of rotation).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = ReadyResponse),
        (status = 503, description = "The database or Redis (when configured) does not answer, or the server is shutting down", body = ErrorBody),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<ReadyResponse>, AppError> {
    if state.boards.is_shutting_down() {
        return Err(AppError::Unavailable("shutting down".to_owned()));
    }
    state
        .db
        .ping()
        .await
        .map_err(|err| AppError::Unavailable(format!("database: {err}")))?;
    if let Some(cluster) = &state.cluster {
        cluster
            .ping()
            .await
            .map_err(|err| AppError::Unavailable(format!("redis: {err}")))?;
    }
    Ok(Json(ReadyResponse { status: "ready" }))
}

/// Prometheus metrics in the text exposition format (on this listener unless
/// `METRICS_ADDR` names a separate one; then 404 here).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format (version 0.0.4)", content_type = "text/plain", body = String),
        (status = 404, description = "Served on the separate METRICS_ADDR listener instead", body = ErrorBody),
    )
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    if state.config.metrics_addr.is_some() {
        return AppError::NotFound("metrics are served on METRICS_ADDR").into_response();
    }
    render_metrics(&state)
}

/// Samples the board gauges and renders every series.
pub fn render_metrics(state: &AppState) -> Response {
    crate::metrics::boards(state.boards.loaded_count(), state.boards.dirty_count());
    if let Some(cluster) = &state.cluster {
        cluster.sample_metrics();
    }
    let body = state
        .metrics
        .as_ref()
        .map(|handle| handle.render())
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

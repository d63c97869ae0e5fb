//! `GET /healthz`: liveness.

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

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

//! The published OpenAPI document: the router's routes on its fixed parts
//! (`router/api_doc.rs`).

/// The complete document, as served at `/api/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    crate::router::api_router().split_for_parts().1
}

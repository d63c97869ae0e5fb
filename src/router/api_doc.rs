//! The OpenAPI document's fixed parts (info, tags, security scheme) and what
//! the router adds to every operation (request timeouts). Paths and schemas
//! come from the handlers themselves.

use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

/// Top-level OpenAPI metadata.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "canvas-server",
        description = "Collaborative whiteboard backend: accounts, boards, sharing, audit log, and live Yjs sync over WebSocket (`GET /api/v1/boards/{id}/sync`, y-websocket protocol).",
        license(name = "MIT OR Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Register and log in"),
        (name = "users", description = "The caller's account"),
        (name = "boards", description = "Boards the caller owns or shares"),
        (name = "members", description = "Who may see and edit a board"),
        (name = "audit", description = "Who changed what on a board"),
        (name = "content", description = "A board's Yjs document over HTTP"),
        (name = "versions", description = "Kept versions of a board: automatic, manual and pre-restore; their content; restoring one"),
        (name = "sync", description = "Live Yjs sync over WebSocket (y-websocket protocol)"),
        (name = "operations", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme that protected routes refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A token from `POST /api/v1/auth/register` or `/login`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Documents the `408 request_timeout` answer (see `crate::body_deadline`) on
/// every operation that takes a request body, so no route can miss it.
pub fn document_request_timeouts(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            if operation.request_body.is_none() {
                continue;
            }
            let timeout = ResponseBuilder::new()
                .description(
                    "The body did not fully arrive within REQUEST_TIMEOUT_MS; the connection is closed",
                )
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build();
            operation
                .responses
                .responses
                .entry("408".to_owned())
                .or_insert(timeout.into());
        }
    }
}

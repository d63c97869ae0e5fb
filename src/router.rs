//! Every route in one place. Routes are registered through utoipa-axum so that
//! the OpenAPI document is generated from this very router and cannot drift.

mod api_doc;

use axum::{
    extract::DefaultBodyLimit,
    http::{header, HeaderValue, Method},
    routing::get,
    Json, Router,
};
use tower_http::{
    cors::{AllowOrigin, Any, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};
use utoipa_swagger_ui::SwaggerUi;

use self::api_doc::ApiDoc;

use crate::{
    app::AppState,
    config::Config,
    controllers::{audit, auth, boards, content, health, members, sync, users, versions},
    error::AppError,
    observability,
};

/// Largest JSON body accepted by the REST routes that take JSON.
const JSON_BODY_LIMIT: usize = 64 * 1024;

/// The API routes with their OpenAPI descriptions (no state, no middleware).
pub fn api_router() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(users::get_me, users::delete_me))
        .routes(routes!(boards::create_board, boards::list_boards))
        .routes(routes!(
            boards::get_board,
            boards::rename_board,
            boards::delete_board
        ))
        .routes(routes!(members::list_members, members::put_member))
        .routes(routes!(members::remove_member))
        .routes(routes!(audit::list_audit))
        .routes(routes!(content::get_board_state))
        .routes(routes!(content::apply_board_update))
        .routes(routes!(sync::sync_board))
        .routes(routes!(content::get_board_content))
        .routes(routes!(versions::list_versions, versions::create_version))
        .routes(routes!(versions::get_version, versions::delete_version))
        .routes(routes!(versions::get_version_state))
        .routes(routes!(versions::get_version_content))
        .routes(routes!(versions::restore_version));
    let mut api = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .nest("/api/v1", v1);
    api_doc::document_request_timeouts(api.get_openapi_mut());
    api
}

/// The complete application: API routes, docs, fallbacks and middleware.
pub fn build_router(state: AppState) -> Router {
    let (api, openapi_json) = api_router().split_for_parts();
    let cors = cors_layer(&state.config);
    api.route(
        "/api/openapi.json",
        get(move || async move { Json(openapi_json) }),
    )
    .route(
        SWAGGER_UI_LICENSE_PATH,
        get(|| async {
            (
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                SWAGGER_UI_LICENSE,
            )
        }),
    )
    .merge(docs_ui())
    .merge(web_app(&state.config))
    .fallback(|| async { AppError::NotFound("no such route") })
    .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
    .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        crate::body_deadline::enforce,
    ))
    .layer(axum::middleware::from_fn(observability::record_request))
    .layer(cors)
    // Outermost first: a request id is set (or an incoming `x-request-id`
    // kept), copied to the response, and recorded in the request's span.
    .layer(
        TraceLayer::new_for_http()
            .make_span_with(observability::request_span)
            .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
    )
    .layer(PropagateRequestIdLayer::x_request_id())
    .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
    .with_state(state)
}

/// Where Swagger UI's bundle says its license information is (its first
/// line names this file, which the vendored files lack).
const SWAGGER_UI_LICENSE_PATH: &str = "/docs/swagger-ui-bundle.js.LICENSE.txt";
/// Swagger UI's NOTICE and Apache-2.0 LICENSE, shipped with its code.
const SWAGGER_UI_LICENSE: &str = include_str!("third_party/swagger-ui-LICENSE.txt");

/// The interactive docs at `/docs`: Swagger UI, its files compiled into the
/// binary, reading the document served at `/api/openapi.json`. Nothing is
/// loaded from another origin, so the page works on networks without
/// internet access.
fn docs_ui() -> SwaggerUi {
    let config = utoipa_swagger_ui::Config::from("/api/openapi.json")
        // Swagger UI would otherwise send the document to swagger.io's
        // validator and show its badge.
        .validator_url("none");
    SwaggerUi::new("/docs").config(config)
}

/// The whiteboard web app at `/`, `/b/{board_id}` and `/assets/…`, outside
/// the OpenAPI document; with `WEB_UI=off` none of it exists (`/` is `404`).
fn web_app(config: &Config) -> Router<AppState> {
    if config.web_ui {
        crate::web_ui::router()
    } else {
        Router::new()
    }
}

/// The router of the separate metrics listener (`METRICS_ADDR`).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(
                |axum::extract::State(state): axum::extract::State<AppState>| async move {
                    health::render_metrics(&state)
                },
            ),
        )
        .with_state(state)
}

fn cors_layer(config: &Config) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    if config.cors_origins.is_empty() {
        // Development default: any origin may call the API.
        layer.allow_origin(Any)
    } else {
        let origins: Vec<HeaderValue> = config
            .cors_origins
            .iter()
            .filter_map(|origin| match HeaderValue::from_str(origin) {
                Ok(value) => Some(value),
                Err(_) => {
                    tracing::warn!(%origin, "ignoring CORS origin that is not a valid header value");
                    None
                }
            })
            .collect();
        layer.allow_origin(AllowOrigin::list(origins))
    }
}

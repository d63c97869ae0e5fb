//! Logging set-up and the per-request span.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
};
use tracing::Span;
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LogFormat;

/// Installs the global subscriber: `RUST_LOG` filter (default `info`), text or JSON.
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a terminal: escape codes in files and log pipelines are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = fmt().with_env_filter(filter).with_ansi(ansi);
    // A second init (tests) keeps the first subscriber; that is fine.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The matched route pattern, `None` when no route matched.
fn matched_route<B>(request: &axum::http::Request<B>) -> Option<&MatchedPath> {
    request.extensions().get::<MatchedPath>()
}

fn route_of<B>(request: &axum::http::Request<B>) -> String {
    matched_route(request)
        .map_or(crate::metrics::UNMATCHED_ROUTE, MatchedPath::as_str)
        .to_owned()
}

/// The span every request runs in: method, matched route (never the raw path
/// with ids, never query strings, which may carry tokens) and request id.
pub fn request_span<B>(request: &axum::http::Request<B>) -> Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %request.method(),
        route = %route_of(request),
        request_id,
    )
}

/// Middleware recording every request in the HTTP metrics (by matched route).
pub async fn record_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = matched_route(&request).cloned();
    let response = next.run(request).await;
    crate::metrics::http_request(
        &method,
        route.as_ref().map(MatchedPath::as_str),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

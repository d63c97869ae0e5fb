//! The whiteboard web app (`WEB_UI=on`): the page at `/` and `/b/{board_id}`
//! and its assets under `/assets/`, all compiled into the binary from the
//! committed build in `web/dist/` (so building the server never needs Node).
//!
//! The page carries a strict Content-Security-Policy: scripts, styles, images
//! and connections only from this origin (plus its WebSocket), no inline code,
//! no framing. Asset names carry no content hash, so every response has an
//! `ETag` and `Cache-Control: no-cache`: browsers keep the files and revalidate
//! them, getting `304` until the binary serves a new build.

use std::sync::LazyLock;

use axum::{
    extract::Path,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use sha1::{Digest, Sha1};

use crate::error::AppError;

/// Where the assets are served.
pub const ASSETS_PREFIX: &str = "/assets";

/// The policy of the app's page. `connect-src` names the WebSocket schemes
/// because browsers before CSP Level 3 do not count `ws:` as `'self'`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self' ws: wss:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One file of the built app.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

/// The page itself, served for `/` and every board path.
const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    bytes: include_bytes!("../web/dist/index.html"),
};

/// Everything under [`ASSETS_PREFIX`].
const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../web/dist/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../web/dist/app.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../web/dist/favicon.svg"),
    },
    Asset {
        name: "THIRD_PARTY_LICENSES.txt",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("../web/dist/THIRD_PARTY_LICENSES.txt"),
    },
];

/// A strong validator per file, from its content (computed once).
fn etag(asset: &Asset) -> HeaderValue {
    static ETAGS: LazyLock<Vec<(&'static str, HeaderValue)>> = LazyLock::new(|| {
        ASSETS
            .iter()
            .chain(std::iter::once(&INDEX))
            .map(|asset| {
                let digest = Sha1::digest(asset.bytes);
                let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
                // Hex digits in quotes are always a valid header value.
                let value = HeaderValue::from_str(&format!("\"{hex}\""))
                    .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
                (asset.name, value)
            })
            .collect()
    });
    ETAGS
        .iter()
        .find(|(name, _)| *name == asset.name)
        .map(|(_, value)| value.clone())
        .unwrap_or_else(|| HeaderValue::from_static("\"0\""))
}

/// The routes of the web app, to merge into the main router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(page))
        .route("/b/{board_id}", get(page))
        .route(&format!("{ASSETS_PREFIX}/{{file}}"), get(asset))
}

/// `GET /` and `GET /b/{board_id}`: the app's page (the app itself reads the
/// path and asks the API whether the board exists).
async fn page(request_headers: HeaderMap) -> Response {
    let mut response = serve(&INDEX, &request_headers);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// `GET /assets/{file}`: one of the built files, or `404` in the error envelope.
async fn asset(Path(file): Path<String>, request_headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|asset| asset.name == file) {
        Some(asset) => serve(asset, &request_headers),
        None => AppError::NotFound("no such asset").into_response(),
    }
}

/// The file, or `304 Not Modified` when the browser's copy is current.
fn serve(asset: &Asset, request_headers: &HeaderMap) -> Response {
    let etag = etag(asset);
    let fresh = request_headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|candidate| {
            let candidate = candidate.trim();
            candidate == "*" || candidate.trim_start_matches("W/").as_bytes() == etag.as_bytes()
        });
    let common = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        )],
        asset.bytes,
    )
        .into_response()
}

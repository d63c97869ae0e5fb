//! The HTTP/1.1 upgrade handshake (RFC 6455 §4.2): checks the request, answers
//! `101 Switching Protocols`, and hands the upgraded connection to the caller.

use std::future::Future;

use axum::{
    body::Body,
    extract::FromRequestParts,
    http::{header, request::Parts, HeaderMap, HeaderName, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};

use super::{FrameWriter, MessageReader, WebSocket};

/// Why a request is not a WebSocket upgrade the server can accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UpgradeRejection {
    /// Upgrades are GET requests.
    #[error("the method must be GET")]
    MethodNotGet,
    /// `Connection` must list `upgrade`.
    #[error("the Connection header must contain \"upgrade\"")]
    ConnectionHeader,
    /// `Upgrade` must be `websocket`.
    #[error("the Upgrade header must be \"websocket\"")]
    UpgradeHeader,
    /// `Sec-WebSocket-Version` must be 13.
    #[error("Sec-WebSocket-Version must be 13")]
    VersionHeader,
    /// `Sec-WebSocket-Key` is missing.
    #[error("Sec-WebSocket-Key is missing")]
    KeyHeader,
    /// The connection cannot be upgraded (not HTTP/1.1, or already taken).
    #[error("this connection cannot be upgraded")]
    NotUpgradable,
}

impl IntoResponse for UpgradeRejection {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, self.to_string()).into_response()
    }
}

/// An accepted upgrade request, not yet answered.
#[derive(Debug)]
pub struct WebSocketUpgrade {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
    max_message: usize,
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = UpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if parts.method != Method::GET {
            return Err(UpgradeRejection::MethodNotGet);
        }
        if !header_lists(&parts.headers, header::CONNECTION, "upgrade") {
            return Err(UpgradeRejection::ConnectionHeader);
        }
        if !header_is(&parts.headers, header::UPGRADE, "websocket") {
            return Err(UpgradeRejection::UpgradeHeader);
        }
        if !header_is(&parts.headers, header::SEC_WEBSOCKET_VERSION, "13") {
            return Err(UpgradeRejection::VersionHeader);
        }
        let key = parts
            .headers
            .get(header::SEC_WEBSOCKET_KEY)
            .ok_or(UpgradeRejection::KeyHeader)?
            .clone();
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or(UpgradeRejection::NotUpgradable)?;
        Ok(Self {
            key,
            on_upgrade,
            max_message: usize::MAX,
        })
    }
}

impl WebSocketUpgrade {
    /// Messages (and frames) over `max` bytes end the socket with 1009.
    pub fn max_message_size(mut self, max: usize) -> Self {
        self.max_message = max;
        self
    }

    /// Answers `101` and runs `callback` with the socket once the client has
    /// switched (on its own task; a failed switch is logged and dropped).
    pub fn on_upgrade<F, Fut>(self, callback: F) -> Response
    where
        F: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Self {
            key,
            on_upgrade,
            max_message,
        } = self;
        tokio::spawn(async move {
            let upgraded = match on_upgrade.await {
                Ok(upgraded) => upgraded,
                Err(err) => {
                    tracing::debug!(%err, "WebSocket upgrade failed");
                    return;
                }
            };
            let (read, write) = tokio::io::split(TokioIo::new(upgraded));
            callback(WebSocket {
                reader: MessageReader::new(read, max_message),
                writer: FrameWriter::new(write),
            })
            .await;
        });
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept_key(key.as_bytes()));
        response
    }
}

/// `Sec-WebSocket-Accept`: base64 of the SHA-1 of the key and the RFC's GUID.
fn accept_key(key: &[u8]) -> HeaderValue {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let encoded = base64::engine::general_purpose::STANDARD.encode(sha1.finalize());
    // Base64 is always a valid header value.
    HeaderValue::from_str(&encoded).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn header_is(headers: &HeaderMap, name: HeaderName, value: &str) -> bool {
    headers
        .get(name)
        .is_some_and(|header| header.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
}

/// Whether a comma-separated header lists `token` (`Connection: keep-alive, Upgrade`).
fn header_lists(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|header| {
        header
            .as_bytes()
            .split(|&byte| byte == b',')
            .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_key_matches_the_rfc_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn connection_tokens_are_matched_in_lists_and_any_case() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(header_lists(&headers, header::CONNECTION, "upgrade"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrades"));
        assert!(!header_lists(&headers, header::CONNECTION, "upgrade"));
    }
}

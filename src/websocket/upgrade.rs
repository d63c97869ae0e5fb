//! The HTTP/1.1 upgrade handshake (RFC 6455 §4.2): checks the request, answers
//! `101 Switching Protocols`, and hands the upgraded connection to the caller.

use std::{future::Future, io::Cursor};

use axum::{
    body::Body,
    extract::FromRequestParts,
    http::{header, request::Parts, HeaderMap, HeaderName, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use bytes::Bytes;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};
use tokio::{io::AsyncReadExt, net::TcpStream, runtime::Handle};

use super::{FrameWriter, MessageReader, SocketRead, SocketWrite, WebSocket};

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
    thread: Option<Handle>,
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
            thread: None,
        })
    }
}

impl WebSocketUpgrade {
    /// Messages (and frames) over `max` bytes end the socket with 1009.
    pub fn max_message_size(mut self, max: usize) -> Self {
        self.max_message = max;
        self
    }

    /// Serves the socket on the runtime of `thread` (see `crate::board_threads`):
    /// the TCP connection is taken from the HTTP server and registered with
    /// that thread's I/O driver. A connection that cannot be taken (not plain
    /// TCP) is served on that thread through the upgraded stream.
    pub fn on_thread(mut self, thread: Handle) -> Self {
        self.thread = Some(thread);
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
            thread,
        } = self;
        tokio::spawn(async move {
            let upgraded = match on_upgrade.await {
                Ok(upgraded) => upgraded,
                Err(err) => {
                    tracing::debug!(%err, "WebSocket upgrade failed");
                    return;
                }
            };
            let Some(thread) = thread else {
                return callback(over_upgraded(upgraded, max_message)).await;
            };
            let parts = match upgraded.downcast::<TokioIo<TcpStream>>() {
                Ok(parts) => parts,
                Err(upgraded) => {
                    thread
                        .spawn(async move { callback(over_upgraded(upgraded, max_message)).await });
                    return;
                }
            };
            // Taken off this runtime's I/O driver, registered with the other's.
            let stream = match parts.io.into_inner().into_std() {
                Ok(stream) => stream,
                Err(err) => {
                    tracing::debug!(%err, "cannot move an upgraded connection");
                    return;
                }
            };
            // Copied: the slice would keep hyper's whole read buffer for as
            // long as the socket lives (usually it is empty).
            let already_read = Bytes::copy_from_slice(&parts.read_buf);
            thread.spawn(async move {
                let stream = match TcpStream::from_std(stream) {
                    Ok(stream) => stream,
                    Err(err) => {
                        tracing::warn!(%err, "cannot serve a socket on its board's thread");
                        return;
                    }
                };
                let (read, write) = stream.into_split();
                let read = Cursor::new(already_read).chain(read);
                callback(WebSocket {
                    reader: MessageReader::new(SocketRead::Tcp(read), max_message),
                    writer: FrameWriter::new(SocketWrite::Tcp(write)),
                })
                .await;
            });
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

/// A socket over the HTTP server's upgraded connection, served where it is.
fn over_upgraded(upgraded: Upgraded, max_message: usize) -> WebSocket {
    let (read, write) = tokio::io::split(TokioIo::new(upgraded));
    WebSocket {
        reader: MessageReader::new(SocketRead::Upgraded(read), max_message),
        writer: FrameWriter::new(SocketWrite::Upgraded(write)),
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
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn an_upgraded_connection_moves_to_its_thread_with_what_was_read_past_the_request() {
        use std::sync::{Arc, Mutex};

        use axum::{routing::get, Router};
        use tokio::{io::AsyncWriteExt, sync::oneshot};

        use crate::{
            board_threads::BoardThreads,
            websocket::{Incoming, SocketRead},
        };

        let threads = BoardThreads::start(1).expect("a thread starts");
        let thread = threads.for_board(uuid::Uuid::nil()).clone();
        type Seen = (Option<String>, bool, Option<bytes::Bytes>);
        let (seen_tx, seen_rx) = oneshot::channel::<Seen>();
        let seen_tx = Arc::new(Mutex::new(Some(seen_tx)));
        let router = Router::new().route(
            "/ws",
            get(move |upgrade: WebSocketUpgrade| async move {
                upgrade
                    .on_thread(thread)
                    .on_upgrade(move |mut socket| async move {
                        let name = std::thread::current().name().map(str::to_owned);
                        let tcp = matches!(socket.reader.get_ref(), SocketRead::Tcp(_));
                        let first = match socket.reader.next_message().await {
                            Ok(Some(Incoming::Binary(payload))) => Some(payload),
                            _ => None,
                        };
                        let sender = seen_tx.lock().ok().and_then(|mut tx| tx.take());
                        if let Some(sender) = sender {
                            let _ = sender.send((name, tcp, first));
                        }
                    })
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(crate::http_server::serve_http(
            listener,
            router,
            std::future::pending(),
        ));

        // The request and a first frame in one write: the server reads both
        // before it switches protocols.
        let mut bytes = format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        .into_bytes();
        let mask = [1, 2, 3, 4];
        bytes.extend_from_slice(&[0x82, 0x80 | 2]);
        bytes.extend_from_slice(&mask);
        bytes.extend(b"hi".iter().zip(mask).map(|(byte, key)| byte ^ key));
        let mut client = TcpStream::connect(addr).await.expect("connect");
        client.write_all(&bytes).await.expect("send");

        let (name, tcp, first) = tokio::time::timeout(Duration::from_secs(5), seen_rx)
            .await
            .expect("the socket is served")
            .expect("it reports");
        assert_eq!(name.as_deref(), Some("board-sockets-0"));
        assert!(tcp, "the TCP connection itself, taken from the HTTP server");
        assert_eq!(first.as_deref(), Some(&b"hi"[..]));
    }

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

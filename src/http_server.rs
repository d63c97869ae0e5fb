//! The HTTP/1.1 listener: accepts connections and serves the router on them,
//! with a graceful shutdown (no new connections; open ones finish their
//! request and close).
//!
//! Not `axum::serve`: its connections detect the HTTP version first and hand
//! an upgraded connection back wrapped in a private type, so a sync socket
//! could not take its TCP connection to its board's thread (see
//! `crate::board_threads`). hyper's HTTP/1 connection hands back the
//! `TcpStream` it was given.

use std::{future::Future, io, pin::pin, time::Duration};

use axum::{body::Body, extract::ConnectInfo, Router};
use hyper::{body::Incoming, server::conn::http1, service::service_fn, Request};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{net::TcpListener, sync::watch};
use tower::ServiceExt;

/// How long a connection may take to send a request's headers, counted from
/// when the server starts waiting for them: an idle keep-alive connection is
/// closed after this too. Longer than the idle timeouts of common load
/// balancers and proxies (60 s), so that they, not the server, close an idle
/// connection first and never send a request into one being closed.
const HEADER_TIMEOUT: Duration = Duration::from_secs(75);

/// How long `accept` rests after a failure that is not the client's (such as
/// running out of descriptors), so a full table is not spun on.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` resolves and every open
/// connection has finished. Requests carry the client's address as a
/// [`ConnectInfo`] of its `SocketAddr`.
pub async fn serve_http(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    // Every connection holds a `closing` receiver: the sender's `closed()`
    // resolves once they are all gone.
    let (stop_tx, stop_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(stop_rx);
    });
    let (closing_tx, closing_rx) = watch::channel(());
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(err).await;
                    continue;
                }
            },
            () = stop_tx.closed() => break,
        };
        // Sync messages are small and latency-bound: never hold them back for Nagle.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY");
        }
        let router = router.clone();
        let service = service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            router.clone().oneshot(request.map(Body::new))
        });
        let stop_tx = stop_tx.clone();
        let closing_rx = closing_rx.clone();
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let mut connection = pin!(connection);
            let mut stopping = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(err) = result {
                            tracing::trace!(%err, "connection ended with an error");
                        }
                        break;
                    }
                    () = stop_tx.closed(), if !stopping => {
                        stopping = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(closing_rx);
        });
    }
    drop(closing_rx);
    drop(listener);
    closing_tx.closed().await;
}

/// What a failed `accept` costs: nothing when the client went away first,
/// else a log line and a rest.
async fn accept_failed(err: io::Error) {
    if matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%err, "accept failed; retrying in a second");
    tokio::time::sleep(ACCEPT_BACKOFF).await;
}

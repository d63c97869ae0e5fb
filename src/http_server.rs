//! The HTTP/1.1 listener: accepts connections and serves the router on them,
//! with a graceful shutdown (no new connections; open ones finish their
//! request and close, until a deadline that drops the rest).
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
use tokio::{net::TcpListener, sync::watch, time::Instant};
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

/// Serves `router` on `listener` until `shutdown` resolves, then lets open
/// connections finish their requests until the instant it resolved with, and
/// drops those still open then. Requests carry the client's address as a
/// [`ConnectInfo`] of its `SocketAddr`.
pub async fn serve_http(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = Instant> + Send + 'static,
) {
    // Every connection holds a `closing` receiver: the sender's `closed()`
    // resolves once they are all gone. `stop` says "finish your request";
    // `drop_now` (at the deadline) says "close whatever you are doing".
    let (stop_tx, stop_rx) = watch::channel(());
    let (deadline_tx, mut deadline_rx) = watch::channel(None::<Instant>);
    tokio::spawn(async move {
        let deadline = shutdown.await;
        let _ = deadline_tx.send(Some(deadline));
        drop(stop_rx);
    });
    let (drop_tx, drop_rx) = watch::channel(());
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
        let mut drop_rx = drop_rx.clone();
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
                    // The shutdown deadline: the connection (and a request
                    // still in it) is dropped, which closes it.
                    _ = drop_rx.changed() => break,
                }
            }
            drop(closing_rx);
        });
    }
    drop(closing_rx);
    drop(listener);
    // Sent before `stop` was: this does not wait.
    let deadline = match deadline_rx.wait_for(Option::is_some).await {
        Ok(deadline) => deadline.unwrap_or_else(Instant::now),
        Err(_) => Instant::now(),
    };
    if tokio::time::timeout_at(deadline, closing_tx.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            connections = closing_tx.receiver_count(),
            "HTTP requests still in flight at the shutdown deadline; closing their connections"
        );
        let _ = drop_tx.send(());
        closing_tx.closed().await;
    }
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

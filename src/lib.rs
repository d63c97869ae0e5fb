//! canvas-server: a collaborative whiteboard backend.
//!
//! The path of a request: [`serve`] accepts HTTP/1 connections with hyper
//! (`http_server`) and hands each request to the axum router built by
//! `router::build_router`; REST handlers live in `controllers`.
//!
//! The live WebSocket sync, in three hops from `main.rs`:
//! 1. `controllers::sync` checks the token and membership, loads the board
//!    and upgrades the connection (`websocket` speaks RFC 6455), moving it to
//!    its board's thread (`board_threads`);
//! 2. `sync_socket` runs the socket: its read loop hands messages to the
//!    board's session, its write loop drains the socket's queue;
//! 3. [`board_service`] is the board core: in-memory Yjs boards, their peers
//!    and their saves, knowing neither sockets nor the database (its stores
//!    are implemented in [`db`]).

pub(crate) mod app;
pub mod auth;
pub mod board_service;
pub(crate) mod board_threads;
pub(crate) mod body_budget;
pub(crate) mod body_deadline;
pub mod cluster;
pub mod config;
pub(crate) mod config_error;
pub(crate) mod controllers;
pub mod db;
pub mod descriptors;
pub(crate) mod error;
pub(crate) mod extract;
pub(crate) mod http_server;
pub(crate) mod json_shape;
pub(crate) mod metrics;
pub mod observability;
pub mod openapi;
pub mod protocol;
pub(crate) mod redact;
pub(crate) mod role;
pub(crate) mod router;
pub(crate) mod sync_socket;
pub(crate) mod throttle;
pub(crate) mod validate;
pub(crate) mod version_sweeper;
pub(crate) mod web_ui;
pub mod webhooks;
pub(crate) mod websocket;

use std::future::Future;

use tokio::net::TcpListener;

pub use app::{App, AppState};
pub use board_service::ShutdownReport;
pub use config::Config;

/// Serves `state` on `listener` until `shutdown` resolves, then shuts down in
/// order: refuse new sockets and close every open one (each first applies the
/// messages its client had already sent), stop accepting connections, save
/// every board with unsaved changes, and give in-flight
/// HTTP requests until `SHUTDOWN_TIMEOUT_MS` after the signal to finish (the
/// saves have the same deadline, and never wait on a client). Returns once all
/// of that is done, with the boards that could not be saved, if any.
///
/// `metrics_listener`, when given, serves `/metrics` alone (`METRICS_ADDR`).
pub async fn serve(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<ShutdownReport> {
    if let Some(metrics_listener) = metrics_listener {
        let metrics = router::metrics_router(state.clone());
        tokio::spawn(async move {
            if let Err(err) = axum::serve(metrics_listener, metrics).await {
                tracing::error!(%err, "metrics listener failed");
            }
        });
    }
    let evictor = tokio::spawn(evict_idle_limiter_keys(state.clone()));
    let version_sweeper = tokio::spawn(version_sweeper::run(
        state.db.clone(),
        version_sweeper::VersionPolicy {
            idle: state.config.version_idle,
            max_interval: state.config.version_max_interval,
            keep: state.config.version_keep,
        },
    ));
    let router = router::build_router(state.clone());
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel();
    let http = tokio::spawn(http_server::serve_http(listener, router, async move {
        // The sender is only dropped if this function was: stop now.
        http_stopped
            .await
            .unwrap_or_else(|_| tokio::time::Instant::now())
    }));
    shutdown.await;
    let deadline = tokio::time::Instant::now() + state.config.shutdown_timeout;
    tracing::info!(
        timeout_ms = state.config.shutdown_timeout.as_millis() as u64,
        "shutdown requested: closing sockets, saving boards, draining requests"
    );
    state.boards.begin_shutdown();
    if let Some(webhooks) = &state.webhooks {
        // Attempts in flight are abandoned (and sent again after the restart):
        // no receiver holds up the shutdown.
        webhooks.begin_stop();
    }
    let _ = stop_http.send(deadline);
    evictor.abort();
    version_sweeper.abort();
    // What the closed sockets sent last reaches the other instances; then
    // their edits stop arriving before the last saves, so those saves cannot
    // be kept busy by them.
    state.boards.sockets_left(deadline).await;
    if let Some(cluster) = &state.cluster {
        if tokio::time::timeout_at(deadline, cluster.stop())
            .await
            .is_err()
        {
            tracing::warn!("cluster link still stopping at the shutdown deadline");
        }
    }
    let report = state.boards.shutdown(deadline).await;
    // Requests and sockets still open get what is left of the deadline.
    if let Err(err) = http.await {
        tracing::error!(%err, "HTTP listener task failed");
    }
    state.boards.wait_for_sockets(deadline).await;
    if let Some(webhooks) = &state.webhooks {
        if tokio::time::timeout_at(deadline, webhooks.stop())
            .await
            .is_err()
        {
            tracing::warn!("webhook worker still stopping at the shutdown deadline");
        }
    }
    state.db.close();
    tracing::info!(
        boards_saved = report.saved,
        boards_unsaved = report.unsaved.len(),
        "shutdown complete"
    );
    Ok(report)
}

/// Drops rate-limiter entries of clients that went quiet, so their memory is
/// returned (the limiters also cap their size on their own).
async fn evict_idle_limiter_keys(state: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
    loop {
        tick.tick().await;
        for limiter in [&state.login_limiter, &state.ws_connect_limiter]
            .into_iter()
            .flatten()
        {
            limiter.evict_idle();
        }
        if let Some(limiter) = &state.member_add_limiter {
            limiter.evict_idle();
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("received SIGINT"),
        () = terminate => tracing::info!("received SIGTERM"),
    }
}

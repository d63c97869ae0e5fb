//! The `canvas-server` binary: descriptor limits → configuration → logging →
//! app → serve.

use std::{sync::Arc, time::Duration};

use canvas_server::{
    descriptors::{self, DescriptorRoom},
    observability, serve, shutdown_signal, App, AppState, Config,
};

/// How long the runtime waits for blocking work still running once `serve`
/// has returned.
const EXIT_GRACE: Duration = Duration::from_millis(500);

fn main() -> anyhow::Result<()> {
    // While the process has one thread: see `descriptors` for why.
    let room = descriptors::prepare();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(run(room));
    // The shutdown deadline has passed: a save or query still running on the
    // blocking pool (a stuck database) must not keep the process alive.
    runtime.shutdown_timeout(EXIT_GRACE);
    result
}

async fn run(room: DescriptorRoom) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    observability::init_tracing(config.log_format);
    log_descriptor_room(&room);
    let bind_addr = config.bind_addr;
    let state = AppState(Arc::new(App::new(config).await?));
    let listener = tokio::net::TcpListener::bind(bind_addr).await?;
    let metrics_listener = match state.config.metrics_addr {
        Some(addr) => {
            let metrics = tokio::net::TcpListener::bind(addr).await?;
            tracing::info!(addr = %metrics.local_addr()?, "metrics listening");
            Some(metrics)
        }
        None => None,
    };
    tracing::info!(addr = %listener.local_addr()?, "canvas-server listening");
    // On a worker, not this thread: a worker that sees a new connection then
    // accepts it itself instead of waking this thread to do it.
    let report =
        tokio::spawn(serve(listener, metrics_listener, state, shutdown_signal())).await??;
    if !report.unsaved.is_empty() {
        // Logged by the shutdown with their ids; the exit status tells a supervisor.
        anyhow::bail!(
            "{} board(s) could not be saved before the shutdown deadline",
            report.unsaved.len()
        );
    }
    Ok(())
}

fn log_descriptor_room(room: &DescriptorRoom) {
    match &room.problem {
        None => tracing::info!(
            open_file_limit = room.soft_limit,
            at_start = room.soft_limit_before,
            descriptor_table = room.reserved,
            "descriptor room made"
        ),
        Some(problem) => tracing::warn!(
            open_file_limit = room.soft_limit,
            "{problem}; sockets may be refused or stall on a burst of connections"
        ),
    }
}

//! The `canvas-server` binary: configuration → logging → app → serve.

use std::sync::Arc;

use canvas_server::{observability, serve, shutdown_signal, App, AppState, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    observability::init_tracing(config.log_format);
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
    serve(listener, metrics_listener, state, shutdown_signal()).await?;
    Ok(())
}

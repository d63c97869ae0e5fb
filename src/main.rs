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
    tracing::info!(addr = %listener.local_addr()?, "canvas-server listening");
    serve(listener, state, shutdown_signal()).await?;
    Ok(())
}

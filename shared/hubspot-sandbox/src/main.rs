//! `hubspot-sandbox`: serves the in-memory HubSpot on HUBSPOT_SANDBOX_ADDR (default
//! 127.0.0.1:3001) until Ctrl-C.

use std::net::SocketAddr;
use std::process::ExitCode;

use hubspot_sandbox::{SandboxConfig, spawn};

const DEFAULT_ADDR: &str = "127.0.0.1:3001";

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let config = match SandboxConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(%error, "invalid sandbox configuration");
            return ExitCode::FAILURE;
        }
    };
    let addr_text =
        std::env::var("HUBSPOT_SANDBOX_ADDR").unwrap_or_else(|_| DEFAULT_ADDR.to_owned());
    let addr: SocketAddr = match addr_text.parse() {
        Ok(addr) => addr,
        Err(error) => {
            tracing::error!(%error, addr = %addr_text, "HUBSPOT_SANDBOX_ADDR is not a socket address");
            return ExitCode::FAILURE;
        }
    };
    warp_http_server::raise_open_files_limit();
    let handle = match spawn(config, addr).await {
        Ok(handle) => handle,
        Err(error) => {
            tracing::error!(%error, %addr, "cannot bind the sandbox");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(url = %format!("http://{}", handle.addr()), "HubSpot sandbox listening");
    if let Err(error) = tokio::signal::ctrl_c().await {
        tracing::error!(%error, "cannot listen for Ctrl-C");
    }
    tracing::info!("shutting down");
    handle.shutdown().await;
    ExitCode::SUCCESS
}

//! The customer API as a Lambda behind API Gateway (HTTP API, payload 2.0): the same axum router
//! the local system serves, adapted by lambda_http. Everything expensive (configuration,
//! secrets, the database pool) is built once here, before the first invocation.

use warp_runtime::{Config, telemetry};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    warp_runtime::install_crypto_provider();
    let config = Config::from_env()?;
    telemetry::init(config.log_format);
    let router = warp_api::bootstrap::lambda_router(&config).await?;
    lambda_http::run(router).await
}

//! The HubSpot webhook receiver as a Lambda behind a Function URL (auth NONE: HubSpot's v3
//! signature is the authentication). Function URLs send API Gateway v2-shaped events, which
//! lambda_http turns into the request the `warp_webhook` router verifies and stores; the raw
//! path, query string and Host header reach the signature check unchanged. The client secret
//! (HUBSPOT_WEBHOOK_SECRET_ARN) and the database pool are set up once, during init.

use warp_runtime::{Config, SecretsCache, telemetry};
use warp_sync::wiring;
use warp_webhook::{WebhookConfig, WebhookState};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    warp_runtime::install_crypto_provider();
    let config = Config::from_env()?;
    telemetry::init(config.log_format);
    let secrets = SecretsCache::for_config(&config).await;
    let secret = secrets.resolve(&config.hubspot.webhook_secret).await?;
    // Inside Lambda the default scheme is https (Function URLs are HTTPS only).
    let webhook_config = WebhookConfig::from_env(secret)?;
    let database = wiring::database(&config, &secrets).await?;
    lambda_http::run(warp_webhook::router(WebhookState::new(
        webhook_config,
        database,
    )))
    .await
}

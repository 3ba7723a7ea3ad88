//! The HubSpot webhook receiver as a Lambda behind a Function URL (auth NONE: HubSpot's v3
//! signature is the authentication). Function URLs send API Gateway v2-shaped events, which
//! lambda_http turns into the request the `warp_webhook` router verifies and stores; the raw
//! path and query string reach the signature check unchanged, behind WEBHOOK_PUBLIC_URL (the
//! Function URL or its custom domain, required: see `template.yaml`). The client secret
//! (HUBSPOT_WEBHOOK_SECRET_ARN), the database pool and the HubSpot client are set up once,
//! during init. Stored events are applied before the answer, within a budget: a frozen Lambda
//! cannot work after answering.

use std::sync::Arc;
use std::time::Duration;
use warp_runtime::{Config, Function, SecretsCache, telemetry};
use warp_sync::wiring;
use warp_webhook::{InboundProcessor, WebhookConfig, WebhookState};

/// Events are stored (durably) before processing starts, so HubSpot's 5 s timeout only bounds
/// how much is applied inline; the rest stays RECEIVED for the reconciler's frequent schedule.
const INLINE_BUDGET: Duration = Duration::from_secs(2);

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    warp_runtime::install_crypto_provider();
    let config = Config::from_env()?;
    telemetry::init(config.log_format);
    let secrets = SecretsCache::for_function(&config, Function::HubSpotWebhook).await;
    let secret = secrets.resolve(&config.hubspot.webhook_secret).await?;
    // Inside Lambda WEBHOOK_PUBLIC_URL is required: the signature covers the URL HubSpot
    // called, and the Host header alone is the caller's to choose. Without it, init fails here.
    let webhook_config = WebhookConfig::from_env(secret).inspect_err(|error| {
        tracing::error!(%error, "webhook configuration refused; the function cannot start");
    })?;
    let database = wiring::database(&config, &secrets).await?;
    let processor = InboundProcessor {
        database: database.clone(),
        hubspot: Some(wiring::hubspot_client(&config, &secrets, &database).await?),
        map: wiring::field_mapping(&config, &database).await?,
        portal_id: config.hubspot.portal_id,
    };
    let state = WebhookState::new(webhook_config, database)
        .with_inline_processing(Arc::new(processor), INLINE_BUDGET);
    lambda_http::run(warp_webhook::router(state)).await
}

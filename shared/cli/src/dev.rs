//! `warp dev`: the whole system in one process, as DESIGN.md §1 describes for local runs.

use anyhow::Context;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use warp_runtime::{Config, SecretsCache};
use warp_store::Database;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let database = Database::prepare(
        config.database.url.expose_secret(),
        config.database.pool_size,
    )
    .await
    .context("preparing the database (is PostgreSQL running? `make postgres` starts it)")?;
    let secrets = SecretsCache::for_config(&config).await;

    let sandbox = match &config.hubspot.base_url {
        Some(_) => None,
        None => Some(start_sandbox(&config, &secrets).await?),
    };

    let hubspot = crate::hubspot::client(&config, &secrets, &database).await?;
    crate::hubspot::setup(&hubspot).await?;

    let webhook_secret = secrets.resolve(&config.hubspot.webhook_secret).await?;
    let webhook =
        warp_webhook::WebhookConfig::from_env(webhook_secret).context("webhook configuration")?;
    let webhooks = warp_webhook::router(warp_webhook::WebhookState::new(webhook, database.clone()));

    let state = warp_api::bootstrap::api_state(&config, database, &secrets).await?;
    let app = warp_api::router(state).merge(webhooks);
    let listener = TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("binding HTTP_ADDR {}", config.http_addr))?;

    let base = format!("http://{}", config.http_addr);
    println!("WARP local system");
    println!(
        "  API          {base}/v1/customers   (OpenAPI: {base}/v1/openapi.json, health: {base}/health)"
    );
    match &sandbox {
        Some(s) => println!(
            "  HubSpot      {} (built-in sandbox; faults: POST /_sandbox/faults)",
            s.base_url()
        ),
        None => println!("  HubSpot      {}", config.hubspot_base_url()),
    }
    println!("  webhooks     {base}/webhooks/hubspot (and /webhooks/hubspot/company)");
    println!("  token        make token ROLE=viewer|editor|admin");
    println!("  stop         Ctrl-C");

    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving HTTP")?;
    drop(sandbox);
    Ok(())
}

async fn start_sandbox(
    config: &Config,
    secrets: &SecretsCache,
) -> anyhow::Result<hubspot_sandbox::SandboxHandle> {
    let mut sandbox =
        hubspot_sandbox::SandboxConfig::from_env().context("sandbox configuration")?;
    sandbox.app_token = secrets
        .resolve(&config.hubspot.token)
        .await?
        .expose_secret()
        .to_owned();
    sandbox.webhook_secret = secrets
        .resolve(&config.hubspot.webhook_secret)
        .await?
        .expose_secret()
        .to_owned();
    sandbox.portal_id = u64::try_from(config.hubspot.portal_id).context("HUBSPOT_PORTAL_ID")?;
    // Deliveries go to this same process unless SANDBOX_WEBHOOK_URL says otherwise.
    sandbox
        .webhook_target
        .get_or_insert_with(|| format!("http://{}/webhooks/hubspot", config.http_addr));
    hubspot_sandbox::spawn(sandbox, config.hubspot.sandbox_addr)
        .await
        .with_context(|| {
            format!(
                "starting the HubSpot sandbox on {}",
                config.hubspot.sandbox_addr
            )
        })
}

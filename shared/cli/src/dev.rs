//! `warp dev`: the whole system in one process, as DESIGN.md §1 describes for local runs.

use anyhow::Context;
use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use warp_runtime::{Config, SecretsCache};
use warp_store::Database;
use warp_webhook::{InboundProcessor, run_inbound_loop_with_kick};

/// How often the background loops look for work they were not woken for.
const LOOP_INTERVAL: Duration = Duration::from_secs(5);
/// How often due won-deal onboardings are looked for: a won deal should become a customer
/// within seconds, and the look is one indexed query.
const ONBOARDING_INTERVAL: Duration = Duration::from_secs(1);

/// How long one turn of the local reconciler loop advances imports before it looks at
/// requested runs again.
const IMPORT_SLICE: Duration = Duration::from_secs(30);
/// Longest a Webhooks Journal poll of the dev loop reads before the loop goes on.
const JOURNAL_SLICE: Duration = Duration::from_secs(10);

/// Tells every background loop to stop when the server does.
#[derive(Clone)]
pub(crate) struct Shutdown(watch::Sender<bool>);

impl Shutdown {
    pub(crate) fn new() -> Self {
        Shutdown(watch::channel(false).0)
    }

    pub(crate) fn trigger(&self) {
        let _ = self.0.send(true);
    }

    pub(crate) fn signalled(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut receiver = self.0.subscribe();
        async move {
            let _ = receiver.wait_for(|stopped| *stopped).await;
        }
    }
}

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
    let shutdown = Shutdown::new();
    let kick = Arc::new(Notify::new());
    let inbound = Arc::new(InboundProcessor {
        database: database.clone(),
        hubspot: Some(hubspot.clone()),
        map: warp_sync::wiring::field_mapping(&config, &database).await?,
        portal_id: config.hubspot.portal_id,
    });
    tokio::spawn(run_inbound_loop_with_kick(
        inbound,
        LOOP_INTERVAL,
        Some(kick.clone()),
        shutdown.signalled(),
    ));
    if config.outbound.in_dev {
        crate::worker::start_outbound(&config, &secrets, &database, &hubspot, &shutdown).await?;
    }
    start_reconciler(&config, &secrets, &database, &shutdown).await?;
    let webhooks = warp_webhook::router(
        warp_webhook::WebhookState::new(webhook, database.clone()).with_processing_kick(kick),
    );

    let mut state = warp_api::bootstrap::api_state(&config, database, &secrets).await?;
    // The console's dev sign-in mints tokens the local keys accept; with a JWKS (a real
    // identity provider) there is nothing it could sign with.
    let auth = warp_api::bootstrap::auth_config(&config, &secrets).await?;
    if let warp_api::KeySource::Hs256(secret) = auth.keys {
        state = state.with_dev_sign_in(warp_api::DevSignIn::new(
            secret,
            &auth.issuer,
            &auth.audience,
        ));
    }
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
    println!("  console      {base}/console  (dev sign-in: pick a role)");
    println!("  token        make token ROLE=viewer|editor|admin");
    println!("  stop         Ctrl-C");

    let limits = warp_http_server::ServerLimits {
        header_read_timeout: config.http_server.header_read_timeout,
        request_timeout: config.http_server.request_timeout,
        idle_timeout: config.http_server.idle_timeout,
        max_connections: config.http_server.max_connections,
    };
    warp_http_server::raise_open_files_limit();
    warp_http_server::serve(listener, app, limits, {
        let shutdown = shutdown.clone();
        async move {
            let _ = tokio::signal::ctrl_c().await;
            shutdown.trigger();
        }
    })
    .await
    .context("serving HTTP")?;
    drop(sandbox);
    Ok(())
}

/// The reconciler's two schedules as local timers: requested runs picked up every
/// `RECONCILE_POLL_SECS`, a full reconciliation every `RECONCILE_INTERVAL_SECS` (the first one
/// after one interval, not at start); and the won-deal onboardings, finished calls, account
/// events and support tickets, every second. Their pushes go through the outbox loops above.
async fn start_reconciler(
    config: &Config,
    secrets: &SecretsCache,
    database: &Database,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let reconciler =
        warp_reconcile::wiring::reconciler(config, secrets, database.clone(), None).await?;
    if let Some(runner) = reconciler.onboarding_runner() {
        tokio::spawn(warp_sync::onboarding::run_onboarding_loop(
            runner,
            ONBOARDING_INTERVAL,
            shutdown.signalled(),
        ));
    }
    if let Some(logger) = reconciler.account_events.clone() {
        tokio::spawn(warp_sync::account_events::run_account_event_loop(
            logger,
            ONBOARDING_INTERVAL,
            shutdown.signalled(),
        ));
    }
    if let Some(desk) = reconciler.tickets.clone() {
        tokio::spawn(warp_sync::support_tickets::run_ticket_loop(
            desk,
            ONBOARDING_INTERVAL,
            shutdown.signalled(),
        ));
    }
    if let Some(desk) = reconciler.services.clone() {
        tokio::spawn(warp_sync::service_objects::run_service_loop(
            desk,
            ONBOARDING_INTERVAL,
            shutdown.signalled(),
        ));
    }
    if let Some(logger) = reconciler.calls.clone() {
        tokio::spawn(warp_sync::call_log::run_call_log_loop(
            logger,
            ONBOARDING_INTERVAL,
            shutdown.signalled(),
        ));
    }
    let (poll, interval) = (config.reconcile.poll, config.reconcile.interval);
    let stop = shutdown.signalled();
    tokio::spawn(async move {
        tokio::pin!(stop);
        let mut next_full = tokio::time::Instant::now() + interval;
        loop {
            if let Err(error) = warp_reconcile::jobs::run_requested(&reconciler, None).await {
                tracing::warn!(%error, "picking up requested reconciliations failed");
            }
            if let Err(error) = reconciler.run_due_imports(IMPORT_SLICE).await {
                tracing::warn!(%error, "advancing imports failed");
            }
            if let Some(journal) = &reconciler.journal
                && let Err(error) = journal.poll(JOURNAL_SLICE).await
            {
                tracing::warn!(%error, "reading the webhooks journal failed");
            }
            if tokio::time::Instant::now() >= next_full {
                next_full = tokio::time::Instant::now() + interval;
                if let Err(error) = warp_reconcile::jobs::reconcile_scheduled(
                    &reconciler,
                    false,
                    false,
                    "dev timer",
                )
                .await
                {
                    tracing::warn!(%error, "the timed reconciliation could not be recorded");
                }
                // The daily usage push, on the same timer here (its own schedule in AWS).
                let usage = warp_sync::usage_push::UsagePush::new(
                    reconciler.database.clone(),
                    reconciler.hubspot.clone(),
                    reconciler.portal_id,
                )
                .with_daily_note(reconciler.usage_daily_note);
                if let Err(error) = usage.run(chrono::Utc::now().date_naive()).await {
                    tracing::warn!(%error, "the timed usage push failed");
                }
            }
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(poll) => {}
            }
        }
    });
    Ok(())
}

async fn start_sandbox(
    config: &Config,
    secrets: &SecretsCache,
) -> anyhow::Result<hubspot_sandbox::SandboxHandle> {
    let mut sandbox =
        hubspot_sandbox::SandboxConfig::from_env().context("sandbox configuration")?;
    if let Some(token) = &config.hubspot.token {
        sandbox.app_token = secrets.resolve(token).await?.expose_secret().to_owned();
    }
    if let Some(oauth) = &config.hubspot.oauth {
        sandbox.oauth_client_id = oauth.client_id.clone();
        sandbox.oauth_client_secret = secrets
            .resolve(&oauth.client_secret)
            .await?
            .expose_secret()
            .to_owned();
    }
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

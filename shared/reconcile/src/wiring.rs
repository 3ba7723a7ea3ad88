//! Building a reconciler from the runtime configuration, once per process: shared by the
//! Lambda, `warp reconcile` and `warp dev` so they cannot drift apart.

use std::sync::Arc;

use secrecy::SecretString;
use warp_hubspot::{HubSpotClient, HubSpotClientConfig, PostgresRateBudget};
use warp_installations::AppCredentials;
use warp_runtime::{Config, SecretsCache};
use warp_store::Database;
use warp_store::outbox::OutboxPublisher;
use warp_sync::wiring::{self, WiringError};
use warp_webhook::InboundProcessor;

use crate::engine::Reconciler;

/// The reconciler over `database`, with its HubSpot clients (writes, and reads with the
/// read-only token when one is configured; on the portal's shared budget) and an inbound processor on the same client; `publisher` receives the outbox rows it queues.
pub async fn reconciler(
    config: &Config,
    secrets: &SecretsCache,
    database: Database,
    publisher: Option<Arc<dyn OutboxPublisher>>,
) -> Result<Reconciler, WiringError> {
    let hubspot = wiring::hubspot_client(config, secrets, &database).await?;
    let reader = wiring::hubspot_read_client(config, secrets, &database, &hubspot).await?;
    // One mapping for both: the inbound processor applies what the reconciler decided by it.
    let map = wiring::field_mapping(config, &database).await?;
    let inbound = Arc::new(InboundProcessor {
        database: database.clone(),
        hubspot: Some(hubspot.clone()),
        map: map.clone(),
        portal_id: config.hubspot.portal_id,
    });
    let journal = journal_poller(config, secrets, &database)
        .await?
        .map(Arc::new);
    let calls = wiring::call_logger(config, secrets, database.clone(), hubspot.clone()).await?;
    let account_events = warp_sync::account_events::AccountEventLogger::new(
        database.clone(),
        hubspot.clone(),
        config.hubspot.portal_id,
    )
    .with_custom_events(config.account_events_as_custom_events);
    let tickets = warp_sync::support_tickets::TicketDesk::new(
        database.clone(),
        hubspot.clone(),
        config.hubspot.portal_id,
        warp_sync::support_tickets::TicketSettings {
            pipeline: config.support_tickets.pipeline.clone(),
            stage: config.support_tickets.stage.clone(),
            check_every: config.support_tickets.check_every,
        },
    );
    let services = warp_sync::service_objects::ServiceDesk::new(
        database.clone(),
        hubspot.clone(),
        config.hubspot.portal_id,
    );
    Ok(Reconciler {
        database,
        hubspot,
        reader,
        map,
        portal_id: config.hubspot.portal_id,
        inbound,
        publisher,
        onboarding: Some(warp_sync::onboarding::CustomerTemplate {
            customer_type: config.onboarding.customer_type,
        }),
        audit_retention: config.audit_retention,
        journal,
        calls: Some(Arc::new(calls)),
        account_events: Some(Arc::new(account_events)),
        tickets: Some(Arc::new(tickets)),
        services: Some(Arc::new(services)),
        usage_daily_note: config.usage_alerts.daily_note,
    })
}

/// The Webhooks Journal backstop's poller, when WARP's HubSpot app is configured (the journal
/// is the app's: its client-credentials token, with the home portal's request budget, since
/// HubSpot publishes no separate one for the journal).
async fn journal_poller(
    config: &Config,
    secrets: &SecretsCache,
    database: &Database,
) -> Result<Option<warp_webhook::JournalPoller>, WiringError> {
    let Some((app, _)) = wiring::oauth_app(config, secrets).await? else {
        return Ok(None);
    };
    let client_config =
        HubSpotClientConfig::from_runtime(config, SecretString::from(String::new()))?;
    let budget = PostgresRateBudget::new(
        database.pool().clone(),
        config.hubspot.portal_id,
        &client_config.rate_limit,
    );
    let hubspot = HubSpotClient::new(&client_config, Arc::new(budget))?
        .with_credentials(Arc::new(AppCredentials::for_journal(app)));
    Ok(Some(warp_webhook::JournalPoller {
        database: database.clone(),
        hubspot,
        home_portal_id: config.hubspot.portal_id,
    }))
}

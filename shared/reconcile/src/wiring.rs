//! Building a reconciler from the runtime configuration, once per process: shared by the
//! Lambda, `warp reconcile` and `warp dev` so they cannot drift apart.

use std::sync::Arc;

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
    })
}

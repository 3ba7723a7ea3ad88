//! What the outbound benchmarks share: a sandbox with HubSpot's real limit, a fresh database
//! and the production wiring pointed at them.

use warp_store::Database;
use warp_sync::outbound::OutboundWorker;

pub use warp_testkit::PORTAL;

/// The sandbox (kept alive by the caller), a fresh database, and an outbound worker on the
/// production wiring: HubSpot's Free-tier budget (100 requests / 10 s) shared through Postgres,
/// the mapping read from `hubspot_sync_config`.
pub async fn sandbox_worker()
-> Result<(hubspot_sandbox::SandboxHandle, Database, OutboundWorker), Box<dyn std::error::Error>> {
    let sandbox = warp_testkit::hubspot::sandbox(hubspot_sandbox::SandboxConfig::default()).await;
    let database = warp_testkit::fresh_database().await;
    let config = warp_runtime::Config::from_lookup(|name| {
        (name == "HUBSPOT_BASE_URL").then(|| sandbox.base_url())
    })?;
    let client = warp_sync::wiring::hubspot_client(
        &config,
        &warp_runtime::SecretsCache::values_only(),
        &database,
    )
    .await?;
    warp_hubspot::ensure_warp_properties(&client).await?;
    let worker = OutboundWorker::new(
        database.clone(),
        client,
        PORTAL,
        warp_store::sync_config::MappingSource::read_every_time(database.clone(), PORTAL).await?,
    );
    Ok((sandbox, database, worker))
}
